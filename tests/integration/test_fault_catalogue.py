"""The operator SIGKILLed at each boundary of a backup and of a restore, and started again.

Every case ends the same way: nothing lost (a Succeeded backup with a verified artifact;
a restore that brings the director back equal to the original), the director left usable
(bbr's locks released: its task workers run), and nothing stuck (one Job per run, no
Lease held, and the next run on that director succeeds)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boshsim.fixtures import SimulatedDirector, seed
from boshsim.k8s import API, backup, get, leases_held_by, register, run_jobs, wait_phase
from harness.cluster import wait_for

NS = "faults"
BACKUP_STEPS = ["DirectorInfo", "Inventory", "PreBackupCheck", "Backup", "StateFile", "Store"]
RESTORE_STEPS = ["Precheck", "VerifyArtifact", "RestoreDatabase", "ListExpected", "UploadStemcells",
                 "UploadReleases", "CloudCheck", "VerifyInstances"]
_count = iter(range(1000))


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NS))


def killed_and_restarted(harness: Any) -> None:
    harness.kill_operator()
    time.sleep(1)
    harness.start_operator()


def reached(harness: Any, kind: str, name: str, step: str) -> bool:
    """The step is running or already over: the moment to kill (a short step may be missed
    by polling, and then the kill lands just after it)."""
    steps = (get(harness, kind, NS, name).get("status") or {}).get("steps") or []
    return any(s["name"] == step and s["state"] in ("Running", "Succeeded", "Failed") for s in steps)


def nothing_stuck(harness: Any, director: SimulatedDirector, kind: str, name: str) -> None:
    assert len(run_jobs(harness, NS, name)) == 1, "one Job: the restarted operator adopted it"
    assert leases_held_by(harness, NS, name) == []
    assert not director.state.workers_stopped(), "bbr's unlock ran: the director's workers run"


def manifest_published(claim: Path, name: str) -> bool:
    return any(claim.glob(f"bosh-backups/{NS}/*/{name}/manifest.json"))


@pytest.mark.parametrize("point", ["before its Job exists", *BACKUP_STEPS,
                                   "after manifest.json is published, before status says so"])
def test_backup_survives_the_operator_killed(harness: Any, ns: str, make_director: Any, point: str) -> None:
    director, _ = make_director()
    name = f"fk{next(_count)}"
    register(harness, NS, director, name)
    director.set_faults(slow_seconds=0.2, bbr_backup_seconds=2)   # room to land inside each step
    run = f"{name}-1"
    if point == "before its Job exists":
        harness.kill_operator()
        harness.apply(backup(run, NS, name))
        harness.start_operator()
    else:
        harness.apply(backup(run, NS, name))
        if point in BACKUP_STEPS:
            wait_for(f"{run} at {point}", lambda: reached(harness, "DirectorBackup", run, point), timeout=120,
                     interval=0.05)
        else:
            claim = Path(harness.node_root) / "pvcs" / NS / "backups"
            wait_for(f"{run}'s manifest.json", lambda: manifest_published(claim, run), timeout=180, interval=0.02)
            assert get(harness, "DirectorBackup", NS, run)["status"]["phase"] == "Running"
        killed_and_restarted(harness)
    director.set_faults()
    status = wait_phase(harness, "DirectorBackup", NS, run, timeout=240)["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert status["artifact"]["files"] and any(f["name"] == "manifest.json" for f in status["artifact"]["files"])
    nothing_stuck(harness, director, "DirectorBackup", run)
    harness.apply(backup(f"{name}-2", NS, name))   # the next run on that director
    assert wait_phase(harness, "DirectorBackup", NS, f"{name}-2", timeout=240)["status"]["phase"] == "Succeeded"


@pytest.fixture(scope="module")
def backed_up(harness: Any, ns: str, sim_ca: Any, sim_bin: Path,
              artifacts: Any) -> Iterator[tuple[SimulatedDirector, dict[str, Any]]]:
    """One backup that every restore case restores, each onto a fresh director."""
    director = SimulatedDirector(harness.workdir / "sim" / "fault-source", harness.workdir / "sim" / "fault-iaas.json",
                                 sim_ca, mode="uaa").start()
    seed(director, artifacts, sim_bin)
    register(harness, NS, director, "fr")
    harness.apply(backup("fr-1", NS, "fr"))
    assert wait_phase(harness, "DirectorBackup", NS, "fr-1", timeout=240)["status"]["phase"] == "Succeeded"
    before = director.snapshot()
    director.destroy()
    yield director, before


@pytest.mark.parametrize("step", RESTORE_STEPS)
def test_restore_survives_the_operator_killed(harness: Any, backed_up: Any, artifacts: Any, step: str) -> None:
    lost, before = backed_up
    fresh = lost.replacement(harness.workdir / "sim" / f"fault-restore-{step}").start()
    name = f"fr-r-{step.lower()}"
    try:
        fresh.set_faults(slow_seconds=0.2)
        pattern = f"http://127.0.0.1:{artifacts.port}/{{name}}-{{version}}.tgz"
        # uploads to be in, though bbr restores the blobs
        reupload = {"when": "Always", "stemcellUrlPattern": pattern, "releaseUrlPattern": pattern}
        harness.apply({"apiVersion": API, "kind": "DirectorRestore", "metadata": {"name": name, "namespace": NS},
                       "spec": {"directorRef": {"name": "fr"}, "source": {"backupRef": {"name": "fr-1"}},
                                "reupload": reupload}})
        wait_for(f"{name} at {step}", lambda: reached(harness, "DirectorRestore", name, step), timeout=180,
                 interval=0.05)
        killed_and_restarted(harness)
        fresh.set_faults()
        status = wait_phase(harness, "DirectorRestore", NS, name, timeout=300)["status"]
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        assert fresh.snapshot() == before
        database = next(s for s in status["steps"] if s["name"] == "RestoreDatabase")
        assert database["attempts"] == 1, "the database is restored once"
        nothing_stuck(harness, fresh, "DirectorRestore", name)
    finally:
        fresh.stop()
