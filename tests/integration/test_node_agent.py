"""Jobs run for real: the Job controller makes pods, the node agent runs them, GC cleans up."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from harness.cluster import wait_for
from harness.objects import job, job_condition, job_pods, terminated

NS = "nodeagent"


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    name = harness.create_namespace(NS)
    harness.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app", "namespace": NS},
                   "data": {"token": base64.b64encode(b"s3cr3t").decode()}})
    harness.apply({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "settings", "namespace": NS}, "data": {"GREETING": "hi"}})
    return str(name)


def run_job(harness: Any, manifest: dict[str, Any], timeout: float = 60) -> tuple[str, dict[str, Any]]:
    harness.apply(manifest)
    name = manifest["metadata"]["name"]
    outcome = job_condition(harness, NS, name, timeout)
    pods = job_pods(harness, NS, name)
    assert pods, "the Job controller made no pod"
    return outcome, pods[-1]


def test_job_completes_with_exit_code_and_termination_message(harness: Any, ns: str) -> None:
    outcome, pod = run_job(harness, job("ok", ns, [
        "sh", "-c", "echo hello from the pod; echo 'all good' > /dev/termination-log"]))
    assert outcome == "Complete"
    state = terminated(pod)
    assert (state["exitCode"], state["reason"], state["message"].strip()) == (0, "Completed", "all good")
    assert pod["status"]["phase"] == "Succeeded"
    assert "hello from the pod" in harness.container_log(ns, pod["metadata"]["name"], "main")


def test_failed_job_shows_exit_code_and_message(harness: Any, ns: str) -> None:
    outcome, pod = run_job(harness, job("fails", ns, [
        "sh", "-c", "echo 'disk full' > /dev/termination-log; exit 3"]))
    assert outcome == "Failed"
    state = terminated(pod)
    assert (state["exitCode"], state["reason"], state["message"].strip()) == (3, "Error", "disk full")


def test_fallback_to_logs_on_error(harness: Any, ns: str) -> None:
    outcome, pod = run_job(harness, job("fallback", ns, ["sh", "-c", "echo last words >&2; exit 1"],
                                        container={"terminationMessagePolicy": "FallbackToLogsOnError"}))
    assert outcome == "Failed"
    assert terminated(pod)["message"].strip() == "last words"


def test_retries_make_new_pods_up_to_the_backoff_limit(harness: Any, ns: str) -> None:
    outcome, _ = run_job(harness, job("retries", ns, ["sh", "-c", "exit 1"], backoff_limit=1),
                         timeout=90)
    assert outcome == "Failed"
    assert len(job_pods(harness, ns, "retries")) == 2


def test_env_and_volumes_from_secrets_configmaps_and_fields(harness: Any, ns: str) -> None:
    script = ('test "$TOKEN" = s3cr3t && test "$(cat /etc/app/token)" = s3cr3t && '
              'test "$(cat /etc/podinfo/ns)" = nodeagent && touch /scratch/x && '
              'echo "$POD_NAME $GREETING $(id -u)" > /dev/termination-log')
    manifest = job("env", ns, ["sh", "-c", script], container={
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "app", "key": "token"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "envFrom": [{"configMapRef": {"name": "settings"}}],
        "volumeMounts": [{"name": "app", "mountPath": "/etc/app"},
                         {"name": "podinfo", "mountPath": "/etc/podinfo"},
                         {"name": "scratch", "mountPath": "/scratch"}],
    }, pod_spec={"volumes": [
        {"name": "app", "secret": {"secretName": "app"}},
        {"name": "podinfo", "downwardAPI": {"items": [
            {"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
        {"name": "scratch", "emptyDir": {}}]})
    outcome, pod = run_job(harness, manifest)
    assert outcome == "Complete", terminated(pod)
    name, greeting, uid = terminated(pod)["message"].split()
    assert (name, greeting, uid) == (pod["metadata"]["name"], "hi", "65532")


def test_secret_volume_is_read_only(harness: Any, ns: str) -> None:
    outcome, _ = run_job(harness, job("readonly", ns, ["sh", "-c", "echo x > /etc/app/token"],
                                        container={"volumeMounts": [{"name": "app", "mountPath": "/etc/app"}]},
                                        pod_spec={"volumes": [{"name": "app", "secret": {"secretName": "app"}}]}))
    assert outcome == "Failed"


def test_missing_secret_keeps_the_container_waiting_with_kubelets_reason(harness: Any, ns: str) -> None:
    harness.apply(job("nosecret", ns, ["true"], container={"env": [
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]}))

    def waiting() -> dict[str, Any] | None:
        for pod in job_pods(harness, ns, "nosecret"):
            for status in pod.get("status", {}).get("containerStatuses", []):
                state = status["state"].get("waiting", {})
                if state.get("reason") == "CreateContainerConfigError":
                    return dict(state)
        return None
    state = wait_for("CreateContainerConfigError", waiting, timeout=30)
    assert state["message"] == 'secret "nope" not found'


def test_pod_talks_to_the_api_as_its_service_account(harness: Any, ns: str) -> None:
    script = """
