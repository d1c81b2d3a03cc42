"""The runs waiting for a director, in the operator's memory: served in creation order.

The Leases (lock.py) keep runs on one director apart; this queue decides who goes next,
so that waiting runs are served oldest first, and only the head of a queue spends API
requests on trying the lock. Memory is rebuilt from the API after a restart: a run that
believes it is first confirms that no older run of its Director waits (RunController).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Key = tuple[str, str, str]   # (kind, namespace, name)
LOOK_EVERY = 5   # ticks of a waiting run's timer: 5 minutes at 60 s


@dataclass(frozen=True, order=True)
class Waiter:
    created: str                 # creationTimestamp (RFC 3339, so strings sort as times)
    name: str                    # ties within a second: by name
    kind: str
    namespace: str
    director: str                # the Director resource the run names
    keys: tuple[str, ...] = field(default=(), compare=False)   # its director lock keys

    @property
    def key(self) -> Key:
        return self.kind, self.namespace, self.name

    @property
    def group(self) -> tuple[str, str]:
        return self.namespace, self.director


class WaitQueue:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: dict[Key, Waiter] = {}
        self._held: dict[Key, tuple[str, ...]] = {}   # lock keys of runs that hold a director
        self._ticks: dict[Key, int] = {}

    def add(self, waiter: Waiter) -> None:
        with self._guard:
            known = self._waiters.get(waiter.key)
            if known is None or (waiter.keys and not known.keys):
                self._waiters[waiter.key] = waiter

    def remove(self, key: Key) -> None:
        with self._guard:
            self._waiters.pop(key, None)
            self._ticks.pop(key, None)

    def ahead_of(self, waiter: Waiter) -> Waiter | None:
        """The oldest run of the same Director queued before this one."""
        with self._guard:
            older = [w for w in self._waiters.values()
                     if w.group == waiter.group and w < waiter and w.key != waiter.key]
        return min(older) if older else None

    def skip_tick(self, key: Key) -> bool:
        """Whether a timer of this run can skip looking: it is queued and not first. Every
        LOOK_EVERY-th tick looks all the same, so a place held by a run this memory missed
        the end of (a watch gap) is found out."""
        with self._guard:
            me = self._waiters.get(key)
            if me is None or not any(w.group == me.group and w < me for w in self._waiters.values()):
                return False
            self._ticks[key] = self._ticks.get(key, 0) + 1
            return self._ticks[key] % LOOK_EVERY != 0

    def holding(self, key: Key, keys: tuple[str, ...]) -> None:
        with self._guard:
            self._waiters.pop(key, None)
            self._held[key] = keys

    def released(self, key: Key, namespace: str, director: str) -> list[Waiter] | None:
        """The heads of every queue waiting for what this run held (its own Director's, and
        any other Director's at the same BOSH director); None when memory knows nothing of it
        (after a restart), so that the caller looks in the API."""
        with self._guard:
            keys = set(self._held.pop(key, ()))
            groups = {(w.namespace, w.director) for w in self._waiters.values()
                      if (w.namespace, w.director) == (namespace, director) or keys & set(w.keys)}
            heads = [min(w for w in self._waiters.values() if w.group == group) for group in groups]
        if not heads and not keys:
            return None
        return sorted(heads)

    def __len__(self) -> int:
        with self._guard:
            return len(self._waiters)


@dataclass(frozen=True)
class ActiveRun:
    kind: str
    name: str
    waiting: bool   # Pending, WaitingForDirector


class SafetyNet:
    """Which of a Director's active runs its safety-net tick looks at: each run under way
    every tick, and a waiting one at most every `waiting_every` seconds (hundreds may wait).

    One timer per Director rather than one per run: kopf keeps the newest body of every
    object that has a timer, and with a fleet's backups queued that was most of the
    operator's memory (bench/schedules.py). A run whose Director is gone has no net; its
    Job's and pods' events still move it, and a restart resumes it."""

    def __init__(self, waiting_every: float, clock: Callable[[], float] = time.monotonic):
        self.waiting_every, self.clock = waiting_every, clock
        self._looked: dict[tuple[str, str], dict[tuple[str, str], float]] = {}
        self._guard = threading.Lock()

    def pick(self, director: tuple[str, str], runs: Iterable[ActiveRun]) -> list[ActiveRun]:
        now = self.clock()
        picked = []
        with self._guard:
            before = self._looked.get(director, {})
            looked: dict[tuple[str, str], float] = {}
            for run in runs:
                key = (run.kind, run.name)
                last = before.get(key)
                if run.waiting and last is not None and now - last < self.waiting_every:
                    looked[key] = last
                    continue
                looked[key] = now
                picked.append(run)
            if looked:   # only the runs still active are remembered
                self._looked[director] = looked
            else:
                self._looked.pop(director, None)
        return picked
