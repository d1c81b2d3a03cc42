"""Which backups a schedule keeps (pure): grandfather-father-son in the schedule's
time zone, a history of failures, and never the newest successful backup."""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class BackupRecord:
    name: str
    phase: str                          # Pending, Running, Succeeded, Failed, Cancelled, or Corrupt:
                                        # Succeeded, but a verification found its artifact damaged
    time: datetime.datetime             # completion time (creation time while active)


@dataclass(frozen=True)
class Policy:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    failed_history: int = 3

    @property
    def limits_successes(self) -> bool:
        return any((self.keep_last, self.keep_daily, self.keep_weekly, self.keep_monthly))

    def describe(self) -> str:
        """The policy in force, in words (status.effectiveRetention)."""
        if not self.limits_successes:
            kept = "every successful backup (no keep* above 0)"
        else:
            rules = [f"the newest {self.keep_last}" if self.keep_last else "",
                     f"one a day for {self.keep_daily} days" if self.keep_daily else "",
                     f"one a week for {self.keep_weekly} weeks" if self.keep_weekly else "",
                     f"one a month for {self.keep_monthly} months" if self.keep_monthly else ""]
            kept = ", ".join(rule for rule in rules if rule) + ", and always the newest successful backup"
        return f"keeps {kept}; {self.failed_history} failed, cancelled or found damaged"


def _newest_per_period(successes: list[BackupRecord], count: int,
                       period: Callable[[BackupRecord], Hashable]) -> set[str]:
    """The newest backup of each of the newest `count` periods that have one."""
    kept: dict[Hashable, str] = {}
    for record in successes:  # newest first
        key = period(record)
        if key not in kept:
            if len(kept) == count:
                break
            kept[key] = record.name
    return set(kept.values())


def to_delete(records: list[BackupRecord], policy: Policy, tz: zoneinfo.ZoneInfo) -> list[str]:
    """Names of backups to prune, oldest first. Active backups are never pruned nor counted."""
    by_age = sorted(records, key=lambda r: (r.time, r.name), reverse=True)
    # a backup found damaged is no good one: never counted as one, so never the reason an
    # older good backup goes, and never the newest that every policy keeps
    successes = [r for r in by_age if r.phase == "Succeeded"]
    failures = [r for r in by_age if r.phase in ("Failed", "Cancelled", "Corrupt")]
    keep: set[str] = set()
    if successes:
        keep.add(successes[0].name)  # the newest successful backup survives any policy
    if policy.limits_successes:
        local = {r.name: r.time.astimezone(tz) for r in successes}
        keep |= {r.name for r in successes[: policy.keep_last]}
        keep |= _newest_per_period(successes, policy.keep_daily, lambda r: local[r.name].date())
        keep |= _newest_per_period(successes, policy.keep_weekly, lambda r: local[r.name].isocalendar()[:2])
        keep |= _newest_per_period(successes, policy.keep_monthly,
                                   lambda r: (local[r.name].year, local[r.name].month))
    else:
        keep |= {r.name for r in successes}  # no retention set: keep every success
    keep |= {r.name for r in failures[: policy.failed_history]}
    doomed = [r for r in by_age if r.phase in ("Succeeded", "Failed", "Cancelled", "Corrupt") and r.name not in keep]
    return [r.name for r in reversed(doomed)]
