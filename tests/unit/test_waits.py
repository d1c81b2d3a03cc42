"""The queue of runs waiting for a director: creation order, heads, and what a timer may skip."""

from __future__ import annotations

from bosh_backup_operator.waits import LOOK_EVERY, ActiveRun, SafetyNet, Waiter, WaitQueue

KEYS = ("https://10.0.0.6:25555",)


def waiter(name: str, created: str = "2026-11-29T05:00:00Z", director: str = "prod", namespace: str = "ns",
           kind: str = "DirectorBackup", keys: tuple[str, ...] = KEYS) -> Waiter:
    return Waiter(created, name, kind, namespace, director, keys)


def test_runs_of_a_director_go_in_creation_order_then_by_name() -> None:
    queue = WaitQueue()
    for item in (waiter("b-002"), waiter("b-000"), waiter("b-001"), waiter("a-late", "2026-11-29T05:00:01Z")):
        queue.add(item)
    assert queue.ahead_of(waiter("b-001")) == waiter("b-000")
    assert queue.ahead_of(waiter("b-000")) is None
    assert queue.ahead_of(waiter("a-late", "2026-11-29T05:00:01Z")) == waiter("b-000")
    assert queue.ahead_of(waiter("other", director="staging")) is None, "another Director's queue is its own"


def test_a_release_wakes_the_head_of_each_queue_at_that_director_only() -> None:
    queue = WaitQueue()
    queue.holding(("DirectorBackup", "ns", "running"), KEYS)
    queue.add(waiter("b-001"))
    queue.add(waiter("b-000"))
    queue.add(waiter("r-000", kind="DirectorRestore", namespace="team-b", director="prod-b"))   # same BOSH director
    queue.add(waiter("x-000", director="elsewhere", keys=("https://10.9.9.9:25555",)))
    heads = queue.released(("DirectorBackup", "ns", "running"), "ns", "prod")
    assert heads == [waiter("b-000"), waiter("r-000", kind="DirectorRestore", namespace="team-b",
                                                 director="prod-b")]
    # after a restart memory knows nothing of the run that ended: the caller asks the API
    assert WaitQueue().released(("DirectorBackup", "ns", "gone"), "ns", "prod") is None


def test_only_the_runs_behind_skip_their_timer_and_they_still_look_now_and_then() -> None:
    queue = WaitQueue()
    queue.add(waiter("b-000"))
    queue.add(waiter("b-001"))
    assert not queue.skip_tick(("DirectorBackup", "ns", "b-000")), "the head always looks"
    skipped = [queue.skip_tick(("DirectorBackup", "ns", "b-001")) for _ in range(LOOK_EVERY * 2)]
    assert skipped.count(False) == 2
    queue.remove(("DirectorBackup", "ns", "b-000"))
    assert not queue.skip_tick(("DirectorBackup", "ns", "b-001")), "first now"
    assert not queue.skip_tick(("DirectorBackup", "ns", "unknown"))


def test_the_safety_net_looks_at_runs_under_way_each_tick_and_at_waiting_ones_now_and_then() -> None:
    clock = [0.0]
    net = SafetyNet(waiting_every=60, clock=lambda: clock[0])
    prod = ("ns", "prod")
    running, queued = ActiveRun("DirectorBackup", "b-000", False), ActiveRun("DirectorBackup", "b-001", True)
    assert net.pick(prod, [running, queued]) == [running, queued]
    for _ in range(5):
        clock[0] += 10
        assert net.pick(prod, [running, queued]) == [running]
    clock[0] += 10
    assert net.pick(prod, [running, queued]) == [running, queued]   # 60 s after its last look
    assert net.pick(("ns", "staging"), []) == []
    assert ("ns", "staging") not in net._looked, "a Director with nothing active keeps no memory"


def test_the_safety_net_forgets_runs_that_ended() -> None:
    net = SafetyNet(waiting_every=60, clock=lambda: 0.0)
    prod = ("ns", "prod")
    net.pick(prod, [ActiveRun("DirectorBackup", "b-000", True)])
    net.pick(prod, [])
    assert prod not in net._looked
