"""Artifact streaming to S3: throughput against boto3's upload_file, and peak RSS.

    .venv/bin/python bench/storage.py [--size-mib 1024] [--rss-sizes-mib 256,1024,2048]

Against one versitygw server on loopback, in the same run:
- baseline: boto3 `upload_file` of a file (its own threads and parts, no hashing);
- ours: S3Store.put (sha256 while streaming, parts in flight) — and the same plus the
  read-back verification that every stored artifact gets.
Peak RSS: a fresh process runs put + verify for each size; flat means it does not
grow with the artifact.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def child(spec_json: str, path: str, verify: bool) -> None:
    """Runs in a fresh process so its peak RSS is its own."""
    from bosh_backup_operator.storage.s3 import S3Store

    store = S3Store(json.loads(spec_json), f"bench/rss-{os.getpid()}")
    stored = store.put("artifact.tar", Path(path))
    if verify:
        store.verify(stored)
    print(json.dumps({"maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rss-sizes-mib", default="256,1024,2048")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.child[2] == "verify")
        return

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

        baselines, puts, verifies = [], [], []
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
        baseline, ours, verify = (statistics.median(v) for v in (baselines, puts, verifies))
        mib = size / (1 << 20)
        print(f"artifact: {mib:.0f} MiB, S3 server: versitygw on loopback, median of {args.repeat} alternating runs")
        print(f"boto3 upload_file (baseline):      {mib / baseline:8.1f} MiB/s  ({baseline:.2f} s)")
        print(f"S3Store.put, hashing (ours):       {mib / ours:8.1f} MiB/s  ({ours:.2f} s)")
        print(f"ratio ours/baseline:               {baseline / ours:8.2f}   (goal >= 1.0)")
        print(f"put + read-back verify (ours):     {mib / (ours + verify):8.1f} MiB/s  ({ours + verify:.2f} s)")

        print("peak RSS of a process storing and verifying one artifact (goal <= 150 MiB, flat):")
        for rss_mib in (int(x) for x in args.rss_sizes_mib.split(",")):
            path = make_file(work / f"rss-{rss_mib}.tar", rss_mib)
            result = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec), str(path), "verify"],
                                    capture_output=True, text=True, check=True)
            print(f"  {rss_mib:6d} MiB artifact: {json.loads(result.stdout)['maxrss_mib']:6.1f} MiB RSS")
            path.unlink()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
