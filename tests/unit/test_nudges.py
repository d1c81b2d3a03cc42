"""A run's Job and pod events, coalesced into passes of the run.

Unit tier: the pass is a recording function on a real thread pool, as kopf's."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from typing import Any

import pytest

from bosh_backup_operator.nudges import Nudges


class Passes:
    """A pass that takes `hold` seconds and records when each began, per key."""

    def __init__(self, hold: float = 0.05, fail: int = 0):
        self.hold, self.fail = hold, fail
        self.began: dict[str, list[float]] = {}
        self.at_once: dict[str, int] = {}
        self.most_at_once: dict[str, int] = {}
        self.lock = threading.Lock()

    def act(self, key: str) -> None:
        with self.lock:
            self.began.setdefault(key, []).append(time.monotonic())
            self.at_once[key] = self.at_once.get(key, 0) + 1
            self.most_at_once[key] = max(self.most_at_once.get(key, 0), self.at_once[key])
        try:
            time.sleep(self.hold)
            if self.fail:
                self.fail -= 1
                raise RuntimeError("the apiserver answered 503")
        finally:
            with self.lock:
                self.at_once[key] -= 1


def run(scenario: Any) -> None:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        asyncio.run(scenario(Nudges(lambda: pool)))


def test_a_burst_of_events_while_a_pass_runs_makes_one_more_pass_never_two_at_once() -> None:
    passes = Passes(hold=0.2)

    async def scenario(nudges: Nudges) -> None:
        nudges.nudge("run-a", lambda: passes.act("run-a"))
        await asyncio.sleep(0.05)
        for _ in range(50):   # a pod's status changing while its run is read
            nudges.nudge("run-a", lambda: passes.act("run-a"))
        await asyncio.sleep(0.7)
        assert nudges.busy() == 0

    run(scenario)
    assert len(passes.began["run-a"]) == 2
    assert passes.most_at_once["run-a"] == 1


def test_an_event_after_the_pass_ended_starts_a_new_one() -> None:
    passes = Passes(hold=0.01)

    async def scenario(nudges: Nudges) -> None:
        nudges.nudge("run-a", lambda: passes.act("run-a"))
        await asyncio.sleep(0.2)
        nudges.nudge("run-a", lambda: passes.act("run-a"))
        await asyncio.sleep(0.2)

    run(scenario)
    assert len(passes.began["run-a"]) == 2


def test_runs_of_different_keys_go_on_side_by_side() -> None:
    passes = Passes(hold=0.3)

    async def scenario(nudges: Nudges) -> None:
        for key in ("run-a", "run-b", "run-c"):
            nudges.nudge(key, lambda key=key: passes.act(key))
        await asyncio.sleep(0.1)
        assert nudges.busy() == 3
        await asyncio.sleep(0.4)

    run(scenario)
    starts = [began[0] for began in passes.began.values()]
    assert len(starts) == 3 and max(starts) - min(starts) < 0.2


def test_the_event_loop_is_never_held_by_a_pass() -> None:
    passes = Passes(hold=0.5)
    ticks: list[float] = []

    async def scenario(nudges: Nudges) -> None:
        nudges.nudge("run-a", lambda: passes.act("run-a"))
        for _ in range(5):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)

    run(scenario)
    assert ticks[-1] - ticks[0] < 0.4   # the loop ticked while the pass slept in its thread


def test_a_failed_pass_is_logged_and_the_next_event_is_acted_on(caplog: pytest.LogCaptureFixture) -> None:
    passes = Passes(hold=0.01, fail=1)

    async def scenario(nudges: Nudges) -> None:
        nudges.nudge(("DirectorBackup", "ns", "nightly"), lambda: passes.act("run-a"))
        await asyncio.sleep(0.2)
        nudges.nudge(("DirectorBackup", "ns", "nightly"), lambda: passes.act("run-a"))
        await asyncio.sleep(0.2)
        assert nudges.busy() == 0

    with caplog.at_level(logging.ERROR, logger="bosh-backup"):
        run(scenario)
    assert len(passes.began["run-a"]) == 2
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1
    assert "nightly" in failures[0].getMessage() and "503" in caplog.text


def test_passes_wait_for_the_fire_to_go_out_first_holding_no_thread() -> None:
    passes = Passes(hold=0.01)
    fire_out = asyncio.Event()
    waited: list[float] = []

    async def before() -> None:
        await fire_out.wait()
        waited.append(time.monotonic())

    async def scenario() -> None:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            nudges = Nudges(lambda: pool, before=before)
            for number in range(20):   # more waiting passes than threads
                nudges.nudge(f"run-{number}", lambda number=number: passes.act(f"run-{number}"))
            await asyncio.sleep(0.2)
            assert passes.began == {} and nudges.busy() == 20
            fire_out.set()
            await asyncio.sleep(0.5)
            assert nudges.busy() == 0

    asyncio.run(scenario())
    assert len(passes.began) == 20
    assert min(began[0] for began in passes.began.values()) >= min(waited)
