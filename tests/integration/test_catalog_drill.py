"""The disaster drill: a schedule backs up to S3, the operator is killed mid-upload, then the
director and every object of ours are lost. A Director applied again finds its backups in
storage by itself, and the director comes back from them with no network beyond the test world."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from boshsim.fixtures import SimulatedDirector
from boshsim.k8s import API, get, register, s3_storage, wait_phase
from harness.cluster import wait_for

NS = "drill"
BIG_BLOB = 192 << 20   # enough that the upload to S3 takes a while


def listed(harness: Any, kind: str, **selectors: str) -> list[dict[str, Any]]:
    query = {"labelSelector": ",".join(f"{k}={v}" for k, v in selectors.items())} if selectors else {}
    plural = {"DirectorBackup": "directorbackups", "DirectorBackupCatalog": "directorbackupcatalogs"}[kind]
    return list(harness.admin.get(f"/apis/{API}/namespaces/{NS}/{plural}", **query)["items"])


def listing_after(harness: Any, name: str, request: str) -> dict[str, Any]:
    """The catalog once the listing asked for by the sync-now annotation `request` is done."""
    def done() -> dict[str, Any] | None:
        body = get(harness, "DirectorBackupCatalog", NS, name)
        status = body.get("status") or {}
        synced = any(c["type"] == "Synced" for c in status.get("conditions") or [])
        return body if synced and status.get("lastSyncRequest") == request and not status.get("jobName") else None
    return wait_for(f"catalog {name} to list its storage", done, timeout=120)


def restore(name: str, source: dict[str, Any]) -> dict[str, Any]:
    # no reupload sources: an air-gapped site; bbr brings the blobstore back
    return {"apiVersion": API, "kind": "DirectorRestore", "metadata": {"name": name, "namespace": NS},
            "spec": {"directorRef": {"name": "prod"}, "source": source}}


def disaster(director: SimulatedDirector, harness: Any, tag: str) -> SimulatedDirector:
    director.destroy()
    fresh = director.replacement(harness.workdir / "sim" / f"drill-{tag}-{director.port}").start()
    assert fresh.snapshot()["deployments"] == []
    return fresh


def test_the_drill_ends_with_the_director_back(harness: Any, make_director: Any, s3: Any, sim_bin: Path) -> None:
    harness.create_namespace(NS)
    storage = s3_storage(harness, s3, NS, s3.bucket("drill"))
    director, _ = make_director()
    with (director.state.blobs / "compiled-packages-cache").open("wb") as handle:
        for _ in range(BIG_BLOB >> 20):
            handle.write(os.urandom(1 << 20))
    register(harness, NS, director, "prod", storage=storage)
    harness.apply({"apiVersion": API, "kind": "DirectorBackupSchedule", "metadata": {"name": "nightly",
                                                                                     "namespace": NS},
                   "spec": {"directorRef": {"name": "prod"}, "schedule": "@daily"}})
    harness.kubectl("annotate", "dbs", "nightly", "-n", NS, "bosh-backup.dev/run-now=drill", "--overwrite")
    name = wait_for("the schedule's backup", lambda: (get(harness, "DirectorBackupSchedule", NS, "nightly").get(
        "status") or {}).get("lastBackup", {}).get("name"), timeout=60)
    # the tars stream to S3 while bbr copies them
    wait_for("the backup's upload", lambda: s3.uploads_in_flight(storage["s3"]["bucket"]) > 0, timeout=240)
    harness.kill_operator()   # mid-upload: the runner pod goes on without it
    harness.start_operator()
    status = wait_phase(harness, "DirectorBackup", NS, name, timeout=240)["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    before = director.snapshot()
    location = status["artifact"]["location"]

    # something that is not a whole backup sits beside it, and a plain bbr tar made by hand
    bucket = storage["s3"]["bucket"]
    folder = f"bosh-backups/{NS}/prod"
    s3.client().put_object(Bucket=bucket, Key=f"{folder}/half-done/bbr/bosh-0-director.tar", Body=b"x" * 100)
    made = harness.workdir / "sim" / "drill-by-hand"
    made.mkdir(parents=True)
    from boshsim.fixtures import bbr
    assert bbr(sim_bin, director, "backup", "--artifact-path", str(made), cwd=made).returncode == 0
    plain = next(p for p in made.iterdir() if p.is_dir())
    subprocess.run(["tar", "-C", str(made), "-cf", str(made / f"{plain.name}.tar"), plain.name], check=True)
    s3.client().upload_file(str(made / f"{plain.name}.tar"), bucket, f"{folder}/{plain.name}.tar")

    harness.kubectl("annotate", "dbc", "prod-storage", "-n", NS, "bosh-backup.dev/sync-now=1", "--overwrite")
    catalog = listing_after(harness, "prod-storage", "1")
    assert catalog["status"]["complete"] == 2 and catalog["status"]["incomplete"] == 1, catalog["status"]
    forms = {entry["path"]: entry for entry in catalog["status"]["artifacts"]}
    assert forms[name]["form"] == "operator" and forms[name]["backup"] == name
    assert forms["half-done"]["form"] == "incomplete" and "did not finish" in forms["half-done"]["reason"]
    assert forms[f"{plain.name}.tar"]["form"] == "bbr-tar"
    imported_tar = [b["metadata"]["name"]
                    for b in listed(harness, "DirectorBackup", **{"bosh-backup.dev/imported": "true"})]
    assert imported_tar == [f"imported-{plain.name.lower().replace('_', '-')}"], "only the plain tar had no object"

    # the disaster: the director, and every object of ours in the namespace
    fresh = disaster(director, harness, "1")
    harness.kubectl("delete", "dbs,dbk,bdir", "--all", "-n", NS, "--wait=true", timeout=120)
    wait_for("the Director's catalog to go with it", lambda: not listed(harness, "DirectorBackupCatalog"),
             timeout=60)
    try:
        register(harness, NS, fresh, "prod", storage=storage)   # from git, as it was
        wait_for("the catalog to import the backups", lambda: len(listed(harness, "DirectorBackup")) == 2,
                 timeout=120)
        found = get(harness, "DirectorBackup", NS, name)
        assert found["metadata"]["labels"]["bosh-backup.dev/imported"] == "true"
        assert found["spec"]["deletionPolicy"] == "Retain"
        assert found["status"]["phase"] == "Succeeded" and found["status"]["reason"] == "Imported"
        assert found["status"]["artifact"]["location"] == location
        conditions = {c["type"]: c for c in found["status"]["conditions"]}
        assert conditions["Imported"]["status"] == "True"
        history = harness.kubectl("get", "dbk", "-n", NS, "--no-headers").stdout.splitlines()
        assert sorted(line.split()[0] for line in history if "Succeeded" in line) == sorted(
            [name, *imported_tar]), history   # `kubectl get dbk` shows the history again
        jobs = harness.admin.get(f"/apis/batch/v1/namespaces/{NS}/jobs")["items"]
        owners = {ref["uid"] for job in jobs for ref in job["metadata"].get("ownerReferences") or []}
        assert found["metadata"]["uid"] not in owners   # an imported backup never runs

        harness.apply(restore("back-1", {"backupRef": {"name": name}}))
        status = wait_phase(harness, "DirectorRestore", NS, "back-1", timeout=300)["status"]
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        assert fresh.snapshot() == before

        # and once more, by storage and path alone
        fresh = disaster(fresh, harness, "2")
        harness.apply(restore("back-2", {"storage": storage, "path": found["status"]["artifact"]["path"]}))
        status = wait_phase(harness, "DirectorRestore", NS, "back-2", timeout=300)["status"]
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        assert fresh.snapshot() == before
    finally:
        fresh.stop()
