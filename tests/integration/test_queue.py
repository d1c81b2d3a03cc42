"""Many backups of one director at once: served one at a time in creation order, each once,
while another director's backup does not wait behind them."""

from __future__ import annotations

import time
from typing import Any

from boshsim.k8s import backup, get, register, run_jobs, wait_phase
from harness.cluster import wait_for

NS = "queue"
QUEUED = 10


def test_a_queue_drains_in_creation_order_and_other_directors_go_at_once(harness: Any, make_director: Any) -> None:
    harness.create_namespace(NS)
    busy, _ = make_director()
    other, _ = make_director()
    register(harness, NS, busy, "busy")
    register(harness, NS, other, "other")
    names = [f"busy-{number:03d}" for number in range(QUEUED)]
    harness.apply({"apiVersion": "v1", "kind": "List", "items": [backup(name, NS, "busy") for name in names]})
    wait_for("a queue to form", lambda: sum(
        (get(harness, "DirectorBackup", NS, name).get("status") or {}).get("reason") == "WaitingForDirector"
        for name in names) >= QUEUED - 2, timeout=60)
    created = time.monotonic()
    harness.apply(backup("other-1", NS, "other"))
    wait_for("the other director's Job", lambda: run_jobs(harness, NS, "other-1"), timeout=30, interval=0.05)
    started_after = time.monotonic() - created
    assert started_after < 10, f"another director's backup waited {started_after:.1f}s behind the queue"
    finished = [wait_phase(harness, "DirectorBackup", NS, name, timeout=600)["status"] for name in names]
    assert [status["phase"] for status in finished] == ["Succeeded"] * QUEUED
    for earlier, later, name in zip(finished[:-1], finished[1:], names[1:], strict=True):
        # one at a time, in creation order: each starts once the one created before it has ended
        assert later["startTime"] >= earlier["completionTime"], (name, earlier, later)
    for name in names:
        assert len(run_jobs(harness, NS, name)) == 1, f"{name} ran once"
