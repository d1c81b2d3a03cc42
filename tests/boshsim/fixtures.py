"""Start, seed, break and replace simulated directors; find the real bosh and bbr, and
install the one stand-in left (the retired Ruby CLI v1)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from harness.cluster import Process, free_port, start_process, wait_for
from harness.pki import CertificateAuthority

from .state import BBR_LOCK_DIR, DirectorState, Iaas, make_release, make_stemcell, sha1_file
from .vm import DirectorVm

TESTS_DIR = Path(__file__).resolve().parents[1]


@functools.cache
def real_tools() -> tuple[Path, Path]:
    """A folder with the real `bosh` and `bbr` (tests/harness/build-bosh-tools.sh builds
    them once and caches them; here that is a look-up)."""
    folders = subprocess.run(["bash", str(TESTS_DIR / "harness" / "build-bosh-tools.sh")], check=True,
                             capture_output=True, text=True).stdout.strip().split(":")
    return Path(folders[0]), Path(folders[1])


def place_tool(source: Path, target: Path) -> None:
    """A real tool's binary at `target`: a hard link to the cached build, a copy across disks."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def install_clis(bin_dir: Path) -> Path:
    """`bin_dir` with the real bosh and bbr, and the CLI v1 stand-in as `bosh1`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    bosh_dir, bbr_dir = real_tools()
    for source in (bosh_dir / "bosh", bbr_dir / "bbr"):
        place_tool(source, bin_dir / source.name)
    script = bin_dir / "bosh1"
    script.write_text(f"#!/bin/sh\nPYTHONPATH={TESTS_DIR}${{PYTHONPATH:+:$PYTHONPATH}} "
                      f"exec {sys.executable} -m boshsim.cli_v1 \"$@\"\n")
    script.chmod(0o755)
    return bin_dir


@dataclass
class Credentials:
    """What a director's vars-store would hold: a fresh director deployed from it gets the same."""
    client: str = "admin"
    client_secret: str = field(default_factory=lambda: secrets.token_hex(12))
    ssh_user: str = "jumpbox"
    ssh_private_key: bytes = field(default_factory=lambda: ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))

    @property
    def ssh_public_key(self) -> str:
        key = serialization.load_ssh_private_key(self.ssh_private_key, password=None)
        return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH).decode()


