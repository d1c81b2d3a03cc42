"""Record what the real bosh CLI and bbr print, for the parsers' unit tests.

Runs the real binaries (tests/harness/build-bosh-tools.sh) against a simulated
director and its VM's sshd, through every command and failure the operator meets,
and writes one JSON file per case: the argv (as run, without secrets), exit code,
stdout and stderr. The unit tests parse these files; when a tool's version changes,
run this again rather than editing a fixture by hand:

    PYTHONPATH=tests .venv/bin/python -m boshsim.capture tests/unit/real_output
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.cluster import free_port
from harness.pki import CertificateAuthority

from .fixtures import ArtifactServer, SimulatedDirector, bosh, install_clis, seed


class Recorder:
    def __init__(self, out: Path, scratch: Path):
        self.out, self.scratch = out, scratch
        out.mkdir(parents=True, exist_ok=True)

    def save(self, case: str, result: subprocess.CompletedProcess[str] | Any, argv: list[str]) -> None:
        def clean(text: str) -> str:  # stable across runs: no scratch paths
            return text.replace(str(self.scratch), "/scratch")
        record = {"case": case, "argv": [clean(a) for a in argv], "code": result.returncode,
                  "stdout": clean(result.stdout or ""), "stderr": clean(result.stderr or "")}
        (self.out / f"{case}.json").write_text(json.dumps(record, indent=1) + "\n")
        print(f"{case}: exit {result.returncode}", file=sys.stderr)

    def bosh(self, case: str, bin_dir: Path, director: SimulatedDirector, *args: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = bosh(bin_dir, director, *args, env=env)
        self.save(case, result, ["bosh", *args])
        return result

    def bbr(self, case: str, bin_dir: Path, director: SimulatedDirector, *args: str, key: Path | None = None,
            host: str | None = None, kill: int | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(bin_dir / "bbr"), "director", "--host", host or director.ssh_host,
                "--username", director.credentials.ssh_user,
                "--private-key-path", str(key or director.ssh_key_file), *args]
        cwd = self.scratch / "bbr-cwd"
        cwd.mkdir(exist_ok=True)
        if kill is None:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=cwd)
        else:  # a signal mid-copy, as a pod's deletion or an OOM kill would send
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
            time.sleep(1.5)
            process.send_signal(kill)
            stdout, stderr = process.communicate(timeout=60)
            result = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
        self.save(case, result, ["bbr", *argv[1:]])
        return result


def flip_data_byte(tar: Path) -> None:
    """Damage a file inside a tar, not its headers: what a bad disk or a bit flip does."""
    with tarfile.open(tar) as archive:
        member = next(m for m in archive.getmembers() if m.isfile() and m.size)
    with tar.open("r+b") as handle:
        handle.seek(member.offset_data)
        byte = handle.read(1)
        handle.seek(member.offset_data)
        handle.write(bytes([byte[0] ^ 0xFF]))


def capture(out: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="capture-"))
    try:
        _capture(Recorder(out, scratch), scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _capture(rec: Recorder, scratch: Path) -> None:
    ca = CertificateAuthority(scratch / "ca")
    bin_dir = install_clis(scratch / "bin")
    artifacts = ArtifactServer(scratch / "artifacts")
    director = SimulatedDirector(scratch / "director", scratch / "iaas.json", ca, name="capture").start()
    try:
        sources = seed(director, artifacts, bin_dir)
        # -- bosh v7, the commands the runner runs -------------------------------------------
        rec.bosh("bosh-env", bin_dir, director, "-n", "--json", "env")
        rec.bosh("bosh-env-wrong-secret", bin_dir, director, "-n", "--json", "env",
                 env={"BOSH_CLIENT_SECRET": "not-the-secret"})
        rec.bosh("bosh-stemcells", bin_dir, director, "-n", "--json", "stemcells")
        rec.bosh("bosh-releases", bin_dir, director, "-n", "--json", "releases")
        rec.bosh("bosh-deployments", bin_dir, director, "-n", "--json", "deployments")
        rec.bosh("bosh-instances-ps", bin_dir, director, "-n", "--json", "instances", "--ps")
        stemcell = sources["stemcells"][0]
        rec.bosh("bosh-upload-stemcell-exists", bin_dir, director, "-n", "--json", "upload-stemcell",
                 stemcell["url"], "--sha1", stemcell["sha1"])
        rec.bosh("bosh-upload-stemcell-fix", bin_dir, director, "-n", "--json", "upload-stemcell",
                 stemcell["url"], "--sha1", stemcell["sha1"], "--fix")
        release = sources["releases"][0]
        rec.bosh("bosh-upload-release-wrong-sha1", bin_dir, director, "-n", "--json", "upload-release",
                 release["url"], "--sha1", "0" * 40, "--fix")
        rec.bosh("bosh-upload-release-unreachable", bin_dir, director, "-n", "--json", "upload-release",
                 f"http://127.0.0.1:{free_port()}/gone.tgz", "--fix")
        web = director.snapshot()["deployments"]
        web_instances = next(d for d in web if d["name"] == "web")["instances"]
        director.break_vm(web_instances[0]["vm_cid"])
        director.break_vm(web_instances[1]["vm_cid"], missing=True)
        rec.bosh("bosh-instances-ps-broken", bin_dir, director, "-n", "--json", "-d", "web", "instances", "--ps")
        rec.bosh("bosh-cck-report-problems", bin_dir, director, "-n", "--json", "-d", "web", "cloud-check",
                 "--report")
        rec.bosh("bosh-cck-auto", bin_dir, director, "-n", "--json", "-d", "web", "cloud-check", "--auto")
        rec.bosh("bosh-cck-report-clean", bin_dir, director, "-n", "--json", "-d", "web", "cloud-check", "--report")
        rec.bosh("bosh-tasks-recent", bin_dir, director, "-n", "--json", "tasks", "--recent", "--all")
        stopped = SimulatedDirector(scratch / "unreachable", scratch / "iaas.json", ca, name="gone")
        rec.bosh("bosh-env-unreachable", bin_dir, stopped, "-n", "--json", "env")

        # -- bbr ---------------------------------------------------------------------------------
        artifact_root = scratch / "artifacts-bbr"
        artifact_root.mkdir()
        rec.bbr("bbr-pre-backup-check", bin_dir, director, "pre-backup-check")
        rec.bbr("bbr-backup", bin_dir, director, "backup", "--artifact-path", str(artifact_root))
        backup = next(artifact_root.iterdir())
        for fault, value in (("bbr_lock_error", True), ("bbr_unlock_error", True),
                             ("bbr_backup_error", "director"), ("bbr_cleanup_error", True)):
            director.set_faults(**{fault: value})
            folder = scratch / f"artifacts-{fault}"
            folder.mkdir()
            rec.bbr(f"bbr-backup-{fault.removeprefix('bbr_').replace('_', '-')}", bin_dir, director,
                    "backup", "--artifact-path", str(folder))
            director.set_faults()
        rec.bbr("bbr-backup-stale-folder", bin_dir, director, "backup", "--artifact-path", str(scratch))
        director.vm.release_immutable()
        rec.bbr("bbr-backup-cleanup", bin_dir, director, "backup-cleanup")
        rec.bbr("bbr-backup-cleanup-nothing", bin_dir, director, "backup-cleanup")
        missing_key = scratch / "no-such-key"
        rec.bbr("bbr-missing-key", bin_dir, director, "pre-backup-check", key=missing_key)
        public_key = scratch / "public-key"
        public_key.write_text(director.credentials.ssh_public_key)
        rec.bbr("bbr-public-key", bin_dir, director, "pre-backup-check", key=public_key)
        other = scratch / "other-key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
        rec.bbr("bbr-wrong-key", bin_dir, director, "pre-backup-check", key=other)
        rec.bbr("bbr-not-ssh", bin_dir, director, "pre-backup-check", host=director.url.removeprefix("https://"))
        rec.bbr("bbr-no-sshd", bin_dir, director, "pre-backup-check", host=f"127.0.0.1:{free_port()}")
        rec.bbr("bbr-no-such-host", bin_dir, director, "pre-backup-check", host="no-such-host.invalid:22")
        rec.bbr("bbr-restore", bin_dir, director, "restore", "--artifact-path", str(backup))
        corrupted = scratch / "corrupted"
        shutil.copytree(backup, corrupted)
        flip_data_byte(corrupted / "bosh-0-director.tar")
        rec.bbr("bbr-restore-corrupted", bin_dir, director, "restore", "--artifact-path", str(corrupted))
        unreadable = scratch / "unreadable"
        shutil.copytree(backup, unreadable)
        (unreadable / "bosh-0-bbr-uaadb.tar").write_bytes(b"not a tar file")
        rec.bbr("bbr-restore-unreadable-tar", bin_dir, director, "restore", "--artifact-path", str(unreadable))
        director.set_faults(bbr_restore_error="bbr-uaadb")
        rec.bbr("bbr-restore-script-fails", bin_dir, director, "restore", "--artifact-path", str(backup))
        director.set_faults()
        rec.bbr("bbr-restore-cleanup", bin_dir, director, "restore-cleanup")
        # a large blob makes the copy last long enough to be interrupted
        (director.state.blobs / "large-blob").write_bytes(b"\0" * (64 << 20))
        director.set_faults(slow_seconds=2)
        for name, sig in (("sigterm", signal.SIGTERM), ("sigkill", signal.SIGKILL)):
            folder = scratch / f"artifacts-{name}"
            folder.mkdir()
            rec.bbr(f"bbr-backup-{name}", bin_dir, director, "backup", "--artifact-path", str(folder), kill=sig)
            subprocess.run([str(bin_dir / "bbr"), "director", "--host", director.ssh_host, "--username",
                            director.credentials.ssh_user, "--private-key-path", str(director.ssh_key_file),
                            "backup-cleanup"], capture_output=True, timeout=120, cwd=scratch)
        director.set_faults()
        # versions, as the runner records them
        for tool, argv in (("bosh-version", [str(bin_dir / "bosh"), "--version"]),
                           ("bbr-version", [str(bin_dir / "bbr"), "version"])):
            rec.save(tool, subprocess.run(argv, capture_output=True, text=True), argv[1:])
    finally:
        director.stop()
        director.vm.release_immutable()
        artifacts.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m boshsim.capture", description=__doc__)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    capture(args.out)
    # bbr writes bbr-<time>.err.log into its working folder; none belongs in the fixtures
    for stray in args.out.glob("bbr-*.err.log"):
        stray.unlink()


if __name__ == "__main__":
    main()
