"""Verification of stored backups, the pure parts: the annotations that ask for one, when a
schedule's verify policy fires, and how far a schedule is from its last backup found good."""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from typing import Any

from .. import GROUP
from ..api.runs import KeyRef, duration_seconds
from ..status import parse_time
from .schedule import effective_schedule, next_after

VERIFY_NOW = f"{GROUP}/verify-now"             # any new value: verify this backup (or, on a schedule, all of its)
VERIFY_IDENTITY = f"{GROUP}/verify-identity"   # Secret[/key] with the private key to decrypt with


def verdict(verification: dict[str, Any]) -> str | None:
    """The latest conclusive result of a backup's verifications: Passed, Failed or None
    (a check still running, or one that could not finish, changes nothing)."""
    found = verification.get("lastVerdict") or verification.get("result")
    return found if found in ("Passed", "Failed") else None


def identity_annotation(ref: dict[str, Any]) -> str:
    """A verify policy's identitySecretRef as the verify-identity annotation carries it."""
    return f"{ref['name']}/{ref.get('key', 'identity')}"


def parse_identity(value: str) -> KeyRef:
    """The verify-identity annotation: a Secret's name, and after a slash the key (default
    "identity"). Neither may hold a slash, so the form is unambiguous."""
    name, _, key = value.strip().partition("/")
    if not name or "/" in key:
        raise ValueError(f'annotation {VERIFY_IDENTITY}: "{value}" is not SECRET or SECRET/KEY')
    return KeyRef(name, key or "identity")


def verify_expression(spec: dict[str, Any], namespace: str, name: str) -> str:
    """The verify policy's cron in force; a random form picks a time of its own, apart from
    the schedule's backups (a backup and a read-back of the same storage need not collide)."""
    return effective_schedule(spec["verify"]["schedule"], namespace, f"{name}/verify", field="spec.verify.schedule")


def max_age(spec: dict[str, Any], expression: str, tz: zoneinfo.ZoneInfo, now: datetime.datetime) -> datetime.timedelta:
    """How long a schedule may go without a backup found good: spec.verify.maxAge, or twice
    the time between two verifications (one missed run is no alarm; two are)."""
    given = (spec.get("verify") or {}).get("maxAge")
    if given:
        return datetime.timedelta(seconds=duration_seconds(given))
    first = next_after(expression, tz, now)
    return 2 * (next_after(expression, tz, first) - first)


def to_verify(backups: list[dict[str, Any]]) -> list[str]:
    """The backups a schedule's verification reads back: every Succeeded one it still has,
    those found damaged included (a new check may clear a transient fault)."""
    return sorted(b["metadata"]["name"] for b in backups if (b.get("status") or {}).get("phase") == "Succeeded")


@dataclass(frozen=True)
class Standing:
    passed: int
    failed: int
    unverified: int
    last_passed: datetime.datetime | None   # the newest verification that found a backup good
    deadline: datetime.datetime | None      # when going without one becomes overdue


def standing(backups: list[dict[str, Any]], allowed: datetime.timedelta) -> Standing:
    """Where a schedule's backups stand. The clock runs from the newest verification that
    found one of them good; if none ever did, from the completion of the oldest good one
    (the first moment one could have been checked). No good backup: no deadline (a missing
    backup is its own alert)."""
    passed = failed = unverified = 0
    last_passed: datetime.datetime | None = None
    oldest_good: datetime.datetime | None = None
    for backup in backups:
        status = backup.get("status") or {}
        if status.get("phase") != "Succeeded":
            continue
        verification = status.get("verification") or {}
        result = verdict(verification)
        if result == "Failed":
            failed += 1
            continue
        passed += result == "Passed"
        unverified += result != "Passed"
        completed = parse_time(status.get("completionTime"))
        if completed and (oldest_good is None or completed < oldest_good):
            oldest_good = completed
        stamp = parse_time(verification.get("lastPassedTime"))
        if stamp and (last_passed is None or stamp > last_passed):
            last_passed = stamp
    since = last_passed or oldest_good
    return Standing(passed, failed, unverified, last_passed, since + allowed if since else None)
