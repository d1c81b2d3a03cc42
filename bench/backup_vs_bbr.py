"""A backup through the operator against bbr alone, with the real bbr over real SSH.

    .venv/bin/python bench/backup_vs_bbr.py [--size-gib 4] [--runs 3] [--skip bbr_hashed,up,pvc]

One simulated director holds a blobstore of incompressible blobs, from a few KiB to
hundreds of MiB, --size-gib in all, beside its database, UAA and CredHub dumps. Each
round measures, in alternating order, median of --runs rounds:

- T_bbr: `bbr director backup` alone into a local folder;
- T_bbr_hashed: the same, with a plain reader taking each tar's sha256 as bbr writes it
  (not a goal's baseline: it tells the cost of that one pass on these shared cores from
  the rest of the operator's);
- T_up: that folder uploaded with boto3 `upload_file` (its own parts and threads);
- T_s3 and T_pvc: a DirectorBackup to S3 and to a claim, create to Succeeded;
- T_bbr_restore: `bbr director restore` from the local folder;
- T_down: boto3 `download_file` of the stored artifact's files;
- T_restore: a DirectorRestore from S3, create to the end of its RestoreDatabase step,
  by the bench's clock as the backups are (the POST to the poll that sees the step end;
  the whole-second stamps of creation and completion are printed beside it).

While the operator's runs go, the runner's peak RSS (its own process, not bbr's) and
the scratch volume's peak use are sampled. The headline lines have a fixed form, so
runs can be compared.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "operator"), str(ROOT / "bench")]

from proc import TICKS, cpu_seconds, rss_mib  # noqa: E402

from bosh_backup_operator.runner.scratch import used_bytes  # noqa: E402
from boshsim.fixtures import SimulatedDirector, install_clis  # noqa: E402
from boshsim.k8s import API, backup, register, s3_storage  # noqa: E402
from harness.env import Harness  # noqa: E402
from harness.pki import CertificateAuthority  # noqa: E402
from harness.s3 import S3Server  # noqa: E402

NS = "bench"
MIB = 1 << 20
# the blobstore's shape: (size, count) of the small and middling blobs; the rest in 256 MiB blobs
SMALL_BLOBS = ((4 << 10, 64), (256 << 10, 32), (4 * MIB, 16), (32 * MIB, 4))


def fill(path: Path, size: int, pool: bytes) -> None:
    """Incompressible bytes: slices of a random pool, shifted for each MiB."""
    with path.open("wb") as handle:
        written, shift = 0, 0
        while written < size:
            count = min(MIB, size - written)
            handle.write(pool[shift:shift + count])
            written += count
            shift = (shift + 4099) % (len(pool) - MIB)


def blobstore(director: SimulatedDirector, total: int) -> list[int]:
    pool = os.urandom(16 * MIB)
    sizes = [size for size, count in SMALL_BLOBS for _ in range(count)]
    rest = total - sum(sizes)
    while rest > 0:
        sizes.append(min(256 * MIB, rest))
        rest -= sizes[-1]
    for number, size in enumerate(sizes):
        fill(director.state.blobs / f"bench-{number:04d}", size, pool)
    credentials = {f"/bench/secret-{n}": os.urandom(48).hex() for n in range(20000)}
    (director.state.path / "credhub.json").write_text(json.dumps({"credentials": credentials}))
    return sizes


class Sampler(threading.Thread):
    """Peak RSS of runner processes, the CPU they spend themselves (bbr and bosh, their
    children, not counted; the last 0.25 s of each missed), and peak bytes in the pods'
    scratch volumes."""

    def __init__(self, node_root: Path):
        super().__init__(daemon=True)
        self.node_root, self.stopping = node_root, threading.Event()
        self.rss, self.scratch, self.cpu = 0.0, 0, dict[int, float]()

    def run(self) -> None:
        while not self.stopping.wait(0.25):
            for pid in runner_pids():
                try:
                    self.rss = max(self.rss, rss_mib(pid))
                    self.cpu[pid] = cpu_seconds(pid)
                except OSError:
                    continue
            for work in (self.node_root / "pods").glob("*/volumes/work"):
                self.scratch = max(self.scratch, used_bytes(work))

    def take(self) -> tuple[float, int, float]:
        figures = (self.rss, self.scratch, sum(self.cpu.values()))
        self.rss, self.scratch, self.cpu = 0.0, 0, {}
        return figures


def runner_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(b"bosh-backup-runner") for arg in argv[:2]):
            found.append(int(entry.name))
    return found


def machine_seconds() -> tuple[float, float]:
    """Core-seconds the whole machine has spent busy, and waiting on I/O."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS, fields[4] / TICKS


