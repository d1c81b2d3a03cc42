"""A node agent that plays kubelet (and the scheduler's binding) for one Node.

What is real: it talks to the apiserver only with a node's credentials
(system:node:<name>, so Node authorization and NodeRestriction apply) and binds pods
with the scheduler's (system:kube-scheduler). Secrets, configmaps and
service-account tokens are fetched the way a kubelet fetches them.

What is mapped (nothing else is):
- A container is its command/args run as a local process; its image is the one
  that `--image` describes (harness/image.py: the runner's installation
  bind-mounted at its image paths, and the image's PATH). Without a command the pod fails.
- Each volume is a folder under <root>/pods/<uid>/volumes/<name>, bind-mounted at
  its real mountPath in a private mount namespace (see podexec.py).
- A PersistentVolumeClaim is the folder <root>/pvcs/<namespace>/<claim>: it outlives
  pods, as a bound volume does. A pod whose claim does not exist stays Pending,
  Unschedulable, as the scheduler leaves it.
- The pod shares the host's network: podIP is 127.0.0.1, and KUBERNETES_SERVICE_HOST
  and _PORT point at the apiserver on loopback.
- Each container's output goes to <root>/logs/<namespace>_<pod>_<uid>/<container>.log.

    python -m harness.nodeagent --node-kubeconfig K --scheduler-kubeconfig K --root DIR
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .rest import ApiError, Rest

TOKEN_ATTEMPTS = 8
log = logging.getLogger("nodeagent")
TESTS_DIR = Path(__file__).resolve().parents[1]
TERMINATION_MESSAGE_LIMIT = 4096
EVICTION_GRACE_SECONDS = 2.0    # kubelet's minimum for a hard eviction


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConfigError(Exception):
    """The pod cannot start yet (a missing secret, a claim, ...); retried like kubelet does."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def pod_path(pod: dict[str, Any], suffix: str = "") -> str:
    meta = pod["metadata"]
    return f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}{suffix}"


def pod_key(pod: dict[str, Any]) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"


class Informer:
    """List-then-watch over one collection, keeping a cache and calling back on changes."""

    def __init__(self, rest: Rest, path: str, on_change: Any, stop: threading.Event,
                 **query: Any):
        self.rest, self.path, self.query = rest, path, query
        self.on_change, self.stop = on_change, stop
        self.cache: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                listing = self.rest.get(self.path, **self.query)
                seen = set()
                for item in listing.get("items", []):
                    seen.add(item["metadata"]["uid"])
                    self._update("MODIFIED", item)
                for uid in set(self.cache) - seen:
                    self._update("DELETED", self.cache[uid])
                version = listing["metadata"]["resourceVersion"]
                while not self.stop.is_set():
                    for event in self.rest.watch(self.path, version, timeout_seconds=30,
                                                 **self.query):
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            raise ApiError(obj.get("code", 500), obj)
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            self._update(event["type"], obj)
                        if self.stop.is_set():
                            return
            except Exception as error:
                if not self.stop.is_set():
                    log.debug("informer %s restarting: %s", self.path, error)
                    time.sleep(0.5)

    def _update(self, kind: str, obj: dict[str, Any]) -> None:
        uid = obj["metadata"]["uid"]
        with self.lock:
            if kind == "DELETED":
                self.cache.pop(uid, None)
            else:
                self.cache[uid] = obj
        self.on_change(kind, obj)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.cache.values())


