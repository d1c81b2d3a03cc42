"""Whoever sees a run's terminal phase can already find the operator's log line that
explains it: the line is written before the phase, not after the Director's status."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bosh_backup_operator.controllers.backup import BackupController
from bosh_backup_operator.kube import Kube


class LogAwareApi:
    """Records, for each status written, which log lines had been written before it."""

    custom = staticmethod(Kube.custom)

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.status_writes: list[tuple[str, str, list[str]]] = []

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.status_writes.append((kind, name, [r.getMessage() for r in self.caplog.records]))

    def event(self, *args: Any) -> None:
        pass


def failed_run() -> dict[str, Any]:
    return {"kind": "DirectorBackup", "metadata": {"namespace": "ns", "name": "nightly-1", "generation": 1},
            "spec": {"directorRef": {"name": "prod"}}, "status": {"phase": "Running"}}


def test_a_failed_runs_log_line_comes_before_its_phase(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    api = LogAwareApi(caplog)
    controller = BackupController(api, None)  # type: ignore[arg-type]
    controller.fail(failed_run(), "DirectorNotFound", 'spec.directorRef: Director "prod" not found')
    kind, name, logged_before = api.status_writes[0]
    assert (kind, name) == ("DirectorBackup", "nightly-1")
    assert any("ns/nightly-1 failed: DirectorNotFound" in line for line in logged_before), logged_before