import json, os, ssl, urllib.request
sa = '/var/run/secrets/kubernetes.io/serviceaccount'
token = open(sa + '/token').read()
ctx = ssl.create_default_context(cafile=sa + '/ca.crt')
url = 'https://%s:%s/apis/authentication.k8s.io/v1/selfsubjectreviews' % (
    os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'])
body = json.dumps({'apiVersion': 'authentication.k8s.io/v1', 'kind': 'SelfSubjectReview'}).encode()
request = urllib.request.Request(url, body, {'Authorization': 'Bearer ' + token,
                                             'Content-Type': 'application/json'})
review = json.load(urllib.request.urlopen(request, context=ctx))
namespace = open(sa + '/namespace').read()
open('/dev/termination-log', 'w').write(review['status']['userInfo']['username'] + ' ' + namespace)
"""
    outcome, pod = run_job(harness, job("whoami", ns, ["python3", "-c", script]))
    assert outcome == "Complete", harness.container_log(ns, pod["metadata"]["name"], "main")
    assert terminated(pod)["message"] == f"system:serviceaccount:{ns}:default {ns}"


def test_active_deadline_ends_the_pod(harness: Any, ns: str) -> None:
    outcome, pod = run_job(harness, job("deadline", ns, ["sleep", "60"],
                                        pod_spec={"activeDeadlineSeconds": 2}), timeout=40)
    assert outcome == "Failed"
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "DeadlineExceeded"


def test_deletion_sends_sigterm_then_the_pod_goes(harness: Any, ns: str) -> None:
    script = "trap 'echo got SIGTERM; exit 0' TERM; echo started; while true; do sleep 0.1; done"
    harness.apply(job("graceful", ns, ["sh", "-c", script]))
    pod = wait_for("the pod to run", lambda: next(
        (p for p in job_pods(harness, ns, "graceful") if p["status"].get("phase") == "Running"), None))
    name = pod["metadata"]["name"]
    wait_for("the process to start", lambda: "started" in harness.container_log(ns, name, "main"))
    harness.kubectl("delete", "pod", name, "-n", ns, "--wait=false")
    wait_for("the pod to be gone", lambda: harness.kubectl(
        "get", "pod", name, "-n", ns, check=False).returncode != 0, timeout=30)
    assert "got SIGTERM" in harness.container_log(ns, name, "main")


def test_claim_folder_outlives_pods(harness: Any, ns: str) -> None:
    harness.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "data", "namespace": ns},
                   "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    volume = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}
    mount = {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    assert run_job(harness, job("writer", ns, ["sh", "-c", "echo kept > /data/file"],
                                container=mount, pod_spec=volume))[0] == "Complete"
    outcome, pod = run_job(harness, job("reader", ns, ["sh", "-c", "cat /data/file > /dev/termination-log"],
                                        container=mount, pod_spec=volume))
    assert outcome == "Complete" and terminated(pod)["message"].strip() == "kept"


def test_missing_claim_leaves_the_pod_unschedulable(harness: Any, ns: str) -> None:
    harness.apply(job("noclaim", ns, ["true"], pod_spec={"volumes": [
        {"name": "data", "persistentVolumeClaim": {"claimName": "ghost"}}]}))

    def unschedulable() -> dict[str, Any] | None:
        for pod in job_pods(harness, ns, "noclaim"):
            for cond in pod.get("status", {}).get("conditions", []):
                if cond["type"] == "PodScheduled" and cond["status"] == "False":
                    return dict(cond)
        return None
    cond = wait_for("PodScheduled=False", unschedulable, timeout=30)
    assert cond["reason"] == "Unschedulable"
    assert 'persistentvolumeclaim "ghost" not found' in cond["message"]


def test_deleting_a_job_garbage_collects_its_pods(harness: Any, ns: str) -> None:
    assert run_job(harness, job("collected", ns, ["true"]))[0] == "Complete"
    assert job_pods(harness, ns, "collected")
    harness.kubectl("delete", "job", "collected", "-n", ns, "--cascade=background")
    wait_for("GC to delete the pods", lambda: not job_pods(harness, ns, "collected"), timeout=60)


def test_ttl_after_finished_removes_the_job(harness: Any, ns: str) -> None:
    harness.apply(job("ttl", ns, ["true"], ttlSecondsAfterFinished=1))
    started = time.monotonic()
    wait_for("the TTL controller to delete the Job", lambda: harness.kubectl(
        "get", "job", "ttl", "-n", ns, check=False).returncode != 0, timeout=60)
    assert time.monotonic() - started < 60
