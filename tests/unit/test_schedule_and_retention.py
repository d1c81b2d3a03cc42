"""Schedule arithmetic and retention, with a controllable clock; retention by property."""

from __future__ import annotations

import datetime
import re
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bosh_backup_operator.api.crds import CRON
from bosh_backup_operator.planning.retention import BackupRecord, Policy, to_delete
from bosh_backup_operator.planning.schedule import (
    ScheduleError,
    backup_name,
    decide,
    effective_schedule,
    next_after,
    run_now_name,
    zone,
)

UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_macros_and_random_forms() -> None:
    assert effective_schedule("@daily", "ns", "s") == "0 0 * * *"
    first = effective_schedule("@daily-random", "ns", "nightly")
    assert first == effective_schedule("@daily-random", "ns", "nightly")  # stable
    minute, hour, *rest = first.split()
    assert 0 <= int(minute) < 60 and 0 <= int(hour) < 24 and rest == ["*", "*", "*"]
    spread = {effective_schedule("@daily-random", "ns", f"d{n}") for n in range(50)}
    assert len(spread) > 40  # a fleet does not fire at the same second
    assert effective_schedule("@weekly-random", "a", "b").split()[2:4] == ["*", "*"]
    with pytest.raises(ScheduleError, match=r"spec\.schedule"):
        effective_schedule("61 * * * *", "ns", "s")
    with pytest.raises(ScheduleError, match=r"spec\.timeZone"):
        zone("Mars/Olympus")


def test_time_zone_and_dst() -> None:
    paris = zone("Europe/Paris")
    # 02:30 local does not exist on 2026-03-29 (clocks jump 02:00 -> 03:00)
    after = next_after("30 2 * * *", paris, at("2026-03-28T02:00:00"))
    assert after == at("2026-03-28T01:30:00") or after.astimezone(paris).hour in (2, 3)
    daily = next_after("0 3 * * *", paris, at("2026-03-28T12:00:00"))
    assert daily == at("2026-03-29T01:00:00")  # 03:00 CEST is 01:00 UTC after the change
    winter = next_after("0 3 * * *", paris, at("2026-10-25T12:00:00"))
    assert winter == at("2026-10-26T02:00:00")  # 03:00 CET is 02:00 UTC


def test_due_fires_once_for_the_newest_missed_time() -> None:
    hourly = "0 * * * *"
    decision = decide(hourly, zone("UTC"), at("2026-01-01T00:00:00"), at("2026-01-01T05:10:00"), 3600, False)
    assert decision.fire == at("2026-01-01T05:00:00")  # one catch-up, not five
    assert decision.next_time == at("2026-01-01T06:00:00")


def test_missed_beyond_the_deadline_is_skipped() -> None:
    decision = decide("0 * * * *", zone("UTC"), at("2026-01-01T00:00:00"), at("2026-01-01T05:30:00"), 600, False)
    assert decision.fire is None and decision.skip_reason == "MissedDeadline"
    assert decision.skipped == at("2026-01-01T05:00:00")


def test_suspended_lets_fire_times_pass() -> None:
    decision = decide("0 * * * *", zone("UTC"), at("2026-01-01T00:00:00"), at("2026-01-01T05:01:00"), 3600, True)
    assert decision.fire is None and decision.skip_reason == "Suspended"
    assert decision.last_passed == at("2026-01-01T05:00:00")
    # unsuspended a minute later: the passed time was recorded, nothing fires
    after = decide("0 * * * *", zone("UTC"), decision.last_passed, at("2026-01-01T05:02:00"), 3600, False)
    assert after.fire is None


def test_nothing_due_before_the_first_time() -> None:
    decision = decide("0 3 * * *", zone("UTC"), at("2026-01-01T03:00:00"), at("2026-01-01T12:00:00"), None, False)
    assert decision.fire is None and decision.next_time == at("2026-01-02T03:00:00")


def test_names_are_deterministic() -> None:
    assert backup_name("nightly", at("2026-01-02T03:04:59")) == "nightly-20260102-0304"
    assert len(backup_name("x" * 300, at("2026-01-02T03:04:00"))) <= 253
    assert run_now_name("nightly", "2026-01-01") == run_now_name("nightly", "2026-01-01")
    assert run_now_name("nightly", "a") != run_now_name("nightly", "b")


