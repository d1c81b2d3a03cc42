"""The simulated director's VM as bbr reaches it: a real OpenSSH server.

Debian's sshd listens on a loopback port inside a mount namespace of its own, where
the director's folder is bind-mounted at /var/vcap, and where /etc/passwd, group,
shadow and sudoers are this VM's own (the host's plus a `jumpbox` user admitted by
the director's SSH key, with passwordless sudo), so nothing on the host changes. The
jobs' bbr scripts (vmjobs.py) sit at /var/vcap/jobs/<job>/bin/bbr/.

    python -m boshsim.vm CONFIG.json     # run by DirectorVm under `unshare --mount`
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.cluster import Process, start_process, wait_for

from .vmjobs import JOB_SCRIPTS

TESTS_DIR = Path(__file__).resolve().parents[1]
SSHD = "/usr/sbin/sshd"
VM_USER_ID = 2950  # jumpbox's uid and gid inside the VM; nothing on the host owns files by it


def sshd_available() -> str | None:
    """Why the VM cannot start here, or None."""
    for tool in (SSHD, "/usr/bin/sudo", "/usr/bin/ssh-keygen"):
        if not Path(tool).exists():
            return f"{tool} is missing: install Debian's openssh-server and sudo (hack/setup.sh does)"
    return None


@dataclass
class DirectorVm:
    root: Path          # this VM's own files: host keys, config, account files
    vcap: Path          # the director's /var/vcap
    state_dir: Path     # the director's state, which the job scripts read and write
    port: int
    username: str
    public_key: str     # OpenSSH form, admitted in authorized_keys
    process: Process | None = field(default=None, repr=False)

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        host_key = self.root / "ssh_host_ed25519_key"
        if not host_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
        (self.root / "run-sshd").mkdir(mode=0o755, exist_ok=True)
        # sshd reads authorized_keys as the user, so it lives in the VM's own view (the
        # host path of this folder may be private to root)
        home = self.vcap / "jumpbox-home"
        (home / ".ssh").mkdir(parents=True, exist_ok=True)
        (home / ".ssh" / "authorized_keys").write_text(self.public_key.strip() + "\n")
        for path in (home, home / ".ssh", home / ".ssh" / "authorized_keys"):
            os.chown(path, VM_USER_ID, VM_USER_ID)
        etc = self.root / "etc"
        etc.mkdir(exist_ok=True)
        self._account_files(etc, "/var/vcap/jumpbox-home")
        (self.root / "sshd_config").write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", "PidFile none",
            "AuthorizedKeysFile .ssh/authorized_keys", "StrictModes no", "UsePAM no",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin no",
            f"AllowUsers {self.username}", "MaxSessions 64", "MaxStartups 64", "LogLevel VERBOSE", ""]))
        self._job_scripts()

    def _account_files(self, etc: Path, home: str) -> None:
        def host(name: str) -> str:
            text = Path("/etc", name).read_text()
            return text if text.endswith("\n") or not text else text + "\n"
        user, uid = self.username, VM_USER_ID
        (etc / "passwd").write_text(host("passwd") + f"{user}:x:{uid}:{uid}::{home}:/bin/bash\n")
        (etc / "group").write_text(host("group") + f"{user}:x:{uid}:\n")
        shadow = etc / "shadow"
        # '*' has no password but is not locked ('!'), so key authentication is allowed
        shadow.write_text(host("shadow") + f"{user}:*:19000:0:99999:7:::\n")
        shadow.chmod(0o640)
        sudoers = etc / "sudoers"
        sudoers.write_text("Defaults env_reset\n"
                           'Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\n'
                           "root ALL=(ALL:ALL) ALL\n"
                           f"{user} ALL=(ALL) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)

    def _job_scripts(self) -> None:
        python = os.path.realpath(sys.executable)
        site = [p for p in sys.path if p.endswith("site-packages")]
        python_path = os.pathsep.join([str(TESTS_DIR), *site])
        for job, scripts in JOB_SCRIPTS.items():
            folder = self.vcap / "jobs" / job / "bin" / "bbr"
            folder.mkdir(parents=True, exist_ok=True)
            for script in scripts:
                path = folder / script
                path.write_text(f"#!/bin/sh\nPYTHONPATH={python_path} exec {python} -m boshsim.vmjobs "
                                f"--state {self.state_dir} {job} {script}\n")
                path.chmod(0o755)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> DirectorVm:
        problem = sshd_available()
        if problem:
            raise RuntimeError(problem)
        self.prepare()
        config = self.root / "vm.json"
        config.write_text(json.dumps({
            "binds": [[str(self.vcap), "/var/vcap"], [str(self.root / "run-sshd"), "/run/sshd"],
                      *[[str(self.root / "etc" / name), f"/etc/{name}"]
                        for name in ("passwd", "group", "shadow", "sudoers")]],
            "argv": [SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")]}))
        self.process = start_process(f"sshd-{self.port}", [
            "unshare", "--mount", "--propagation", "private", "--",
            sys.executable, "-m", "boshsim.vm", str(config)], self.root / "sshd.log",
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(TESTS_DIR)})
        wait_for(f"sshd of the director VM on port {self.port}", self._listening, timeout=20)
        return self

    def log(self) -> str:
        path = self.root / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _listening(self) -> bool:
        if self.process:
            self.process.check()
        return "Server listening on" in (self.root / "sshd.log").read_text(errors="replace")

    def stop(self) -> None:
        """sshd and every session it started (they leave its process group)."""
        if not self.process:
            return
        namespace = _mount_namespace(self.process.popen.pid)
        self.process.stop(grace=5)
        if namespace:
            _kill_namespace(namespace)
        self.process = None

    def release_immutable(self) -> None:
        """Undo what a cleanup fault left (chattr +i), so the folder can be removed."""
        store = self.vcap / "store"
        if store.exists():
            subprocess.run(["chattr", "-R", "-i", str(store)], capture_output=True)


def _mount_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _kill_namespace(namespace: str) -> None:
    if namespace == _mount_namespace(os.getpid()):
        return
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _mount_namespace(int(entry.name)) == namespace:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def enter(config_file: Path) -> None:
    """Inside the new mount namespace: lay out the VM's view, then become sshd."""
    from harness.podexec import bind

    config = json.loads(config_file.read_text())
    for source, target in config["binds"]:
        bind(source, target, read_only=False)
    os.execv(config["argv"][0], config["argv"])


if __name__ == "__main__":
    if shutil.which("unshare") is None:
        sys.exit("unshare is missing")
    enter(Path(sys.argv[1]))
