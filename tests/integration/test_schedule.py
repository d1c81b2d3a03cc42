"""DirectorBackupSchedule on the harness: fires, run-now, retention, deletion."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from boshsim.k8s import API, get, register, wait_phase
from harness.cluster import wait_for

NS = "schedules"


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NS))


def schedule(name: str, director: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "DirectorBackupSchedule", "metadata": {"name": name, "namespace": NS},
            "spec": {"directorRef": {"name": director}, "schedule": "@daily-random", **spec}}


def scheduled_backups(harness: Any, name: str) -> list[dict[str, Any]]:
    listing = harness.admin.get(f"/apis/{API}/namespaces/{NS}/directorbackups",
                                labelSelector=f"bosh-backup.dev/schedule={name}")
    return sorted(listing["items"], key=lambda b: b["metadata"]["name"])


def test_a_minute_schedule_fires_with_a_deterministic_name(harness: Any, ns: str) -> None:
    harness.apply(schedule("every-minute", "nowhere", schedule="* * * * *", timeZone="Europe/Paris"))
    backups = wait_for("the first fire", lambda: scheduled_backups(harness, "every-minute"), timeout=75)
    first = backups[0]
    scheduled = first["metadata"]["annotations"]["bosh-backup.dev/scheduled-time"]
    moment = datetime.datetime.fromisoformat(scheduled.replace("Z", "+00:00"))
    assert moment.second == 0
    assert first["metadata"]["name"] == f"every-minute-{moment.strftime('%Y%m%d-%H%M')}"
    # the backup goes out first; the schedule's status follows within seconds
    status = wait_for("the schedule's status to record the fire", lambda: (
        s := get(harness, "DirectorBackupSchedule", NS, "every-minute").get("status") or {}
    ).get("lastScheduleTime") == scheduled and s, timeout=15)
    assert status["effectiveSchedule"] == "* * * * *"
    next_time = datetime.datetime.fromisoformat(status["nextScheduleTime"].replace("Z", "+00:00"))
    assert (next_time - moment).total_seconds() == 60
    harness.kubectl("patch", "dbs", "every-minute", "-n", NS, "--type=merge", "-p", '{"spec":{"suspend":true}}')


def test_run_now_and_retention_keep_the_newest(harness: Any, ns: str, make_director: Any) -> None:
    director, _ = make_director(seeded=False)
    register(harness, NS, director, "nightly-dir")
    harness.apply(schedule("nightly", "nightly-dir", retention={"keepLast": 1},
                           backupTemplate={"metadata": {"labels": {"team": "platform"}},
                                           "spec": {"deletionPolicy": "Delete"}}))
    harness.kubectl("annotate", "dbs", "nightly", "-n", NS, "bosh-backup.dev/run-now=first", "--overwrite")
    first = wait_for("a run-now backup", lambda: scheduled_backups(harness, "nightly"), timeout=30)[0]
    assert first["metadata"]["labels"]["team"] == "platform"
    assert first["spec"]["deletionPolicy"] == "Delete"
    assert wait_phase(harness, "DirectorBackup", NS, first["metadata"]["name"])["status"]["phase"] == "Succeeded"
    harness.kubectl("annotate", "dbs", "nightly", "-n", NS, "bosh-backup.dev/run-now=second", "--overwrite")
    second = wait_for("a second run-now backup", lambda: [
        b for b in scheduled_backups(harness, "nightly") if b["metadata"]["name"] != first["metadata"]["name"]],
        timeout=30)[0]
    assert wait_phase(harness, "DirectorBackup", NS, second["metadata"]["name"])["status"]["phase"] == "Succeeded"
    wait_for("retention to prune the older", lambda: [b["metadata"]["name"] for b in
                                                      scheduled_backups(harness, "nightly")]
             == [second["metadata"]["name"]], timeout=60)
    status = get(harness, "DirectorBackupSchedule", NS, "nightly")["status"]
    assert status["lastBackup"]["name"] == second["metadata"]["name"]
    assert status["lastSuccessfulTime"]
    assert status["lastRunNow"] == "second"
    # re-applying the same run-now value creates nothing more
    harness.kubectl("annotate", "dbs", "nightly", "-n", NS, "bosh-backup.dev/run-now=second", "--overwrite")
    assert len(scheduled_backups(harness, "nightly")) == 1


def test_an_unknown_time_zone_is_reported_in_status(harness: Any, ns: str) -> None:
    harness.apply(schedule("martian", "nowhere", timeZone="Mars/Olympus"))

    def ready() -> dict[str, Any] | None:
        conditions = (get(harness, "DirectorBackupSchedule", NS, "martian").get("status") or {}).get("conditions")
        return next((c for c in conditions or [] if c["type"] == "Ready"), None)
    condition = wait_for("a Ready condition", ready, timeout=30)
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSchedule")
    assert condition["message"] == 'spec.timeZone: "Mars/Olympus" is not an IANA time zone'


def test_deleting_a_schedule_keeps_its_backups_unless_asked(harness: Any, ns: str) -> None:
    for name, delete in (("keeper", False), ("wiper", True)):
        harness.apply(schedule(name, "nowhere", deleteBackupsWithSchedule=delete))
        harness.kubectl("annotate", "dbs", name, "-n", NS, "bosh-backup.dev/run-now=once")
        wait_for(f"{name}'s backup", lambda n=name: scheduled_backups(harness, n), timeout=30)
        harness.kubectl("delete", "dbs", name, "-n", NS, "--timeout=60s")
    assert len(scheduled_backups(harness, "keeper")) == 1
    wait_for("the wiper's backups to go", lambda: not scheduled_backups(harness, "wiper"), timeout=30)


def test_printer_columns(harness: Any, ns: str) -> None:
    """What `kubectl get dbs` shows a person: the last backup made, and when the next is due
    (a date column shows a future time as <invalid>)."""
    table = harness.kubectl("get", "dbs", "nightly", "-n", NS).stdout.splitlines()
    assert table[0].split() == ["NAME", "DIRECTOR", "SCHEDULE", "SUSPEND", "LAST-BACKUP", "LAST-PHASE", "NEXT",
                                "AGE"]
    row = table[1].split()
    status = get(harness, "DirectorBackupSchedule", NS, "nightly")["status"]
    assert row[:2] == ["nightly", "nightly-dir"]
    assert " ".join(row[2:-5]) == status["effectiveSchedule"]  # a cron line has spaces: read from the end
    assert row[-4:-2] == [status["lastBackup"]["name"], status["lastBackup"]["phase"]]
    assert "<invalid>" not in row
    due = datetime.datetime.fromisoformat(row[-2].replace("Z", "+00:00"))
    assert due > datetime.datetime.now(datetime.UTC)


def seconds_to_boundary() -> float:
    now = datetime.datetime.now(datetime.UTC)
    return 60 - now.second - now.microsecond / 1e6


def test_forbid_skips_a_time_that_passes_while_the_operator_restarts(harness: Any, ns: str,
                                                                     make_director: Any) -> None:
    import time

    director, _ = make_director(seeded=False)
    register(harness, NS, director, "busy-dir")
    director.set_faults(bbr_backup_seconds=150)  # the first backup outlasts the next minute
    harness.apply(schedule("forbid", "busy-dir", schedule="* * * * *", concurrencyPolicy="Forbid",
                           startingDeadlineSeconds=120))
    first = wait_for("the first fire", lambda: scheduled_backups(harness, "forbid"), timeout=75)[0]
    time.sleep(max(0.0, seconds_to_boundary() - 3))
    harness.stop_operator()  # down across the next fire time
    time.sleep(6)
    harness.start_operator()
    try:
        status = wait_for("the missed time to be judged", lambda: (s := get(
            harness, "DirectorBackupSchedule", NS, "forbid").get("status") or {}).get("lastSkipped") and s,
            timeout=60)
        assert status["lastSkipped"]["reason"] == "ConcurrencyForbid"
        assert status["lastSkipped"]["time"] > first["metadata"]["annotations"]["bosh-backup.dev/scheduled-time"]
        assert [b["metadata"]["name"] for b in scheduled_backups(harness, "forbid")] == [first["metadata"]["name"]]
        assert status["active"] == [first["metadata"]["name"]]
    finally:
        harness.kubectl("patch", "dbs", "forbid", "-n", NS, "--type=merge", "-p", '{"spec":{"suspend":true}}')
        harness.kubectl("patch", "dbk", first["metadata"]["name"], "-n", NS, "--type=merge", "-p",
                        '{"spec":{"cancel":true}}')
        director.set_faults()


def test_replace_cancels_the_running_backup_and_allow_queues_a_second(harness: Any, ns: str,
                                                                       make_director: Any) -> None:
    directors = {}
    for policy in ("Replace", "Allow"):
        director, _ = make_director(seeded=False)
        register(harness, NS, director, f"{policy.lower()}-dir")
        director.set_faults(bbr_backup_seconds=150)  # each backup outlasts the next minute
        directors[policy] = director
        harness.apply(schedule(policy.lower(), f"{policy.lower()}-dir", schedule="* * * * *",
                               concurrencyPolicy=policy))
    try:
        for policy in ("replace", "allow"):
            wait_for(f"{policy}'s first fire", lambda p=policy: scheduled_backups(harness, p), timeout=75)
        replaced, replacement = wait_for("Replace's second fire", lambda: (
            b := scheduled_backups(harness, "replace")) and len(b) >= 2 and b[:2], timeout=75)
        assert get(harness, "DirectorBackup", NS, replaced["metadata"]["name"])["spec"]["cancel"] is True
        assert wait_phase(harness, "DirectorBackup", NS, replaced["metadata"]["name"],
                          timeout=90)["status"]["phase"] == "Cancelled"
        assert not get(harness, "DirectorBackup", NS, replacement["metadata"]["name"])["spec"].get("cancel")

        queued = wait_for("Allow's second fire", lambda: (
            b := scheduled_backups(harness, "allow")) and len(b) >= 2 and b[:2], timeout=75)
        names = [b["metadata"]["name"] for b in queued]
        status = wait_for("both of Allow's backups active at once", lambda: (
            s := get(harness, "DirectorBackupSchedule", NS, "allow").get("status") or {}
        ) and set(names) <= set(s.get("active", [])) and s, timeout=30)
        assert status["lastBackup"]["name"] == names[1]
        assert not any(get(harness, "DirectorBackup", NS, n)["spec"].get("cancel") for n in names)
        waiting = wait_for("the second to wait for the director", lambda: (
            s := get(harness, "DirectorBackup", NS, names[1]).get("status") or {}) and s.get("reason") and s)
        assert waiting["phase"] == "Pending" and waiting["reason"] == "WaitingForDirector", waiting
    finally:
        for policy in ("replace", "allow"):
            harness.kubectl("patch", "dbs", policy, "-n", NS, "--type=merge", "-p", '{"spec":{"suspend":true}}')
            for backup in scheduled_backups(harness, policy):
                harness.kubectl("patch", "dbk", backup["metadata"]["name"], "-n", NS, "--type=merge", "-p",
                                '{"spec":{"cancel":true}}', check=False)
        for director in directors.values():
            director.set_faults()


def test_suspend_lets_times_pass_and_unsuspending_fires_no_backlog(harness: Any, ns: str) -> None:
    import time

    harness.apply(schedule("paused", "nowhere", schedule="* * * * *", suspend=True,
                           startingDeadlineSeconds=3600, failedBackupsHistoryLimit=5))
    status = wait_for("a time to pass while suspended", lambda: (
        s := get(harness, "DirectorBackupSchedule", NS, "paused").get("status") or {}
    ).get("lastSkipped") and s, timeout=75)
    assert status["lastSkipped"]["reason"] == "Suspended"
    assert scheduled_backups(harness, "paused") == []
    harness.kubectl("patch", "dbs", "paused", "-n", NS, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    try:
        time.sleep(min(5.0, max(0.0, seconds_to_boundary() - 2)))
        assert scheduled_backups(harness, "paused") == [], "unsuspending fired a missed time"
        fired = wait_for("the next time after unsuspending", lambda: scheduled_backups(harness, "paused"),
                         timeout=75)
        assert len(fired) == 1
        assert fired[0]["metadata"]["annotations"]["bosh-backup.dev/scheduled-time"] > status["lastSkipped"]["time"]
    finally:
        harness.kubectl("patch", "dbs", "paused", "-n", NS, "--type=merge", "-p", '{"spec":{"suspend":true}}')
