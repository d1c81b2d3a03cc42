"""The schedule controller's decisions with a controllable clock.

Unit tier: an in-memory object store stands in for the API so the clock can be moved
at will; the integration tests run the same controller against the real apiserver.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
from typing import Any

from bosh_backup_operator.controllers.schedule import SETTLE_SECONDS, FireWindow, ScheduleController
from bosh_backup_operator.kube import ApiError

UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


class MemoryKube:
    """Just enough of kube.Kube: objects by path, label selectors, merge patches."""

    custom = staticmethod(__import__("bosh_backup_operator.kube", fromlist=["Kube"]).Kube.custom)

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        self.reads: list[str] = []

    def get(self, path: str, **query: Any) -> dict[str, Any] | None:
        self.reads.append(path)
        if path in self.objects:
            return copy.deepcopy(self.objects[path])
        items = [copy.deepcopy(o) for p, o in self.objects.items() if p.rsplit("/", 1)[0] == path]
        if not items and not path.endswith("directorbackups"):
            return None
        selector = query.get("labelSelector")
        if selector:
            key, _, value = selector.partition("=")
            items = [o for o in items if (o["metadata"].get("labels") or {}).get(key) == value]
        return {"items": items}

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        full = f"{path}/{body['metadata']['name']}"
        if full in self.objects:
            raise ApiError(409, {"message": "exists"})
        body = copy.deepcopy(body)
        body["metadata"]["creationTimestamp"] = f"2026-01-01T00:00:{len(self.created):02d}Z"
        self.objects[full] = body
        self.created.append(body["metadata"]["name"])
        return body

    def merge(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        target = self.objects[path]
        for key, value in body.items():
            target.setdefault(key, {}).update(value)
        return target

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.objects[self.custom(kind, namespace, name)].setdefault("status", {}).update(status)

    def delete(self, path: str, body: Any = None) -> bool:
        return self.objects.pop(path, None) is not None


def world(**spec: Any) -> tuple[MemoryKube, ScheduleController]:
    kube = MemoryKube()
    kube.objects[MemoryKube.custom("DirectorBackupSchedule", "ns", "nightly")] = {
        "metadata": {"name": "nightly", "namespace": "ns", "generation": 1,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"directorRef": {"name": "prod"}, "schedule": "0 * * * *", "startingDeadlineSeconds": 600,
                 "backupTemplate": {"metadata": {"labels": {"team": "ops"}}, "spec": {"deletionPolicy": "Delete"}},
                 **spec}}
    return kube, ScheduleController(kube)  # type: ignore[arg-type]


def status(kube: MemoryKube) -> dict[str, Any]:
    return dict(kube.objects[MemoryKube.custom("DirectorBackupSchedule", "ns", "nightly")].get("status", {}))


def finish(kube: MemoryKube, name: str, phase: str = "Succeeded", at_time: str = "2026-01-01T01:05:00Z") -> None:
    kube.objects[MemoryKube.custom("DirectorBackup", "ns", name)]["status"] = {"phase": phase,
                                                                              "completionTime": at_time}


def test_fires_once_per_time_with_template_and_labels() -> None:
    kube, controller = world()
    controller.reconcile("ns", "nightly", now=at("2026-01-01T00:59:59"))
    assert kube.created == []
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:00.4"))
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:03"))  # a second trigger, same time
    assert kube.created == ["nightly-20260101-0100"]
    backup = kube.objects[MemoryKube.custom("DirectorBackup", "ns", "nightly-20260101-0100")]
    assert backup["metadata"]["labels"] == {"team": "ops", "bosh-backup.dev/schedule": "nightly"}
    assert backup["spec"] == {"deletionPolicy": "Delete", "directorRef": {"name": "prod"}}
    assert status(kube)["lastScheduleTime"] == "2026-01-01T01:00:00Z"
    assert status(kube)["nextScheduleTime"] == "2026-01-01T02:00:00Z"
    assert status(kube)["active"] == ["nightly-20260101-0100"]


def test_a_restarted_operator_does_not_create_the_same_run_twice() -> None:
    kube, controller = world()
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:01"))
    kube.patch_status("DirectorBackupSchedule", "ns", "nightly", {"lastScheduleTime": None})  # status lost
    ScheduleController(kube).reconcile("ns", "nightly", now=at("2026-01-01T01:00:05"))  # type: ignore[arg-type]
    assert kube.created == ["nightly-20260101-0100"]


def test_a_daemon_fire_creates_before_any_listing_and_settles_after() -> None:
    """At a fleet's common fire second every creation goes out first; the rest follows."""
    kube, controller = world(concurrencyPolicy="Forbid")
    delay = controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:00.2"), known_active=False)
    assert kube.created == ["nightly-20260101-0100"]
    assert kube.reads == [MemoryKube.custom("DirectorBackupSchedule", "ns", "nightly")]  # no listing first
    assert delay == SETTLE_SECONDS
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:02.2"), known_active=True)
    assert kube.created == ["nightly-20260101-0100"]
    assert status(kube)["lastScheduleTime"] == "2026-01-01T01:00:00Z"
    assert status(kube)["active"] == ["nightly-20260101-0100"]
    assert "lastSkipped" not in status(kube)


