"""Starts etcd, kube-apiserver and kube-controller-manager on loopback.

RBAC and Node authorization are on, service-account tokens are issued by the
apiserver, and the controllers that backups rely on (jobs, garbage collection,
namespaces, service accounts, the root CA publisher, TTL after finished) run for real.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .pki import CertificateAuthority, CertPair, service_account_keys

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = Path(__file__).with_name("build-controlplane.sh")
NODE_NAME = "harness-node"
CONTROLLERS = ",".join(f"{name}-controller" for name in [
    "job", "garbage-collector", "namespace", "serviceaccount", "root-ca-certificate-publisher",
    "ttl-after-finished", "pod-garbage-collector", "deployment", "replicaset",
    "clusterrole-aggregation",
])

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60, interval: float = 0.1) -> T:
    """Polls check() until it returns something truthy; raises with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # the thing may not be up yet
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}"
                       + (f" (last error: {last_error})" if last_error else ""))


def binaries_dir() -> Path:
    """Folder with etcd, kube-apiserver, kube-controller-manager and kubectl; builds if needed."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE,
                            text=True)
    return Path(result.stdout.strip().splitlines()[-1])


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    argv: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check(self) -> None:
        """Raises with the end of its log if the process has exited: waits fail fast."""
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")

    def stop(self, grace: float = 10) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        except ProcessLookupError:
            pass

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started it dies, so a killed test
    run never leaves a control plane behind."""
    import ctypes
    import signal as signals

    ctypes.CDLL(None).prctl(1, signals.SIGTERM)  # PR_SET_PDEATHSIG


def start_process(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None,
                  cwd: Path | None = None) -> Process:
    handle = log.open("ab")
    popen = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent)
    handle.close()
    return Process(name, popen, log)


def write_kubeconfig(path: Path, server: str, ca: Path, *, user: str,
                     cert: CertPair | None = None, token: str | None = None,
                     namespace: str | None = None) -> Path:
    credentials: dict[str, Any] = {}
    if cert:
        credentials = {"client-certificate": str(cert.cert), "client-key": str(cert.key)}
    if token:
        credentials = {"token": token}
    context: dict[str, Any] = {"cluster": "harness", "user": user}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "harness",
        "clusters": [{"name": "harness", "cluster": {"server": server,
                                                      "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "harness", "context": context}],
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class ControlPlane:
    """One local cluster in `workdir`; start() returns once the API answers."""

    workdir: Path
    bin_dir: Path = field(default_factory=binaries_dir)
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pki_dir = self.workdir / "pki"
        self.logs = self.workdir / "logs"
        self.logs.mkdir(exist_ok=True)
        self.api_port = free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> ControlPlane:
        self.ca = CertificateAuthority(self.pki_dir)
        serving = self.ca.issue("apiserver", "kube-apiserver", server=True,
                                hosts=("127.0.0.1", "localhost", "kubernetes", "kubernetes.default",
                                       "kubernetes.default.svc",
                                       "kubernetes.default.svc.cluster.local", "10.0.0.1"))
        sa_keys = service_account_keys(self.pki_dir)
        self.admin_kubeconfig = self._client_kubeconfig("admin", "harness-admin", ("system:masters",))
        kcm_kubeconfig = self._client_kubeconfig("kcm", "system:kube-controller-manager")
        self.node_kubeconfig = self._client_kubeconfig(
            "node", f"system:node:{NODE_NAME}", ("system:nodes",))
        self.scheduler_kubeconfig = self._client_kubeconfig("scheduler", "system:kube-scheduler")

        etcd_port, etcd_peer = free_port(), free_port()
        etcd = self._start("etcd", [
            "etcd", "--data-dir", str(self.workdir / "etcd"), "--name", "harness",
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"harness=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync", "--log-level", "warn",
        ])
        wait_for("etcd", lambda: self._port_open(etcd_port) or self._died(etcd), timeout=30)

        apiserver = self._start("kube-apiserver", [
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            # a loopback address may not back the kubernetes Service; pods get the
            # apiserver's address from the node agent instead
            "--endpoint-reconciler-type=none",
            f"--secure-port={self.api_port}",
            f"--cert-dir={self.pki_dir}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={self.ca.cert_path}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa_keys.cert}",
            f"--service-account-signing-key-file={sa_keys.key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=false", "--profiling=false", "--event-ttl=1h",
            "--v=1",
        ])
        wait_for("kube-apiserver /readyz", lambda: self._readyz() or self._died(apiserver), timeout=90)

        self._start("kube-controller-manager", [
            "kube-controller-manager",
            f"--kubeconfig={kcm_kubeconfig}",
            f"--authentication-kubeconfig={kcm_kubeconfig}",
            f"--authorization-kubeconfig={kcm_kubeconfig}",
            f"--secure-port={free_port()}", "--bind-address=127.0.0.1",
            "--leader-elect=false", "--use-service-account-credentials=true",
            f"--controllers={CONTROLLERS}",
            f"--root-ca-file={self.ca.cert_path}",
            f"--service-account-private-key-file={sa_keys.key}",
            "--kube-api-qps=200", "--kube-api-burst=400", "--concurrent-job-syncs=10",
            "--v=1",
        ])
        # the serviceaccount controller creating "default" is a sign the controllers run
        wait_for("kube-controller-manager (default ServiceAccount)",
                 lambda: self.kubectl("get", "serviceaccount", "default", "-n", "default",
                                      check=False).returncode == 0, timeout=90, interval=0.3)
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers --------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, kubeconfig: Path | None = None,
                check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig or self.admin_kubeconfig}",
             *args], input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path,
                                   duration: str = "24h") -> Path:
        """A kubeconfig that acts as a ServiceAccount, with a token the apiserver issued."""
        token = self.kubectl("create", "token", name, "-n", namespace,
                             f"--duration={duration}").stdout.strip()
        return write_kubeconfig(path, self.server, self.ca.cert_path,
                                user=f"{namespace}-{name}", token=token, namespace=namespace)

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.admin_kubeconfig)}

    def _client_kubeconfig(self, name: str, common_name: str,
                           organizations: tuple[str, ...] = ()) -> Path:
        pair = self.ca.issue(name, common_name, organizations=organizations, client=True)
        return write_kubeconfig(self.pki_dir / f"{name}.kubeconfig", self.server,
                                self.ca.cert_path, user=common_name, cert=pair)

    def _start(self, name: str, argv: list[str]) -> Process:
        argv = [str(self.bin_dir / argv[0]), *argv[1:]]
        process = start_process(name, argv, self.logs / f"{name}.log")
        process.argv = argv
        self.processes.append(process)
        return process

    def outage(self, name: str, seconds: float) -> None:
        """Stops one of the control plane's processes (etcd, kube-apiserver, ...), keeping its
        data, and starts it again after `seconds`; returns once the API answers again."""
        index, process = next((i, p) for i, p in enumerate(self.processes) if p.name == name)
        process.stop()
        time.sleep(seconds)
        again = start_process(name, process.argv, process.log)
        again.argv = process.argv
        self.processes[index] = again
        wait_for(f"{name} back", lambda: self._readyz() or self._died(again), timeout=120, interval=0.5)

    @staticmethod
    def _died(process: Process) -> bool:
        process.check()
        return False

    @staticmethod
    def _port_open(port: int) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    def _readyz(self) -> bool:
        return self.kubectl("get", "--raw=/readyz", check=False, timeout=10).returncode == 0
