"""A schedule's verify policy (spec.verify): when it sends its backups to verification, with
which key, and how far the schedule stands from its last backup found good; and what a
verification that could not finish leaves of the verdict retention acts on."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from test_schedule_controller import MemoryKube, at, finish, status, world
from test_verification_record import RecordingKube

from bosh_backup_operator import metrics
from bosh_backup_operator.api.runs import KeyRef
from bosh_backup_operator.controllers.schedule import retention_phase
from bosh_backup_operator.controllers.verification import VerificationController
from bosh_backup_operator.planning.schedule import ScheduleError, effective_schedule, zone
from bosh_backup_operator.planning.verification import (
    max_age,
    parse_identity,
    standing,
    verify_expression,
)

DAY = datetime.timedelta(days=1)


def backup(name: str, phase: str = "Succeeded", completed: str = "2026-01-01T01:05:00Z",
           **verification: Any) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "status": {"phase": phase, "completionTime": completed, **({"verification": verification}
                                                                        if verification else {})}}


def deadline_metric(schedule: str) -> float | None:
    samples = metrics.VERIFICATION_DEADLINE.collect()[0].samples
    return next((sample.value for sample in samples if sample.labels["schedule"] == schedule), None)


def test_the_identity_annotation_is_a_secret_and_an_optional_key() -> None:
    assert parse_identity("verify-key") == KeyRef("verify-key", "identity")
    assert parse_identity("verify-key/age.txt") == KeyRef("verify-key", "age.txt")
    for bad in ("", "/key", "a/b/c"):
        with pytest.raises(ValueError, match=r"bosh-backup\.dev/verify-identity"):
            parse_identity(bad)


def test_a_random_verify_time_is_stable_and_apart_from_the_backups() -> None:
    spec = {"schedule": "@weekly-random", "verify": {"schedule": "@weekly-random"}}
    verify = verify_expression(spec, "ns", "nightly")
    assert verify == verify_expression(spec, "ns", "nightly")
    assert verify != effective_schedule(spec["schedule"], "ns", "nightly")
    with pytest.raises(ScheduleError, match=r"^spec\.verify\.schedule: .*never comes"):
        verify_expression({"verify": {"schedule": "0 0 30 2 *"}}, "ns", "nightly")


def test_max_age_is_given_or_twice_the_time_between_verifications() -> None:
    now = at("2026-01-07T10:00:00")
    assert max_age({"verify": {"schedule": "@weekly"}}, "0 0 * * 0", zone("UTC"), now) == 14 * DAY
    assert max_age({"verify": {"schedule": "@weekly", "maxAge": "8d12h"}}, "0 0 * * 0", zone("UTC"), now) \
        == 8.5 * DAY


def test_the_clock_runs_from_the_newest_backup_found_good() -> None:
    found = standing([
        backup("a", completed="2026-01-01T01:00:00Z", result="Passed", lastVerdict="Passed",
               lastPassedTime="2026-01-03T00:00:00Z"),
        # damaged now: its earlier pass no longer counts
        backup("b", completed="2026-01-02T01:00:00Z", result="Failed", lastVerdict="Failed",
               lastPassedTime="2026-01-04T00:00:00Z"),
        # a later check could not finish: still damaged as far as anyone knows
        backup("c", completed="2026-01-02T02:00:00Z", result="Error", lastVerdict="Failed"),
        backup("d", completed="2026-01-05T01:00:00Z"),
        backup("e", phase="Failed", completed="2026-01-06T01:00:00Z"),
    ], 7 * DAY)
    assert (found.passed, found.failed, found.unverified) == (1, 2, 1)
    assert found.last_passed == at("2026-01-03T00:00:00")
    assert found.deadline == at("2026-01-10T00:00:00")
    never = standing([backup("d", completed="2026-01-05T01:00:00Z"), backup("f", completed="2026-01-04T01:00:00Z")],
                     7 * DAY)
    assert never.last_passed is None and never.deadline == at("2026-01-11T01:00:00")
    assert standing([backup("e", phase="Failed")], 7 * DAY).deadline is None


def test_retention_acts_on_the_last_verdict_not_on_a_check_that_could_not_finish() -> None:
    assert retention_phase({"phase": "Succeeded", "verification": {"result": "Failed"}}) == "Corrupt"
    assert retention_phase({"phase": "Succeeded", "verification": {"result": "Error", "lastVerdict": "Failed"}}) \
        == "Corrupt"
    assert retention_phase({"phase": "Succeeded", "verification": {"result": "Running", "lastVerdict": "Passed"}}) \
        == "Succeeded"
    assert retention_phase({"phase": "Succeeded", "verification": {"result": "Error"}}) == "Succeeded"


def test_an_error_leaves_the_verdict_and_the_last_pass_and_says_nothing_is_known() -> None:
    kube = RecordingKube()
    damaged = {"metadata": {"name": "b1", "namespace": "ns", "generation": 1},
               "spec": {"directorRef": {"name": "prod"}},
               "status": {"verification": {"result": "Failed", "lastVerdict": "Failed",
                                           "lastPassedTime": "2026-01-03T00:00:00Z"}}}
    before = metrics.VERIFICATION_FAILURES.labels("ns", "prod")._value.get()
    VerificationController(kube, None).record(  # type: ignore[arg-type]
        damaged, {"requested": "9", "result": "Error", "time": "2026-01-09T00:00:00Z",
                  "problems": ["the verification did not finish (StorageUnreachable): the bucket did not answer"]})
    [patch] = kube.patches
    assert patch["verification"]["lastVerdict"] == "Failed"
    assert patch["verification"]["lastPassedTime"] == "2026-01-03T00:00:00Z"
    [verified] = [c for c in patch["conditions"] if c["type"] == "Verified"]
    assert (verified["status"], verified["reason"]) == ("Unknown", "VerificationError")
    assert "the bucket did not answer" in verified["message"] and "Nothing is known" in verified["message"]
    assert kube.events[0][:2] == ("Warning", "VerificationError")
    assert metrics.VERIFICATION_FAILURES.labels("ns", "prod")._value.get() == before   # no damage found

    kube = RecordingKube()
    VerificationController(kube, None).record(  # type: ignore[arg-type]
        damaged, {"requested": "10", "result": "Passed", "time": "2026-01-10T00:00:00Z", "filesChecked": 6})
    assert kube.patches[0]["verification"]["lastVerdict"] == "Passed"
    assert kube.patches[0]["verification"]["lastPassedTime"] == "2026-01-10T00:00:00Z"


def backups_annotated(kube: MemoryKube) -> dict[str, dict[str, str]]:
    prefix = MemoryKube.custom("DirectorBackup", "ns")
    return {path.rsplit("/", 1)[1]: dict(body["metadata"].get("annotations") or {})
            for path, body in kube.objects.items() if path.startswith(f"{prefix}/")}


def test_at_its_time_every_succeeded_backup_is_sent_to_verification_with_the_key() -> None:
    kube, controller = world(schedule="0 1 * * *", verify={"schedule": "30 * * * *", "maxAge": "2d",
                                                           "identitySecretRef": {"name": "age-key"}})
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:01"))
    finish(kube, "nightly-20260101-0100")
    controller.reconcile("ns", "nightly", now=at("2026-01-02T01:00:01"))   # running at the next fire
    controller.reconcile("ns", "nightly", now=at("2026-01-02T01:10:00"))
    assert status(kube)["verification"]["nextScheduleTime"] == "2026-01-02T01:30:00Z"

    controller.reconcile("ns", "nightly", now=at("2026-01-02T01:30:02"))
    annotated = backups_annotated(kube)
    assert annotated["nightly-20260101-0100"]["bosh-backup.dev/verify-now"] == "scheduled-20260102T0130Z"
    assert annotated["nightly-20260101-0100"]["bosh-backup.dev/verify-identity"] == "age-key/identity"
    assert "bosh-backup.dev/verify-now" not in annotated["nightly-20260102-0100"]   # not stored yet
    verification = status(kube)["verification"]
    assert verification["lastScheduleTime"] == "2026-01-02T01:30:00Z"
    # never verified yet: the clock runs from the oldest good backup's completion
    assert verification["deadline"] == "2026-01-03T01:05:00Z" and verification["unverified"] == 1
    assert deadline_metric("nightly") == at("2026-01-03T01:05:00").timestamp()

    kube.patch_status("DirectorBackupSchedule", "ns", "nightly", {})
    schedule = kube.objects[MemoryKube.custom("DirectorBackupSchedule", "ns", "nightly")]
    schedule["metadata"]["annotations"] = {"bosh-backup.dev/verify-now": "after-the-outage"}
    controller.reconcile("ns", "nightly", now=at("2026-01-02T01:40:00"))
    assert backups_annotated(kube)["nightly-20260101-0100"]["bosh-backup.dev/verify-now"] == "now-after-the-outage"
    assert status(kube)["verification"]["lastRunNow"] == "after-the-outage"

    del schedule["spec"]["verify"]
    controller.reconcile("ns", "nightly", now=at("2026-01-02T01:41:00"))
    assert deadline_metric("nightly") is None


def test_a_verify_time_that_never_comes_stops_verification_not_the_backups() -> None:
    kube, controller = world(verify={"schedule": "0 0 30 2 *"})
    controller.reconcile("ns", "nightly", now=at("2026-01-01T01:00:01"))
    assert kube.created == ["nightly-20260101-0100"]
    conditions = {c["type"]: c for c in status(kube)["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    verify = conditions["VerifyScheduled"]
    assert (verify["status"], verify["reason"]) == ("False", "InvalidVerifySchedule")
    assert verify["message"].startswith('spec.verify.schedule: "0 0 30 2 *" names a date that never comes')
    assert "verification" not in status(kube) or not status(kube)["verification"]