def test_forbid_with_a_run_active_in_the_index_checks_and_skips() -> None:
    kube, controller = world(concurrencyPolicy="Forbid")
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:01"), known_active=False)
    controller.reconcile("ns", "nightly", now=at("2026-01-01T02:00:01"), known_active=True)
    assert kube.created == ["nightly-20260101-0100"]
    assert status(kube)["lastSkipped"] == {"time": "2026-01-01T02:00:00Z", "reason": "ConcurrencyForbid"}


def test_forbid_skips_while_active_and_records_why() -> None:
    kube, controller = world(concurrencyPolicy="Forbid")
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:01"))
    controller.reconcile("ns", "nightly", now=at("2026-01-01T02:00:01"))
    assert kube.created == ["nightly-20260101-0100"]
    assert status(kube)["lastSkipped"] == {"time": "2026-01-01T02:00:00Z", "reason": "ConcurrencyForbid"}


def test_replace_cancels_the_active_one() -> None:
    kube, controller = world(concurrencyPolicy="Replace")
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:01"))
    controller.reconcile("ns", "nightly", now=at("2026-01-01T02:00:01"))
    assert kube.created == ["nightly-20260101-0100", "nightly-20260101-0200"]
    assert kube.objects[MemoryKube.custom("DirectorBackup", "ns", "nightly-20260101-0100")]["spec"]["cancel"] is True


def test_allow_queues_a_second_one() -> None:
    kube, controller = world(concurrencyPolicy="Allow")
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:01"))
    controller.reconcile("ns", "nightly", now=at("2026-01-01T02:00:01"))
    assert len(kube.created) == 2
    assert "cancel" not in kube.objects[MemoryKube.custom("DirectorBackup", "ns", "nightly-20260101-0100")]["spec"]


def test_operator_down_for_hours_catches_up_once_within_the_deadline() -> None:
    kube, controller = world()
    controller.reconcile("ns", "nightly", now=at("2026-01-01T05:04:00"))  # 01..05 missed; 05:00 within 600 s
    assert kube.created == ["nightly-20260101-0500"]
    kube2, controller2 = world()
    controller2.reconcile("ns", "nightly", now=at("2026-01-01T05:30:00"))  # beyond the deadline
    assert kube2.created == []
    assert status(kube2)["lastSkipped"]["reason"] == "MissedDeadline"


def test_suspend_and_unsuspend_fire_no_backlog() -> None:
    kube, controller = world(suspend=True)
    for hour in range(1, 6):
        controller.reconcile("ns", "nightly", now=at(f"2026-01-01T0{hour}:00:30"))
    assert kube.created == []
    kube.objects[MemoryKube.custom("DirectorBackupSchedule", "ns", "nightly")]["spec"]["suspend"] = False
    controller.reconcile("ns", "nightly", now=at("2026-01-01T05:01:00"))
    assert kube.created == []
    controller.reconcile("ns", "nightly", now=at("2026-01-01T06:00:01"))
    assert kube.created == ["nightly-20260101-0600"]


def test_run_now_annotation_creates_one_backup_per_value() -> None:
    kube, controller = world()
    schedule = kube.objects[MemoryKube.custom("DirectorBackupSchedule", "ns", "nightly")]
    schedule["metadata"]["annotations"] = {"bosh-backup.dev/run-now": "before-upgrade"}
    controller.reconcile("ns", "nightly", now=at("2026-01-01T00:10:00"))
    controller.reconcile("ns", "nightly", now=at("2026-01-01T00:11:00"))
    schedule["metadata"]["annotations"]["bosh-backup.dev/run-now"] = "again"
    controller.reconcile("ns", "nightly", now=at("2026-01-01T00:12:00"))
    assert len(kube.created) == 2 and all("-now-" in name for name in kube.created)


def test_retention_prunes_but_keeps_the_newest_success() -> None:
    kube, controller = world(retention={"keepLast": 1}, failedBackupsHistoryLimit=1, concurrencyPolicy="Allow")
    for hour in (1, 2, 3):
        controller.reconcile("ns", "nightly", now=at(f"2026-01-01T0{hour}:00:01"))
    finish(kube, "nightly-20260101-0100", "Succeeded", "2026-01-01T01:05:00Z")
    finish(kube, "nightly-20260101-0200", "Failed", "2026-01-01T02:05:00Z")
    finish(kube, "nightly-20260101-0300", "Failed", "2026-01-01T03:05:00Z")
    controller.reconcile("ns", "nightly", now=at("2026-01-01T03:10:00"))
    remaining = sorted(path.rsplit("/", 1)[1] for path in kube.objects if "/directorbackups/" in path)
    assert remaining == ["nightly-20260101-0100", "nightly-20260101-0300"]  # newest success, 1 failure
    assert status(kube)["lastSuccessfulTime"] == "2026-01-01T01:05:00Z"


