"""Encrypted artifacts end to end, with the real bbr: what storage holds (ciphertext only),
restores through the operator with the right key and refusals with the wrong or no key
(before the director is touched), key rotation, and the README's recovery by hand with
the stock `age` CLI and `bbr director restore`."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from boshsim.fixtures import SimulatedDirector, bbr
from boshsim.k8s import API, backup, get, register, s3_storage, secret, wait_phase

NS = "sealed"


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NS))


def age_key() -> tuple[str, str]:
    """(public, identity file) as age-keygen makes them."""
    identity = pyrage.x25519.Identity.generate()
    public = str(identity.to_public())
    return public, f"# created: 2026-11-29\n# public key: {public}\n{identity}\n"


def ssh_key() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    return public.decode() + " dr-team", private.decode()


def restore(name: str, director: str, backup_name: str, identity: str | None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"directorRef": {"name": director}, "source": {"backupRef": {"name": backup_name}},
                            **extra}
    if identity:
        spec["identitySecretRef"] = {"name": identity}
    return {"apiVersion": API, "kind": "DirectorRestore", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def finished(harness: Any, kind: str, name: str, timeout: float = 240) -> dict[str, Any]:
    return dict(wait_phase(harness, kind, NS, name, timeout=timeout)["status"])


def disaster(director: SimulatedDirector, harness: Any, tag: str) -> SimulatedDirector:
    director.destroy()
    return director.replacement(harness.workdir / "sim" / f"sealed-{tag}-{director.port}").start()


def test_an_encrypted_s3_backup_stores_only_ciphertext_and_restores_only_with_a_matching_key(
        harness: Any, ns: str, make_director: Any, s3: Any) -> None:
    public, identity = age_key()
    team_public, team_private = ssh_key()
    _, stranger = age_key()
    bucket = s3.bucket("sealed")
    harness.apply(secret("dr-team", ns, {"recipients": f"# the DR team's key\n{team_public}\n"}))
    harness.apply(secret("ops-identity", ns, {"identity": identity}))
    harness.apply(secret("team-identity", ns, {"identity": team_private}))
    harness.apply(secret("stranger-identity", ns, {"identity": stranger}))
    director, _ = make_director()
    register(harness, ns, director, "vault", storage=s3_storage(harness, s3, ns, bucket),
             encryption={"recipients": [public], "recipientsFrom": [{"secretKeyRef": {"name": "dr-team"}}]})
    before = director.snapshot()
    harness.apply(backup("vault-1", ns, "vault"))
    status = finished(harness, "DirectorBackup", "vault-1")
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    artifact = status["artifact"]
    sealed = [f for f in artifact["files"] if f["name"] != "manifest.json"]
    assert sealed and all(f["name"].endswith(".age") and f["plaintext"]["name"] == f["name"][:-4] for f in sealed)
    assert {f["plaintext"]["name"] for f in sealed} >= {"bbr/metadata", "state.json", "bbr/bosh-0-director.tar"}
    recipients = artifact["encryption"]["recipients"]
    assert recipients[0] == public
    assert recipients[1].startswith("ssh-ed25519 SHA256:") and recipients[1].endswith(" dr-team")
    assert team_public.split()[1] not in json.dumps(artifact)   # fingerprints, not keys
    store = next(s for s in status["steps"] if s["name"] == "Store")
    assert "encrypted for 2 recipients" in store["message"]

    # a stolen bucket: every object but the manifest is age ciphertext; nothing of the director in the clear
    client = s3.client()
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]]
    for key in keys:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if key.endswith("manifest.json"):
            manifest = json.loads(body)
            continue
        assert key.endswith(".age") and body.startswith(b"age-encryption.org/v1\n"), key
        for clear in (b"director-db", b"deployments", b"credhub", director.credentials.client_secret.encode()):
            assert clear not in body, (key, clear)
        entry = next(f for f in manifest_files(client, bucket, artifact) if key.endswith("/" + f["name"]))
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    assert manifest["encryption"] == {"format": "age-encryption.org/v1", "recipients": recipients}

    fresh = disaster(director, harness, "s3")
    try:
        untouched = fresh.snapshot()
        # no key: refused in Precheck, naming whom the backup was made for
        harness.apply(restore("vault-r0", "vault", "vault-1", None))
        refused = finished(harness, "DirectorRestore", "vault-r0")
        assert refused["phase"] == "Failed" and refused["reason"] == "DecryptionKeyMissing", refused
        assert public in refused["message"] and "spec.identitySecretRef" in refused["message"]
        # the wrong key: refused before anything large is fetched, the recipients named again
        harness.apply(restore("vault-r1", "vault", "vault-1", "stranger-identity"))
        wrong = finished(harness, "DirectorRestore", "vault-r1")
        assert wrong["phase"] == "Failed" and wrong["reason"] == "DecryptionFailed", wrong
        failed_step = next(s for s in wrong["steps"] if s["state"] == "Failed")
        assert failed_step["name"] == "Precheck"
        assert public in wrong["message"] and recipients[1] in wrong["message"]
        assert 'Secret "stranger-identity"' in wrong["message"] and "not touched" in wrong["message"]
        assert fresh.snapshot() == untouched
        # the DR team's SSH key opens it: restored in full
        harness.apply(restore("vault-r2", "vault", "vault-1", "team-identity"))
        done = finished(harness, "DirectorRestore", "vault-r2", timeout=300)
        assert done["phase"] == "Succeeded", json.dumps(done, indent=1)
        verify = next(s for s in done["steps"] if s["name"] == "VerifyArtifact")
        assert "each decrypted and its plaintext's sha256 matching too" in verify["message"]
        assert fresh.snapshot() == before
        # the private keys appear nowhere the API serves, nor in any log
        private_lines = [line for text in (identity, team_private) for line in text.splitlines()
                         if len(line) > 20 and not line.startswith(("#", "-----"))]
        served = "".join(harness.kubectl("get", kind, "-n", ns, "-o", "json").stdout
                         for kind in ("directorbackups", "directorrestores", "jobs", "pods", "events"))
        logs = "".join(p.read_text(errors="replace") for p in (harness.node_root / "logs").glob(f"{NS}_*/*.log"))
        logs += "".join(p.read_text(errors="replace") for p in harness.plane.logs.glob("*.log"))
        assert not [line for line in private_lines if line in served or line in logs]
    finally:
        fresh.stop()


def manifest_files(client: Any, bucket: str, artifact: dict[str, Any]) -> list[dict[str, Any]]:
    body = client.get_object(Bucket=bucket, Key=f"{artifact['path']}/manifest.json")["Body"].read()
    return list(json.loads(body)["files"])


def test_rotated_keys_old_backups_restore_with_the_old_key_new_ones_by_hand_with_age(
        harness: Any, ns: str, make_director: Any, sim_bin: Path) -> None:
    old_public, old_identity = age_key()
    new_public, new_identity = age_key()
    harness.apply(secret("ops-recipients", ns, {"recipients": old_public}))
    harness.apply(secret("old-identity", ns, {"identity": old_identity}))
    director, _ = make_director()
    register(harness, ns, director, "keep",
             encryption={"recipientsFrom": [{"secretKeyRef": {"name": "ops-recipients"}}]})
    before = director.snapshot()
    harness.apply(backup("keep-1", ns, "keep"))
    assert finished(harness, "DirectorBackup", "keep-1")["phase"] == "Succeeded"
    # rotation: the Secret now names the new key only; the Director is not edited
    harness.apply(secret("ops-recipients", ns, {"recipients": new_public}))
    harness.apply(backup("keep-2", ns, "keep"))
    second = finished(harness, "DirectorBackup", "keep-2")
    assert second["phase"] == "Succeeded", second
    assert get(harness, "DirectorBackup", ns, "keep-1")["status"]["artifact"]["encryption"]["recipients"] == \
        [old_public]
    assert second["artifact"]["encryption"]["recipients"] == [new_public]
    claim = Path(harness.node_root) / "pvcs" / NS / "backups"
    stored = claim / second["artifact"]["path"]
    assert not [p for p in stored.rglob("*") if p.is_file() and not p.name.endswith((".age", "manifest.json"))]

    # the README's runbook, by hand with the new key: age -d, check every sha256, bbr director restore
    fresh = disaster(director, harness, "hand")
    try:
        work = harness.workdir / "sim" / "by-hand-age"
        key = work / "key.txt"
        key.parent.mkdir(parents=True)
        key.write_text(new_identity)
        key.chmod(0o600)
        manifest = json.loads((stored / "manifest.json").read_text())
        for entry in manifest["files"]:
            ciphertext = stored / entry["name"]
            assert hashlib.sha256(ciphertext.read_bytes()).hexdigest() == entry["sha256"]
            plain = work / "artifact" / entry["plaintext"]["name"]
            plain.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["age", "-d", "-i", str(key), "-o", str(plain), str(ciphertext)], check=True)
            assert hashlib.sha256(plain.read_bytes()).hexdigest() == entry["plaintext"]["sha256"]
        folder = work / "artifact" / "bbr"
        result = bbr(sim_bin, fresh, "restore", "--artifact-path", str(folder), cwd=work)
        assert result.returncode == 0, result.stdout + result.stderr
        assert fresh.snapshot() == before
        # the old key opens the new backup? no: age says so, naming no file
        wrong = subprocess.run(["age", "-d", "-i", "/dev/stdin", str(stored / "bbr" / "metadata.age")],
                               input=old_identity, capture_output=True, text=True)
        assert wrong.returncode != 0 and "no identity matched" in wrong.stderr.lower()
    finally:
        fresh.stop()
        shutil.rmtree(harness.workdir / "sim" / "by-hand-age", ignore_errors=True)

    # the old backup still restores through the operator with the old key
    again = disaster(fresh, harness, "old")
    try:
        harness.apply(restore("keep-r1", "keep", "keep-1", "old-identity"))
        status = finished(harness, "DirectorRestore", "keep-r1", timeout=300)
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        assert again.snapshot() == before
    finally:
        again.stop()


def test_an_encrypted_v1_backup_restores_its_database_and_the_uploads_follow(
        harness: Any, ns: str, make_director: Any, artifacts: Any) -> None:
    """The legacy method is first-class: its database tarball is encrypted and restored too."""
    public, identity = age_key()
    harness.apply(secret("legacy-identity", ns, {"identity": identity}))
    director, _ = make_director(mode="basic")
    register(harness, ns, director, "legacy", ssh=False, encryption={"recipients": [public]})
    before = director.snapshot()
    harness.apply(backup("legacy-1", ns, "legacy", method="v1"))
    status = finished(harness, "DirectorBackup", "legacy-1")
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    tarball = next(f for f in status["artifact"]["files"] if f["name"].endswith(".tgz.age"))
    assert tarball["plaintext"]["name"] == tarball["name"][:-4]
    fresh = disaster(director, harness, "v1")
    try:
        base = f"http://127.0.0.1:{artifacts.port}"
        harness.apply(restore("legacy-r1", "legacy", "legacy-1", "legacy-identity", reupload={
            "stemcellUrlPattern": f"{base}/{{name}}-{{version}}.tgz",
            "releaseUrlPattern": f"{base}/{{name}}-{{version}}.tgz"}))
        done = finished(harness, "DirectorRestore", "legacy-r1", timeout=300)
        assert done["phase"] == "Succeeded", json.dumps(done, indent=1)
        database = next(s for s in done["steps"] if s["name"] == "RestoreDatabase")
        assert database["message"].startswith(f"bosh restore {tarball['plaintext']['name']}:")
        after = fresh.snapshot()
        assert {k: v for k, v in after.items() if k not in ("credhub", "uaa")} == \
            {k: v for k, v in before.items() if k not in ("credhub", "uaa")}
    finally:
        fresh.stop()
