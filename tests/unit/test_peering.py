"""Replica priorities for kopf peering: stable per pod, distinct across pods."""

from __future__ import annotations

import datetime
from typing import Any

from bosh_backup_operator.peering import outranked, priority_for


def test_a_pod_keeps_its_priority_and_two_pods_differ() -> None:
    assert priority_for("bosh-backup-operator-7d9c5-abcde") == priority_for("bosh-backup-operator-7d9c5-abcde")
    names = [f"bosh-backup-operator-7d9c5-{n:05d}" for n in range(2000)]
    priorities = {priority_for(name) for name in names}
    assert len(priorities) >= 1995  # a clash is possible, and rare
    assert all(1 <= p <= 1_000_000 for p in priorities)  # above kopf's default of 0


def test_a_replica_pauses_while_a_live_peer_outranks_it_as_kopf_does() -> None:
    now = datetime.datetime(2026, 12, 7, 9, 0, tzinfo=datetime.UTC)

    def peer(priority: int, seconds_ago: int, lifetime: int = 60) -> dict[str, Any]:
        seen = now - datetime.timedelta(seconds=seconds_ago)
        return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}
    assert not outranked({"me": peer(500, 1)}, 500, now)                       # alone
    assert not outranked({"me": peer(500, 1), "low": peer(100, 1)}, 500, now)  # the others are lower
    assert outranked({"me": peer(500, 1), "high": peer(900, 59)}, 500, now)    # a higher one, alive
    assert not outranked({"me": peer(500, 1), "high": peer(900, 61)}, 500, now)   # ... its entry lapsed
    assert not outranked({"me": peer(500, 1), "high": peer(900, 20, lifetime=10)}, 500, now)
    assert not outranked({}, 500, now)
