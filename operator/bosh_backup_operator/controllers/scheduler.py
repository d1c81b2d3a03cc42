"""One timer for every DirectorBackupSchedule.

A kopf daemon per schedule kept a task, its memo and its logger for each: 1,000 idle
schedules cost the operator 50 MiB before any of them fired, and 11 MiB with this
(bench/schedules.py). Here one task keeps a heap of next times, fed by the watch's
events, and hands each due schedule to a pool of threads, never two reconciles of one
schedule at once."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import logging
import time
from collections.abc import Callable
from typing import Any

from ..settings import KOPF_PREFIX

log = logging.getLogger("bosh-backup")
Key = tuple[str, str]
RETRY_SECONDS = 30.0   # after a reconcile that raised: the apiserver may be back by then


def essence(body: dict[str, Any]) -> tuple[Any, ...]:
    """What a user (or a deletion) can change that the schedule must act on at once: its
    spec, its annotations (run-now, verify-now) and its deletion. Its own status writes
    are not: they would wake every schedule once more after each of its reconciles."""
    meta = body.get("metadata") or {}
    annotations = {key: value for key, value in (meta.get("annotations") or {}).items()
                   if not key.startswith(f"{KOPF_PREFIX}/")}
    return (meta.get("generation"), sorted(annotations.items()), bool(meta.get("deletionTimestamp")))


class Scheduler:
    """reconcile(namespace, name, body) -> seconds until it should look again, run in
    `executor`; due(body) -> whether a backup is due (that reconcile goes at once, even
    while a fleet fires); waiting() -> seconds the other reconciles should still hold back
    for a fleet's fire (see FireWindow), never longer than `longest_wait` for one schedule.
    standing() -> whether this replica is the active one (peering; None: always): asked
    every `standing_every` seconds, in `executor`."""

    def __init__(self, reconcile: Callable[[str, str, dict[str, Any]], float],
                 due: Callable[[dict[str, Any]], bool], waiting: Callable[[], float],
                 executor: concurrent.futures.Executor, longest_wait: float = 15.0,
                 forget: Callable[[str, str], None] = lambda namespace, name: None,
                 standing: Callable[[], bool] | None = None, standing_every: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.reconcile, self.due, self.waiting, self.forget = reconcile, due, waiting, forget
        self.executor, self.longest_wait, self.clock = executor, longest_wait, clock
        self._bodies: dict[Key, dict[str, Any]] = {}
        self._essences: dict[Key, tuple[Any, ...]] = {}
        self._next: dict[Key, float] = {}        # the one time each schedule is due
        self._heap: list[tuple[float, Key]] = []  # may hold times since moved; _next decides
        self._running: set[Key] = set()
        self._again: set[Key] = set()             # poked while running: once more right after
        self._held_since: dict[Key, float] = {}
        self._changed: asyncio.Event | None = None
        self.standing, self.standing_every = standing, standing_every
        self.paused = standing is not None   # until the first answer

    # -- fed by the watch, on the event loop -----------------------------------------------

    def observe(self, body: dict[str, Any], deleted: bool = False) -> None:
        meta = body.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        if deleted:
            self._bodies.pop(key, None)
            self._essences.pop(key, None)
            self._next.pop(key, None)
            self._held_since.pop(key, None)
            self.forget(*key)
            return
        self._bodies[key] = body
        current = essence(body)
        if self._essences.get(key) != current:
            self._essences[key] = current
            self.poke(key)

    def poke(self, key: Key, delay: float = 0.0) -> None:
        """Act on the schedule after `delay` seconds, or sooner if it is due sooner."""
        if key not in self._bodies:
            return
        at = self.clock() + delay
        if key in self._next and self._next[key] <= at:
            return
        self._next[key] = at
        heapq.heappush(self._heap, (at, key))
        if self._changed is not None:
            self._changed.set()

    def known(self) -> int:
        return len(self._bodies)

    # -- the timer ---------------------------------------------------------------------------

    async def run(self) -> None:
        self._changed = asyncio.Event()
        loop = asyncio.get_running_loop()
        follower = asyncio.create_task(self._follow_standing()) if self.standing else None
        try:
            await self._run(loop)
        finally:
            if follower is not None:
                follower.cancel()

    async def _follow_standing(self) -> None:
        """While another replica is active, kopf feeds this one no events and stops acting;
        so does the scheduler. What it knew is dropped (and anything kopf let through while
        pausing): when kopf resumes, it lists every schedule again, and one deleted
        meanwhile must not fire from a stale copy."""
        assert self.standing is not None
        loop = asyncio.get_running_loop()
        answered: bool | None = None
        while True:
            try:
                active = await loop.run_in_executor(self.executor, self.standing)
            except Exception as error:   # the apiserver away: as before, until it answers
                log.warning("could not read this replica's peering standing: %s", error)
                await asyncio.sleep(self.standing_every)
                continue
            if active != answered:
                log.info("this replica is the active one: it acts on schedules" if active else
                         "another replica is active: this one acts on no schedule until it is gone")
                answered = active
            if not active:
                self._drop_all()
            self.paused = not active
            await asyncio.sleep(self.standing_every)

    def _drop_all(self) -> None:
        self._bodies.clear()
        self._essences.clear()
        self._next.clear()
        self._heap.clear()
        self._held_since.clear()

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._changed is not None
        while True:
            now = self.clock()
            while self._heap and self._heap[0][0] <= now:
                at, key = heapq.heappop(self._heap)
                if self._next.get(key) == at:
                    del self._next[key]
                    self._start(loop, key, now)
            self._changed.clear()
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    def _start(self, loop: asyncio.AbstractEventLoop, key: Key, now: float) -> None:
        body = self._bodies.get(key)
        if body is None:
            return
        if key in self._running:
            self._again.add(key)
            return
        if self.paused:
            self.poke(key, self.standing_every)
            return
        held = self.waiting()
        if held > 0 and not self.due(body):   # bookkeeping waits while a fleet fires; a fire never does
            since = self._held_since.setdefault(key, now)
            if now - since < self.longest_wait:
                self.poke(key, min(held, since + self.longest_wait - now))
                return
        self._held_since.pop(key, None)
        self._running.add(key)
        future = loop.run_in_executor(self.executor, self.reconcile, key[0], key[1], body)
        future.add_done_callback(lambda done: self._finished(key, done))

    def _finished(self, key: Key, done: asyncio.Future[float]) -> None:
        self._running.discard(key)
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            log.error("DirectorBackupSchedule %s/%s: %s; trying again in %.0f s", *key, error, RETRY_SECONDS,
                      exc_info=error)
            delay = RETRY_SECONDS
        else:
            delay = done.result()
        if key in self._again:
            self._again.discard(key)
            delay = 0.0
        self.poke(key, max(0.0, delay))
