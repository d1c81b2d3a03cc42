"""How often a Director's Secrets are read again: every tick while it is not Ready, at most
every `ready_every` seconds once it is."""

from __future__ import annotations

from bosh_backup_operator.api.director import Rechecks

DIRECTOR = ("ns", "d1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_director_not_ready_is_looked_at_every_tick() -> None:
    clock = Clock()
    rechecks = Rechecks(300, clock)
    rechecks.looked(DIRECTOR)
    clock.now += 1
    assert rechecks.due(DIRECTOR, ready=False)


def test_a_ready_director_is_looked_at_once_per_ready_every() -> None:
    clock = Clock()
    rechecks = Rechecks(300, clock)
    assert rechecks.due(DIRECTOR, ready=True)   # never looked at by this process: a restart looks once
    rechecks.looked(DIRECTOR)
    clock.now += 299
    assert not rechecks.due(DIRECTOR, ready=True)
    clock.now += 1
    assert rechecks.due(DIRECTOR, ready=True)


def test_a_change_counts_as_a_look_and_a_deleted_director_is_forgotten() -> None:
    clock = Clock()
    rechecks = Rechecks(300, clock)
    rechecks.looked(DIRECTOR)
    clock.now += 200
    rechecks.looked(DIRECTOR)        # a spec change read every Secret just now
    clock.now += 200
    assert not rechecks.due(DIRECTOR, ready=True)
    assert rechecks.due(("ns", "d2"), ready=True)   # another Director has its own clock
    rechecks.forget(DIRECTOR)
    assert rechecks.due(DIRECTOR, ready=True)
