"""Registering simulated directors with the cluster, and waiting on runs."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from harness.cluster import wait_for

from .fixtures import SimulatedDirector

API = "bosh-backup.dev/v1alpha1"
PLURALS = {"Director": "directors", "DirectorBackup": "directorbackups", "DirectorRestore": "directorrestores",
           "DirectorBackupSchedule": "directorbackupschedules", "DirectorBackupCatalog": "directorbackupcatalogs"}
# what `bosh create-env` writes (BOSH-FACTS section 5)
STATE_FILE = {"director_id": "4b1e0c1a", "installation_id": "9c2f7e10", "current_vm_cid": "vm-director-1",
              "current_stemcell_id": "stemcell-1", "current_disk_id": "disk-1", "current_release_ids": ["r-1"],
              "current_manifest_sha": "5e1f0c", "disks": [{"id": "disk-1", "cid": "disk-director-1", "size": 65536,
                                                          "cloud_properties": {}}],
              "stemcells": [{"id": "stemcell-1", "name": "bosh-warden-boshlite-ubuntu-jammy-go_agent",
                             "version": "1.700", "cid": "stemcell-cid-1"}],
              "releases": [{"id": "r-1", "name": "bosh", "version": "282.0.3"}]}


def b64(value: str | bytes) -> str:
    return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()


def secret(name: str, namespace: str, data: Mapping[str, str | bytes]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "data": {k: b64(v) for k, v in data.items()}}


def register(harness: Any, namespace: str, director: SimulatedDirector, name: str, *,
             storage: dict[str, Any] | None = None, ssh: bool = True, state_file: bool = True,
             ca: str = "configmap", encryption: dict[str, Any] | None = None) -> dict[str, Any]:
    """Secrets, CA, claim and the Director object for a simulated director; returns the Director."""
    credentials = director.credentials
    keys = {"client": credentials.client, "clientSecret": credentials.client_secret}
    if director.mode == "basic":
        keys = {"username": credentials.client, "password": credentials.client_secret}
    objects = [secret(f"{name}-creds", namespace, keys)]
    spec: dict[str, Any] = {"url": director.url, "cli": "v1" if director.mode == "basic" else "v2",
                            "credentialsSecretRef": {"name": f"{name}-creds"},
                            "storage": storage or {"pvc": {"claimName": "backups"}}}
    ca_pem = director.ca.cert_path.read_text()
    if ca == "configmap":
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-ca",
                                                                              "namespace": namespace},
                        "data": {"ca.crt": ca_pem}})
        spec["caCert"] = {"configMapKeyRef": {"name": f"{name}-ca"}}
    elif ca == "secret":
        objects.append(secret(f"{name}-ca", namespace, {"ca.crt": ca_pem}))
        spec["caCert"] = {"secretKeyRef": {"name": f"{name}-ca"}}
    if ssh:
        objects.append(secret(f"{name}-ssh", namespace, {"ssh-privatekey": credentials.ssh_private_key}))
        host, port = director.ssh_host.split(":")
        spec["ssh"] = {"host": host, "port": int(port), "username": credentials.ssh_user,
                       "privateKeySecretRef": {"name": f"{name}-ssh"}}
    if state_file:
        objects.append(secret(f"{name}-state", namespace, {"state.json": json.dumps(STATE_FILE, indent=4)}))
        spec["stateFileSecretRef"] = {"name": f"{name}-state"}
    if encryption:
        spec["encryption"] = encryption
    if "pvc" in spec["storage"]:
        objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": spec["storage"]["pvc"]["claimName"], "namespace": namespace},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    body = {"apiVersion": API, "kind": "Director", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    for obj in [*objects, body]:
        harness.apply(obj)
    return body


def s3_storage(harness: Any, s3: Any, ns: str, bucket: str, **extra: Any) -> dict[str, Any]:
    """A storage spec for a bucket of the test world's S3 server; its keys go into a Secret."""
    harness.apply(secret("s3-keys", ns, {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key}))
    return {"s3": {"bucket": bucket, "endpoint": s3.endpoint, "forcePathStyle": True,
                   "credentialsSecretRef": {"name": "s3-keys"}, **extra}}


def backup(name: str, namespace: str, director: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "DirectorBackup", "metadata": {"name": name, "namespace": namespace},
            "spec": {"directorRef": {"name": director}, **spec}}


def get(harness: Any, kind: str, namespace: str, name: str) -> dict[str, Any]:
    return dict(harness.admin.get(f"/apis/{API}/namespaces/{namespace}/{PLURALS[kind]}/{name}"))


def wait_phase(harness: Any, kind: str, namespace: str, name: str, phases: tuple[str, ...] = (
        "Succeeded", "Failed", "Cancelled"), timeout: float = 120) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        body = get(harness, kind, namespace, name)
        return body if (body.get("status") or {}).get("phase") in phases else None
    try:
        found: dict[str, Any] = wait_for(f"{kind} {namespace}/{name} to reach {phases}", reached,
                                         timeout=timeout, interval=0.2)
        return found
    except TimeoutError:
        body = get(harness, kind, namespace, name)
        raise AssertionError(f"{kind} {name} did not reach {phases}; status: "
                             f"{json.dumps(body.get('status'), indent=1)}\noperator log:\n"
                             f"{harness.operator.tail(40) if harness.operator else ''}") from None


def wait_for_step(harness: Any, kind: str, namespace: str, name: str, step: str, timeout: float = 60) -> None:
    """Until the run's step is Running: the moment to stop, kill or cancel something."""
    def running() -> bool:
        steps = (get(harness, kind, namespace, name).get("status") or {}).get("steps") or []
        return any(s["name"] == step and s["state"] == "Running" for s in steps)
    wait_for(f"{name} to run {step}", running, timeout=timeout, interval=0.1)


def run_jobs(harness: Any, namespace: str, name: str) -> list[str]:
    """Names of the Jobs the operator made for a run."""
    listing = harness.admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs",
                                labelSelector=f"bosh-backup.dev/name={name}")
    return sorted(job["metadata"]["name"] for job in listing["items"])


def leases_held_by(harness: Any, namespace: str, name: str) -> list[str]:
    """The director Leases a run (of any kind) of namespace/name still holds."""
    leases = harness.admin.get("/apis/coordination.k8s.io/v1/namespaces/bosh-backup-system/leases")["items"]
    return [lease["metadata"]["name"] for lease in leases
            if (lease.get("spec") or {}).get("holderIdentity", "").endswith(f"/{namespace}/{name}")]


def wait_recorded_success(harness: Any, namespace: str, director: str, backup: str) -> None:
    """Until the Director's status names `backup` as its last successful one (written just
    after the backup's own phase)."""
    wait_for(f"Director {director} to record {backup}", lambda: (get(harness, "Director", namespace, director)[
        "status"].get("lastSuccessfulBackup") or {}).get("name") == backup, timeout=30)


def events(harness: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    listing = harness.admin.get(f"/api/v1/namespaces/{namespace}/events",
                                fieldSelector=f"involvedObject.name={name}")
    return list(listing.get("items", []))