# -- retention --------------------------------------------------------------------------------------------

def records(*items: tuple[str, str, str]) -> list[BackupRecord]:
    return [BackupRecord(name, phase, at(time)) for name, phase, time in items]


def test_grandfather_father_son() -> None:
    history = records(
        ("a", "Succeeded", "2026-01-01T01:00:00"), ("b", "Succeeded", "2026-01-01T13:00:00"),
        ("c", "Succeeded", "2026-01-02T01:00:00"), ("d", "Succeeded", "2026-01-09T01:00:00"),
        ("e", "Succeeded", "2026-02-01T01:00:00"), ("f", "Failed", "2026-02-02T01:00:00"),
        ("g", "Running", "2026-02-03T01:00:00"))
    assert to_delete(history, Policy(keep_daily=2), zone("UTC")) == ["a", "b", "c"]
    assert to_delete(history, Policy(keep_weekly=2), zone("UTC")) == ["a", "b", "c"]
    assert to_delete(history, Policy(keep_monthly=2), zone("UTC")) == ["a", "b", "c"]
    assert to_delete(history, Policy(keep_last=1, failed_history=0), zone("UTC")) == ["a", "b", "c", "d", "f"]
    assert to_delete(history, Policy(), zone("UTC")) == []


def test_days_are_read_in_the_schedules_time_zone() -> None:
    history = records(("late", "Succeeded", "2026-01-01T23:30:00"), ("early", "Succeeded", "2026-01-02T00:30:00"))
    assert to_delete(history, Policy(keep_daily=1), zone("UTC")) == ["late"]
    # in New York both are on January 1st: one day, the newest of it kept
    assert to_delete(history, Policy(keep_daily=5), zone("America/New_York")) == ["late"]
    assert to_delete(history, Policy(keep_daily=5), zone("UTC")) == []


def test_the_newest_success_survives_even_a_failure_streak() -> None:
    history = records(("ok", "Succeeded", "2026-01-01T00:00:00"),
                      *[(f"bad{n}", "Failed", f"2026-01-0{n + 2}T00:00:00") for n in range(5)])
    doomed = to_delete(history, Policy(keep_last=1, failed_history=2), zone("UTC"))
    assert "ok" not in doomed and doomed == ["bad0", "bad1", "bad2"]


def test_a_backup_found_damaged_is_never_the_good_one_kept_nor_the_reason_to_prune_one() -> None:
    history = records(("old-good", "Succeeded", "2026-01-01T01:00:00"),
                      ("new-damaged", "Corrupt", "2026-01-02T01:00:00"))
    # keep the newest 1: the damaged one does not count, so the older good one stays
    assert to_delete(history, Policy(keep_last=1, failed_history=1), zone("UTC")) == []
    # and a damaged backup goes like a failure once beyond the history of failures
    assert to_delete(history, Policy(keep_last=1, failed_history=0), zone("UTC")) == ["new-damaged"]


phases = st.sampled_from(["Succeeded", "Succeeded", "Failed", "Cancelled", "Running", "Pending", "Corrupt"])
history_strategy = st.lists(st.tuples(phases, st.integers(0, 400 * 24)), max_size=60).map(
    lambda items: [BackupRecord(f"b{n}", phase, at("2026-01-01T00:00:00") + datetime.timedelta(hours=hours))
                   for n, (phase, hours) in enumerate(items)])
policy_strategy = st.builds(Policy, st.integers(0, 5), st.integers(0, 10), st.integers(0, 6), st.integers(0, 4),
                            st.integers(0, 4))
zones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])


