"""DirectorBackup end to end: kubectl apply, a Job, the runner, a verified artifact in storage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from boshsim.k8s import STATE_FILE, backup, events, get, register, run_jobs, s3_storage, wait_for_step, wait_phase
from harness.argocd import health
from harness.cluster import wait_for

NS = "backups"


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NS))


def claim_folder(harness: Any, namespace: str, claim: str = "backups") -> Path:
    return Path(harness.node_root) / "pvcs" / namespace / claim


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bbr_backup_to_a_claim(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director()
    register(harness, ns, director, "prod")
    harness.apply(backup("prod-1", ns, "prod"))
    body = wait_phase(harness, "DirectorBackup", ns, "prod-1")
    status = body["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert status["reason"] == "Completed"

    # every step ran and says so
    assert [(s["name"], s["state"]) for s in status["steps"]] == [
        ("DirectorInfo", "Succeeded"), ("Inventory", "Succeeded"), ("PreBackupCheck", "Succeeded"),
        ("Backup", "Succeeded"), ("StateFile", "Succeeded"), ("Store", "Succeeded")]
    assert status["progress"]["percent"] == 100
    assert status["director"]["uuid"] == director.info()["uuid"]
    assert status["inventory"] == {"stemcells": 2, "releases": 4, "deployments": 3}
    # the real tools ran, and the run says which: bbr reached the director VM over real SSH
    assert {k: status["tools"][k] for k in ("bosh", "bbr")} == {"bosh": "7.10.6", "bbr": "1.9.81"}
    assert "Accepted publickey for jumpbox" in (director.vm.root / "sshd.log").read_text()

    # the artifact is where status says, whole, with the checksums status lists
    artifact = status["artifact"]
    assert artifact["path"] == f"bosh-backups/{ns}/prod/prod-1"
    assert artifact["location"] == f"pvc://backups/bosh-backups/{ns}/prod/prod-1"
    folder = claim_folder(harness, ns) / artifact["path"]
    names = sorted(f["name"] for f in artifact["files"])
    assert names == sorted(["bbr/bosh-0-director.tar", "bbr/bosh-0-blobstore.tar", "bbr/bosh-0-bbr-credhubdb.tar",
                            "bbr/bosh-0-bbr-uaadb.tar", "bbr/metadata", "state.json", "manifest.json"])
    for entry in artifact["files"]:
        assert sha256(folder / entry["name"]) == entry["sha256"]
        assert (folder / entry["name"]).stat().st_size == entry["size"]
    assert artifact["totalSize"] == sum(f["size"] for f in artifact["files"])
    # one count everywhere a person reads it: the Store step, the summary and status.artifact agree
    store_step = next(s for s in status["steps"] if s["name"] == "Store")
    assert f"7 files, {artifact['totalSize']} bytes (manifest.json included)" in store_step["message"]
    assert f"stored 7 files, {artifact['size']} ({artifact['totalSize']} bytes)" in status["message"]
    assert not list(folder.parent.glob("*.partial")), "no staging folder left behind"
    assert json.loads((folder / "state.json").read_text()) == STATE_FILE

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["director"]["uuid"] == director.info()["uuid"]
    assert {s["version"] for s in manifest["inventory"]["stemcells"]} == {"1.700", "1.650"}
    assert manifest["bbr"]["metadata"]["instances"][0]["name"] == "bosh"
    metadata = yaml.safe_load((folder / "bbr" / "metadata").read_text())
    assert metadata == manifest["bbr"]["metadata"]
    assert manifest["tools"] == status["tools"]

    # the Director remembers, and people were told
    prod = get(harness, "Director", ns, "prod")["status"]
    assert prod["lastSuccessfulBackup"]["name"] == "prod-1"
    assert prod["lastSuccessfulBackup"]["location"] == artifact["location"]
    assert prod["director"]["uuid"] == director.info()["uuid"]
    reasons = [e["reason"] for e in events(harness, ns, "prod-1")]
    assert "Started" in reasons and "Completed" in reasons

    assert health(body) == ("Healthy", f"backup succeeded: {status['message']}")  # what Argo CD shows

    table = harness.kubectl("get", "dbk", "prod-1", "-n", ns).stdout.splitlines()
    assert table[0].split()[:5] == ["NAME", "DIRECTOR", "METHOD", "PHASE", "PROGRESS"]
    assert table[1].split()[:4] == ["prod-1", "prod", "bbr", "Succeeded"]


def test_v1_backup_to_s3(harness: Any, ns: str, make_director: Any, s3: Any) -> None:
    director, _ = make_director(mode="basic")
    bucket = s3.bucket("v1-backups")
    register(harness, ns, director, "legacy", ssh=False, storage=s3_storage(harness, s3, ns, bucket))
    harness.apply(backup("legacy-1", ns, "legacy", method="v1"))
    status = wait_phase(harness, "DirectorBackup", ns, "legacy-1")["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert [s["name"] for s in status["steps"]] == ["DirectorInfo", "Inventory", "Backup", "StateFile", "Store"]
    artifact = status["artifact"]
    assert artifact["location"] == f"s3://{bucket}/bosh-backups/{ns}/legacy/legacy-1"
    client = s3.client()
    for entry in artifact["files"]:
        body = client.get_object(Bucket=bucket, Key=f"{artifact['path']}/{entry['name']}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    names = [f["name"] for f in artifact["files"]]
    assert any(n.startswith("bosh_backup_sim-director_") and n.endswith(".tgz") for n in names)
    assert status["director"]["uuid"] == director.info()["uuid"]


def failed(harness: Any, ns: str, name: str) -> dict[str, Any]:
    body = wait_phase(harness, "DirectorBackup", ns, name)
    status = body["status"]
    assert status["phase"] == "Failed", json.dumps(status, indent=1)
    assert "artifact" not in status
    return dict(status)


def test_missing_director(harness: Any, ns: str) -> None:
    harness.apply(backup("orphan", ns, "nobody"))
    status = failed(harness, ns, "orphan")
    assert status["reason"] == "DirectorNotFound"
    assert status["message"] == 'spec.directorRef: Director "nobody" not found'
    assert health(get(harness, "DirectorBackup", ns, "orphan")) == (
        "Degraded", 'backup failed: spec.directorRef: Director "nobody" not found')


def test_missing_ssh_key_secret(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director(seeded=False)
    register(harness, ns, director, "nokey")
    harness.kubectl("delete", "secret", "nokey-ssh", "-n", ns)
    harness.apply(backup("nokey-1", ns, "nokey"))
    status = failed(harness, ns, "nokey-1")
    assert status["reason"] == "SecretNotFound"
    assert 'Director "nokey": spec.ssh.privateKeySecretRef: Secret "nokey-ssh" not found' in status["message"]


def test_missing_claim(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director(seeded=False)
    register(harness, ns, director, "noclaim")
    harness.apply(backup("noclaim-1", ns, "noclaim", storage={"pvc": {"claimName": "ghost"}}))
    status = failed(harness, ns, "noclaim-1")
    assert status["reason"] == "ClaimNotFound"
    assert 'spec.storage.pvc.claimName: PersistentVolumeClaim "ghost" not found' in status["message"]


def step_failure(status: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in status["steps"] if s["state"] == "Failed")


@pytest.mark.parametrize(("fault", "reason", "step", "words"), [
    ("unreachable", "DirectorUnreachable", "DirectorInfo", "connection refused"),
    ("credentials", "DirectorAuthenticationFailed", "DirectorInfo", "UAA responded with non-successful status code"),
    ("ca", "DirectorCertificateInvalid", "DirectorInfo", "x509: certificate signed by unknown authority"),
    ("stale-lock", "BackupAlreadyInProgress", "PreBackupCheck", "backup-cleanup"),
    ("lock", "BbrLockFailed", "Backup", "bbr exit code 4"),
    ("backup-and-cleanup", "BbrFailed", "Backup", "bbr exit code 17"),
    ("backup-script", "BbrFailed", "Backup", "Error attempting to run backup for job director on bosh/0"),
    ("sshd-down", "DirectorUnreachable", "PreBackupCheck", "connect: connection refused"),
    ("wrong-key", "SshAuthenticationFailed", "PreBackupCheck", "unable to authenticate"),
    ("public-key", "SshKeyInvalid", "PreBackupCheck", "ParsePrivateKey failed"),
    ("not-ssh", "SshHandshakeFailed", "PreBackupCheck", "handshake failed"),
])
def test_director_faults_fail_with_the_tools_words(harness: Any, ns: str, make_director: Any, sim_ca: Any,
                                                   fault: str, reason: str, step: str, words: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from boshsim.k8s import secret
    from harness.pki import CertificateAuthority

    director, _ = make_director()
    name = f"fault-{fault}"
    register(harness, ns, director, name)
    if fault == "unreachable":
        director.stop()
    elif fault == "credentials":
        harness.apply(secret(f"{name}-creds", ns, {"client": "admin", "clientSecret": "wrong"}))
    elif fault == "ca":
        other = CertificateAuthority(harness.workdir / "sim" / "other-ca")
        harness.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-ca", "namespace": ns},
                       "data": {"ca.crt": other.cert_path.read_text()}})
    elif fault == "stale-lock":
        director.leave_stale_bbr_lock()
    elif fault == "lock":
        director.set_faults(bbr_lock_error=True)
    elif fault == "backup-and-cleanup":
        director.set_faults(bbr_backup_error="blobstore", bbr_cleanup_error=True)
    elif fault == "backup-script":
        director.set_faults(bbr_backup_error="director")
    elif fault == "sshd-down":
        director.vm.stop()
    elif fault in ("wrong-key", "public-key"):
        other = ed25519.Ed25519PrivateKey.generate()
        key = (other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                   serialization.NoEncryption()) if fault == "wrong-key" else
               director.credentials.ssh_public_key.encode())
        harness.apply(secret(f"{name}-ssh", ns, {"ssh-privatekey": key}))
    elif fault == "not-ssh":  # the director's HTTPS port answers, but not in SSH
        body = get(harness, "Director", ns, name)
        body["spec"]["ssh"]["port"] = director.port
        harness.apply({"apiVersion": body["apiVersion"], "kind": "Director",
                       "metadata": {"name": name, "namespace": ns}, "spec": body["spec"]})
    harness.apply(backup(f"{name}-1", ns, name))
    status = failed(harness, ns, f"{name}-1")
    assert status["reason"] == reason
    failed_step = step_failure(status)
    assert failed_step["name"] == step
    assert words in failed_step["message"] and words in status["message"]
    assert status["message"].startswith(f"{step} failed: ")
    # the operator posts the Event just after it writes the phase: wait for it
    bodies = wait_for(f"{name}-1's Warning event", lambda: [
        e for e in events(harness, ns, f"{name}-1") if e["type"] == "Warning"], timeout=30)
    assert bodies and bodies[-1]["reason"] == reason
    if fault == "stale-lock":  # we did not clean up someone else's lock
        assert director.state.bbr_lock.exists()
    if fault in ("lock", "backup-and-cleanup"):
        assert "The runner ran `bbr director backup-cleanup`" in status["message"] or fault == "backup-and-cleanup"


def test_bucket_missing_and_storage_unreachable(harness: Any, ns: str, make_director: Any, s3: Any) -> None:
    director, _ = make_director()
    register(harness, ns, director, "nobucket", storage=s3_storage(harness, s3, ns, "no-such-bucket"))
    harness.apply(backup("nobucket-1", ns, "nobucket"))
    status = failed(harness, ns, "nobucket-1")
    assert status["reason"] == "BucketNotFound"
    assert 'spec.storage.s3.bucket: bucket "no-such-bucket" does not exist' in status["message"]

    register(harness, ns, director, "nos3", storage={"s3": {"bucket": "bkt", "endpoint": "http://127.0.0.1:9",
                                                            "credentialsSecretRef": {"name": "s3-keys"}}})
    harness.apply(backup("nos3-1", ns, "nos3"))
    status = failed(harness, ns, "nos3-1")
    assert status["reason"] == "StorageUnreachable"
    # storage is opened before bbr runs (it streams there while it copies): bbr never locked the director
    assert step_failure(status)["name"] == "Backup"


def test_one_run_per_director_the_second_waits(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director()
    register(harness, ns, director, "busy")
    director.set_faults(slow_seconds=0.05)  # long enough to overlap
    harness.apply(backup("busy-1", ns, "busy"))
    wait_phase(harness, "DirectorBackup", ns, "busy-1", ("Running",))
    harness.apply(backup("busy-2", ns, "busy"))
    waiting = wait_phase(harness, "DirectorBackup", ns, "busy-2", ("Pending",))["status"]
    assert waiting["reason"] == "WaitingForDirector"
    assert f"DirectorBackup {ns}/busy-1" in waiting["message"]
    first = wait_phase(harness, "DirectorBackup", ns, "busy-1", timeout=180)["status"]
    second = wait_phase(harness, "DirectorBackup", ns, "busy-2", timeout=180)["status"]
    assert (first["phase"], second["phase"]) == ("Succeeded", "Succeeded")
    assert second["startTime"] >= first["completionTime"]  # never at the same time
    assert not director_leases(harness, f"/{ns}/busy-")


def director_leases(harness: Any, holder_part: str) -> list[str]:
    """Holders of the directors' Leases (in the operator's namespace) that contain holder_part."""
    from harness.env import OPERATOR_NAMESPACE

    listing = harness.admin.get(f"/apis/coordination.k8s.io/v1/namespaces/{OPERATOR_NAMESPACE}/leases",
                                labelSelector="bosh-backup.dev/director-key")
    holders = [(item.get("spec") or {}).get("holderIdentity") or "" for item in listing["items"]]
    return [holder for holder in holders if holder_part in holder]


def test_two_directors_that_reach_one_bosh_director_share_its_lock(harness: Any, ns: str,
                                                                   make_director: Any) -> None:
    """One BOSH director, two Director resources in two namespaces (one named past the
    63 characters a label holds): their runs never overlap, and the waiting one says who
    holds the director."""
    director, _ = make_director()
    other_ns = harness.create_namespace(f"{ns}-other")
    long_name = "prod-director-of-the-eu-west-platform-team-managed-by-argo-cd-in-git-x"
    assert len(long_name) > 63
    register(harness, ns, director, "shared")
    register(harness, other_ns, director, long_name)
    director.set_faults(slow_seconds=0.05)  # long enough to overlap
    harness.apply(backup("first", ns, "shared"))
    wait_phase(harness, "DirectorBackup", ns, "first", ("Running",))
    harness.apply(backup("second", other_ns, long_name))
    waiting = wait_phase(harness, "DirectorBackup", other_ns, "second", ("Pending",))["status"]
    assert waiting["reason"] == "WaitingForDirector"
    assert f"DirectorBackup {ns}/first" in waiting["message"] and director.url in waiting["message"]
    first = wait_phase(harness, "DirectorBackup", ns, "first", timeout=180)["status"]
    second = wait_phase(harness, "DirectorBackup", other_ns, "second", timeout=180)["status"]
    assert (first["phase"], second["phase"]) == ("Succeeded", "Succeeded"), second
    assert second["startTime"] >= first["completionTime"]  # never at the same time on one director
    assert not director_leases(harness, "/first") and not director_leases(harness, "/second")


def test_secret_values_never_leave_their_secrets(harness: Any, ns: str, make_director: Any, s3: Any) -> None:
    director, _ = make_director()
    bucket = s3.bucket("leak-check")
    register(harness, ns, director, "leak", storage=s3_storage(harness, s3, ns, bucket))
    harness.apply(backup("leak-1", ns, "leak"))
    status = wait_phase(harness, "DirectorBackup", ns, "leak-1")["status"]
    assert status["phase"] == "Succeeded", status
    secrets = [director.credentials.client_secret, s3.secret_key,
               director.credentials.ssh_private_key.decode().splitlines()[1]]
    exposed = {
        "jobs and pods": harness.kubectl("get", "jobs,pods", "-n", ns, "-o", "yaml").stdout,
        "resources": harness.kubectl("get", "directors,directorbackups", "-n", ns, "-o", "yaml").stdout,
        "events": harness.kubectl("get", "events", "-n", ns, "-o", "yaml").stdout,
        "operator log": (harness.plane.logs / "operator.log").read_text(),
        "runner logs": "".join(p.read_text() for p in (Path(harness.node_root) / "logs").glob(f"{ns}_leak-1*/*")),
        "artifact names": " ".join(k["Key"] for k in s3.client().list_objects_v2(Bucket=bucket)["Contents"]),
        "manifest": s3.client().get_object(Bucket=bucket, Key=f"{status['artifact']['path']}/manifest.json")[
            "Body"].read().decode(),
    }
    for where, text in exposed.items():
        for value in secrets:
            assert value not in text, f"a secret value appears in the {where}"
    pod_env = json.loads(harness.kubectl("get", "pods", "-n", ns, "-l", "bosh-backup.dev/name=leak-1",
                                         "-o", "json").stdout)["items"][0]["spec"]["containers"][0]["env"]
    by_name = {e["name"]: e for e in pod_env}
    for variable in ("BOSH_CLIENT_SECRET", "AWS_SECRET_ACCESS_KEY"):
        assert "value" not in by_name[variable] and "secretKeyRef" in by_name[variable]["valueFrom"]


def test_cancel_stops_the_pod_runs_cleanup_and_keeps_no_artifact(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director()
    register(harness, ns, director, "stop")
    director.set_faults(slow_seconds=0.5)
    harness.apply(backup("stop-1", ns, "stop"))
    wait_for_step(harness, "DirectorBackup", ns, "stop-1", "Backup")
    harness.kubectl("patch", "dbk", "stop-1", "-n", ns, "--type=merge", "-p", '{"spec":{"cancel":true}}')
    status = wait_phase(harness, "DirectorBackup", ns, "stop-1", timeout=120)["status"]
    assert status["phase"] == "Cancelled" and status["reason"] == "Cancelled"
    assert "artifact" not in status
    director.set_faults()
    assert not director.state.bbr_lock.exists(), "the runner ran bbr backup-cleanup"
    folder = claim_folder(harness, ns) / "bosh-backups" / ns / "stop" / "stop-1"
    assert not folder.exists() and not Path(f"{folder}.partial").exists()
    assert not director_leases(harness, f"/{ns}/stop-1")


def test_timeout_fails_with_deadline_exceeded_after_cleanup(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director()
    register(harness, ns, director, "slow")
    director.set_faults(slow_seconds=1)
    harness.apply(backup("slow-1", ns, "slow", timeout="8s"))
    status = wait_phase(harness, "DirectorBackup", ns, "slow-1", timeout=120)["status"]
    assert status["phase"] == "Failed"
    assert status["reason"] == "DeadlineExceeded"
    assert "spec.timeout (8s)" in status["message"]
    director.set_faults()
    assert not director.state.bbr_lock.exists()


def test_deletion_policy_delete_removes_the_artifact_retain_keeps_it(harness: Any, ns: str,
                                                                      make_director: Any) -> None:
    director, _ = make_director()
    register(harness, ns, director, "gc")
    harness.apply(backup("gc-delete", ns, "gc", deletionPolicy="Delete"))
    delete_status = wait_phase(harness, "DirectorBackup", ns, "gc-delete")["status"]
    harness.apply(backup("gc-retain", ns, "gc"))
    retain_status = wait_phase(harness, "DirectorBackup", ns, "gc-retain")["status"]
    root = claim_folder(harness, ns)
    deleted, retained = root / delete_status["artifact"]["path"], root / retain_status["artifact"]["path"]
    assert deleted.is_dir() and retained.is_dir()
    assert delete_status["artifact"]["storage"] == {"pvc": {"claimName": "backups", "prefix": "bosh-backups"}}
    # the Director's default storage moves on; deletion still finds the artifact where it went
    harness.kubectl("patch", "bdir", "gc", "-n", ns, "--type=merge", "-p",
                    '{"spec":{"storage":{"pvc":{"claimName":"elsewhere"}}}}')
    harness.kubectl("delete", "dbk", "gc-delete", "gc-retain", "-n", ns, "--timeout=90s")
    assert not deleted.exists()
    assert (retained / "manifest.json").is_file()
    assert harness.kubectl("get", "dbk", "gc-delete", "-n", ns, check=False).returncode != 0


def test_operator_restart_mid_run_adopts_the_job(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director()
    register(harness, ns, director, "restart")
    director.set_faults(slow_seconds=0.1)
    harness.apply(backup("restart-1", ns, "restart"))
    wait_for_step(harness, "DirectorBackup", ns, "restart-1", "Backup")
    harness.stop_operator()
    director.set_faults()
    harness.start_operator()
    status = wait_phase(harness, "DirectorBackup", ns, "restart-1", timeout=120)["status"]
    assert status["phase"] == "Succeeded", status
    assert len(run_jobs(harness, ns, "restart-1")) == 1
    assert len([f for f in status["artifact"]["files"] if f["name"] == "manifest.json"]) == 1


def test_a_run_whose_job_vanished_fails(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director()
    register(harness, ns, director, "vanish")
    director.set_faults(slow_seconds=0.3)
    harness.apply(backup("vanish-1", ns, "vanish"))
    wait_for_step(harness, "DirectorBackup", ns, "vanish-1", "Backup")
    harness.stop_operator()
    harness.kubectl("delete", "job", "vanish-1-backup", "-n", ns, "--cascade=foreground", "--timeout=60s")
    director.set_faults()
    harness.start_operator()
    status = wait_phase(harness, "DirectorBackup", ns, "vanish-1", timeout=60)["status"]
    assert status["phase"] == "Failed" and status["reason"] == "JobVanished"


def test_artifact_corrupted_in_flight_is_never_marked_succeeded(harness: Any, ns: str, make_director: Any,
                                                                  s3: Any) -> None:
    from harness.fault_proxy import S3FaultProxy

    director, _ = make_director()
    bucket = s3.bucket("flaky-network")
    proxy = S3FaultProxy(s3.port, corrupt=True)
    try:
        storage = s3_storage(harness, s3, ns, bucket)
        storage["s3"]["endpoint"] = proxy.endpoint
        register(harness, ns, director, "flaky", storage=storage)
        harness.apply(backup("flaky-1", ns, "flaky"))
        status = failed(harness, ns, "flaky-1")
    finally:
        proxy.close()
    assert proxy.corrupted > 0
    assert status["reason"] == "ChecksumMismatch"
    assert step_failure(status)["name"] == "Store"
    assert "corrupted in flight" in status["message"]
    keys = [k["Key"] for k in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not [k for k in keys if k.endswith("manifest.json")], "no complete-looking artifact is left"
    assert get(harness, "Director", ns, "flaky")["status"].get("lastSuccessfulBackup") is None


def test_metrics_count_runs_and_last_success(harness: Any, ns: str, make_director: Any) -> None:
    import urllib.request

    director, _ = make_director(seeded=False)
    register(harness, ns, director, "counted")
    harness.apply(backup("counted-1", ns, "counted"))
    harness.apply(backup("counted-2", ns, "nobody-here"))
    assert wait_phase(harness, "DirectorBackup", ns, "counted-1")["status"]["phase"] == "Succeeded"
    wait_phase(harness, "DirectorBackup", ns, "counted-2")
    text = urllib.request.urlopen(f"http://127.0.0.1:{harness.metrics_port}/metrics", timeout=5).read().decode()
    labels = f'director="counted",kind="DirectorBackup",namespace="{ns}"'
    assert f'bosh_backup_runs_total{{{labels},result="Succeeded"}} 1.0' in text
    assert f'bosh_backup_runs_total{{director="nobody-here",kind="DirectorBackup",namespace="{ns}",' \
           f'result="Failed"}} 1.0' in text
    assert f'bosh_backup_last_success_timestamp_seconds{{director="counted",namespace="{ns}"}}' in text
    assert f'bosh_backup_artifact_bytes{{director="counted",namespace="{ns}"}}' in text


def test_earlier_artifacts_untouched_and_operator_alive(harness: Any, ns: str) -> None:
    """Runs last in this module: after every fault above, the first backup is still whole."""
    status = get(harness, "DirectorBackup", ns, "prod-1")["status"]
    folder = claim_folder(harness, ns) / status["artifact"]["path"]
    for entry in status["artifact"]["files"]:
        assert sha256(folder / entry["name"]) == entry["sha256"]
    assert harness.operator_alive()


def test_a_broken_state_file_fails_the_backup_and_names_its_secret(harness: Any, ns: str,
                                                                    make_director: Any) -> None:
    from boshsim.k8s import secret

    director, _ = make_director()
    register(harness, ns, director, "brokenstate")
    harness.apply(secret("brokenstate-state", ns, {"state.json": '{"director_id": "4b1e0c1a", "disks": ['}))
    harness.apply(backup("brokenstate-1", ns, "brokenstate"))
    status = failed(harness, ns, "brokenstate-1")
    assert status["reason"] == "StateFileInvalid"
    assert step_failure(status)["name"] == "StateFile"
    assert 'spec.stateFileSecretRef (Secret "brokenstate-state", key "state.json")' in status["message"]
    assert "it is not JSON" in status["message"]
    assert "artifact" not in status
    folder = claim_folder(harness, ns) / "bosh-backups" / ns / "brokenstate" / "brokenstate-1"
    assert not folder.exists() and not Path(f"{folder}.partial").exists()


def test_a_request_the_apiserver_refuses_fails_the_run_and_says_so(harness: Any, ns: str,
                                                                    make_director: Any) -> None:
    """A pod override the apiserver will never accept (a label key that is no label key)
    ends the run with a condition and an Event, not in a silent retry loop."""
    director, _ = make_director(seeded=False)
    register(harness, ns, director, "refused")
    harness.apply(backup("refused-1", ns, "refused", pod={"nodeSelector": {"not a label key!": "x"}}))
    status = failed(harness, ns, "refused-1")
    assert status["reason"] == "ApiRequestRejected"
    assert "HTTP 422" in status["message"] and "nodeSelector" in status["message"]
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["status"] == "False" and succeeded["reason"] == "ApiRequestRejected"
    assert "ApiRequestRejected" in [e["reason"] for e in events(harness, ns, "refused-1")]
    assert not director_leases(harness, "/refused-1"), "the director is free again"


def test_a_deletion_policy_edit_takes_effect_at_deletion(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director()
    register(harness, ns, director, "edited")
    harness.apply(backup("edited-1", ns, "edited"))  # Retain by default
    artifact = wait_phase(harness, "DirectorBackup", ns, "edited-1")["status"]["artifact"]
    folder = claim_folder(harness, ns) / artifact["path"]
    assert (folder / "manifest.json").is_file()
    harness.kubectl("patch", "dbk", "edited-1", "-n", ns, "--type=merge", "-p", '{"spec":{"deletionPolicy":"Delete"}}')
    harness.kubectl("delete", "dbk", "edited-1", "-n", ns, "--timeout=90s")
    assert not folder.exists(), "the edited policy (Delete) was applied"
