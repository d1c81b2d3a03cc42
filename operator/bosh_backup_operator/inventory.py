"""What the operator knows of its runs from the watch, kept without kopf's indexes.

kopf holds every handler back until every object of an indexed kind is indexed, and
indexing takes one of its per-object workers: with a bound on those workers (which keeps a
fleet's memory down) a restart over more backups than the bound deadlocked. These maps are
filled by one LIST before kopf watches anything, then kept by the watch's events; nothing
waits on them."""

from __future__ import annotations

import threading
from typing import Any

from .controllers.runs import TERMINAL
from .planning.schedule import SCHEDULE_LABEL
from .waits import ActiveRun

Key = tuple[str, str]


def is_active(status: dict[str, Any]) -> bool:
    return status.get("phase") not in TERMINAL


def is_waiting(status: dict[str, Any]) -> bool:
    return status.get("phase") in (None, "", "Pending") and status.get("reason") == "WaitingForDirector"


class Inventory:
    """(namespace, schedule label) -> that schedule's backups as its controller needs them;
    (namespace, Director) -> its runs not ended, for the Director's safety net."""

    def __init__(self, record: Any):
        self.record = record   # body -> what a schedule keeps of one backup
        self.ready = False
        self._guard = threading.Lock()
        self._scheduled: dict[Key, dict[str, dict[str, Any]]] = {}
        self._runs: dict[Key, dict[Key, ActiveRun]] = {}
        self._filed: dict[tuple[str, str, str], tuple[Key | None, Key | None]] = {}

    def observe(self, kind: str, body: dict[str, Any], deleted: bool = False) -> bool:
        """Files the run as the watch now shows it; whether it is a scheduled backup whose
        record (phase, completion, verification) changed from the one filed before."""
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace"), meta.get("name")
        if not namespace or not name:
            return False
        with self._guard:
            schedule_key, run_key = self._filed.pop((kind, namespace, name), (None, None))
            before = None
            if schedule_key is not None:
                before = self._drop(self._scheduled, schedule_key, name)
            if run_key is not None:
                self._drop(self._runs, run_key, (kind, name))
            if deleted:
                return False
            status = body.get("status") or {}
            label = (meta.get("labels") or {}).get(SCHEDULE_LABEL)
            schedule_key = (namespace, label) if kind == "DirectorBackup" and label else None
            moved = False
            if schedule_key is not None:
                record = self.record(body)
                self._scheduled.setdefault(schedule_key, {})[name] = record
                moved = before is not None and before != record
            director = ((body.get("spec") or {}).get("directorRef") or {}).get("name")
            run_key = (namespace, director) if director and is_active(status) else None
            if run_key is not None:
                self._runs.setdefault(run_key, {})[(kind, name)] = ActiveRun(kind, name, is_waiting(status))
            if schedule_key is not None or run_key is not None:
                self._filed[(kind, namespace, name)] = (schedule_key, run_key)
            return moved

    @staticmethod
    def _drop(table: dict[Key, dict[Any, Any]], key: Key, item: Any) -> Any:
        """Removes the item; what was filed under it."""
        entries = table.get(key)
        if entries is None:
            return None
        dropped = entries.pop(item, None)
        if not entries:
            del table[key]
        return dropped

    def listing(self, namespace: str, label: str) -> list[dict[str, Any]] | None:
        """A schedule's backups, or None before the first LIST (the caller lists then)."""
        if not self.ready:
            return None
        with self._guard:
            return [dict(record) for record in self._scheduled.get((namespace, label), {}).values()]

    def schedule_active(self, namespace: str, label: str) -> bool:
        with self._guard:
            return any(is_active(record.get("status") or {})
                       for record in self._scheduled.get((namespace, label), {}).values())

    def active_runs(self, namespace: str, director: str) -> list[ActiveRun]:
        with self._guard:
            return list(self._runs.get((namespace, director), {}).values())
