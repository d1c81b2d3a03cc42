"""Artifact streaming to S3: throughput against boto3's upload_file, and peak RSS.

    .venv/bin/python bench/storage.py [--size-mib 1024] [--rss-sizes-mib 256,1024,2048]

Against one versitygw server on loopback, in the same run:
- baseline: boto3 `upload_file` of a file (its own threads and parts, no hashing);
- ours: S3Store.put (sha256 while streaming, parts in flight) — and the same plus the
  read-back verification that every stored artifact gets;
- encrypted: the same file stored as the runner stores it with spec.encryption (age,
  through pyrage, streamed), to S3 and to a claim folder, each against the unencrypted
  path to the same store (goal: no more than 10 % slower).
Peak RSS: a fresh process runs put + verify for each size, plain and encrypted; flat
means it does not grow with the artifact.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "operator")]

from harness.s3 import S3Server  # noqa: E402


def make_file(path: Path, mib: int) -> Path:
    block = os.urandom(1 << 20)
    with path.open("wb") as handle:
        for _ in range(mib):
            handle.write(block)
    return path


def store_spec(server: S3Server, bucket: str) -> dict[str, object]:
    return {"bucket": bucket, "endpoint": server.endpoint, "forcePathStyle": True, "region": "us-east-1",
            "credentialsSecretRef": {"name": "unused"}}


def recipients() -> list[str]:
    import pyrage

    return [str(pyrage.x25519.Identity.generate().to_public())]


def encrypted_put(store: object, source: Path, parsed: list[str]) -> object:
    """As the runner's Store step does it with spec.encryption (runner/actions.py writer_for)."""
    from bosh_backup_operator.storage import store_file
    from bosh_backup_operator.storage.encryption import SUFFIX, EncryptingWriter

    return store_file(EncryptingWriter(store.writer("artifact.tar" + SUFFIX, None),  # type: ignore[attr-defined]
                                       parsed, "artifact.tar"), source)


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (the encrypting process is one)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields.get("Pid", "0")) == pid or int(fields.get("PPid", "0")) == pid:
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total


def child(spec_json: str, path: str, mode: str) -> None:
    """Runs in a fresh process so its peak RSS is its own: sampled every 20 ms over the process
    and its children (ru_maxrss would report the parent's size at fork, which Linux carries over)."""
    import threading

    from bosh_backup_operator.storage.s3 import S3Store

    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], tree_rss_kib(os.getpid()))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    store = S3Store(json.loads(spec_json), f"bench/rss-{os.getpid()}")
    stored = encrypted_put(store, Path(path), recipients()) if mode == "encrypted" else store.put("artifact.tar",
                                                                                                  Path(path))
    store.verify(stored)  # type: ignore[arg-type]
    done.set()
    sampler.join()
    print(json.dumps({"maxrss_mib": peak[0] / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rss-sizes-mib", default="256,1024,2048")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.child[2])
        return

    from bosh_backup_operator.storage.pvc import PvcStore
    from bosh_backup_operator.storage.s3 import S3Store

    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    server = S3Server(work / "s3").start()
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = server.access_key, server.secret_key
    try:
        bucket = server.bucket("bench")
        spec = store_spec(server, bucket)
        source = make_file(work / "artifact.tar", args.size_mib)
        client = server.client()
        size = source.stat().st_size

        parsed = recipients()
        claim = work / "claim"
        claim.mkdir()
        baselines, puts, verifies, sealed_s3, plain_pvc, sealed_pvc = [], [], [], [], [], []

        for repetition in range(args.repeat):  # alternate, so neither side always runs on a warm cache
            started = time.perf_counter()
            client.upload_file(str(source), bucket, f"baseline/artifact-{repetition}.tar")
            baselines.append(time.perf_counter() - started)
            store = S3Store(spec, f"bench/ours-{repetition}")
            started = time.perf_counter()
            stored = store.put("artifact.tar", source)
            puts.append(time.perf_counter() - started)
            started = time.perf_counter()
            store.verify(stored)
            verifies.append(time.perf_counter() - started)
            sealed = S3Store(spec, f"bench/sealed-{repetition}")
            started = time.perf_counter()
            sealed.verify(encrypted_put(sealed, source, parsed))  # type: ignore[arg-type]
            sealed_s3.append(time.perf_counter() - started)
            for into, encrypt in ((plain_pvc, False), (sealed_pvc, True)):
                folder = PvcStore("bench", f"pvc-{repetition}-{encrypt}", root=claim)
                folder.begin()
                started = time.perf_counter()
                folder.verify(encrypted_put(folder, source, parsed) if encrypt  # type: ignore[arg-type]
                              else folder.put("artifact.tar", source))
                into.append(time.perf_counter() - started)
                folder.abort()
        baseline, ours, verify = (statistics.median(v) for v in (baselines, puts, verifies))
        s3_sealed, pvc_plain, pvc_sealed = (statistics.median(v) for v in (sealed_s3, plain_pvc, sealed_pvc))
        mib = size / (1 << 20)
        print(f"artifact: {mib:.0f} MiB, S3 server: versitygw on loopback, median of {args.repeat} alternating runs")
        print(f"boto3 upload_file (baseline):      {mib / baseline:8.1f} MiB/s  ({baseline:.2f} s)")
        print(f"S3Store.put, hashing (ours):       {mib / ours:8.1f} MiB/s  ({ours:.2f} s)")
        print(f"ratio ours/baseline:               {baseline / ours:8.2f}   (goal >= 1.0)")
        print(f"put + read-back verify (ours):     {mib / (ours + verify):8.1f} MiB/s  ({ours + verify:.2f} s)")
        plain_s3 = ours + verify   # the Store step's work: store, then prove (the server's CRC32 or a read-back)
        print("Store with encryption (age via pyrage, streamed), store + verify, against the same without:")
        print(f"  S3:    {mib / plain_s3:8.1f} MiB/s plain, {mib / s3_sealed:8.1f} MiB/s encrypted")
        print(f"  claim: {mib / pvc_plain:8.1f} MiB/s plain, {mib / pvc_sealed:8.1f} MiB/s encrypted")
        print(f"ratio encrypted/plain S3 Store throughput: {plain_s3 / s3_sealed:.2f}   (goal >= 0.90)")
        print(f"ratio encrypted/plain claim Store throughput: {pvc_plain / pvc_sealed:.2f}   (goal >= 0.90)")

        print("peak RSS of a process (and its encrypting child) storing and verifying one artifact (goal <= 150 MiB, "
              "flat):")
        for rss_mib in (int(x) for x in args.rss_sizes_mib.split(",")):
            path = make_file(work / f"rss-{rss_mib}.tar", rss_mib)
            for mode in ("plain", "encrypted"):
                result = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec), str(path), mode],
                                        capture_output=True, text=True, check=True)
                print(f"  {rss_mib:6d} MiB artifact, {mode:9s}: {json.loads(result.stdout)['maxrss_mib']:6.1f} MiB RSS")
            path.unlink()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
