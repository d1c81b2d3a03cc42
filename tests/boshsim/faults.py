"""Faults a test can switch on for one director; read on every request, kept on restart.

    slow_seconds        delay every API and SSH request (and task) by this much
    fail_tasks          {description substring: error message}: those tasks end in error
    bbr_lock_error      pre-backup-lock fails (bbr exit code 4)
    bbr_unlock_error    post-backup-unlock fails (exit code 8)
    bbr_cleanup_error   removing the backup folder fails (exit code 16)
    bbr_backup_error    name of a job whose backup script fails (exit code 1)
    bbr_restore_error   name of a job whose restore script fails
    bbr_backup_seconds  the director job's backup script takes this long (a large database)

Other faults are states, not flags: stop the server (unreachable), delete blobs
(lost blobs), remove or silence VMs in the IaaS (cloud-check problems), create
<state>/vm/var/vcap/store/bbr-backup (a stale bbr lock), edit an artifact (corruption).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .state import write_json_atomic


class Faults:
    def __init__(self, state_dir: Path):
        self.path = state_dir / "faults.json"

    def all(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return {}

    def get(self, name: str, default: Any = None) -> Any:
        return self.all().get(name, default)

    def replace(self, faults: dict[str, Any]) -> None:
        write_json_atomic(self.path, faults)

    def task_failure(self, description: str) -> str | None:
        for fragment, message in (self.get("fail_tasks") or {}).items():
            if fragment in description:
                return str(message)
        return None
