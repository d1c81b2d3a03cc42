"""Verification of stored backups on demand (bosh-backup.dev/verify-now), with the real bbr,
the real S3 server and a real claim folder: good artifacts pass; a flipped byte, a file cut
short, a deleted file and a file replaced by another backup's are each found and named,
with the Verified condition, an Event and the metrics."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from boshsim.k8s import backup, events, get, register, s3_storage, wait_phase
from harness.cluster import wait_for

NS = "verify"


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NS))


def verified(harness: Any, name: str, request: str) -> dict[str, Any]:
    """Asks for a verification and waits for its result."""
    harness.kubectl("annotate", "dbk", name, "-n", NS, f"bosh-backup.dev/verify-now={request}", "--overwrite")

    def done() -> dict[str, Any] | None:
        found = (get(harness, "DirectorBackup", NS, name).get("status") or {}).get("verification") or {}
        return found if found.get("requested") == request and found.get("result") in ("Passed", "Failed") else None
    return dict(wait_for(f"{name}'s verification {request}", done, timeout=180))


def condition(harness: Any, name: str) -> dict[str, Any]:
    found = get(harness, "DirectorBackup", NS, name)["status"]["conditions"]
    return dict(next(c for c in found if c["type"] == "Verified"))


def metric(harness: Any, name: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{harness.metrics_port}/metrics", timeout=10) as response:
        return "\n".join(line for line in response.read().decode().splitlines()
                         if line.startswith(name) and f'namespace="{NS}"' in line)


def test_a_flipped_byte_on_s3_is_found_and_named(harness: Any, ns: str, make_director: Any, s3: Any) -> None:
    bucket = s3.bucket("verify")
    director, _ = make_director()
    register(harness, ns, director, "vs3", storage=s3_storage(harness, s3, ns, bucket))
    harness.apply(backup("vs3-1", ns, "vs3"))
    artifact = wait_phase(harness, "DirectorBackup", ns, "vs3-1", timeout=180)["status"]["artifact"]
    good = verified(harness, "vs3-1", "1")
    assert good["result"] == "Passed", good
    assert good["filesChecked"] == len(artifact["files"]) - 1 and good["tarsChecked"] == 4   # manifest aside
    assert condition(harness, "vs3-1")["status"] == "True"
    assert "bosh_backup_last_verified_timestamp_seconds" in metric(harness, "bosh_backup_last_verified")

    client = s3.client()
    key = f"{artifact['path']}/bbr/bosh-0-director.tar"
    data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    client.put_object(Bucket=bucket, Key=key, Body=bytes(data))   # rot in the bucket, a year later
    bad = verified(harness, "vs3-1", "2")
    assert bad["result"] == "Failed" and bad["problemCount"] == 1, bad
    assert bad["problems"][0].startswith("bbr/bosh-0-director.tar: sha256")
    failed = condition(harness, "vs3-1")
    assert failed["status"] == "False" and failed["reason"] == "VerificationFailed"
    assert "bbr/bosh-0-director.tar" in failed["message"]
    warnings = [e for e in events(harness, ns, "vs3-1") if e["reason"] == "VerificationFailed"]
    assert warnings and warnings[0]["type"] == "Warning"
    failures = metric(harness, "bosh_backup_verification_failures_total")
    assert 'director="vs3"' in failures and float(failures.split()[-1]) >= 1
    assert get(harness, "DirectorBackup", ns, "vs3-1")["status"]["phase"] == "Succeeded"   # the run itself stands


def test_on_a_claim_a_cut_a_deletion_and_a_swap_are_each_named(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director()
    register(harness, ns, director, "vpvc")
    for number, name in enumerate(("vpvc-1", "vpvc-2")):
        director.state.write("uaa.json", {"clients": {"admin": "client", f"added-{number}": "client"}})
        harness.apply(backup(name, ns, "vpvc"))
        assert wait_phase(harness, "DirectorBackup", ns, name, timeout=180)["status"]["phase"] == "Succeeded"
    claim = Path(harness.node_root) / "pvcs" / NS / "backups"
    first = claim / get(harness, "DirectorBackup", ns, "vpvc-1")["status"]["artifact"]["path"]
    second = claim / get(harness, "DirectorBackup", ns, "vpvc-2")["status"]["artifact"]["path"]
    assert verified(harness, "vpvc-1", "before")["result"] == "Passed"
    state = first / "state.json"
    state.write_bytes(state.read_bytes()[:-10])
    (first / "bbr" / "metadata").unlink()
    shutil.copyfile(second / "bbr" / "bosh-0-bbr-uaadb.tar", first / "bbr" / "bosh-0-bbr-uaadb.tar")
    result = verified(harness, "vpvc-1", "after")
    problems = "\n".join(result["problems"])
    assert result["result"] == "Failed" and result["problemCount"] == 3, json.dumps(result, indent=1)
    assert "state.json:" in problems and "cut short or replaced" in problems
    assert "bbr/metadata: missing from storage" in problems
    assert "bbr/bosh-0-bbr-uaadb.tar:" in problems


def test_only_a_stored_backup_can_be_verified(harness: Any, ns: str) -> None:
    harness.apply(backup("nowhere-1", ns, "nobody"))
    assert wait_phase(harness, "DirectorBackup", ns, "nowhere-1")["status"]["phase"] == "Failed"
    result = verified(harness, "nowhere-1", "1")
    assert result["result"] == "Failed"
    assert result["problems"] == ["only a Succeeded backup has an artifact to verify; this one is Failed"]
