"""When a DirectorBackupSchedule fires (pure): cron in a time zone, stable random
times, deterministic backup names, and at most one catch-up within a deadline."""

from __future__ import annotations

import datetime
import functools
import hashlib
import zoneinfo
from dataclasses import dataclass

from croniter import CroniterBadDateError, croniter

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
SCHEDULE_LABEL = "bosh-backup.dev/schedule"          # label_value() of the schedule's name
SCHEDULE_ANNOTATION = "bosh-backup.dev/schedule-name"  # the whole name
RUN_NOW_ANNOTATION = "bosh-backup.dev/run-now"


class ScheduleError(ValueError):
    """A schedule the operator cannot use; the message names the field."""


def _stable_number(key: str, modulo: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % modulo


def effective_schedule(schedule: str, namespace: str, name: str, *, field: str = "spec.schedule") -> str:
    """The 5-field cron expression in force: macros expanded, random forms resolved to a
    time that is stable for this schedule and spread across a fleet."""
    text = schedule.strip()
    key = f"{namespace}/{name}"
    minute, hour, weekday = _stable_number(key + "m", 60), _stable_number(key + "h", 24), _stable_number(key + "d", 7)
    if text == "@hourly-random":
        return f"{minute} * * * *"
    if text == "@daily-random":
        return f"{minute} {hour} * * *"
    if text == "@weekly-random":
        return f"{minute} {hour} * * {weekday}"
    return _checked(MACROS.get(text, text), schedule, field)


@functools.lru_cache(maxsize=1024)
def _checked(expression: str, schedule: str, field: str) -> str:
    """A fleet shares a few expressions: each is checked once, not at every reconcile."""
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ScheduleError(f'{field}: "{schedule}" is not a 5-field cron expression or a known macro')
    try:  # well-formed, yet maybe a date that never comes (February 30th)
        croniter(expression, datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)).get_next(datetime.datetime)
    except CroniterBadDateError:
        raise ScheduleError(f'{field}: "{schedule}" names a date that never comes') from None
    return expression


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f'spec.timeZone: "{name}" is not an IANA time zone') from None


def _fixed_hour(expression: str) -> bool:
    hour = expression.split()[1]
    return not (hour == "*" or hour.startswith("*/"))


def _repeated_wall_time(moment: datetime.datetime, tz: zoneinfo.ZoneInfo) -> bool:
    """Whether `moment` is the second time its local wall-clock time occurs (autumn's hour)."""
    local = moment.astimezone(tz)
    return local.fold == 1 and local.replace(fold=0).astimezone(datetime.UTC) != moment


@functools.lru_cache(maxsize=8192)
def next_after(expression: str, tz: zoneinfo.ZoneInfo, after: datetime.datetime) -> datetime.datetime:
    """The first fire time strictly after `after`, in UTC (cron read in the time zone). A
    schedule with a fixed hour fires once when the clocks go back, as cron does: the
    repeated hour's second 02:30 is not a new 02:30.
    Cached: a fleet's schedules share expressions and last times, and at a fire every one of
    them asks the same question (croniter was most of the operator's CPU at a 1,000-schedule
    fire, measured with py-spy)."""
    cursor = after
    for _ in range(4):
        following = croniter(expression, cursor.astimezone(tz)).get_next(datetime.datetime).astimezone(datetime.UTC)
        if not (_fixed_hour(expression) and _repeated_wall_time(following, tz)):
            return following
        cursor = following
    return following


@dataclass(frozen=True)
class Decision:
    fire: datetime.datetime | None      # the scheduled time to create a backup for now
    skipped: datetime.datetime | None   # the latest missed time that will not run
    skip_reason: str                    # MissedDeadline or Suspended
    last_passed: datetime.datetime | None  # the newest fire time at or before now
    next_time: datetime.datetime        # the next fire time after now


def decide(expression: str, tz: zoneinfo.ZoneInfo, last_schedule: datetime.datetime, now: datetime.datetime,
           starting_deadline_seconds: int | None, suspended: bool) -> Decision:
    """What to do at `now`, given the last scheduled time handled. Only the newest missed time
    may run (never a storm), and only within the deadline; a suspended schedule lets fire
    times pass without running them, so unsuspending does not fire a backlog."""
    latest: datetime.datetime | None = None
    cursor = last_schedule
    following = None
    for _ in range(100_000):  # bounded: a minute-level cron over ~2 months
        candidate = next_after(expression, tz, cursor)
        if candidate > now:
            # nothing fires between the cursor (at or before now, or the last time) and
            # the candidate, so the candidate is also the next time after now
            following = candidate
            break
        latest, cursor = candidate, candidate
    if following is None:
        following = next_after(expression, tz, max(now, last_schedule))
    if latest is None:
        return Decision(None, None, "", None, following)
    if suspended:
        return Decision(None, latest, "Suspended", latest, following)
    late = (now - latest).total_seconds()
    if starting_deadline_seconds is not None and late > starting_deadline_seconds:
        return Decision(None, latest, "MissedDeadline", latest, following)
    return Decision(latest, None, "", latest, following)


def backup_name(schedule: str, scheduled: datetime.datetime) -> str:
    """Deterministic per scheduled time: a retried or restarted operator cannot create
    the same run twice."""
    stamp = scheduled.astimezone(datetime.UTC).strftime("%Y%m%d-%H%M")
    prefix = schedule[: 253 - len(stamp) - 1]
    return f"{prefix}-{stamp}"


def run_now_name(schedule: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{schedule[: 253 - 14]}-now-{digest}"