def test_invalid_time_zone_is_a_condition_that_names_the_field() -> None:
    kube, controller = world(timeZone="Mars/Olympus")
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:01"))
    ready = status(kube)["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "InvalidSchedule")
    assert 'spec.timeZone: "Mars/Olympus"' in ready["message"]
    assert kube.created == []


def test_status_says_which_retention_is_in_force() -> None:
    kube, controller = world()
    controller.reconcile("ns", "nightly", now=at("2026-01-01T00:10:00"))
    assert status(kube)["effectiveRetention"] == (
        "keeps every successful backup (no keep* above 0); 3 failed, cancelled or found damaged")
    kube, controller = world(retention={"keepLast": 2, "keepDaily": 7, "keepMonthly": 0}, failedBackupsHistoryLimit=1)
    controller.reconcile("ns", "nightly", now=at("2026-01-01T00:10:00"))
    assert status(kube)["effectiveRetention"] == (
        "keeps the newest 2, one a day for 7 days, and always the newest successful backup; "
        "1 failed, cancelled or found damaged")


def test_due_says_whether_a_fire_waits_and_bookkeeping_waits_for_the_fleet() -> None:
    """A schedule's own fire never waits; its listing and status wait while others fire."""
    kube, controller = world(concurrencyPolicy="Forbid")
    body = kube.get(MemoryKube.custom("DirectorBackupSchedule", "ns", "nightly"))
    assert body is not None
    assert not controller.due(body, now=at("2026-01-01T00:59:59"))
    assert controller.due(body, now=at("2026-01-01T01:00:00.1"))
    assert controller.window.remaining() == 0
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:00.2"), known_active=False)
    assert 0 < controller.window.remaining() <= controller.window.quiet
    # the fire is remembered: the same time is not due again before status says so
    assert not controller.due(body, now=at("2026-01-01T01:00:02"))


def test_fire_window_waits_for_quiet_and_never_longer_than_its_bound() -> None:
    clock = [100.0]
    window = FireWindow(quiet=0.5, longest=3.0, clock=lambda: clock[0])
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        clock[0] += seconds
    asyncio.run(window.wait(sleep))
    assert slept == []          # nothing fired: no wait at all
    window.fired()
    clock[0] += 0.2
    asyncio.run(window.wait(sleep))
    assert slept == [0.3]       # until `quiet` after the last fire

    async def fire_on_every_sleep(seconds: float) -> None:   # a fleet that never stops firing
        slept.append(round(seconds, 3))
        clock[0] += seconds
        window.fired()
    slept.clear()
    window.fired()
    asyncio.run(window.wait(fire_on_every_sleep))
    assert sum(slept) == 3.0    # bounded by `longest`


def test_a_known_view_of_the_schedules_backups_spares_the_listing() -> None:
    """The operator's watch keeps each schedule's backups (inventory.Inventory): a
    reconcile reads them from there and lists the apiserver only while it knows none."""
    from bosh_backup_operator.controllers.schedule import backup_record

    kube, controller = world(retention={"keepLast": 1}, failedBackupsHistoryLimit=0)
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:01"))
    finish(kube, "nightly-20260101-0100")
    listed = MemoryKube.custom("DirectorBackup", "ns")

    def watched(namespace: str, label: str) -> list[dict[str, Any]]:
        assert (namespace, label) == ("ns", "nightly")
        return [backup_record(body) for path, body in kube.objects.items() if path.startswith(f"{listed}/")]
    controller.listing = watched
    kube.reads.clear()
    controller.reconcile("ns", "nightly", now=at("2026-01-01T02:00:01"))
    assert listed not in kube.reads
    finish(kube, "nightly-20260101-0200", at_time="2026-01-01T02:05:00Z")
    controller.reconcile("ns", "nightly", now=at("2026-01-01T02:06:00"))
    assert listed not in kube.reads
    assert sorted(p.rsplit("/", 1)[1] for p in kube.objects if p.startswith(f"{listed}/")) == ["nightly-20260101-0200"]
    assert status(kube)["lastBackup"] == {"name": "nightly-20260101-0200", "phase": "Succeeded"}
    assert status(kube)["lastSuccessfulTime"] == "2026-01-01T02:05:00Z"

    controller.listing = lambda namespace, label: None   # the index not ready: listed as before
    controller.reconcile("ns", "nightly", now=at("2026-01-01T02:07:00"))
    assert listed in kube.reads
