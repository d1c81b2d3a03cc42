"""deploy/ha and deploy/namespaced, run: two replicas of which one works and the other
takes over; an operator confined to its namespaces by RoleBindings alone.

Each test stops the suite's operator and runs its own, under deploy/'s rules."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from boshsim.k8s import backup, get, register, run_jobs, wait_for_step, wait_phase
from harness.cluster import Process, wait_for

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "bosh-backup-system"


def rendered(harness: Any, overlay: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(harness.kubectl("kustomize", str(ROOT / "deploy" / overlay)).stdout) if d]


@pytest.fixture
def suite_operator_paused(harness: Any) -> Iterator[list[Process]]:
    """Stops the suite's operator; gives a list for the test's own, stopped afterwards."""
    harness.stop_operator()
    own: list[Process] = []
    try:
        yield own
    finally:
        for process in own:
            process.stop()
        harness.start_operator()


@pytest.mark.parametrize("overlay", ["ha", "namespaced"])
def test_overlay_applies_cleanly_server_side(harness: Any, overlay: str) -> None:
    harness.create_namespace("bosh")  # the namespace deploy/namespaced serves
    documents = rendered(harness, overlay)
    result = harness.kubectl("apply", "--server-side", "--dry-run=server", "--force-conflicts", "-f", "-",
                             input=yaml.safe_dump_all(documents), check=False)
    assert result.returncode == 0, result.stderr
    assert "would violate PodSecurity" not in result.stderr, result.stderr
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    if overlay == "ha":
        assert deployment["spec"]["replicas"] == 2 and "--peering=bosh-backup-operator" in args
    else:
        assert "--namespace=bosh" in args
        assert not [d for d in documents if d["kind"] == "ClusterRoleBinding"
                    and d["roleRef"]["name"] == "bosh-backup-operator"], "no cluster-wide grant of the rules"


def test_two_replicas_one_active_the_other_takes_over(harness: Any, suite_operator_paused: list[Process],
                                                      make_director: Any) -> None:
    ns = harness.create_namespace("replicas")
    peering_crds = [d for d in rendered(harness, "ha") if d["kind"] == "CustomResourceDefinition"
                    and d["spec"]["group"] == "kopf.dev"]
    harness.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(peering_crds))
    harness.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/clusterkopfpeerings.kopf.dev")
    flags = ("--peering=test-replicas", "--peering-lifetime=10")
    first, _, _ = harness.launch_operator("replica-a", *flags, env={"POD_ID": "replica-a"})
    suite_operator_paused.append(first)
    second, _, _ = harness.launch_operator("replica-b", *flags, env={"POD_ID": "replica-b"})
    suite_operator_paused.append(second)

    # the operator made the peering object itself, and both replicas are in it
    def peers() -> dict[str, Any] | None:
        listing = harness.admin.get("/apis/kopf.dev/v1/clusterkopfpeerings")["items"]
        status = next((p.get("status") or {} for p in listing if p["metadata"]["name"] == "test-replicas"), {})
        return status if {"replica-a", "replica-b"} <= set(status) else None

    priorities = {peer: info["priority"] for peer, info in wait_for("both replicas peering", peers, timeout=30).items()}
    assert priorities["replica-a"] != priorities["replica-b"], "same priorities would freeze both"
    active, standby = (first, second) if priorities["replica-a"] > priorities["replica-b"] else (second, first)
    wait_for("the standby to pause", lambda: "Pausing operations" in standby.log.read_text(), timeout=30)
    # the schedules' timer is not kopf's: it reads the peering objects itself
    wait_for("the standby's schedules to stand aside",
             lambda: "another replica is active: this one acts on no schedule" in standby.log.read_text(), timeout=30)
    assert "this replica is the active one: it acts on schedules" in active.log.read_text()

    harness.apply(backup("while-both-run", ns, "nowhere"))
    assert wait_phase(harness, "DirectorBackup", ns, "while-both-run")["status"]["reason"] == "DirectorNotFound"
    # the operator logs the outcome before it writes the phase
    assert "while-both-run" in active.log.read_text()
    assert "while-both-run" not in standby.log.read_text()

    # the active replica's node dies in the middle of a backup: no goodbye in the peering object
    director, _ = make_director()
    register(harness, ns, director, "ha")
    director.set_faults(slow_seconds=0.1)
    harness.apply(backup("in-flight", ns, "ha"))
    wait_for_step(harness, "DirectorBackup", ns, "in-flight", "Backup")
    os.killpg(active.popen.pid, signal.SIGKILL)
    active.popen.wait()
    director.set_faults()
    started = time.monotonic()
    status = wait_phase(harness, "DirectorBackup", ns, "in-flight", timeout=120)["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert "Resuming operations" in standby.log.read_text()
    wait_for("the standby's schedules to act", lambda: "this replica is the active one: it acts on schedules"
             in standby.log.read_text(), timeout=30)
    assert "in-flight" in standby.log.read_text(), "the standby logs the run it adopted"
    assert len(run_jobs(harness, ns, "in-flight")) == 1, "one Job: the standby adopted it rather than starting another"
    assert time.monotonic() - started < 90, "taken over within a few peering lifetimes"


def test_a_namespaced_operator_works_with_rolebindings_alone(
        harness: Any, suite_operator_paused: list[Process], make_director: Any) -> None:
    served, other = harness.create_namespace("scoped"), harness.create_namespace("not-served")
    account = "bosh-backup-operator-scoped"
    harness.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": account, "namespace": OPERATOR_NAMESPACE}})
    # deploy/namespaced's bindings, for this test's account and namespace
    for document in rendered(harness, "namespaced"):
        if document["kind"] in ("RoleBinding", "ClusterRoleBinding") and document["subjects"][0]["name"] == (
                "bosh-backup-operator"):
            document["metadata"]["name"] += "-scoped-test"
            document["subjects"][0]["name"] = account
            if document["kind"] == "RoleBinding" and document["metadata"]["namespace"] != OPERATOR_NAMESPACE:
                document["metadata"]["namespace"] = served  # the directors' locks stay in the operator's
            harness.apply(document)
        elif document["kind"] in ("ClusterRole", "Role"):
            harness.apply(document)
    def can_i(*args: str) -> str:
        return str(harness.kubectl("auth", "can-i", *args, f"--as=system:serviceaccount:{OPERATOR_NAMESPACE}:{account}",
                                   check=False).stdout.strip())

    assert can_i("create", "jobs.batch", "-n", served) == "yes"
    assert can_i("list", "directorbackups.bosh-backup.dev", "-n", other) == "no"
    assert can_i("list", "jobs.batch", "-A") == "no"

    process, _, _ = harness.launch_operator("operator-scoped", f"--namespace={served}", account=account)
    suite_operator_paused.append(process)
    director, _ = make_director()
    register(harness, served, director, "scoped")
    harness.apply(backup("scoped-1", served, "scoped"))
    harness.apply(backup("unserved-1", other, "nowhere"))
    status = wait_phase(harness, "DirectorBackup", served, "scoped-1")["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert "status" not in get(harness, "DirectorBackup", other, "unserved-1"), "another namespace is not touched"
    process.check()
    assert "Forbidden" not in process.log.read_text(), process.tail()
    harness.kubectl("delete", "dbk", "unserved-1", "-n", other)


def test_deploy_operator_runs_as_its_deployment_says(harness: Any, suite_operator_paused: list[Process]) -> None:
    """deploy/'s own Deployment, run by the node agent: admitted under the namespace's
    restricted Pod Security, in-cluster credentials from its automounted token, as uid 65532."""
    ns = harness.create_namespace("as-deployed")
    deployment = next(d for d in rendered(harness, ".") if d["kind"] == "Deployment")
    harness.apply(deployment)
    try:
        pod = wait_for("the operator's pod to run", lambda: next(
            (p for p in operator_pods(harness) if p["status"].get("phase") == "Running"), None), timeout=90)
        name = pod["metadata"]["name"]
        assert any(v["name"].startswith("kube-api-access") for v in pod["spec"]["volumes"])
        harness.apply(backup("from-the-pod", ns, "nowhere"))
        status = wait_phase(harness, "DirectorBackup", ns, "from-the-pod")["status"]
        assert status["reason"] == "DirectorNotFound"
        log = harness.container_log(OPERATOR_NAMESPACE, name, "operator")
        assert "from-the-pod" in log, log[-2000:]
        processes = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
        owners = {int(line.split()[1]) for p in processes for line in _status_lines(p)
                  if line.startswith("Uid:") and "bosh-backup-operator" in _cmdline(p)
                  and "--liveness=http://0.0.0.0:8080/healthz" in _cmdline(p)}
        assert owners == {65532}, owners
    finally:
        harness.kubectl("delete", "deployment", "bosh-backup-operator", "-n", OPERATOR_NAMESPACE, "--wait=true")
        wait_for("the operator's pod to go", lambda: not operator_pods(harness), timeout=60)


def operator_pods(harness: Any) -> list[dict[str, Any]]:
    return list(json.loads(harness.kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "json", "-l",
                                           "app.kubernetes.io/name=bosh-backup-operator").stdout)["items"])


def _status_lines(proc: Path) -> list[str]:
    try:
        return (proc / "status").read_text().splitlines()
    except OSError:
        return []


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