@dataclass
class SimulatedDirector:
    root: Path
    iaas_file: Path
    ca: CertificateAuthority
    name: str = "sim-director"
    mode: str = "uaa"            # "basic" for a CLI v1 director
    credentials: Credentials = field(default_factory=Credentials)
    port: int = field(default_factory=free_port)
    ssh_port: int = field(default_factory=free_port)
    vm_started: bool = field(default=False, init=False)
    process: Process | None = None

    def __post_init__(self) -> None:
        self.state_dir = self.root / "state"
        self.state = DirectorState(self.state_dir, self.name)
        self.iaas = Iaas(self.iaas_file)
        self.cert = self.ca.issue(f"director-{self.port}", "bosh-director", server=True,
                                  hosts=("127.0.0.1", "localhost"))
        self.ssh_key_file = self.root / "ssh-key"
        self.ssh_key_file.write_bytes(self.credentials.ssh_private_key)
        self.ssh_key_file.chmod(0o600)
        (self.state_dir / "auth.json").write_text(json.dumps({
            "mode": self.mode, "url": self.url,
            "clients": {self.credentials.client: self.credentials.client_secret},
            "users": {self.credentials.client: self.credentials.client_secret}}))
        self.vm = DirectorVm(self.root / "vm", self.state.vm / "var" / "vcap", self.state_dir, self.ssh_port,
                             self.credentials.ssh_user, self.credentials.ssh_public_key)
        admin_token = self.state_dir / "admin-token"
        if not admin_token.exists():
            admin_token.write_text(secrets.token_hex(16))
        self.admin_token = admin_token.read_text().strip()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ssh_host(self) -> str:
        return f"127.0.0.1:{self.ssh_port}"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> SimulatedDirector:
        """The director's API, and its VM's sshd."""
        self.process = start_process(f"director-{self.name}", [
            sys.executable, "-m", "boshsim.server", f"--state={self.state_dir}", f"--iaas={self.iaas_file}",
            f"--port={self.port}", f"--cert={self.cert.cert}",
            f"--key={self.cert.key}"], self.root / "server.log",
            env={**os.environ, "PYTHONPATH": str(TESTS_DIR)})
        wait_for(f"director {self.name} to answer", self._answers, timeout=30)
        for attempt in range(3):
            try:
                self.vm.start()
                break
            except TimeoutError:
                # free_port() only names a port that was free: under load, another process's
                # connection can take it before sshd binds it. Before anything knows the port
                # (the first start), a new one is as good; on a restart the test needs this one.
                if self.vm_started or attempt == 2 or "Address already in use" not in self.vm.log():
                    raise
                self.ssh_port = self.vm.port = free_port()   # vm.start writes its sshd_config anew
        self.vm_started = True
        return self

    def _answers(self) -> bool:
        if self.process:
            self.process.check()
        try:
            self.info()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        self.vm.stop()
        if self.process:
            self.process.stop()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        """The disaster: the director VM and its disk are gone (the IaaS and its VMs stay)."""
        self.stop()
        self.vm.release_immutable()
        shutil.rmtree(self.root, ignore_errors=True)

    def replacement(self, root: Path) -> SimulatedDirector:
        """A fresh, empty director deployed from the same vars-store at the same address."""
        return SimulatedDirector(root, self.iaas_file, self.ca, name=self.name, mode=self.mode,
                                 credentials=self.credentials, port=self.port, ssh_port=self.ssh_port)

    # -- talking to it --------------------------------------------------------------------

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.cert_path))

    def info(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/info", context=self.context(), timeout=5) as response:
            return dict(json.load(response))

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(f"{self.url}/_sim/{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"X-Sim-Admin": self.admin_token,
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.context(), timeout=30) as response:
            return json.load(response)

    def snapshot(self) -> dict[str, Any]:
        return dict(self.admin("GET", "snapshot"))

    def set_faults(self, **faults: Any) -> None:
        self.admin("PUT", "faults", faults)

    def cli_env(self) -> dict[str, str]:
        """The variables the bosh v2 CLI reads; secrets only ever travel this way."""
        return {"BOSH_ENVIRONMENT": self.url, "BOSH_CA_CERT": str(self.ca.cert_path),
                "BOSH_CLIENT": self.credentials.client, "BOSH_CLIENT_SECRET": self.credentials.client_secret}

    # -- faults that are states ----------------------------------------------------------------

    def leave_stale_bbr_lock(self) -> None:
        (self.state.vm / BBR_LOCK_DIR).mkdir(parents=True, exist_ok=True)

    def lose_blobs(self) -> None:
        for blob in self.state.blobs.iterdir():
            blob.unlink()

    def break_vm(self, vm_cid: str, *, missing: bool = False) -> None:
        with self.iaas.edit() as cloud:
            if missing:
                cloud["vms"].pop(vm_cid, None)
            else:
                cloud["vms"][vm_cid] = {"agent_responsive": False}

    # -- seeding ------------------------------------------------------------------------------

    def add_deployment(self, name: str, releases: list[tuple[str, str]], stemcell: tuple[str, str],
                       jobs: dict[str, int], processes: tuple[str, ...] = ("bpm",)) -> dict[str, Any]:
        instances = []
        ip = 10
        for job, count in jobs.items():
            for index in range(count):
                instance_id = secrets.token_hex(4) + "-" + secrets.token_hex(2)
                instances.append({
                    "job": job, "index": index, "id": instance_id, "az": f"z{index % 2 + 1}",
                    "ips": [f"10.244.{len(name)}.{ip}"], "vm_cid": f"vm-{secrets.token_hex(6)}",
                    "disk_cid": f"disk-{secrets.token_hex(6)}", "agent_id": secrets.token_hex(8),
                    "vm_type": "default",
                    "processes": [{"name": p, "state": "running"} for p in (*processes, f"{job}-server")]})
                ip += 1
        deployment = {"name": name, "releases": [{"name": n, "version": v} for n, v in releases],
                      "stemcells": [{"name": stemcell[0], "version": stemcell[1]}], "instances": instances}
        return dict(self.admin("POST", "deployments", deployment))


class ArtifactServer:
    """Serves stemcell and release tarballs over HTTP, as bosh.io does."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: Path) -> str:
        return f"http://127.0.0.1:{self.port}/{path.relative_to(self.folder)}"

    def stemcell(self, name: str, version: str, size: int = 4096) -> tuple[str, str]:
        path = make_stemcell(self.folder, name, version, size=size)
        return self.url(path), sha1_file(path)

    def release(self, name: str, version: str, size: int = 4096) -> tuple[str, str]:
        path = make_release(self.folder, name, version, size=size)
        return self.url(path), sha1_file(path)

    def close(self) -> None:
        self.server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def bosh(bin_dir: Path, director: SimulatedDirector, *args: str, name: str = "bosh",
         check: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the real bosh CLI (or the v1 stand-in) against a director, secrets in the environment."""
    result = subprocess.run([str(bin_dir / name), *args], capture_output=True, text=True, timeout=120,
                            env={**os.environ, **director.cli_env(), **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"bosh {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def bbr(bin_dir: Path, director: SimulatedDirector, *args: str, key: Path | None = None,
        user: str | None = None, host: str | None = None, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Runs the real bbr against a director's VM over SSH."""
    argv = [str(bin_dir / "bbr"), "director", "--host", host or director.ssh_host,
            "--username", user or director.credentials.ssh_user,
            "--private-key-path", str(key or director.ssh_key_file), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)


def seed(director: SimulatedDirector, artifacts: ArtifactServer, bin_dir: Path) -> dict[str, Any]:
    """A director with three deployments, two stemcells (one unused) and four releases."""
    stemcells = [("bosh-warden-boshlite-ubuntu-jammy-go_agent", "1.700"),
                 ("bosh-warden-boshlite-ubuntu-jammy-go_agent", "1.650")]
    releases = [("nginx", "1.25.3"), ("postgres", "48"), ("bpm", "1.2.19"), ("redis", "7.2")]
    sources: dict[str, Any] = {"stemcells": [], "releases": []}
    for name, version in stemcells:
        url, sha1 = artifacts.stemcell(name, version)
        bosh(bin_dir, director, "upload-stemcell", url, "--sha1", sha1, check=True)
        sources["stemcells"].append({"name": name, "version": version, "url": url, "sha1": sha1})
    for name, version in releases:
        url, sha1 = artifacts.release(name, version)
        bosh(bin_dir, director, "upload-release", url, "--sha1", sha1, check=True)
        sources["releases"].append({"name": name, "version": version, "url": url, "sha1": sha1})
    director.add_deployment("web", [("nginx", "1.25.3"), ("bpm", "1.2.19")], stemcells[0], {"web": 2})
    director.add_deployment("db", [("postgres", "48"), ("bpm", "1.2.19")], stemcells[0], {"postgres": 1})
    director.add_deployment("cache", [("redis", "7.2")], stemcells[0], {"redis": 3})
    state = director.state
    state.write("credhub.json", {"credentials": {"/sim/web/tls": "certificate", "/sim/db/password": "password"}})
    state.write("uaa.json", {"clients": {"admin": "client", "hm": "client"}})
    return sources
