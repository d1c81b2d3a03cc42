"""Secrets never leak: after backups, a failure and a restore with known secret values,
none of them (nor its base64 form) is in any object the API serves, any log, the
metrics, or any stored file or file name."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bosh_backup_operator.jobs import job_name
from boshsim.k8s import API, backup, register, s3_storage, wait_phase

NS = "leaks"


def forms(value: str) -> list[str]:
    """The value, its base64, and (for a multi-line key) each long line of it."""
    found = [value, base64.b64encode(value.encode()).decode()]
    found += [line.strip() for line in value.splitlines() if len(line.strip()) >= 16 and "-----" not in line]
    return found


def hits(text: str, secrets: dict[str, list[str]]) -> list[str]:
    return [name for name, values in secrets.items() if any(v in text for v in values)]


def api_objects(harness: Any) -> Iterator[tuple[str, str]]:
    """(kind, JSON of every object of that kind in every namespace), Secrets aside: they
    hold the values by design."""
    kinds = harness.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
    for kind in kinds:
        if kind == "secrets":
            continue
        listed = harness.kubectl("get", kind, "-A", "-o", "json", check=False)
        if listed.returncode == 0:
            yield kind, listed.stdout


def log_files(harness: Any, *roots: Path) -> Iterator[Path]:
    yield from harness.plane.logs.glob("*.log")
    yield from (harness.node_root / "logs").rglob("*.log")
    for root in roots:
        yield from root.rglob("*.log")


def test_no_secret_value_appears_anywhere(harness: Any, make_director: Any, s3: Any, artifacts: Any) -> None:
    harness.create_namespace(NS)
    bucket = s3.bucket("leaks")
    storage = s3_storage(harness, s3, NS, bucket)
    director, _ = make_director()
    register(harness, NS, director, "vault", storage=storage)
    harness.apply(backup("vault-1", NS, "vault"))
    assert wait_phase(harness, "DirectorBackup", NS, "vault-1", timeout=180)["status"]["phase"] == "Succeeded"
    director.set_faults(bbr_backup_error="blobstore")   # a failure, with bbr's error output
    harness.apply(backup("vault-2", NS, "vault"))
    assert wait_phase(harness, "DirectorBackup", NS, "vault-2", timeout=180)["status"]["phase"] == "Failed"
    director.set_faults()
    director.destroy()
    fresh = director.replacement(harness.workdir / "sim" / f"leaks-{director.port}").start()
    try:
        harness.apply({"apiVersion": API, "kind": "DirectorRestore", "metadata": {"name": "vault-r1", "namespace": NS},
                       "spec": {"directorRef": {"name": "vault"}, "source": {"backupRef": {"name": "vault-1"}}}})
        status = wait_phase(harness, "DirectorRestore", NS, "vault-r1", timeout=300)["status"]
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)

        credentials = director.credentials
        secrets = {"director client secret": forms(credentials.client_secret),
                   "SSH private key": forms(credentials.ssh_private_key.decode()),
                   "S3 secret key": forms(s3.secret_key), "S3 access key": forms(s3.access_key)}
        # the search finds what is there: each value is in its own Secret, as base64
        for secret_name, names in (("vault-creds", ["director client secret"]), ("vault-ssh", ["SSH private key"]),
                                   ("s3-keys", ["S3 secret key", "S3 access key"])):
            text = harness.kubectl("get", "secret", secret_name, "-n", NS, "-o", "json").stdout
            assert set(names) <= set(hits(text, secrets)), secret_name
        runner_logs = list((harness.node_root / "logs").glob(f"{NS}_*/*.log"))
        assert len(runner_logs) >= 3, "the runner pods' logs are among those searched"
        found: list[str] = []
        for kind, text in api_objects(harness):
            found += [f"{name} in the API's {kind}" for name in hits(text, secrets)]
        for path in log_files(harness, director.root, fresh.root):
            found += [f"{name} in {path}" for name in hits(path.read_text(errors="replace"), secrets)]
        # the S3 server's own log may name the access key id, as any S3 access log does (every
        # request carries it); the secret key never travels
        s3_log = s3.root / "versitygw.log"
        if s3_log.exists():
            found += [f"{name} in {s3_log}" for name in hits(s3_log.read_text(errors="replace"),
                                                            {"S3 secret key": secrets["S3 secret key"]})]
        assert harness.metrics_port, "the operator serves metrics"
        with urllib.request.urlopen(f"http://127.0.0.1:{harness.metrics_port}/metrics", timeout=10) as response:
            found += [f"{name} in the metrics" for name in hits(response.read().decode(), secrets)]
        client = s3.client()
        keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert any(key.endswith("manifest.json") for key in keys)
        for key in keys:
            found += [f"{name} in the name {key}" for name in hits(key, secrets)]
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("latin-1")
            found += [f"{name} in the stored {key}" for name in hits(body, secrets)]
        assert found == [], "\n".join(found)

        # each run's account reaches its own run only, and no Secret
        def runner_can(*args: str) -> str:
            account = f"system:serviceaccount:{NS}:{job_name('DirectorBackup', 'vault-1')}"
            return str(harness.kubectl("auth", "can-i", *args, "-n", NS, f"--as={account}",
                                       check=False).stdout.strip())
        backups = "directorbackups.bosh-backup.dev"
        assert runner_can("patch", f"{backups}/vault-1", "--subresource=status") == "yes"
        assert runner_can("get", f"{backups}/vault-1") == "yes"
        assert runner_can("patch", f"{backups}/vault-2", "--subresource=status") == "no"
        assert runner_can("get", f"{backups}/vault-2") == "no"
        assert runner_can("patch", f"{backups}/vault-1") == "no", "the spec is not the runner's to change"
        assert runner_can("patch", "directorrestores.bosh-backup.dev/vault-r1", "--subresource=status") == "no"
        for secret in ("vault-creds", "vault-ssh", "s3-keys"):   # the kubelet mounts them; the API gives none
            assert runner_can("get", f"secrets/{secret}") == "no"
        assert runner_can("list", "secrets") == "no"
    finally:
        fresh.stop()
