"""The operator's own inventory of runs, kept from the watch (no kopf index)."""

from __future__ import annotations

from typing import Any

from bosh_backup_operator.controllers.schedule import backup_record
from bosh_backup_operator.inventory import Inventory
from bosh_backup_operator.waits import ActiveRun


def body(name: str, phase: str | None = None, schedule: str | None = "nightly", director: str = "prod",
         reason: str | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-11-29T00:00:00Z",
                         "labels": {"bosh-backup.dev/schedule": schedule} if schedule else {}},
            "spec": {"directorRef": {"name": director}},
            "status": {key: value for key, value in (("phase", phase), ("reason", reason)) if value}}


def test_a_run_is_filed_under_its_schedule_and_director_and_moves_with_its_phase() -> None:
    inventory = Inventory(backup_record)
    assert inventory.listing("ns", "nightly") is None   # before the first LIST: the caller lists
    inventory.ready = True
    inventory.observe("DirectorBackup", body("b1", reason="WaitingForDirector"))
    inventory.observe("DirectorRestore", body("r1", phase="Running", schedule=None))
    assert inventory.schedule_active("ns", "nightly")
    assert sorted(inventory.active_runs("ns", "prod"), key=lambda run: run.name) == [
        ActiveRun("DirectorBackup", "b1", True), ActiveRun("DirectorRestore", "r1", False)]
    inventory.observe("DirectorBackup", body("b1", phase="Succeeded"))
    assert not inventory.schedule_active("ns", "nightly")
    assert inventory.active_runs("ns", "prod") == [ActiveRun("DirectorRestore", "r1", False)]
    assert [r["status"]["phase"] for r in inventory.listing("ns", "nightly") or []] == ["Succeeded"]
    inventory.observe("DirectorBackup", body("b1", phase="Succeeded"), deleted=True)
    inventory.observe("DirectorRestore", body("r1", phase="Failed", schedule=None))
    assert inventory.listing("ns", "nightly") == [] and inventory.active_runs("ns", "prod") == []


def test_a_changed_label_or_director_leaves_nothing_behind() -> None:
    inventory = Inventory(backup_record)
    inventory.ready = True
    inventory.observe("DirectorBackup", body("b1", phase="Running"))
    inventory.observe("DirectorBackup", body("b1", phase="Running", schedule="weekly", director="lab"))
    assert inventory.listing("ns", "nightly") == [] and inventory.active_runs("ns", "prod") == []
    assert [r["metadata"]["name"] for r in inventory.listing("ns", "weekly") or []] == ["b1"]
    assert inventory.active_runs("ns", "lab") == [ActiveRun("DirectorBackup", "b1", False)]


def test_it_tells_when_a_scheduled_backup_moved_so_that_its_schedule_follows() -> None:
    inventory = Inventory(backup_record)
    inventory.ready = True
    assert not inventory.observe("DirectorBackup", body("b1"))   # first seen: its schedule made it
    assert not inventory.observe("DirectorBackup", body("b1"))   # kopf's own annotation write, say
    assert inventory.observe("DirectorBackup", body("b1", phase="Running"))
    assert not inventory.observe("DirectorBackup", body("b1", phase="Running", reason="Uploading"))
    assert inventory.observe("DirectorBackup", body("b1", phase="Succeeded"))
    judged = body("b1", phase="Succeeded")
    judged["status"]["verification"] = {"lastVerdict": "Passed", "lastPassedTime": "2026-11-30T00:00:00Z"}
    assert inventory.observe("DirectorBackup", judged)
    assert not inventory.observe("DirectorBackup", judged, deleted=True)
    # a backup of no schedule, and a restore, never move a schedule
    assert not inventory.observe("DirectorBackup", body("b2", schedule=None))
    assert not inventory.observe("DirectorBackup", body("b2", phase="Succeeded", schedule=None))
    assert not inventory.observe("DirectorRestore", body("r1", phase="Running", schedule=None))
