"""The whole local environment: control plane, node agent, CRDs, and the operator.

The operator runs as a local process with a token of its own ServiceAccount, bound
by deploy/'s RBAC, never as cluster admin. Everything in deploy/ but its Deployment is
applied at start; the Deployment itself is run (as a pod of the node agent, which maps
its image to this machine's executables) by tests/integration/test_deploy_options.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .cluster import NODE_NAME, REPO_ROOT, ControlPlane, Process, free_port, start_process, wait_for
from .image import build_image
from .rest import Rest

OPERATOR_NAMESPACE = "bosh-backup-system"
OPERATOR_ACCOUNT = "bosh-backup-operator"
# run only in the harness: what deploy/ says runs in-cluster
NOT_APPLIED_KINDS = {"Deployment"}


def venv_bin(name: str) -> str:
    """A console script of this project, next to the running interpreter."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


@dataclass
class Harness:
    workdir: Path
    operator_env: dict[str, str] = field(default_factory=dict)
    operator: Process | None = None
    node_agent: Process | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.plane = ControlPlane(self.workdir)
        self.node_root = self.workdir / "node"

    # -- lifecycle --------------------------------------------------------------

    def start(self, *, operator: bool = True) -> Harness:
        self.plane.start()
        self.admin = Rest(self.plane.admin_kubeconfig)
        self.start_node_agent()
        self.install()
        if operator:
            self.start_operator()
        return self

    def stop(self) -> None:
        for process in (self.operator, self.node_agent):
            if process:
                process.stop()
        self.plane.stop()

    def start_node_agent(self) -> None:
        self.node_root.mkdir(exist_ok=True)
        image = build_image(self.workdir / "image")
        self.node_agent = start_process("node-agent", [
            sys.executable, "-m", "harness.nodeagent",
            f"--node-kubeconfig={self.plane.node_kubeconfig}",
            f"--scheduler-kubeconfig={self.plane.scheduler_kubeconfig}",
            f"--root={self.node_root}", f"--name={NODE_NAME}", f"--api-port={self.plane.api_port}",
            f"--image={image}",
        ], self.plane.logs / "node-agent.log", env=self.child_env())
        wait_for("the node agent's Node to be Ready", self.node_ready, timeout=60)

    def node_ready(self) -> bool:
        if self.node_agent:
            self.node_agent.check()
        node = self.admin.get(f"/api/v1/nodes/{NODE_NAME}")
        return any(c["type"] == "Ready" and c["status"] == "True"
                   for c in node.get("status", {}).get("conditions", []))

    def install(self) -> None:
        """CRDs and deploy/ (but its Deployment) as a user's `kubectl apply -k deploy/` would."""
        rendered = self.plane.kubectl("kustomize", str(REPO_ROOT / "deploy")).stdout
        documents = [d for d in yaml.safe_load_all(rendered)
                     if d and d.get("kind") not in NOT_APPLIED_KINDS]
        self.plane.kubectl("apply", "--server-side", "-f", "-",
                           input=yaml.safe_dump_all(documents))
        self.plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                           "crd", "-l", "app.kubernetes.io/part-of=bosh-backup-operator")

    def child_env(self, **extra: str) -> dict[str, str]:
        python_path = os.pathsep.join([str(REPO_ROOT / "tests"), str(REPO_ROOT / "operator")])
        bin_dir = str(Path(sys.executable).parent)
        return {**os.environ, "PYTHONPATH": python_path,
                "PATH": f"{bin_dir}{os.pathsep}{self.plane.bin_dir}{os.pathsep}{os.environ['PATH']}",
                **extra}

    # -- the operator -------------------------------------------------------------

    def start_operator(self, *args: str) -> Process:
        self.operator, self.liveness_port, self.metrics_port = self.launch_operator("operator", *args)
        return self.operator

    def launch_operator(self, label: str, *args: str, account: str = OPERATOR_ACCOUNT,
                        env: dict[str, str] | None = None) -> tuple[Process, int, int]:
        """An operator process acting as `account` (a ServiceAccount of the operator's
        namespace), logging to logs/<label>.log; returns it with its liveness and metrics ports."""
        kubeconfig = self.plane.service_account_kubeconfig(
            OPERATOR_NAMESPACE, account, self.workdir / f"{label}.kubeconfig")
        liveness_port, metrics_port = free_port(), free_port()
        process = start_process(label, [
            venv_bin("bosh-backup-operator"),
            f"--liveness=http://127.0.0.1:{liveness_port}/healthz", f"--metrics-port={metrics_port}",
            *args,
        ], self.plane.logs / f"{label}.log",
            # as deploy/'s Deployment sets it: the directors' Leases in the operator's namespace
            env=self.child_env(KUBECONFIG=str(kubeconfig), BOSH_BACKUP_LOCK_NAMESPACE=OPERATOR_NAMESPACE,
                               **self.operator_env, **(env or {})))
        wait_for(f"{label}'s liveness endpoint", lambda: answers(process, liveness_port), timeout=60, interval=0.2)
        return process, liveness_port, metrics_port

    def operator_alive(self) -> bool:
        if not self.operator:
            raise RuntimeError("the operator is not running")
        return answers(self.operator, self.liveness_port)

    def stop_operator(self) -> None:
        if self.operator:
            self.operator.stop()
            self.operator = None

    def kill_operator(self) -> None:
        """SIGKILL, as an OOM kill or a node crash ends it: no handler runs."""
        if self.operator:
            os.killpg(self.operator.popen.pid, signal.SIGKILL)
            self.operator.popen.wait()
            self.operator = None

    # -- conveniences for tests and people ---------------------------------------

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.plane.kubectl(*args, **kwargs)

    def apply(self, manifest: dict[str, Any] | str, *, check: bool = True
              ) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self.kubectl("apply", "-f", "-", input=text, check=check)

    def create_namespace(self, name: str, pod_security: str = "restricted") -> str:
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": name, "labels": {"pod-security.kubernetes.io/enforce": pod_security}}})
        wait_for(f"ServiceAccount default in {name}",
                 lambda: self.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
                 timeout=30)
        return name

    def container_log(self, namespace: str, pod: str, container: str) -> str:
        for folder in (self.node_root / "logs").glob(f"{namespace}_{pod}_*"):
            log_file = folder / f"{container}.log"
            if log_file.exists():
                return log_file.read_text(errors="replace")
        return ""

    def print_usage(self) -> None:
        print(f"""
The local control plane is running (Kubernetes {self.plane.bin_dir.name.split('-')[-1]}).

  export KUBECONFIG={self.plane.admin_kubeconfig}
  export PATH={self.plane.bin_dir}:$PATH      # kubectl built with the control plane
  kubectl get crd -l app.kubernetes.io/part-of=bosh-backup-operator
  kubectl get nodes
  kubectl api-resources --categories=bosh-backup
  kubectl explain director.spec

Logs: {self.plane.logs} (operator.log, node-agent.log, kube-apiserver.log, ...)
Container output: {self.node_root / 'logs'}
""")


def wipe(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def wait_forever(harness: Harness, *others: Process) -> None:
    """Until a signal (Ctrl-C, SIGTERM, SIGHUP) or a process's death; the caller then stops
    everything it started: without this, SIGTERM ended Python before its `finally` ran."""
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda signum, _frame: stop.set())
    while not stop.wait(1):
        for process in (harness.operator, harness.node_agent, *harness.plane.processes, *others):
            if process and not process.alive():
                print(f"{process.name} exited; see {process.log}", file=sys.stderr)
                return
    print("Stopping everything that was started ...", flush=True)


def answers(process: Process, liveness_port: int) -> bool:
    """Whether an operator process is up and its liveness endpoint says so."""
    process.check()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{liveness_port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
