"""What the operator writes when a verification ends: status, condition and Event say the same."""

from __future__ import annotations

from typing import Any

from bosh_backup_operator.controllers.verification import VerificationController


class RecordingKube:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.patches: list[dict[str, Any]] = []

    def event(self, body: dict[str, Any], kind: str, reason: str, message: str) -> None:
        self.events.append((kind, reason, message))

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append(status)


BACKUP = {"metadata": {"name": "b1", "namespace": "ns", "generation": 1}, "spec": {"directorRef": {"name": "prod"}},
          "status": {"verification": {"problems": ["an earlier one"], "problemCount": 7, "filesChecked": 9}}}


def test_a_refusal_before_any_job_counts_its_problems_and_clears_the_earlier_result() -> None:
    kube = RecordingKube()
    VerificationController(kube, None).record(  # type: ignore[arg-type]
        BACKUP, {"requested": "2", "result": "Failed", "problems": ["only a Succeeded backup has an artifact"]})
    [(kind, reason, message)] = kube.events
    assert (kind, reason) == ("Warning", "VerificationFailed")
    assert message.startswith("1 problems: only a Succeeded backup has an artifact.")
    [patch] = kube.patches
    assert patch["verification"]["filesChecked"] is None and patch["verification"]["problemCount"] is None
    [verified] = [c for c in patch["conditions"] if c["type"] == "Verified"]
    assert verified["status"] == "False" and verified["message"] == message


def test_a_pass_names_the_files_read_back() -> None:
    kube = RecordingKube()
    VerificationController(kube, None).record(  # type: ignore[arg-type]
        BACKUP, {"requested": "3", "result": "Passed", "filesChecked": 6, "decrypted": False})
    assert kube.events == [("Normal", "Verified", "6 files read back; every checksum matches")]