@settings(max_examples=300, deadline=None)
@given(history_strategy, policy_strategy, zones)
def test_retention_properties(history: list[BackupRecord], policy: Policy, zone_name: str) -> None:
    tz = zoneinfo.ZoneInfo(zone_name)
    doomed = set(to_delete(history, policy, tz))
    kept = [r for r in history if r.name not in doomed]
    successes = sorted((r for r in history if r.phase == "Succeeded"), key=lambda r: (r.time, r.name), reverse=True)
    if successes:
        assert successes[0].name not in doomed  # the newest successful backup always survives
    assert not {r.name for r in history if r.phase in ("Running", "Pending")} & doomed  # active: never pruned
    failures = [r for r in history if r.phase in ("Failed", "Cancelled", "Corrupt")]
    assert len([r for r in kept if r in failures]) == min(len(failures), policy.failed_history)
    if not policy.limits_successes:
        assert not {r.name for r in successes} & doomed
        return
    for record in (r for r in kept if r.phase == "Succeeded"):
        local = record.time.astimezone(tz)
        newer_same = [r for r in successes if r.time > record.time]
        justified = (record is successes[0] or successes.index(record) < policy.keep_last
                     or any(not [r for r in newer_same if key(r.time.astimezone(tz)) == key(local)]
                            and len({key(r.time.astimezone(tz)) for r in newer_same}) < count
                            for key, count in ((lambda t: t.date(), policy.keep_daily),
                                               (lambda t: t.isocalendar()[:2], policy.keep_weekly),
                                               (lambda t: (t.year, t.month), policy.keep_monthly))))
        assert justified, f"{record} kept without a rule"
    newest_days: dict[object, BackupRecord] = {}
    for record in successes:
        newest_days.setdefault(record.time.astimezone(tz).date(), record)
    for day_record in list(newest_days.values())[: policy.keep_daily]:
        assert day_record.name not in doomed  # the newest of each of the newest N days is kept


# What admission lets through, the operator can use: the CRD's cron rule and croniter agree.
ADMITTED = re.compile(CRON)  # RE2, which CEL's matches() runs, reads this syntax as Python does


@settings(max_examples=150, deadline=None)
@given(st.from_regex(ADMITTED, fullmatch=True))
def test_every_schedule_admission_accepts_is_one_the_operator_can_run(schedule: str) -> None:
    expression = effective_schedule(schedule, "ns", "nightly")
    assert next_after(expression, zone("UTC"), at("2026-01-01T00:00:00")) > at("2026-01-01T00:00:00")


def test_a_date_that_never_comes_is_an_error_naming_the_field() -> None:
    with pytest.raises(ScheduleError, match=r'spec.schedule: "0 0 30 2 \*" names a date that never comes'):
        effective_schedule("0 0 30 2 *", "ns", "nightly")


@pytest.mark.parametrize("schedule", ["99 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * * 8",
                                      "every day", "0 0 * *", "0 0 * * * *", "@fortnightly", "*/x * * * *", "@Daily"])
def test_admission_refuses_what_cron_cannot_mean(schedule: str) -> None:
    assert not ADMITTED.fullmatch(schedule)


@pytest.mark.parametrize("schedule", ["0 2 * * *", "*/15 * * * *", "30 1 1,15 jan-jun MON-FRI", "0 0 * * 7",
                                      "@daily", "@weekly-random", "5,10-20/5 */2 * * 0"])
def test_admission_accepts_usual_cron(schedule: str) -> None:
    assert ADMITTED.fullmatch(schedule)


@pytest.mark.parametrize(("tz_name", "expression"), [
    ("Europe/Berlin", "30 2 * * *"),        # clocks go back 03:00 -> 02:00 in October
    ("America/New_York", "30 1 * * *"),     # 02:00 -> 01:00 in November
    ("Australia/Sydney", "30 2 * * *"),     # 03:00 -> 02:00 in April
    ("Europe/London", "15 1 * * 0"),        # weekly, on the Sunday it happens
])
def test_a_fixed_time_fires_once_on_each_day_through_both_clock_changes(tz_name: str, expression: str) -> None:
    tz = zone(tz_name)
    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    fires: list[datetime.datetime] = []
    while moment < datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC):
        moment = next_after(expression, tz, moment)
        fires.append(moment)
    local_days = [f.astimezone(tz).date() for f in fires]
    assert len(local_days) == len(set(local_days)), "a day fired twice"
    assert len(fires) >= (51 if expression.endswith("0") else 364)


def test_an_hourly_schedule_still_fires_in_every_real_hour() -> None:
    berlin = zone("Europe/Berlin")
    start = datetime.datetime(2026, 10, 24, 23, 0, tzinfo=datetime.UTC)  # 01:00 CEST on the 25th
    fires = [start]
    for _ in range(4):
        fires.append(next_after("30 * * * *", berlin, fires[-1]))
    assert [f.astimezone(berlin).strftime("%H:%M %Z") for f in fires[1:]] == [
        "01:30 CEST", "02:30 CEST", "02:30 CET", "03:30 CET"]
