"""Requests to look at a run again, coalesced: from its Job's and pod's changes, and from
kopf's handlers for its creation and cancellation.

A runner's Job and pod change many times while their run goes on, and each change says no
more than "look at the run again": every pass reads the run and its children afresh. kopf
hands each object's events to its handlers one at a time, and keeps the ones still to
come queued, each with its whole body. With a fleet's runs and a busy apiserver, those
queues grew as fast as the handlers fell behind (bench/schedules.py, 1,000 scheduled
backups: some 750 pod bodies and 570 Job bodies held at once, most of the operator's
growth while the runs went on), and every queued event cost one more pass that read
nothing new.

Here an event costs a set lookup and keeps no body: when a pass of its run is under
way, that pass runs once more when it ends; otherwise one starts on kopf's threads. The
same holds kopf's handlers for a new or cancelled backup: they return at once, so kopf's
worker for that backup is free for its next event rather than held while the pass waits
for a fire's quiet and a thread (a fleet's 1,000 new backups, 64 workers).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger("bosh-backup")


class Nudges:
    """At most one pass per key at a time, and at most one more queued behind it."""

    def __init__(self, executor: Callable[[], concurrent.futures.Executor | None],
                 before: Callable[[], Awaitable[None]] | None = None):
        self.executor = executor   # asked at each pass: kopf makes its pool at startup
        self.before = before       # awaited before each pass, holding no thread
        self._busy: set[Hashable] = set()
        self._again: set[Hashable] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def nudge(self, key: Hashable, act: Callable[[], None]) -> None:
        """Runs `act` soon, off the event loop; a nudge while `key` is busy only asks for
        one more pass after it."""
        if key in self._busy:
            self._again.add(key)
            return
        self._busy.add(key)
        task = asyncio.create_task(self._drive(key, act), name=f"pass of {key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def busy(self) -> int:
        return len(self._busy)

    async def _drive(self, key: Hashable, act: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if self.before is not None:
                    await self.before()
                self._again.discard(key)
                try:
                    await loop.run_in_executor(self.executor(), act)
                except Exception:   # said, not retried here: the run's next event, or its
                    # Director's safety net (every active run, every few seconds), looks again
                    log.exception("a pass of %s failed; its Director's safety net looks again", key)
                if key not in self._again:
                    return
        finally:
            self._busy.discard(key)
            self._again.discard(key)
