"""kopf's connection budget: room for every watch stream, plus a bounded pool for requests."""

from __future__ import annotations

from bosh_backup_operator.connections import REQUEST_CONNECTIONS, WATCHED_RESOURCES, connection_limit


def test_cluster_wide_budget_is_one_watch_per_resource_plus_requests() -> None:
    assert connection_limit([]) == WATCHED_RESOURCES + REQUEST_CONNECTIONS


def test_each_watched_namespace_adds_its_own_watch_streams() -> None:
    assert connection_limit(["a", "b", "c"]) == 3 * WATCHED_RESOURCES + REQUEST_CONNECTIONS
    # never so few that the watches alone could take every connection
    assert connection_limit(["a"] * 40) - 40 * WATCHED_RESOURCES == REQUEST_CONNECTIONS


def test_a_glob_cannot_be_counted_so_nothing_is_bounded() -> None:
    assert connection_limit(["team-*"]) == 0
    assert connection_limit(["prod", "!kube-system"]) == 0
