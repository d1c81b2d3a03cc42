"""Replica priorities for kopf peering: stable per pod, distinct across pods."""

from __future__ import annotations

from bosh_backup_operator.peering import priority_for


def test_a_pod_keeps_its_priority_and_two_pods_differ() -> None:
    assert priority_for("bosh-backup-operator-7d9c5-abcde") == priority_for("bosh-backup-operator-7d9c5-abcde")
    names = [f"bosh-backup-operator-7d9c5-{n:05d}" for n in range(2000)]
    priorities = {priority_for(name) for name in names}
    assert len(priorities) >= 1995  # a clash is possible, and rare
    assert all(1 <= p <= 1_000_000 for p in priorities)  # above kopf's default of 0
