"""The one way status is written: conditions that keep their transition time.

Every writer (kopf handlers in the operator, the runner in the pod) builds its
status patch with these functions, so conditions look the same everywhere.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

Condition = dict[str, Any]


def now_iso(at: datetime.datetime | None = None, *, microseconds: bool = False) -> str:
    """RFC 3339 in UTC; Leases want microseconds, everything else whole seconds."""
    at = (at or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if microseconds else "%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime.datetime | None:
    """A status timestamp (RFC 3339, Z) as an aware datetime; None stays None."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def condition(kind: str, holds: bool | None, reason: str, message: str, *,
              generation: int | None, at: str | None = None) -> Condition:
    status = "Unknown" if holds is None else ("True" if holds else "False")
    out: Condition = {"type": kind, "status": status, "reason": reason, "message": message,
                      "lastTransitionTime": at or now_iso()}
    if generation is not None:
        out["observedGeneration"] = generation
    return out


def merge_conditions(current: Iterable[Condition] | None, updates: Iterable[Condition]
                     ) -> list[Condition]:
    """Current conditions with updates applied; a condition whose status did not change
    keeps its lastTransitionTime, so `kubectl describe` tells how long it has held."""
    merged = {c["type"]: dict(c) for c in current or []}
    for update in updates:
        previous = merged.get(update["type"])
        new = dict(update)
        if previous and previous.get("status") == new["status"]:
            new["lastTransitionTime"] = previous.get("lastTransitionTime", new["lastTransitionTime"])
        merged[update["type"]] = new
    return sorted(merged.values(), key=lambda c: c["type"])


def conditions_changed(current: Iterable[Condition] | None, merged: list[Condition]) -> bool:
    return sorted(current or [], key=lambda c: c["type"]) != merged


def human_size(size: int) -> str:
    """Bytes for people, e.g. 1.2 GiB (status.artifact.size)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
