"""The parsers and diagnoses on what the real bosh 7.10.6 and bbr 1.9.81 printed.

Every fixture in real_output/ was recorded from the real binaries by
`PYTHONPATH=tests .venv/bin/python -m boshsim.capture tests/unit/real_output`; when a
tool changes, record again and fix the parser, never the fixture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bosh_backup_operator.bosh import parsers
from bosh_backup_operator.bosh.diagnose import diagnose_bbr, diagnose_bosh

FIXTURES = Path(__file__).with_name("real_output")


def real(case: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{case}.json").read_text()))


def test_fixtures_come_from_the_pinned_versions() -> None:
    assert real("bosh-version")["stdout"].startswith("version 7.10.6")
    assert real("bbr-version")["stdout"].strip() == "bbr version 1.9.81"


# -- bosh ------------------------------------------------------------------------------------------

def test_env_names_the_director_and_the_user() -> None:
    info = parsers.parse_env(real("bosh-env")["stdout"])
    assert info.name == "capture" and info.cpi == "warden_cpi" and info.logged_in
    assert len(info.uuid) == 36


def test_inventory_of_a_seeded_director() -> None:
    stemcells = parsers.parse_stemcells(real("bosh-stemcells")["stdout"])
    assert sorted((s["version"], s["deployed"]) for s in stemcells) == [("1.650", False), ("1.700", True)]
    releases = parsers.parse_releases(real("bosh-releases")["stdout"])
    assert {(r["name"], r["version"]) for r in releases} == {
        ("nginx", "1.25.3"), ("postgres", "48"), ("bpm", "1.2.19"), ("redis", "7.2")}
    assert all(r["deployed"] for r in releases)
    deployments = parsers.parse_deployments(real("bosh-deployments")["stdout"])
    assert {d["name"]: len(d["releases"]) for d in deployments} == {"web": 2, "db": 2, "cache": 1}


def test_instances_ps_counts_processes_as_a_person_reads_the_table() -> None:
    """The real CLI repeats the instance on every process row (the stand-in left it empty):
    a healthy director must read as 6 instances, 12 processes, all running."""
    instances = parsers.parse_instances(real("bosh-instances-ps")["stdout"])
    assert len(instances) == 6
    assert {i.deployment for i in instances} == {"web", "db", "cache"}
    assert sum(len(i.processes) for i in instances) == 12
    assert all(i.state == "running" and not i.failing_processes for i in instances)


def test_instances_ps_with_a_silent_and_a_missing_vm() -> None:
    instances = parsers.parse_instances(real("bosh-instances-ps-broken")["stdout"])
    assert [i.state for i in instances] == ["unresponsive agent", "unresponsive agent"]
    assert all(i.deployment == "web" and not i.processes for i in instances)


def test_cloud_check_problems_keep_their_numbers() -> None:
    result = real("bosh-cck-report-problems")
    assert result["code"] == 1
    problems = parsers.parse_problems(result["stdout"])
    assert [p["id"] for p in problems] == ["1", "2"]
    assert {p["type"] for p in problems} == {"unresponsive_agent", "missing_vm"}
    assert parsers.parse_problems(real("bosh-cck-report-clean")["stdout"]) == []


@pytest.mark.parametrize(("case", "cause"), [
    ("bosh-upload-release-wrong-sha1", "Expected stream to have digest '0000000000000000000000000000000000000000'"),
    ("bosh-upload-release-unreachable", "Downloading remote release failed"),
])
def test_a_failed_upload_says_why(case: str, cause: str) -> None:
    """The cause is in the task's events (JSON Blocks), not in Lines."""
    result = real(case)
    line = parsers.json_error_line(result["stdout"])
    assert line.startswith("Uploading remote release 'http://127.0.0.1:")
    assert cause in line
    assert "Expected task" not in line
    diagnosis = diagnose_bosh(result["stdout"], result["stderr"], json_output=True)
    assert diagnosis.reason == "DirectorCommandFailed" and cause in diagnosis.message("UploadReleases")


def test_wrong_credentials_and_an_unreachable_director() -> None:
    wrong = real("bosh-env-wrong-secret")
    assert diagnose_bosh(wrong["stdout"], wrong["stderr"], json_output=True).reason == "DirectorAuthenticationFailed"
    gone = real("bosh-env-unreachable")
    assert diagnose_bosh(gone["stdout"], gone["stderr"], json_output=True).reason == "DirectorUnreachable"


# -- bbr -------------------------------------------------------------------------------------------

def test_progress_over_the_real_copy_lines() -> None:
    lines = real("bbr-backup")["stdout"].splitlines()
    progress = parsers.BbrProgress(jobs=["director", "blobstore", "bbr-credhubdb", "bbr-uaadb"])
    percents = [p for p in (progress.feed(line) for line in lines) if p is not None]
    assert percents and percents[-1] == 100 and percents == sorted(percents)


