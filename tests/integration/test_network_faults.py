"""A connection to the director that stalls without closing (a hung middlebox): the run
ends at its timeout, bbr's cleanup runs over a new connection, and the director is
unlocked; the next backup succeeds."""

from __future__ import annotations

import json
import time
from typing import Any

from boshsim.k8s import backup, register, wait_for_step, wait_phase
from harness.cluster import wait_for
from harness.fault_proxy import StallProxy

NS = "network-faults"


def test_a_stalled_ssh_connection_ends_at_the_timeout_with_the_cleanup_done(harness: Any,
                                                                             make_director: Any) -> None:
    harness.create_namespace(NS)
    director, _ = make_director()
    register(harness, NS, director, "stall")
    proxy = StallProxy(int(director.ssh_host.rsplit(":", 1)[1]))
    try:
        harness.kubectl("patch", "bdir", "stall", "-n", NS, "--type=merge",
                        "-p", json.dumps({"spec": {"ssh": {"port": proxy.port}}}))
        director.set_faults(bbr_backup_seconds=20)
        harness.apply(backup("stall-1", NS, "stall", timeout="75s"))
        wait_for_step(harness, "DirectorBackup", NS, "stall-1", "Backup", timeout=120)
        wait_for("bbr to lock the director", director.state.workers_stopped, timeout=60)
        time.sleep(2)
        assert proxy.stall() >= 1
        director.set_faults()
        status = wait_phase(harness, "DirectorBackup", NS, "stall-1", timeout=280)["status"]
        assert status["phase"] == "Failed" and status["reason"] == "DeadlineExceeded", json.dumps(status, indent=1)
        assert "took longer than spec.timeout (75s)" in status["message"]
        assert "the runner ran its cleanup" in status["message"]
        assert not director.state.workers_stopped(), "bbr backup-cleanup unlocked the director"
        harness.apply(backup("stall-2", NS, "stall"))
        assert wait_phase(harness, "DirectorBackup", NS, "stall-2", timeout=240)["status"]["phase"] == "Succeeded"
    finally:
        proxy.close()
