"""What kubectl bosh-backup prints, from resources as the operator writes them."""

from __future__ import annotations

import datetime
import io
from typing import Any

from rich.console import Console

from bosh_backup_operator.plugin import views

NOW = datetime.datetime(2026, 11, 29, 3, 0, tzinfo=datetime.UTC)


def text(renderable: Any) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(renderable)
    # columns widen with their content: compare words, one line at a time
    return "\n".join(" ".join(line.split()) for line in console.file.getvalue().splitlines())  # type: ignore[attr-defined]


def run(phase: str, **status: Any) -> dict[str, Any]:
    return {"kind": "DirectorBackup", "metadata": {"name": "prod-backup-1", "namespace": "bosh",
                                                   "creationTimestamp": "2026-11-29T02:00:00Z"},
            "spec": {"directorRef": {"name": "prod"}}, "status": {"phase": phase, **status}}


STEPS = [{"name": "Precheck", "state": "Succeeded", "startTime": "2026-11-29T02:00:00Z",
          "completionTime": "2026-11-29T02:00:04Z", "message": "director prod answers"},
         {"name": "Backup", "state": "Running", "startTime": "2026-11-29T02:00:04Z",
          "message": "bbr: 3 of 4 jobs backed up"},
         {"name": "Store", "state": "Pending"}]


def test_names_say_what_and_when() -> None:
    assert views.run_name("prod", "backup", NOW) == "prod-backup-20261129-030000"
    assert len(views.run_name("p" * 300, "restore", NOW)) <= 253


def test_the_follow_line_shows_the_step_its_message_and_the_runs_percent() -> None:
    where = views.follow(run("Running", steps=STEPS, progress={"stepIndex": 2, "percent": 40}))
    assert where == views.Follow(40, "2/3 Backup: bbr: 3 of 4 jobs backed up", False)
    assert views.follow(run("Pending", message="waiting for the director lock held by prod-backup-0")).line \
        == "Pending: waiting for the director lock held by prod-backup-0"
    done = views.follow(run("Succeeded", steps=STEPS[:1], progress={"percent": 99}))
    assert done.done and done.percent == 100


def test_a_failure_says_what_failed_why_and_what_to_do() -> None:
    failed = run("Failed", reason="DirectorUnreachable", duration="12s",
                 message="Precheck failed: the director did not answer at https://10.0.0.6:25555; check the URL",
                 steps=[{**STEPS[0], "state": "Failed"}])
    ok, words = views.outcome("Backup", failed)
    assert not ok
    assert words == ("Backup prod-backup-1 Failed at step Precheck (DirectorUnreachable) in 12s: Precheck failed: "
                     "the director did not answer at https://10.0.0.6:25555; check the URL")
    ok, words = views.outcome("Backup", run("Succeeded", duration="1m3s", artifact={
        "location": "s3://backups/prod/20261129", "size": "3.0 MiB", "totalSize": 3 * 1024 * 1024}))
    assert ok and words == "Backup prod-backup-1 Succeeded in 1m3s: s3://backups/prod/20261129 (3.0 MiB)"


def test_describe_has_the_timeline_the_files_and_the_verification() -> None:
    shown = text(views.describe("DirectorBackup", run(
        "Succeeded", startTime="2026-11-29T02:00:00Z", duration="4s", steps=STEPS,
        artifact={"location": "file:///backups/prod/1", "files": [
            {"name": "bbr/bosh-0-director.tar", "size": 2048, "sha256": "ab" * 32}]},
        verification={"result": "Failed", "time": "2026-11-29T02:30:00Z",
                      "problems": ["bbr/bosh-0-director.tar: sha256 changed"]}), NOW))
    lines = [line.split() for line in shown.splitlines()]
    assert ["Precheck", "Succeeded", "2026-11-29T02:00:00Z", "4s", "director", "prod", "answers"] in lines
    assert ["Backup", "Running", "2026-11-29T02:00:04Z", "running", "bbr:", "3", "of", "4", "jobs", "backed", "up"] \
        in lines
    assert ["bbr/bosh-0-director.tar", "2.0", "KiB", "ab" * 32] in lines
    assert "Verified: Failed at 2026-11-29T02:30:00Z" in shown and "sha256 changed" in shown
    assert "Started 2026-11-29T02:00:00Z (1h00m ago)" in shown


def test_the_restore_preview_names_the_director_the_artifact_and_the_replacement() -> None:
    director = {"metadata": {"name": "prod"}, "spec": {"url": "https://10.0.0.6:25555"}}
    shown = views.restore_preview(director, {"cloudCheck": "auto", "reupload": {"releases": False}},
                                  "DirectorBackup prod-backup-1 (s3://b/p)")
    assert shown.splitlines()[:2] == ["Restore into director prod (https://10.0.0.6:25555)",
                                      "  from DirectorBackup prod-backup-1 (s3://b/p)"]
    assert "  4. Reupload: stemcells yes, releases no (Needed, --fix)" in shown
    assert "  5. CloudCheck: auto" in shown
    assert shown.endswith("The database of director prod will be replaced by the backup's.")


def test_the_status_screen_of_a_director() -> None:
    director = {"metadata": {"name": "prod", "namespace": "bosh"},
                "spec": {"url": "https://10.0.0.6:25555", "storage": {"pvc": {"claimName": "backups"}}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}],
                           "lastSuccessfulBackup": {"name": "prod-backup-1", "time": "2026-11-28T03:00:00Z",
                                                    "location": "file:///backups/prod/1"}}}
    ended = run("Succeeded", completionTime="2026-11-29T02:50:00Z",
                verification={"result": "Passed", "time": "2026-11-29T02:55:00Z"})
    running = {**run("Running", steps=STEPS, progress={"stepIndex": 2}),
               "metadata": {"name": "prod-backup-2", "creationTimestamp": "2026-11-29T02:58:00Z"}}
    queued = {**run("Pending"), "metadata": {"name": "prod-backup-3", "creationTimestamp": "2026-11-29T02:59:00Z"}}
    schedule = {"metadata": {"name": "nightly"}, "spec": {"directorRef": {"name": "prod"}},
                "status": {"nextScheduleTime": "2026-11-30T02:37:00Z", "effectiveRetention": "keeps the newest 3",
                           "verification": {"passed": 2, "failed": 1, "unverified": 0,
                                            "lastPassedTime": "2026-11-29T02:55:00Z",
                                            "nextScheduleTime": "2026-12-06T04:11:00Z"}}}
    shown = text(views.director_screen(director, [ended, running, queued], [], [schedule], NOW))
    assert "Reachable yes, as of 10m00s ago" in shown
    assert "Last good backup prod-backup-1 (1d0h ago) at file:///backups/prod/1" in shown
    assert "Running DirectorBackup prod-backup-2 (2/3 Backup: bbr: 3 of 4 jobs backed up)" in shown
    assert "Queued DirectorBackup prod-backup-3" in shown
    assert "Schedule nightly: next 2026-11-30T02:37:00Z; keeps the newest 3" in shown
    assert "Verification 2 passed, 1 failed, 0 unverified; last good 5m00s ago" in shown
    assert "Storage claim backups" in shown
    assert "Latest verification prod-backup-1: Passed (5m00s ago)" in shown

    unreachable = run("Failed", reason="DirectorUnreachable", completionTime="2026-11-29T02:40:00Z")
    shown = text(views.director_screen({**director, "status": {}}, [unreachable], [], [], NOW))
    assert "Reachable no, as of 20m00s ago: DirectorUnreachable" in shown
    assert "Last good backup none" in shown and "Schedule none" in shown