class NodeAgent:
    def __init__(self, node: Rest, scheduler: Rest, name: str, root: Path, api_port: int,
                 image: dict[str, Any] | None = None):
        self.node, self.scheduler, self.name = node, scheduler, name
        self.root = root
        self.api_port = api_port
        # what every container sees at the image's paths, and the image's PATH (image.py)
        self.image_mounts: list[dict[str, Any]] = (image or {}).get("mounts", [])
        self.container_path: str = (image or {}).get("path") or os.environ["PATH"]
        self.stop = threading.Event()
        self.workers: dict[str, PodWorker] = {}
        # pods this agent ran to their end: a late watch event still showing one running
        # (the stream lags under load) must not make it look lost, as a kubelet never
        # changes a terminal pod's phase
        self.ended: set[str] = set()
        self.lock = threading.Lock()
        self.labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64"}
        self.unschedulable_messages: dict[str, str] = {}

    # -- the node -------------------------------------------------------------

    def node_status(self) -> dict[str, Any]:
        stamp = now()

        def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
            return {"type": kind, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": stamp, "lastTransitionTime": self.started}
        capacity = {"cpu": str(os.cpu_count() or 2), "memory": "24Gi", "pods": "110",
                    "ephemeral-storage": "100Gi"}
        return {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
                condition("Ready", "True", "KubeletReady", "harness node agent is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.name}],
            "nodeInfo": {"machineID": "harness", "systemUUID": "harness", "bootID": "harness",
                         "kernelVersion": os.uname().release, "osImage": "harness node agent",
                         "containerRuntimeVersion": "harness://local-processes",
                         "kubeletVersion": "harness", "kubeProxyVersion": "",
                         "operatingSystem": "linux", "architecture": "amd64"},
        }

    def register(self) -> None:
        self.started = now()
        try:
            self.node.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                             "metadata": {"name": self.name, "labels": self.labels}})
        except ApiError as error:
            if error.status != 409:
                raise
        self.node.merge_patch(f"/api/v1/nodes/{self.name}/status", {"status": self.node_status()})

    def heartbeat(self) -> None:
        while not self.stop.wait(10):
            try:
                self.node.merge_patch(f"/api/v1/nodes/{self.name}/status",
                                      {"status": self.node_status()})
            except Exception as error:
                log.warning("heartbeat failed: %s", error)

    # -- scheduling -------------------------------------------------------------

    def schedule(self, kind: str, pod: dict[str, Any]) -> None:
        if kind == "DELETED" or pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            return
        try:
            problem = self.unschedulable_reason(pod)
            if problem:
                if self.unschedulable_messages.get(pod["metadata"]["uid"]) != problem:
                    self.unschedulable_messages[pod["metadata"]["uid"]] = problem
                    self.scheduler.merge_patch(pod_path(pod, "/status"), {"status": {"conditions": [{
                        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "message": problem, "lastTransitionTime": now()}]}})
                    self.event(self.scheduler, pod, "FailedScheduling", problem, "Warning",
                               component="default-scheduler")
                return
            self.scheduler.post(pod_path(pod, "/binding"), {
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.name}})
            self.event(self.scheduler, pod, "Scheduled",
                       f"Successfully assigned {pod_key(pod)} to {self.name}", "Normal",
                       component="default-scheduler")
        except ApiError as error:
            if error.status not in (404, 409):
                log.warning("binding %s failed: %s", pod_key(pod), error)

    def unschedulable_reason(self, pod: dict[str, Any]) -> str | None:
        for key, value in (pod["spec"].get("nodeSelector") or {}).items():
            if self.labels.get(key) != value:
                return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
        namespace = pod["metadata"]["namespace"]
        for volume in pod["spec"].get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                try:
                    self.scheduler.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim}")
                except ApiError as error:
                    if error.status == 404:
                        return f'0/1 nodes are available: persistentvolumeclaim "{claim}" not found.'
                    raise
        return None

    # -- the kubelet ------------------------------------------------------------

    def sync_pod(self, kind: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if worker:
                if kind == "DELETED" or pod["metadata"].get("deletionTimestamp"):
                    worker.request_stop(pod)
                return
            if kind == "DELETED":
                self.ended.discard(uid)
                return
            phase = pod.get("status", {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                if pod["metadata"].get("deletionTimestamp"):
                    self.finalize_deletion(pod)
                return
            if uid in self.ended:
                return
            if self.was_running_before(pod):
                self.mark_lost(pod)
                return
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
        worker.start()

    def was_running_before(self, pod: dict[str, Any]) -> bool:
        statuses = pod.get("status", {}).get("containerStatuses") or []
        return any("running" in (s.get("state") or {}) for s in statuses)

    def mark_lost(self, pod: dict[str, Any]) -> None:
        """A pod whose processes died with an earlier agent: it failed, as on a crashed node."""
        statuses = []
        for status in pod["status"].get("containerStatuses") or []:
            status = dict(status, ready=False, started=False, state={"terminated": {
                "exitCode": 137, "reason": "Error", "message": "the node agent restarted",
                "finishedAt": now()}})
            statuses.append(status)
        self.node.merge_patch(pod_path(pod, "/status"), {"status": {
            "phase": "Failed", "reason": "NodeAgentRestarted", "containerStatuses": statuses}})

    def finalize_deletion(self, pod: dict[str, Any]) -> None:
        try:
            self.node.request("DELETE", pod_path(pod), {
                "apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": pod["metadata"]["uid"]}})
        except ApiError as error:
            if error.status not in (404, 409):
                log.warning("final delete of %s failed: %s", pod_key(pod), error)

    def worker_done(self, uid: str, *, ended: bool) -> None:
        """ended: its final status reached the API. If it did not (the apiserver away), a
        later event still showing it running marks it lost, as before, and its Job retries."""
        with self.lock:
            self.workers.pop(uid, None)
            if ended:
                self.ended.add(uid)

    def event(self, rest: Rest, pod: dict[str, Any], reason: str, message: str, kind: str,
              component: str = "kubelet") -> None:
        meta = pod["metadata"]
        stamp = now()
        try:
            rest.post(f"/api/v1/namespaces/{meta['namespace']}/events", {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                                   "namespace": meta["namespace"], "uid": meta["uid"]},
                "reason": reason, "message": message, "type": kind,
                "source": {"component": component, "host": self.name},
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1})
        except ApiError as error:
            log.debug("event not posted: %s", error)

    def retry_loop(self, scheduling: Informer, pods: Informer) -> None:
        """Retries what waits on something else (a claim, a secret): kubelet's resync."""
        while not self.stop.wait(1.0):
            for pod in scheduling.snapshot():
                self.schedule("MODIFIED", pod)
            for pod in pods.snapshot():
                self.sync_pod("MODIFIED", pod)

    def run(self) -> None:
        self.register()
        scheduling = Informer(self.scheduler, "/api/v1/pods", self.schedule, self.stop,
                              fieldSelector="spec.nodeName=,status.phase=Pending")
        pods = Informer(self.node, "/api/v1/pods", self.sync_pod, self.stop,
                        fieldSelector=f"spec.nodeName={self.name}")
        threads = [threading.Thread(target=target, daemon=True, name=name) for name, target in [
            ("heartbeat", self.heartbeat), ("scheduler", scheduling.run), ("kubelet", pods.run),
            ("resync", lambda: self.retry_loop(scheduling, pods))]]
        for thread in threads:
            thread.start()
        log.info("node %s ready", self.name)
        self.stop.wait()
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.kill_all(signal.SIGKILL)


class PodWorker(threading.Thread):
    """Runs one pod to completion, writing its status the way kubelet does."""

    def __init__(self, agent: NodeAgent, pod: dict[str, Any]):
        super().__init__(daemon=True, name=f"pod-{pod_key(pod)}")
        self.agent, self.pod = agent, pod
        self.rest = agent.node
        meta = pod["metadata"]
        self.uid = meta["uid"]
        self.dir = agent.root / "pods" / self.uid
        self.log_dir = agent.root / "logs" / f"{meta['namespace']}_{meta['name']}_{self.uid}"
        self.stopping = threading.Event()
        self.grace = float(pod["spec"].get("terminationGracePeriodSeconds", 30))
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.init_statuses: dict[str, dict[str, Any]] = {}
        self.terminal_published = False   # a Succeeded or Failed status reached the API
        self.status_lock = threading.Lock()
        self.reason: str | None = None
        self.message: str | None = None

    # -- entry points -------------------------------------------------------------

    def request_stop(self, pod: dict[str, Any]) -> None:
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is not None:
            self.grace = float(grace)
        self.stopping.set()

    def kill_all(self, sig: int) -> None:
        for process in list(self.processes.values()):
            if process.poll() is None:
                self.signal(process, sig)

    def run(self) -> None:
        try:
            self.run_pod()
        except Exception as error:
            log.exception("pod %s failed in the agent", pod_key(self.pod))
            # never leave a pod Pending forever because of the agent itself
            self.reason, self.message = "NodeAgentError", f"the harness node agent failed: {error}"
            with contextlib.suppress(Exception):
                self.publish("Failed")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)  # secrets do not outlive the pod
            self.agent.worker_done(self.uid, ended=self.terminal_published)

    # -- the pod's life -----------------------------------------------------------

    def run_pod(self) -> None:
        spec = self.pod["spec"]
        for container in spec.get("initContainers", []):
            self.init_statuses[container["name"]] = self.waiting(container, "PodInitializing", "")
        for container in spec["containers"]:
            self.statuses[container["name"]] = self.waiting(container, "ContainerCreating", "")
        self.start_time = now()
        self.started_monotonic = time.monotonic()
        self.publish("Pending")
        prepared = self.prepare()
        if prepared is None:
            return self.finish_deleted()
        mounts, envs = prepared

        for container in spec.get("initContainers", []):
            code = self.run_container(container, mounts, envs, self.init_statuses)
            if self.stopping.is_set():
                return self.finish_deleted()
            if code != 0:
                return self.publish("Failed")
        threads = [threading.Thread(target=self.run_container,
                                    args=(container, mounts, envs, self.statuses), daemon=True)
                   for container in spec["containers"]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.stopping.is_set():
            return self.finish_deleted()
        if self.reason in ("DeadlineExceeded", "Evicted"):
            return self.publish("Failed")
        codes = [s["state"]["terminated"]["exitCode"] for s in self.statuses.values()]
        self.publish("Succeeded" if all(code == 0 for code in codes) else "Failed")

    def prepare(self) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, str]]] | None:
        """Volumes and env for every container; waits (as kubelet does) while something is missing."""
        reported = None
        while not self.stopping.is_set():
            try:
                volumes = self.prepare_volumes()
                all_containers = self.pod["spec"].get("initContainers", []) + self.pod["spec"]["containers"]
                mounts = {c["name"]: self.mounts_for(c, volumes) for c in all_containers}
                envs = {c["name"]: self.env_for(c) for c in all_containers}
                for container in all_containers:
                    self.security_for(container)
                return mounts, envs
            except ConfigError as error:
                if reported != error.message:
                    reported = error.message
                    self.agent.event(self.rest, self.pod, error.reason, error.message, "Warning")
                    for statuses in (self.init_statuses, self.statuses):
                        for status in statuses.values():
                            status["state"] = {"waiting": {"reason": error.reason,
                                                           "message": error.message}}
                    self.publish("Pending")
                if self.deadline_passed():
                    self.reason = "DeadlineExceeded"
                    self.publish("Failed")
                    return None
                self.stopping.wait(1.0)
        return None

    def run_container(self, container: dict[str, Any], mounts: dict[str, list[dict[str, Any]]],
                      envs: dict[str, dict[str, str]], statuses: dict[str, dict[str, Any]]) -> int:
        name = container["name"]
        policy = self.pod["spec"].get("restartPolicy", "Always")
        restarts = 0
        backoff = 1.0
        while True:
            code = self.run_once(container, mounts[name], envs[name], statuses, restarts)
            if self.stopping.is_set() or self.reason in ("DeadlineExceeded", "Evicted"):
                return code
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                return code
            restarts += 1
            statuses[name]["lastState"] = {"terminated": statuses[name]["state"]["terminated"]}
            statuses[name]["state"] = {"waiting": {"reason": "CrashLoopBackOff",
                                                   "message": f"back-off {backoff:.0f}s restarting"}}
            statuses[name]["restartCount"] = restarts
            self.publish("Running")
            if self.stopping.wait(backoff):
                return code
            backoff = min(backoff * 2, 10.0)

    def run_once(self, container: dict[str, Any], mounts: list[dict[str, Any]], env: dict[str, str],
                 statuses: dict[str, dict[str, Any]], restarts: int) -> int:
        name = container["name"]
        argv = expand_args(container.get("command", []) + container.get("args", []), env)
        termination_file = self.dir / "termination" / name
        termination_file.parent.mkdir(parents=True, exist_ok=True)
        termination_file.write_text("")
        termination_file.chmod(0o666)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_file = self.log_dir / f"{name}.log"
        uid, gid, groups = self.security_for(container)
        started_at = now()
        if not argv:
            return self.terminated(statuses, container, 128, "StartError",
                                   "the harness runs containers' command/args only; none given",
                                   started_at, restarts)
        exec_spec = {
            "argv": argv, "env": env, "cwd": container.get("workingDir"),
            "uid": uid, "gid": gid, "groups": groups,
            "mounts": [*self.agent.image_mounts, *mounts, {"source": str(termination_file),
                                 "target": container.get("terminationMessagePath",
                                                         "/dev/termination-log")}],
        }
        spec_file = self.dir / f"exec-{name}.json"
        spec_file.write_text(json.dumps(exec_spec))
        spec_file.chmod(0o600)
        with log_file.open("ab") as output:
            process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--",
                 sys.executable, "-m", "harness.podexec", str(spec_file)],
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={"PATH": os.environ["PATH"], "PYTHONPATH": str(TESTS_DIR)})
        self.processes[name] = process
        statuses[name].update(ready=True, started=True, restartCount=restarts,
                              containerID=f"harness://{process.pid}",
                              state={"running": {"startedAt": started_at}})
        if container in self.pod["spec"]["containers"]:
            self.publish("Running")
        self.agent.event(self.rest, self.pod, "Started", f"Started container {name}", "Normal")

        killed_at: float | None = None
        next_usage_check = time.monotonic() + 1.0
        while process.poll() is None:
            if killed_at is None and time.monotonic() >= next_usage_check:
                next_usage_check = time.monotonic() + 1.0
                if self.over_empty_dir_limit():
                    self.agent.event(self.rest, self.pod, "Evicted", self.message or "", "Warning")
                    killed_at = time.monotonic()
                    self.grace = min(self.grace, EVICTION_GRACE_SECONDS)
                    self.signal(process, signal.SIGTERM)
            if self.stopping.is_set() and killed_at is None:
                self.agent.event(self.rest, self.pod, "Killing", f"Stopping container {name}",
                                 "Normal")
                killed_at = time.monotonic()
                self.signal(process, signal.SIGTERM)
            if killed_at is not None and time.monotonic() - killed_at > self.grace:
                self.signal(process, signal.SIGKILL)
            if killed_at is None and self.deadline_passed():
                self.reason = "DeadlineExceeded"
                self.message = "Pod was active on the node longer than the specified deadline"
                self.agent.event(self.rest, self.pod, "DeadlineExceeded", self.message, "Normal")
                killed_at = time.monotonic()
                self.grace = min(self.grace, 5.0)
                self.signal(process, signal.SIGTERM)
            time.sleep(0.05)
        code = process.returncode
        if code < 0:
            code = 128 - code  # killed by signal N: the runtime reports 128+N
        message = termination_file.read_text(errors="replace")[:TERMINATION_MESSAGE_LIMIT]
        if not message and code != 0 and container.get(
                "terminationMessagePolicy") == "FallbackToLogsOnError":
            message = tail(log_file, 80, 2048)
        reason = "Completed" if code == 0 else "Error"
        return self.terminated(statuses, container, code, reason, message, started_at, restarts)

    def terminated(self, statuses: dict[str, dict[str, Any]], container: dict[str, Any], code: int,
                   reason: str, message: str, started_at: str, restarts: int) -> int:
        terminated: dict[str, Any] = {"exitCode": code, "reason": reason, "startedAt": started_at,
                                      "finishedAt": now()}
        if message:
            terminated["message"] = message
        statuses[container["name"]].update(ready=False, started=False, restartCount=restarts,
                                           state={"terminated": terminated})
        return code

    def over_empty_dir_limit(self) -> bool:
        """kubelet's local-storage eviction: an emptyDir past its sizeLimit evicts the pod (no ENOSPC)."""
        for volume in self.pod["spec"].get("volumes") or []:
            limit = (volume.get("emptyDir") or {}).get("sizeLimit")
            if not limit:
                continue
            used = disk_usage(self.dir / "volumes" / volume["name"])
            if used > quantity_bytes(str(limit)):
                self.reason = "Evicted"
                self.message = f'Usage of EmptyDir volume "{volume["name"]}" exceeds the limit "{limit}". '
                return True
        return False

    @staticmethod
    def signal(process: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)

    def deadline_passed(self) -> bool:
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        return deadline is not None and time.monotonic() - self.started_monotonic > deadline

    def finish_deleted(self) -> None:
        for statuses in (self.init_statuses, self.statuses):
            for status in statuses.values():
                if "terminated" not in status["state"]:
                    status.update(ready=False, state={"terminated": {
                        "exitCode": 137, "reason": "ContainerStatusUnknown",
                        "message": "The container was stopped before it ran", "finishedAt": now()}})
        phase = "Failed" if any(s["state"]["terminated"]["exitCode"] != 0
                                for s in self.statuses.values()) else "Succeeded"
        with contextlib.suppress(ApiError):
            self.publish(phase)
        self.agent.finalize_deletion(self.pod)

    # -- status -------------------------------------------------------------------

    @staticmethod
    def waiting(container: dict[str, Any], reason: str, message: str) -> dict[str, Any]:
        state: dict[str, Any] = {"reason": reason}
        if message:
            state["message"] = message
        return {"name": container["name"], "image": container.get("image", ""), "imageID": "",
                "ready": False, "started": False, "restartCount": 0, "state": {"waiting": state}}

    def publish(self, phase: str) -> None:
        with self.status_lock:
            running = phase == "Running"
            all_ready = running and all(s.get("ready") for s in self.statuses.values())
            initialized = all("terminated" in s["state"] and s["state"]["terminated"]["exitCode"] == 0
                              for s in self.init_statuses.values())
            stamp = now()

            def condition(kind: str, value: bool) -> dict[str, str]:
                return {"type": kind, "status": "True" if value else "False",
                        "lastTransitionTime": stamp}
            status: dict[str, Any] = {
                "phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
                "hostIPs": [{"ip": "127.0.0.1"}], "podIPs": [{"ip": "127.0.0.1"}],
                "startTime": self.start_time,
                "conditions": [condition("PodScheduled", True), condition("Initialized", initialized),
                               condition("ContainersReady", all_ready), condition("Ready", all_ready)],
                "containerStatuses": list(self.statuses.values()),
            }
            if self.reason == "Evicted":
                status["conditions"].append({**condition("DisruptionTarget", True),
                                             "reason": "TerminationByKubelet", "message": self.message or ""})
            if self.init_statuses:
                status["initContainerStatuses"] = list(self.init_statuses.values())
            if self.reason:
                status["reason"] = self.reason
            if self.message:
                status["message"] = self.message
            try:
                self.rest.merge_patch(pod_path(self.pod, "/status"), {"status": status})
                self.terminal_published = phase in ("Succeeded", "Failed")
            except ApiError as error:
                if error.status != 404:
                    raise

    # -- volumes, env, security -----------------------------------------------------

    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    def get_data(self, kind: str, name: str, optional: bool, volume: str | None = None
                 ) -> dict[str, bytes] | None:
        path = {"secret": "secrets", "configmap": "configmaps"}[kind]
        try:
            obj = self.rest.get(f"/api/v1/namespaces/{self.namespace()}/{path}/{name}")
        except ApiError as error:
            if error.status == 404:
                if optional:
                    return None
                if volume:
                    raise ConfigError("FailedMount", f'MountVolume.SetUp failed for volume "{volume}" : '
                                                     f'{kind} "{name}" not found') from None
                raise ConfigError("CreateContainerConfigError", f'{kind} "{name}" not found') from None
            raise
        if kind == "secret":
            return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return data

    def write_items(self, directory: Path, data: dict[str, bytes], items: list[dict[str, Any]] | None,
                    mode: int, what: str) -> None:
        chosen = items or [{"key": key, "path": key} for key in data]
        for item in chosen:
            if item["key"] not in data:
                raise ConfigError("FailedMount", f"couldn't find key {item['key']} in {what}")
            target = directory / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data[item["key"]])
            self.own(target, item.get("mode", mode))

    def own(self, path: Path, mode: int) -> None:
        """kubelet's volume ownership: files belong to the pod's fsGroup, so a non-root
        container can read a 0440 secret."""
        fs_group = (self.pod["spec"].get("securityContext") or {}).get("fsGroup")
        if fs_group is not None:
            os.chown(path, 0, int(fs_group))
        path.chmod(mode)

    def field_value(self, field_path: str) -> str:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        simple = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"],
                  "metadata.uid": meta["uid"], "spec.nodeName": self.agent.name,
                  "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
                  "status.hostIP": "127.0.0.1", "status.podIP": "127.0.0.1",
                  "status.podIPs": "127.0.0.1", "status.hostIPs": "127.0.0.1"}
        if field_path in simple:
            return str(simple[field_path])
        match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", field_path)
        if match:
            return str((meta.get(match[1]) or {}).get(match[2], ""))
        raise ConfigError("CreateContainerConfigError", f"unsupported fieldRef {field_path}")

    def service_account_token(self, source: dict[str, Any]) -> bytes:
        meta = self.pod["metadata"]
        account = self.pod["spec"].get("serviceAccountName", "default")
        body: dict[str, Any] = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "expirationSeconds": source.get("expirationSeconds", 3607),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                               "uid": meta["uid"]}}}
        if source.get("audience"):
            body["spec"]["audiences"] = [source["audience"]]
        path = f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token"
        for attempt in range(TOKEN_ATTEMPTS):
            try:
                result = self.rest.post(path, body)
                return str(result["status"]["token"]).encode()
            except ApiError as error:
                # the node authorizer learns of a pod's binding from its own watch, which lags
                # under load: "no relationship found" until then; a kubelet retries
                if error.status != 403 or "no relationship found" not in str(error) or \
                        attempt == TOKEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def prepare_volumes(self) -> dict[str, Path]:
        volumes: dict[str, Path] = {}
        for volume in self.pod["spec"].get("volumes") or []:
            name = volume["name"]
            directory = self.dir / "volumes" / name
            directory.mkdir(parents=True, exist_ok=True)
            if "secret" in volume or "configMap" in volume:
                kind = "secret" if "secret" in volume else "configmap"
                source = volume.get("secret") or volume.get("configMap") or {}
                object_name = str(source.get("secretName") or source.get("name"))
                data = self.get_data(kind, object_name, source.get("optional", False), name)
                if data is not None:
                    self.write_items(directory, data, source.get("items"),
                                     source.get("defaultMode", 0o644), f"{kind} {object_name}")
            elif "emptyDir" in volume:
                directory.chmod(0o777)
            elif "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                directory = self.agent.root / "pvcs" / self.namespace() / claim
                directory.mkdir(parents=True, exist_ok=True)
                directory.chmod(0o777)
            elif "projected" in volume:
                self.write_projected(directory, volume["projected"])
            elif "downwardAPI" in volume:
                self.write_projected(directory, {"sources": [{"downwardAPI": volume["downwardAPI"]}],
                                                 "defaultMode": volume["downwardAPI"].get("defaultMode")})
            elif "hostPath" in volume:
                directory = Path(volume["hostPath"]["path"])
            else:
                raise ConfigError("FailedMount", f'volume "{name}": type not supported by the harness')
            volumes[name] = directory
        return volumes

    def write_projected(self, directory: Path, projected: dict[str, Any]) -> None:
        mode = projected.get("defaultMode") or 0o644
        for source in projected.get("sources", []):
            if "serviceAccountToken" in source:
                token = source["serviceAccountToken"]
                target = directory / token["path"]
                target.write_bytes(self.service_account_token(token))
                self.own(target, mode)
            elif "secret" in source or "configMap" in source:
                kind = "secret" if "secret" in source else "configmap"
                ref = source.get("secret") or source.get("configMap") or {}
                data = self.get_data(kind, ref["name"], ref.get("optional", False), "projected")
                if data is not None:
                    self.write_items(directory, data, ref.get("items"), mode, f"{kind} {ref['name']}")
            elif "downwardAPI" in source:
                for item in source["downwardAPI"].get("items", []):
                    target = directory / item["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(self.field_value(item["fieldRef"]["fieldPath"]))
                    target.chmod(item.get("mode", mode))

    def mounts_for(self, container: dict[str, Any], volumes: dict[str, Path]) -> list[dict[str, Any]]:
        mounts = []
        read_only_kinds = {v["name"] for v in self.pod["spec"].get("volumes") or []
                           if {"secret", "configMap", "projected", "downwardAPI"} & set(v)}
        for mount in container.get("volumeMounts", []):
            source = volumes[mount["name"]]
            if mount.get("subPath"):
                source = source / mount["subPath"]
                if not source.exists():
                    source.mkdir(parents=True)
            mounts.append({"source": str(source), "target": mount["mountPath"],
                           "readOnly": mount.get("readOnly", False) or mount["name"] in read_only_kinds})
        return mounts

    def env_for(self, container: dict[str, Any]) -> dict[str, str]:
        uid, _, _ = self.security_for(container)
        env = {
            "PATH": self.agent.container_path, "HOSTNAME": self.pod["metadata"]["name"],
            "HOME": "/root" if not uid else "/",
            "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.agent.api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.agent.api_port),
            "KUBERNETES_PORT": f"tcp://127.0.0.1:{self.agent.api_port}",
        }
        for source in container.get("envFrom", []):
            prefix = source.get("prefix", "")
            ref = source.get("secretRef") or source.get("configMapRef") or {}
            kind = "secret" if "secretRef" in source else "configmap"
            data = self.get_data(kind, ref["name"], ref.get("optional", False))
            for key, value in (data or {}).items():
                env[prefix + key] = value.decode(errors="replace")
        for item in container.get("env", []):
            if "valueFrom" not in item:
                env[item["name"]] = expand(item.get("value", ""), env)
                continue
            source = item["valueFrom"]
            if "secretKeyRef" in source or "configMapKeyRef" in source:
                kind = "secret" if "secretKeyRef" in source else "configmap"
                ref = source.get("secretKeyRef") or source.get("configMapKeyRef") or {}
                data = self.get_data(kind, ref["name"], ref.get("optional", False))
                if data is None:
                    continue
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise ConfigError("CreateContainerConfigError",
                                      f"couldn't find key {ref['key']} in {kind.capitalize()} "
                                      f"{self.namespace()}/{ref['name']}")
                env[item["name"]] = data[ref["key"]].decode(errors="replace")
            elif "fieldRef" in source:
                env[item["name"]] = self.field_value(source["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in source:
                resource = source["resourceFieldRef"]["resource"]  # e.g. limits.memory
                group, _, name = resource.partition(".")
                value = (container.get("resources", {}).get(group) or {}).get(name, "0")
                env[item["name"]] = str(value)
        return env

    def security_for(self, container: dict[str, Any]) -> tuple[int | None, int | None, list[int]]:
        pod_context = self.pod["spec"].get("securityContext") or {}
        context = {**pod_context, **(container.get("securityContext") or {})}
        uid, gid = context.get("runAsUser"), context.get("runAsGroup")
        if context.get("runAsNonRoot") and not uid:
            raise ConfigError("CreateContainerConfigError",
                              "container has runAsNonRoot and image will run as root "
                              f"(pod: \"{pod_key(self.pod)}\", container: {container['name']}); "
                              "the harness knows no image user: set runAsUser")
        groups = list(pod_context.get("supplementalGroups") or [])
        if pod_context.get("fsGroup") is not None:
            groups.append(pod_context["fsGroup"])
        if uid is not None and gid is None:
            gid = uid
        return uid, gid, groups


def quantity_bytes(text: str) -> int:
    match = re.match(r"^([0-9.]+)([KMGTPE]i|[kMGTPE])?$", text)
    if not match:
        raise ValueError(f"the harness cannot read the quantity {text!r}")
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9,
             "T": 10**12}
    return int(float(match[1]) * units.get(match[2] or "", 1))


def disk_usage(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: $$(VAR) escapes, unknown $(VAR) stays as is."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), value)


def expand_args(args: list[str], env: dict[str, str]) -> list[str]:
    return [expand(arg, env) for arg in args]


def tail(path: Path, lines: int, limit: int) -> str:
    try:
        text = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""
    return text[-limit:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Plays kubelet for one Node of the harness.")
    parser.add_argument("--node-kubeconfig", type=Path, required=True)
    parser.add_argument("--scheduler-kubeconfig", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--name", default="harness-node")
    parser.add_argument("--api-port", type=int, required=True)
    parser.add_argument("--image", type=Path, help="image.json: mounts and PATH every container gets")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    image = json.loads(args.image.read_text()) if args.image else None
    agent = NodeAgent(Rest(args.node_kubeconfig), Rest(args.scheduler_kubeconfig), args.name,
                      args.root, args.api_port, image)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop.set())
    agent.run()


if __name__ == "__main__":
    main()
