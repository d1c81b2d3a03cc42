"""Plan to Job manifest (pure): the one place runner Jobs are built.

Secrets reach the pod only as references (env valueFrom, secret volumes); the plan
travels as JSON in an environment variable and holds none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import GROUP
from .api.runs import KeyRef, RunSettings
from .bosh import paths
from .names import fit, label_value
from .planning.backup import recipients_file
from .planning.plan import Plan

RUN_AS = 65532
MANAGED_BY = {"app.kubernetes.io/managed-by": "bosh-backup-operator"}
LABEL_KIND = f"{GROUP}/kind"
LABEL_NAME = f"{GROUP}/name"
LABEL_DIRECTOR = f"{GROUP}/director"
ANNOTATION_RUN = f"{GROUP}/run-name"
PLAN_ENV = "BOSH_BACKUP_PLAN"
SCRATCH_LIMIT_ENV = "BOSH_BACKUP_SCRATCH_LIMIT"   # the work volume's sizeLimit, for the runner's own check


@dataclass(frozen=True)
class RunnerConfig:
    """The operator's defaults for runner pods."""
    image: str = "bosh-backup-operator:0.1.0"
    grace_seconds: int = 120        # room for bbr backup-cleanup after SIGTERM
    backoff_limit: int = 2
    resources: dict[str, Any] = field(default_factory=lambda: {
        "requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}})


def job_name(kind: str, name: str) -> str:
    """Deterministic, so a restarted operator finds the Job it made instead of making another."""
    suffix = {"DirectorBackup": "backup", "DirectorRestore": "restore", "DirectorBackupCatalog": "catalog"}.get(
        kind, "run")
    return fit(name, 63, suffix=suffix, hash_length=8)  # 63: the pods' job-name label holds it too


def _secret_env(variable: str, ref: KeyRef) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def _key_volume(name: str, ca: dict[str, Any], filename: str) -> dict[str, Any]:
    if "secretKeyRef" in ca:
        ref = ca["secretKeyRef"]
        return {"name": name, "secret": {"secretName": ref["name"], "defaultMode": 0o440,
                                         "items": [{"key": ref.get("key", "ca.crt"), "path": filename}]}}
    ref = ca["configMapKeyRef"]
    return {"name": name, "configMap": {"name": ref["name"], "defaultMode": 0o444,
                                        "items": [{"key": ref.get("key", "ca.crt"), "path": filename}]}}


def _directory(path: str) -> str:
    return path.rsplit("/", 1)[0]


def director_env(settings: RunSettings) -> list[dict[str, Any]]:
    """The director's address, and its credentials as secret references."""
    env: list[dict[str, Any]] = [{"name": "BOSH_ENVIRONMENT", "value": settings.url}]
    if settings.dialect == "v1":
        env += [_secret_env("BOSH_USER", settings.credentials),
                _secret_env("BOSH_PASSWORD", settings.credentials_secret)]
    else:
        env += [_secret_env("BOSH_CLIENT", settings.credentials),
                _secret_env("BOSH_CLIENT_SECRET", settings.credentials_secret)]
    if settings.ca:
        env.append({"name": "BOSH_CA_CERT", "value": paths.CA_CERT})
    return env


def director_volumes(plan: Plan, settings: RunSettings) -> list[tuple[dict[str, Any], str]]:
    """(volume, mount path) for the director's CA, bbr's SSH key and the state file."""
    volumes = []
    if settings.ca:
        volumes.append((_key_volume("director-ca", settings.ca, "ca.crt"), _directory(paths.CA_CERT)))
    if settings.ssh and plan.method != "v1":  # a restore from a path learns its method later
        ssh_key: KeyRef = settings.ssh["key"]
        volumes.append(({"name": "ssh-key", "secret": {"secretName": ssh_key.name, "defaultMode": 0o440, "items": [
            {"key": ssh_key.key, "path": "private-key"}]}}, _directory(paths.SSH_KEY)))
    if settings.state_file and any(step.action == "state-file" for step in plan.steps):
        state = settings.state_file
        volumes.append(({"name": "state-file", "secret": {"secretName": state.name, "defaultMode": 0o440, "items": [
            {"key": state.key, "path": "state.json"}]}}, _directory(paths.STATE_FILE)))
    return volumes


def key_volumes(settings: RunSettings) -> list[tuple[dict[str, Any], str]]:
    """(volume, mount path) for encryption's recipients files and a restore's identity."""
    volumes: list[tuple[dict[str, Any], str]] = []
    for number, source in enumerate((settings.encryption or {}).get("recipientsFrom") or []):
        kind = "secretKeyRef" if "secretKeyRef" in source else "configMapKeyRef"
        ref = source[kind]
        item = {"key": ref.get("key", "recipients"), "path": "recipients"}
        volume = ({"secret": {"secretName": ref["name"], "defaultMode": 0o440, "items": [item]}}
                  if kind == "secretKeyRef" else {"configMap": {"name": ref["name"], "defaultMode": 0o444,
                                                                "items": [item]}})
        volumes.append(({"name": f"recipients-{number}", **volume}, _directory(recipients_file(number))))
    if settings.identity is not None:
        volumes.append(identity_volume(settings.identity))
    return volumes


def identity_volume(identity: KeyRef) -> tuple[dict[str, Any], str]:
    """(volume, mount path) for the private key a restore or a verification decrypts with."""
    return ({"name": "identity", "secret": {"secretName": identity.name, "defaultMode": 0o440,
                                            "items": [{"key": identity.key, "path": "identity"}]}},
            _directory(paths.IDENTITY))


def storage_access(storage: dict[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str, bool]]]:
    """(env, [(volume, mount path, read only)]) that reach the artifact's storage."""
    if "pvc" in storage:
        claim = {"name": "storage", "persistentVolumeClaim": {"claimName": storage["pvc"]["claimName"]}}
        return [], [(claim, paths.STORAGE, False)]
    s3 = storage["s3"]
    credentials = s3["credentialsSecretRef"]["name"]
    env = [_secret_env("AWS_ACCESS_KEY_ID", KeyRef(credentials, "accessKeyId")),
           _secret_env("AWS_SECRET_ACCESS_KEY", KeyRef(credentials, "secretAccessKey"))]
    volumes = []
    if s3.get("caCert"):
        volumes.append((_key_volume("s3-ca", s3["caCert"], "ca.crt"), _directory(paths.S3_CA_CERT), True))
    return env, volumes


def build_job(plan: Plan, settings: RunSettings | None, owner: dict[str, Any], *, timeout_seconds: int,
              pod: dict[str, Any] | None, config: RunnerConfig, identity: KeyRef | None = None) -> dict[str, Any]:
    """settings is None for runs that only touch storage (deleting an artifact, verifying
    one, where identity may name the private key to decrypt with)."""
    pod = pod or {}
    labels = {**MANAGED_BY, LABEL_KIND: plan.kind, LABEL_NAME: label_value(plan.name),
              LABEL_DIRECTOR: label_value(plan.director)}
    annotations = {ANNOTATION_RUN: plan.name}  # the run's whole name, which a label may not hold
    env: list[dict[str, Any]] = [{"name": PLAN_ENV, "value": plan.to_json()}, {"name": "HOME", "value": paths.WORK},
                                 {"name": "TMPDIR", "value": paths.TMP}]
    scratch_limit = (pod.get("scratch") or {}).get("sizeLimit")
    work: dict[str, Any] = {"sizeLimit": scratch_limit} if scratch_limit else {}
    if scratch_limit:   # the runner stops a step that would pass it, instead of being evicted
        env.append({"name": SCRATCH_LIMIT_ENV, "value": scratch_limit})
    volumes: list[dict[str, Any]] = [{"name": "work", "emptyDir": work}, {"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "work", "mountPath": paths.WORK}, {"name": "tmp", "mountPath": paths.TMP}]
    keys = [identity_volume(identity)] if identity is not None else []
    if settings is not None:
        env += director_env(settings)
        keys = [*director_volumes(plan, settings), *key_volumes(settings)]
    for volume, mount_path in keys:
        volumes.append(volume)
        mounts.append({"name": volume["name"], "mountPath": mount_path, "readOnly": True})
    storage_env, storage_volumes = storage_access(plan.storage)
    env += storage_env
    for volume, mount_path, read_only in storage_volumes:
        volumes.append(volume)
        mounts.append({"name": volume["name"], "mountPath": mount_path, "readOnly": read_only})
    container: dict[str, Any] = {
        "name": "runner",
        "image": pod.get("image") or config.image,
        "command": ["bosh-backup-runner"],
        "args": ["run"],
        "workingDir": paths.WORK,
        "env": env,
        "volumeMounts": mounts,
        "resources": pod.get("resources") or config.resources,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "runAsUser": RUN_AS, "capabilities": {"drop": ["ALL"]}},
    }
    if pod.get("imagePullPolicy"):
        container["imagePullPolicy"] = pod["imagePullPolicy"]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": job_name(plan.kind, plan.name),   # its own, reaching this run only
        "terminationGracePeriodSeconds": config.grace_seconds,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": volumes,
    }
    for key in ("nodeSelector", "tolerations"):
        if pod.get(key):
            pod_spec[key] = pod[key]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(plan.kind, plan.name), "namespace": plan.namespace, "labels": labels,
                     "annotations": annotations,
                     "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}]},
        "spec": {
            "backoffLimit": config.backoff_limit,
            # the runner exits 1 when it knows why it failed: retrying cannot help (and a retry
            # must not clean up a lock that is not ours); crashes and kills are retried
            "podFailurePolicy": {"rules": [
                {"action": "FailJob", "onExitCodes": {"containerName": "runner", "operator": "In", "values": [1]}},
            ]},
            "activeDeadlineSeconds": timeout_seconds,
            "template": {
                "metadata": {"labels": {**labels, **(pod.get("labels") or {})},
                             "annotations": {**(pod.get("annotations") or {}), **annotations}},
                "spec": pod_spec,
            },
        },
    }
