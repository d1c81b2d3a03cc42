"""A run controller keeps one lock per run it has looked at, and lets it go with the run:
an operator that backs up 1,000 directors nightly for a year must not keep 365,000 locks."""

from __future__ import annotations

from typing import Any

from bosh_backup_operator.controllers.backup import BackupController
from bosh_backup_operator.kube import Kube


class NoRuns:
    """The API as a run controller sees it once its runs are gone: nothing to read."""

    custom = staticmethod(Kube.custom)

    def get(self, path: str, **query: Any) -> dict[str, Any] | None:
        return None if path.rsplit("/", 2)[-2] == "directorbackups" else {"items": []}


def test_a_deleted_runs_lock_goes_with_it() -> None:
    controller = BackupController(NoRuns(), None)  # type: ignore[arg-type]
    for number in range(50):
        controller.reconcile("ns", f"nightly-{number}")
    assert len(controller._locks) == 50
    for number in range(50):
        controller.forget("ns", f"nightly-{number}", "prod")
    assert controller._locks == {}