@pytest.mark.parametrize(("case", "code", "reason", "says"), [
    ("bbr-backup-lock-error", 4, "BbrLockFailed", "pre-backup-lock for job director on bosh/0: director workers"),
    ("bbr-backup-unlock-error", 8, "BbrUnlockFailed", "post-backup-unlock for job director"),
    ("bbr-backup-backup-error", 1, "BbrFailed", "backup for job director on bosh/0: /var/vcap/jobs/"),
    ("bbr-backup-cleanup-error", 17, "BbrCleanupFailed", "Unable to delete artifact directory on instance bosh/0"),
    ("bbr-backup-stale-folder", 1, "BackupAlreadyInProgress", "Directory /var/vcap/store/bbr-backup already exists"),
    ("bbr-missing-key", 1, "SshKeyMissing", "failed reading private key"),
    ("bbr-public-key", 1, "SshKeyInvalid", "ParsePrivateKey failed"),
    ("bbr-wrong-key", 1, "SshAuthenticationFailed", "unable to authenticate"),
    ("bbr-not-ssh", 1, "SshHandshakeFailed", "handshake failed"),
    ("bbr-no-sshd", 1, "DirectorUnreachable", "connection refused"),
    ("bbr-no-such-host", 1, "DirectorUnreachable", "no such host"),
    ("bbr-restore-corrupted", 1, "ArtifactCorrupted", "Backup is corrupted"),
    ("bbr-restore-unreadable-tar", 1, "ArtifactCorrupted", "Could not validate backup"),
    ("bbr-restore-script-fails", 1, "BbrFailed", "Failed to restore: Error attempting to run restore for job "
                                                 "bbr-uaadb"),
    ("bbr-backup-sigterm", -15, "BbrKilled", ""),
    ("bbr-backup-sigkill", -9, "BbrKilled", ""),
])
def test_bbr_failures_are_diagnosed(case: str, code: int, reason: str, says: str) -> None:
    result = real(case)
    assert result["code"] == code
    diagnosis = diagnose_bbr(result["code"], result["stderr"], ["bbr", "director", "backup-cleanup"], None)
    assert diagnosis.reason == reason
    assert says in diagnosis.tool_line
    assert "error 1:" not in diagnosis.tool_line and "occurred" not in diagnosis.tool_line


def test_nested_and_glued_error_blocks_become_separate_messages() -> None:
    line = parsers.bbr_error(real("bbr-backup-cleanup-error")["stderr"])
    first, second = line.split("; ")
    assert first.startswith("Unable to delete artifact directory") and first.endswith("exit code 1")
    assert second.startswith("Deployment '127.0.0.1' failed while cleaning up with error: Unable to clean up")


def test_only_an_unlock_failure_leaves_a_usable_artifact() -> None:
    for case in ("bbr-backup", "bbr-backup-unlock-error"):
        assert parsers.bbr_artifact_usable(real(case)["code"]), case
    for case in ("bbr-backup-lock-error", "bbr-backup-backup-error", "bbr-backup-cleanup-error",
                 "bbr-backup-sigterm", "bbr-backup-sigkill"):
        assert not parsers.bbr_artifact_usable(real(case)["code"]), case


def test_a_signal_is_not_a_lock_failure() -> None:
    """SIGKILL reaches Python as -9 (and a container's exit code as 137): never bit 4."""
    for code in (-9, 137):
        diagnosis = diagnose_bbr(code, "", None, None)
        assert diagnosis.reason == "BbrKilled" and "signal 9" in diagnosis.next_action
        assert "out of memory" in diagnosis.next_action
    assert parsers.bbr_exit_meaning(-15) == ["bbr was killed by signal 15"]


def test_bbr_names_its_cleanup_only_after_some_failures() -> None:
    """Why the operator writes its own cleanup advice: bbr gives one only sometimes."""
    def hint(stderr: str) -> str:
        return next((line for line in stderr.splitlines() if line.startswith("It is recommended")), "")
    assert "bbr backup-cleanup" in hint(real("bbr-backup-unlock-error")["stderr"])
    assert hint(real("bbr-backup-lock-error")["stderr"]) == ""


def test_pre_backup_check_verdicts() -> None:
    assert "Director can be backed up." in real("bbr-pre-backup-check")["stdout"]
    assert "Director cannot be backed up." in real("bbr-wrong-key")["stdout"]


def test_tool_versions_as_each_tool_prints_them() -> None:
    assert parsers.parse_tool_version(real("bosh-version")["stdout"]) == ("bosh", "7.10.6")
    assert parsers.parse_tool_version(real("bbr-version")["stdout"]) == ("bbr", "1.9.81")
    assert parsers.parse_tool_version("BOSH 1.3262.26.0\n") == ("boshV1", "1.3262.26.0")
    assert parsers.parse_tool_version("Unknown command: --version") is None
