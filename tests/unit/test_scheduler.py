"""The one timer of every schedule: when it acts on a schedule, and what wakes it.

Unit tier: the reconcile is a recording function and time is real but short, so each
test runs the scheduler's own loop as the operator does."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from typing import Any

from bosh_backup_operator.controllers.scheduler import Scheduler, essence


def schedule(name: str = "nightly", generation: int = 1, annotations: dict[str, str] | None = None,
             status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "generation": generation,
                         "annotations": annotations or {}},
            "spec": {"schedule": "0 * * * *"}, "status": status or {}}


class Recorder:
    """A reconcile that records each call and answers a chosen delay."""

    def __init__(self, delay: float = 3600.0, hold: float = 0.0, fail: int = 0):
        self.delay, self.hold, self.fail = delay, hold, fail
        self.calls: list[tuple[str, float]] = []
        self.bodies: list[dict[str, Any]] = []
        self.concurrent = 0
        self.most_concurrent: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, namespace: str, name: str, body: dict[str, Any]) -> float:
        with self.lock:
            self.calls.append((name, time.monotonic()))
            self.bodies.append(body)
            self.concurrent += 1
            self.most_concurrent[name] = max(self.most_concurrent.get(name, 0), self.concurrent)
        try:
            time.sleep(self.hold)
            if self.fail:
                self.fail -= 1
                raise RuntimeError("apiserver unavailable")
            return self.delay
        finally:
            with self.lock:
                self.concurrent -= 1

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


async def running(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()


def make(recorder: Recorder, due: bool = False, waiting: float = 0.0, **kwargs: Any) -> Scheduler:
    executor = concurrent.futures.ThreadPoolExecutor(4)
    return Scheduler(recorder, lambda body: due, lambda: waiting, executor, **kwargs)


def test_a_new_schedule_is_acted_on_at_once_and_again_when_its_reconcile_says() -> None:
    recorder = Recorder(delay=0.2)
    scheduler = make(recorder)

    async def scenario() -> None:
        scheduler.observe(schedule())
        await running(scheduler, 0.5)
    asyncio.run(scenario())
    times = [at for _, at in recorder.calls]
    assert 2 <= len(times) <= 3                             # at once, +0.2 s, (+0.4 s)
    assert all(later - earlier >= 0.19 for earlier, later in itertools.pairwise(times))


def test_its_own_status_writes_do_not_wake_it_but_a_spec_or_annotation_change_does() -> None:
    recorder = Recorder()
    scheduler = make(recorder)

    async def scenario() -> None:
        task = asyncio.create_task(scheduler.run())
        scheduler.observe(schedule())
        await asyncio.sleep(0.1)
        scheduler.observe(schedule(status={"lastScheduleTime": "2026-01-01T00:00:00Z"}))
        await asyncio.sleep(0.1)
        assert recorder.names() == ["nightly"]
        scheduler.observe(schedule(generation=2, status={"lastScheduleTime": "2026-01-01T00:00:00Z"}))
        await asyncio.sleep(0.1)
        scheduler.observe(schedule(generation=2, annotations={"bosh-backup.dev/run-now": "1"}))
        await asyncio.sleep(0.1)
        task.cancel()
    asyncio.run(scenario())
    assert recorder.names() == ["nightly"] * 3
    # the newest body is the one acted on
    assert recorder.bodies[-1]["metadata"]["annotations"] == {"bosh-backup.dev/run-now": "1"}
    assert essence(schedule(annotations={"kopf.bosh-backup.dev/last-handled-configuration": "x"})) == \
        essence(schedule())


def test_a_poke_while_it_runs_runs_it_once_more_after_never_twice_at_once() -> None:
    recorder = Recorder(hold=0.2)
    scheduler = make(recorder)

    async def scenario() -> None:
        task = asyncio.create_task(scheduler.run())
        scheduler.observe(schedule())
        await asyncio.sleep(0.05)
        for _ in range(5):                       # five backups of it changed phase meanwhile
            scheduler.poke(("ns", "nightly"))
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.6)
        task.cancel()
    asyncio.run(scenario())
    assert recorder.names() == ["nightly", "nightly"]
    assert recorder.most_concurrent["nightly"] == 1


def test_a_deleted_schedule_is_not_acted_on_again_and_is_forgotten() -> None:
    recorder = Recorder(delay=0.1)
    forgotten: list[tuple[str, str]] = []
    scheduler = make(recorder, forget=lambda namespace, name: forgotten.append((namespace, name)))

    async def scenario() -> None:
        task = asyncio.create_task(scheduler.run())
        scheduler.observe(schedule())
        await asyncio.sleep(0.05)
        scheduler.observe(schedule(), deleted=True)
        scheduler.poke(("ns", "nightly"))          # a backup of it ended after: nothing to do
        await asyncio.sleep(0.3)
        task.cancel()
    asyncio.run(scenario())
    assert recorder.names() == ["nightly"]
    assert forgotten == [("ns", "nightly")]
    assert scheduler.known() == 0


def test_while_a_fleet_fires_bookkeeping_waits_but_a_due_backup_goes_at_once() -> None:
    held = Recorder()

    async def scenario(scheduler: Scheduler, seconds: float) -> None:
        scheduler.observe(schedule())
        await running(scheduler, seconds)
    asyncio.run(scenario(make(held, due=False, waiting=10.0, longest_wait=0.3), 0.2))
    assert held.calls == []                       # held back ...
    asyncio.run(scenario(make(held, due=False, waiting=10.0, longest_wait=0.3), 0.5))
    assert held.names() == ["nightly"]            # ... but never longer than longest_wait
    due = Recorder()
    asyncio.run(scenario(make(due, due=True, waiting=10.0, longest_wait=5.0), 0.1))
    assert due.names() == ["nightly"]


def test_a_reconcile_that_raises_is_tried_again_later_and_the_timer_goes_on() -> None:
    recorder = Recorder(fail=1)
    scheduler = make(recorder)

    async def scenario() -> None:
        task = asyncio.create_task(scheduler.run())
        scheduler.observe(schedule("broken"))
        await asyncio.sleep(0.05)
        scheduler.observe(schedule("other"))
        await asyncio.sleep(0.1)
        assert not task.done()
        task.cancel()
    asyncio.run(scenario())
    assert sorted(recorder.names()) == ["broken", "other"]
    assert scheduler._next[("ns", "broken")] - time.monotonic() > 20   # the retry, not at once


def test_a_thousand_schedules_cost_no_more_tasks_than_one() -> None:
    def tasks_with(count: int) -> tuple[int, int]:
        recorder = Recorder()
        scheduler = make(recorder)

        async def scenario() -> int:
            task = asyncio.create_task(scheduler.run())
            for number in range(count):
                scheduler.observe(schedule(f"s{number:04d}"))
            await asyncio.sleep(0.5)
            tasks = len(asyncio.all_tasks())
            task.cancel()
            return tasks
        return asyncio.run(scenario()), len(recorder.calls)
    assert tasks_with(1000) == (tasks_with(1)[0], 1000)


def test_a_replica_another_outranks_acts_on_nothing_and_forgets_what_it_knew() -> None:
    recorder = Recorder()
    standing = {"active": False}
    scheduler = make(recorder, standing=lambda: standing["active"], standing_every=0.1)

    async def scenario() -> None:
        task = asyncio.create_task(scheduler.run())
        scheduler.observe(schedule("sneaked-in"))   # an event kopf let through as it paused
        await asyncio.sleep(0.3)
        assert recorder.calls == [] and scheduler.known() == 0
        standing["active"] = True                   # the other replica is gone; kopf lists again
        await asyncio.sleep(0.15)
        scheduler.observe(schedule("listed-again"))
        await asyncio.sleep(0.2)
        task.cancel()
    asyncio.run(scenario())
    assert recorder.names() == ["listed-again"]


def test_a_standalone_operator_acts_at_once() -> None:
    recorder = Recorder()
    scheduler = make(recorder)
    assert not scheduler.paused

    async def scenario() -> None:
        scheduler.observe(schedule())
        await running(scheduler, 0.1)
    asyncio.run(scenario())
    assert recorder.names() == ["nightly"]