def timed(action: Callable[[], float | None]) -> float:
    """The action's own figure if it gives one, else its wall time."""
    began = time.monotonic()
    own = action()
    return own if own is not None else time.monotonic() - began


def dirty_mib() -> float:
    """The machine's page cache not yet written to disk."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Dirty:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_run(harness: Harness, plural: str, name: str, done: Callable[[dict[str, Any]], bool],
             seen: dict[str, list[float]] | None = None, dirty: dict[str, float] | None = None) -> dict[str, Any]:
    """Polls until done; `seen` gets, per step, when it was first seen running and ended (0.1 s);
    `dirty`, the unwritten page cache when it was first seen."""
    while True:
        body = harness.admin.get(f"/apis/{API}/namespaces/{NS}/{plural}/{name}")
        status = body.get("status") or {}
        if seen is not None:
            for step in status.get("steps") or []:
                marks = seen.setdefault(step["name"], [])
                if step.get("state") in ("Running", "Succeeded") and not marks:
                    marks.append(time.monotonic())
                    if dirty is not None:
                        dirty[step["name"]] = dirty_mib()
                if step.get("state") == "Succeeded" and len(marks) == 1:
                    marks.append(time.monotonic())
        if done(status):
            return status
        if status.get("phase") in ("Failed", "Cancelled") and not done(status):
            raise SystemExit(f"{plural}/{name} ended {status.get('phase')}: {status.get('message')}")
        time.sleep(0.1)


def steps_seen(seen: dict[str, list[float]], began: float) -> str:
    return ", ".join(f"{step} {marks[0] - began:.1f}-{marks[-1] - began:.1f}s" for step, marks in seen.items() if marks)


def step_ended(status: dict[str, Any], step: str) -> bool:
    return any(s.get("name") == step and s.get("state") == "Succeeded" for s in status.get("steps") or [])


def seconds(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Round:
    """One round's runs, each returning its own figure or None for its wall time."""

    def __init__(self, number: int, work: Path, harness: Harness, client: Any, bucket: str, bbr_argv: list[str]):
        self.number, self.harness, self.client, self.bucket, self.bbr_argv = number, harness, client, bucket, bbr_argv
        self.local, self.down = work / f"local-{number}", work / f"down-{number}"
        self.local.mkdir()

    def bbr_backup(self) -> None:
        subprocess.run([*self.bbr_argv, "backup", "--artifact-path", str(self.local)], check=True, cwd=self.local,
                       stdout=subprocess.DEVNULL)

    def bbr_backup_hashed(self) -> None:
        folder = self.local.parent / f"hashed-{self.number}"
        folder.mkdir()
        bbr = subprocess.Popen([*self.bbr_argv, "backup", "--artifact-path", str(folder)], cwd=folder,
                               stdout=subprocess.DEVNULL)
        readers: dict[Path, tuple[Any, Any]] = {}   # tar -> (open file, sha256)
        while True:
            ended = bbr.poll() is not None
            for tar in folder.glob("*/*.tar"):
                if tar not in readers:
                    readers[tar] = (tar.open("rb"), hashlib.sha256())
            behind = False
            for handle, digest in readers.values():
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    behind = True
            if ended and not behind:
                break
            if not behind:
                time.sleep(0.05)
        for handle, _ in readers.values():
            handle.close()
        assert bbr.returncode == 0, bbr.returncode
        shutil.rmtree(folder)

    def upload(self) -> None:
        for path in sorted(self.local.rglob("*")):
            if path.is_file():
                self.client.upload_file(str(path), self.bucket, f"baseline/{self.number}/{path.name}")

    def operator_backup(self, director: str, kind: str) -> None:
        name = f"{kind}-{self.number}"
        began = time.monotonic()
        self.harness.admin.post(f"/apis/{API}/namespaces/{NS}/directorbackups", backup(name, NS, director))
        seen: dict[str, list[float]] = {}
        status = wait_run(self.harness, "directorbackups", name, lambda s: s.get("phase") == "Succeeded", seen)
        largest = max(f["size"] for f in status["artifact"]["files"])
        print(f"  {name}: steps (seen from create) {steps_seen(seen, began)}; largest stored file "
              f"{largest / MIB:.0f} MiB")

    def backup_to_s3(self) -> None:
        self.operator_backup("to-s3", "s3")

    def backup_to_pvc(self) -> None:
        self.operator_backup("to-pvc", "pvc")

    def download(self) -> None:
        artifact = self.harness.admin.get(f"/apis/{API}/namespaces/{NS}/directorbackups/s3-{self.number}")
        path = artifact["status"]["artifact"]["path"]
        for entry in artifact["status"]["artifact"]["files"]:
            target = self.down / entry["name"]
            target.parent.mkdir(parents=True, exist_ok=True)
            self.client.download_file(self.bucket, f"{path}/{entry['name']}", str(target))

    def bbr_restore(self) -> None:
        folder = next(p for p in self.local.iterdir() if p.is_dir())
        subprocess.run([*self.bbr_argv, "restore", "--artifact-path", str(folder)], check=True, cwd=self.local,
                       stdout=subprocess.DEVNULL)

    def operator_restore(self) -> float:
        """Create to the end of RestoreDatabase (what the by-hand baseline covers), by the
        bench's clock as the backups are: from the POST to the poll that sees the step ended."""
        name = f"restore-{self.number}"
        body = {"apiVersion": API, "kind": "DirectorRestore", "metadata": {"name": name, "namespace": NS},
                "spec": {"directorRef": {"name": "to-s3"}, "force": True,
                         "source": {"backupRef": {"name": f"s3-{self.number}"}}}}
        began = time.monotonic()
        self.harness.admin.post(f"/apis/{API}/namespaces/{NS}/directorrestores", body)
        seen: dict[str, list[float]] = {}
        dirty: dict[str, float] = {}
        status = wait_run(self.harness, "directorrestores", name, lambda s: step_ended(s, "RestoreDatabase"), seen,
                          dirty)
        figure = time.monotonic() - began
        ended = next(s for s in status["steps"] if s["name"] == "RestoreDatabase")["completionTime"]
        created = self.harness.admin.get(f"/apis/{API}/namespaces/{NS}/directorrestores/{name}")
        stamps = seconds(ended) - seconds(created["metadata"]["creationTimestamp"])
        print(f"  {name}: steps (seen from create) {steps_seen(seen, began)}; by the whole-second stamps "
              f"{stamps:.0f}s; unwritten page cache as each began (MiB): "
              f"{', '.join(f'{step} {mib:.0f}' for step, mib in dirty.items())}")
        wait_run(self.harness, "directorrestores", name, lambda s: s.get("phase") in ("Succeeded", "Failed"))
        return figure

    def clean(self) -> None:
        """This round's files and objects go: a bucket in memory holds a round at most."""
        shutil.rmtree(self.local, ignore_errors=True)
        shutil.rmtree(self.down, ignore_errors=True)
        for prefix in (f"baseline/{self.number}/", self.harness.admin.get(
                f"/apis/{API}/namespaces/{NS}/directorbackups/s3-{self.number}")["status"]["artifact"]["path"]):
            listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])
            for item in listing:
                self.client.delete_object(Bucket=self.bucket, Key=item["Key"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gib", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--s3-in-memory", action="store_true",
                        help="keep the S3 server's data in /dev/shm, off the disk bbr writes to")
    parser.add_argument("--skip", default="", help="figures not to take, comma-separated (bbr_hashed, up, pvc): "
                                                    "the others are what the backup-s3 and restore ratios need")
    args = parser.parse_args()
    skipped = {key for key in args.skip.split(",") if key}
    if skipped - {"bbr_hashed", "up", "pvc"}:
        parser.error(f"--skip: only bbr_hashed, up and pvc can be left out, not {', '.join(sorted(skipped))}")
    work = Path(tempfile.mkdtemp(prefix="bench-bbr-"))
    harness = Harness(work / "harness")
    memory = Path(tempfile.mkdtemp(prefix="bench-s3-", dir="/dev/shm")) if args.s3_in_memory else None
    s3 = S3Server(memory or work / "s3")
    director: SimulatedDirector | None = None
    sampler = Sampler(harness.node_root)
    try:
        harness.start()
        s3.start()
        bucket = s3.bucket("bench-artifacts")
        harness.create_namespace(NS)
        director = SimulatedDirector(work / "director", work / "iaas.json", CertificateAuthority(work / "ca")).start()
        sizes = blobstore(director, int(args.size_gib * (1 << 30)))
        register(harness, NS, director, "to-s3", storage=s3_storage(harness, s3, NS, bucket))
        register(harness, NS, director, "to-pvc")
        bbr = install_clis(work / "bin") / "bbr"
        bbr_argv = [str(bbr), "director", "--host", director.ssh_host, "--username", director.credentials.ssh_user,
                    "--private-key-path", str(director.ssh_key_file)]
        client = s3.client()
        assert s3.process is not None
        server_pid = s3.process.popen.pid
        sampler.start()
        figures: dict[str, list[float]] = {key: [] for key in (
            "bbr", "bbr_hashed", "up", "s3", "pvc", "bbr_restore", "down", "restore")}
        rss: list[float] = []
        scratch: dict[str, list[int]] = {"s3": [], "pvc": [], "restore": []}   # the operator's runs
        print(f"director: {len(sizes)} blobs, {sum(sizes) / (1 << 30):.2f} GiB, largest {max(sizes) // MIB} MiB")

        for number in range(args.runs):
            one = Round(number, work, harness, client, bucket, bbr_argv)
            # alternate the order from round to round, so neither side always runs on a warm cache
            backups: list[tuple[str, Callable[[], float | None]]] = [
                ("bbr", one.bbr_backup), ("bbr_hashed", one.bbr_backup_hashed), ("up", one.upload),
                ("s3", one.backup_to_s3), ("pvc", one.backup_to_pvc)]
            restores: list[tuple[str, Callable[[], float | None]]] = [
                ("down", one.download), ("bbr_restore", one.bbr_restore), ("restore", one.operator_restore)]
            if number % 2:
                backups = [backups[3], backups[4], backups[1], backups[0], backups[2]]   # up follows bbr
                restores.reverse()
            for key, action in [*backups, *restores]:
                if key in skipped:
                    continue
                sampler.take()
                (busy0, wait0), server0, began = machine_seconds(), cpu_seconds(server_pid), time.monotonic()
                figures[key].append(timed(action))
                wall = time.monotonic() - began
                peak_rss, peak_scratch, runner_cpu = sampler.take()
                busy, waiting = machine_seconds()
                line = (f"round {number + 1}: {key} {figures[key][-1]:.1f}s; machine busy "
                        f"{(busy - busy0) / wall:.2f} of {os.cpu_count()} cores, waiting on I/O "
                        f"{(waiting - wait0) / wall:.2f}, the S3 server {cpu_seconds(server_pid) - server0:.1f} CPU-s")
                if key in scratch:
                    rss.append(peak_rss)
                    scratch[key].append(peak_scratch)
                    line += (f" (runner RSS {peak_rss:.0f} MiB, its own CPU {runner_cpu:.1f} s, scratch "
                             f"{peak_scratch / MIB:.0f} MiB)")
                print(line, flush=True)
            one.clean()

        median = {key: statistics.median(values) for key, values in figures.items() if values}
        print(f"\nmedians of {args.runs} rounds at {args.size_gib:g} GiB:")
        for key, value in median.items():
            print(f"  T_{key}: {value:.1f}s")
        print(f"  runner peak RSS per run (MiB): {', '.join(f'{value:.0f}' for value in rss)}")
        peaks = ", ".join(f"{label} {max(scratch[key]) / MIB:.0f}" for label, key in
                          (("S3", "s3"), ("PVC", "pvc"), ("restore", "restore")) if scratch[key])
        print(f"  scratch peak (MiB): {peaks}; the largest stored file is the blobstore's tar, "
              f"about {sum(sizes) / MIB:.0f} MiB")
        if "pvc" in median and "bbr_hashed" in median:
            print(f"  a claim's backup against bbr with one sha256 reader following its tars (T_pvc/T_bbr_hashed): "
                  f"{median['pvc'] / median['bbr_hashed']:.2f}")
        print(f"ratio backup-s3/bbr: {median['s3'] / median['bbr']:.2f}")
        if "pvc" in median:
            print(f"ratio backup-pvc/bbr: {median['pvc'] / median['bbr']:.2f}")
        print(f"ratio restore/(download+bbr): {median['restore'] / (median['down'] + median['bbr_restore']):.2f}")
        print(f"runner peak RSS MiB: {max(rss):.0f}")
    finally:
        sampler.stopping.set()
        if director:
            director.stop()
        s3.stop()
        harness.stop()
        shutil.rmtree(work, ignore_errors=True)
        if memory:
            shutil.rmtree(memory, ignore_errors=True)


if __name__ == "__main__":
    main()
