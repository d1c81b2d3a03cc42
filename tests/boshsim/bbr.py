"""A stand-in for `bbr director ...` (bosh-backup-and-restore), driving the simulator.

Same flags, subcommands, log lines, error block and bitmask exit codes as bbr:
1 any other error, 4 pre-backup-lock failed, 8 post-backup-unlock failed, 16 cleanup
failed, OR-ed together. The workflow order is bbr's: create the remote backup folder,
lock, run backup scripts, unlock, copy the artifacts to the local folder
`<host>_<YYYYMMDDTHHMMSSZ>` (with a `metadata` file of sha256 checksums), clean up.
A fatal error skips the copy but leaves the local folder, as bbr does.

It cannot SSH; it calls the simulator's SSH side, after checking the private key and
user the way the SSH handshake would.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import os
import signal
import sys
import tarfile
import traceback
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization

VERSION = "1.9.73"
LOCK_ERROR, UNLOCK_ERROR, CLEANUP_ERROR = 4, 8, 16


class BbrError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%Y/%m/%d %H:%M:%S")
    print(f"[bbr] {stamp} INFO - {message}", flush=True)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{size}B"


class Vm:
    """The director VM over "SSH"."""

    def __init__(self, host: str, port: int, username: str, key_path: Path):
        try:
            pem = key_path.read_bytes()
        except OSError as error:
            raise BbrError(f"ssh.NewConnection.ParsePrivateKey failed: open {key_path}: {error.strerror}") from None
        try:
            key = serialization.load_ssh_private_key(pem, password=None)
        except ValueError:
            try:
                key = serialization.load_pem_private_key(pem, password=None)  # type: ignore[assignment]
            except (ValueError, TypeError):
                raise BbrError("ssh.NewConnection.ParsePrivateKey failed: ssh: no key found") from None
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH)
        self.headers = {"X-SSH-User": username, "X-SSH-Key-SHA256": hashlib.sha256(public).hexdigest()}
        self.host, self.port = host, port

    def request(self, method: str, path: str, body: Any = None, stream_to: Path | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=600)
        try:
            connection.request(method, path, body=body, headers={**self.headers, **(headers or {})})
            response = connection.getresponse()
            if stream_to is not None and response.status == 200:
                with stream_to.open("wb") as out:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                return 200, ""
            return response.status, response.read().decode(errors="replace")
        except ConnectionRefusedError:
            raise BbrError(f"ssh.Dial failed: dial tcp {self.host}:{self.port}: connect: connection refused") from None
        except OSError as error:
            if "Name or service not known" in str(error):
                raise BbrError(f"ssh.Dial failed: dial tcp: lookup {self.host}: no such host") from None
            raise BbrError(f"ssh session ended before returning an exit code: {error}") from None
        finally:
            connection.close()

    def must(self, method: str, path: str, code: int = 1, **kwargs: Any) -> str:
        status, text = self.request(method, path, **kwargs)
        if status == 403:
            raise BbrError(text)
        if status >= 300:
            raise BbrError(text, code)
        return text


def backup(vm: Vm, host: str, artifact_path: Path) -> None:
    import json
    errors: list[BbrError] = []
    jobs = json.loads(vm.must("GET", "/jobs"))["jobs"]
    log(f"Starting backup of {host}...")
    if not artifact_path.is_dir():
        raise BbrError(f"failed creating artifact: stat {artifact_path}: no such file or directory")
    started = datetime.datetime.now(datetime.UTC)
    folder = artifact_path / f"{host}_{started.strftime('%Y%m%dT%H%M%SZ')}"
    if folder.exists():
        raise BbrError(f"artifact {folder.name} already exists")
    vm.must("POST", "/backup-dir")
    folder.mkdir(mode=0o700)
    log("Running pre-backup-lock scripts...")
    locked = True
    try:
        vm.must("POST", "/lock", LOCK_ERROR)
        log("Finished running pre-backup-lock scripts.")
    except BbrError as error:
        errors.append(error)
        locked = False
    sizes: dict[str, int] = {}
    if locked:
        log("Running backup scripts...")
        for job in jobs:
            log(f"Backing up {job} on bosh/0...")
            try:
                sizes[job] = int(json.loads(vm.must("POST", f"/backup/{job}"))["size"])
                log(f"Finished backing up {job} on bosh/0.")
            except BbrError as error:
                errors.append(error)
                break
        log("Finished running backup scripts.")
    log("Running post-backup-unlock scripts...")
    try:
        vm.must("POST", "/unlock", UNLOCK_ERROR)
        log("Finished running post-backup-unlock scripts.")
    except BbrError as error:
        errors.append(error)
    fatal = any(e.code not in (UNLOCK_ERROR, CLEANUP_ERROR) for e in errors)
    if not fatal:
        checksums = {}
        for job in jobs:
            target = folder / f"bosh-0-{job}.tar"
            log(f"Copying backup -- {human_size(sizes[job])} uncompressed -- for job {job} on bosh/0...")
            vm.must("GET", f"/artifact/{job}", stream_to=target)
            for percent in range(5, 101, 5):
                log(f"Copying backup for job {job} on bosh/0 -- {percent}% complete")
            log(f"Finished copying backup -- for job {job} on bosh/0.")
            log(f"Starting validity checks -- for job {job} on bosh/0...")
            checksums[job] = tar_checksums(target)
            log(f"Finished validity checks -- for job {job} on bosh/0.")
        finished = datetime.datetime.now(datetime.UTC)
        metadata = {
            "instances": [{"name": "bosh", "index": "0", "artifacts": [
                {"name": job, "checksums": checksums[job]} for job in jobs]}],
            "backup_activity": {"start_time": started.strftime("%Y/%m/%d %H:%M:%S UTC"),
                                "finish_time": finished.strftime("%Y/%m/%d %H:%M:%S UTC")},
        }
        (folder / "metadata").write_text(yaml.safe_dump(metadata, sort_keys=False))
        log(f"Backup created of {host} on {finished.strftime('%Y-%m-%d %H:%M:%S.%f +0000 UTC')}")
    clean_up_and_report(vm, errors, f"Deployment '{host}' failed while cleaning up with error: ")


def tar_checksums(tar_path: Path) -> dict[str, str]:
    """sha256 of every file inside a job's tar, keyed by member name (bbr's metadata)."""
    checksums = {}
    with tarfile.open(tar_path, "r") as archive:
        for member in archive.getmembers():
            if member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                digest = hashlib.sha256()
                while chunk := extracted.read(1 << 20):
                    digest.update(chunk)
                checksums[member.name] = digest.hexdigest()
    return checksums


def restore(vm: Vm, host: str, artifact: Path) -> None:
    log(f"Starting restore of {host}...")
    metadata_file = artifact / "metadata"
    if not metadata_file.is_file():
        raise BbrError(f"Could not open backup artifact: open {metadata_file}: no such file or directory")
    metadata = yaml.safe_load(metadata_file.read_text())
    for instance in metadata["instances"]:
        for entry in instance["artifacts"]:
            tar_path = artifact / f"{instance['name']}-{instance['index']}-{entry['name']}.tar"
            try:
                actual = tar_checksums(tar_path)
            except (OSError, tarfile.TarError):
                raise BbrError("Backup artifact is corrupted") from None
            if actual != entry["checksums"]:
                raise BbrError("Backup artifact is corrupted")
    vm.must("POST", "/backup-dir")
    errors: list[BbrError] = []
    try:
        log("Running pre-restore-lock scripts...")
        for instance in metadata["instances"]:
            for entry in instance["artifacts"]:
                job = entry["name"]
                tar_path = artifact / f"{instance['name']}-{instance['index']}-{job}.tar"
                log(f"Copying backup to bosh/0 for job {job}...")
                with tar_path.open("rb") as body:
                    vm.must("POST", f"/restore/{job}", body=body,
                            headers={"Content-Length": str(tar_path.stat().st_size)})
                log(f"Restoring {job} on bosh/0...")
                log(f"Finished restoring {job} on bosh/0.")
        log("Running post-restore-unlock scripts...")
        log(f"Completed restore of {host}")
    except BbrError as error:
        errors.append(BbrError(f"Failed to restore: {error}"))
    clean_up_and_report(vm, errors, f"Deployment '{host}' failed while cleaning up with error ")


def clean_up_and_report(vm: Vm, errors: list[BbrError], cleanup_failed: str) -> None:
    """bbr removes the backup folder on the VM whatever happened, then reports every error.
    cleanup_failed: the prefix bbr puts before a cleanup error (backup and restore word it
    differently: only backup has the colon)."""
    try:
        vm.must("DELETE", "/backup-dir", CLEANUP_ERROR)
    except BbrError as error:
        errors.append(BbrError(f"{cleanup_failed}{error}", CLEANUP_ERROR))
    if errors:
        raise MultiError(errors)


class MultiError(Exception):
    def __init__(self, errors: list[BbrError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors

    @property
    def code(self) -> int:
        code = 0
        for error in self.errors:
            code |= error.code
        return code


def report(errors: list[BbrError], subcommand: str) -> int:
    stderr = sys.stderr
    stderr.write(f"{len(errors)} error{'s' if len(errors) > 1 else ''} occurred:\n")
    for number, error in enumerate(errors, start=1):
        stderr.write(f"error {number}:\n{error}\n")
    if subcommand in ("backup", "restore"):
        stderr.write(f"It is recommended that you run `bbr director {subcommand}-cleanup` to ensure "
                     "that any temp files are cleaned up and all jobs are unlocked.\n")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    log_file = Path(f"bbr-{stamp}.err.log")
    try:
        log_file.write_text("".join(traceback.format_stack()) + "\n".join(str(e) for e in errors))
        stderr.write(f"Stacktrace written to {log_file}\n")
    except OSError:
        pass
    code = 0
    for error in errors:
        code |= error.code
    return code


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["version"] or args[:1] == ["--version"]:
        print(f"bbr version {VERSION}")
        return 0
    if args[:1] != ["director"]:
        print("Usage: bbr director --host HOST --username USER --private-key-path KEY COMMAND", file=sys.stderr)
        return 1
    parser = argparse.ArgumentParser(prog="bbr director", add_help=False)
    parser.add_argument("--host", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--private-key-path", required=True, type=Path)
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("subcommand", choices=["pre-backup-check", "backup", "restore", "backup-cleanup",
                                               "restore-cleanup"])
    parser.add_argument("--artifact-path", type=Path)
    try:
        options = parser.parse_args(args[1:])
    except SystemExit:
        return 1
    host, _, port = options.host.partition(":")
    subcommand = options.subcommand
    # an interrupted bbr leaves the director as it was: locked, with its backup folder
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    try:
        vm = Vm(host, int(port or 22), options.username, options.private_key_path)
        if subcommand == "pre-backup-check":
            log(f"Running pre-checks for backup of {host}...")
            status, text = vm.request("GET", "/jobs")
            if status == 403:
                raise BbrError(text)
            lock_free = not vm_lock_exists(vm)
            if lock_free:
                print("Director can be backed up.")
                return 0
            print("Director cannot be backed up.")
            raise BbrError("Directory /var/vcap/store/bbr-backup already exists on instance bosh/0")
        if subcommand == "backup":
            backup(vm, host, options.artifact_path or Path.cwd())
        elif subcommand == "restore":
            if options.artifact_path is None:
                raise BbrError("--artifact-path flag is required.")
            restore(vm, host, options.artifact_path)
        else:
            vm.must("DELETE", "/backup-dir", CLEANUP_ERROR)
            log(f"'{host}' cleaned up")
        return 0
    except MultiError as errors:
        return report(errors.errors, subcommand)
    except BbrError as error:
        return report([error], subcommand)


def vm_lock_exists(vm: Vm) -> bool:
    import json
    return bool(json.loads(vm.must("GET", "/backup-dir"))["exists"])


if __name__ == "__main__":
    sys.exit(main())
