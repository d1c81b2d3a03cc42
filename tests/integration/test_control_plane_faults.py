"""The cluster under a backup misbehaves: kube-apiserver restarted, etcd away for 20 s, the
node agent (our kubelet) restarted. Each backup still ends Succeeded with a verified
artifact, one Job, no Lease held and the director unlocked, and the next one succeeds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from boshsim.k8s import backup, leases_held_by, register, run_jobs, wait_for_step, wait_phase, wait_recorded_success

NS = "cluster-faults"


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NS))


def node_agent_restart(harness: Any) -> None:
    assert harness.node_agent is not None
    harness.node_agent.stop()
    harness.start_node_agent()


@pytest.mark.parametrize("fault", ["kube-apiserver restarted", "etcd away for 20 s", "node agent restarted"])
def test_a_backup_outlives_the_cluster_misbehaving(harness: Any, ns: str, make_director: Any, fault: str) -> None:
    director, _ = make_director()
    name = {"kube-apiserver restarted": "apiserver", "etcd away for 20 s": "etcd",
            "node agent restarted": "nodeagent"}[fault]
    register(harness, NS, director, name)
    director.set_faults(bbr_backup_seconds=8)   # the fault lands inside bbr's copy
    harness.apply(backup(f"{name}-1", NS, name))
    wait_for_step(harness, "DirectorBackup", NS, f"{name}-1", "Backup", timeout=120)
    if fault == "kube-apiserver restarted":
        harness.plane.outage("kube-apiserver", 3)
    elif fault == "etcd away for 20 s":
        harness.plane.outage("etcd", 20)
    else:
        node_agent_restart(harness)
    director.set_faults()
    status = wait_phase(harness, "DirectorBackup", NS, f"{name}-1", timeout=300)["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert any(f["name"] == "manifest.json" for f in status["artifact"]["files"])
    assert len(run_jobs(harness, NS, f"{name}-1")) == 1
    assert leases_held_by(harness, NS, f"{name}-1") == []
    assert not director.state.workers_stopped()
    harness.apply(backup(f"{name}-2", NS, name))
    assert wait_phase(harness, "DirectorBackup", NS, f"{name}-2", timeout=240)["status"]["phase"] == "Succeeded"
    wait_recorded_success(harness, NS, name, f"{name}-2")
