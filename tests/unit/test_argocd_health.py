"""deploy/argocd's health checks: what an Argo CD Application shows for each kind."""

from __future__ import annotations

from typing import Any

import yaml

from bosh_backup_operator import GROUP
from bosh_backup_operator.api.crds import all_crds
from harness.argocd import PATCH, PREFIX, health, scripts


def run(kind: str, phase: str | None, message: str = "") -> dict[str, Any]:
    status = {"phase": phase, "message": message} if phase else {}
    return {"kind": kind, "metadata": {"name": "x"}, "spec": {}, "status": status}


def test_every_kind_has_a_check_under_its_group() -> None:
    kinds = {crd["spec"]["names"]["kind"] for crd in all_crds()}
    assert set(yaml.safe_load(PATCH.read_text())["data"]) == {f"{PREFIX}{GROUP}_{kind}" for kind in kinds}
    assert set(scripts()) == kinds


def test_runs_progress_succeed_and_degrade_with_the_operators_words() -> None:
    for kind, noun in (("DirectorBackup", "backup"), ("DirectorRestore", "restore")):
        assert health(run(kind, None)) == ("Progressing", "waiting for the operator")
        assert health(run(kind, "Running", "Backup: 40%")) == ("Progressing", "Running: Backup: 40%")
        assert health(run(kind, "Succeeded")) == ("Healthy", f"{noun} succeeded")
        assert health(run(kind, "Failed", "bbr exited 1: lock failed; retry")) == (
            "Degraded", f"{noun} failed: bbr exited 1: lock failed; retry")
        assert health(run(kind, "Cancelled", "cancelled by spec.cancel")) == (
            "Degraded", f"{noun} cancelled: cancelled by spec.cancel")


def test_director_follows_its_ready_condition() -> None:
    director = {"kind": "Director", "metadata": {}, "spec": {}}
    assert health(director)[0] == "Progressing"
    director["status"] = {"conditions": [{"type": "Ready", "status": "False", "reason": "SecretNotFound",
                                          "message": 'spec.credentialsSecretRef: Secret "c" not found'}]}
    assert health(director) == ("Degraded", 'SecretNotFound: spec.credentialsSecretRef: Secret "c" not found')
    director["status"]["conditions"][0].update(status="True", reason="ReferencesFound", message="all found")
    assert health(director) == ("Healthy", "all found")


def test_schedule_is_suspended_degraded_by_a_failed_last_backup_or_healthy() -> None:
    ready = {"type": "Ready", "status": "True", "reason": "Scheduled", "message": "next backup at 02:00"}
    schedule: dict[str, Any] = {"kind": "DirectorBackupSchedule", "metadata": {}, "spec": {"suspend": True},
                                "status": {"conditions": [ready]}}
    assert health(schedule) == ("Suspended", "suspended")
    schedule["spec"]["suspend"] = False
    assert health(schedule) == ("Healthy", "next backup at 02:00")
    schedule["status"]["lastBackup"] = {"name": "nightly-20260101-0100", "phase": "Failed"}
    assert health(schedule) == ("Degraded", "last backup nightly-20260101-0100 Failed")
    schedule["status"] = {"conditions": [{**ready, "status": "False", "reason": "InvalidSchedule",
                                          "message": 'spec.timeZone: "Mars/Olympus" is not an IANA time zone'}]}
    assert health(schedule) == ("Degraded", 'InvalidSchedule: spec.timeZone: "Mars/Olympus" is not an IANA time zone')


def test_catalog_follows_its_synced_condition() -> None:
    catalog: dict[str, Any] = {"kind": "DirectorBackupCatalog", "metadata": {}, "spec": {}}
    assert health(catalog) == ("Progressing", "waiting for the first listing")
    catalog["status"] = {"conditions": [{"type": "Synced", "status": "False", "reason": "StorageAccessDenied",
                                         "message": "listing s3://b/p: access denied"}]}
    assert health(catalog) == ("Degraded", "StorageAccessDenied: listing s3://b/p: access denied")
    catalog["status"]["conditions"][0].update(status="True", reason="Listed", message="3 complete artifacts")
    assert health(catalog) == ("Healthy", "3 complete artifacts")
    catalog["spec"]["suspend"] = True
    assert health(catalog) == ("Suspended", "suspended")
