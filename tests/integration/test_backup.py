"""DirectorBackup end to end: kubectl apply, a Job, the runner, a verified artifact in storage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from boshsim.k8s import STATE_FILE, backup, events, get, register, wait_phase

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
    assert not list(folder.parent.glob("*.partial")), "no staging folder left behind"
    assert json.loads((folder / "state.json").read_text()) == STATE_FILE

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["director"]["uuid"] == director.info()["uuid"]
    assert {s["version"] for s in manifest["inventory"]["stemcells"]} == {"1.700", "1.650"}
    assert manifest["bbr"]["metadata"]["instances"][0]["name"] == "bosh"
    metadata = yaml.safe_load((folder / "bbr" / "metadata").read_text())
    assert metadata == manifest["bbr"]["metadata"]

    # the Director remembers, and people were told
    prod = get(harness, "Director", ns, "prod")["status"]
    assert prod["lastSuccessfulBackup"]["name"] == "prod-1"
    assert prod["lastSuccessfulBackup"]["location"] == artifact["location"]
    assert prod["director"]["uuid"] == director.info()["uuid"]
    reasons = [e["reason"] for e in events(harness, ns, "prod-1")]
    assert "Started" in reasons and "Completed" in reasons

    table = harness.kubectl("get", "dbk", "prod-1", "-n", ns).stdout.splitlines()
    assert table[0].split()[:5] == ["NAME", "DIRECTOR", "METHOD", "PHASE", "PROGRESS"]
    assert table[1].split()[:4] == ["prod-1", "prod", "bbr", "Succeeded"]
