"""A storm of backups for one director: order, the operator's cost while runs wait, and how
long another director's backup waits behind the storm.

    .venv/bin/python bench/queue_storm.py [--backups 500] [--measure 30]

Starts the harness and two simulated directors, "busy" (each backup holds it for
--hold seconds) and "other". Baseline, measured first in the same run: a backup of
"other" from create to its Job (median of 3), and the operator's CPU while idle. Then
--backups DirectorBackups of "busy" are created at once; once they wait, the operator's
CPU (share of one core) and RSS are sampled for --measure seconds, three backups of
"other" are timed again, and the runs of "busy" that start are checked against the
order they were created in. Goals (issue 14): RSS <= 200 MB, CPU <= 10 % of a core
while runs only wait, another director's backup at its Job within 2 s, creation order.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "operator"), str(ROOT / "bench")]

from proc import cpu_seconds, rss_mib  # noqa: E402

from boshsim.fixtures import SimulatedDirector  # noqa: E402
from boshsim.k8s import API, backup, register  # noqa: E402
from harness.env import Harness  # noqa: E402
from harness.pki import CertificateAuthority  # noqa: E402

NS = "storm"


def cpu_share(pid: int, seconds: float) -> tuple[float, float]:
    """(share of one core over `seconds`, peak RSS MiB sampled each second)."""
    start, began, peak = cpu_seconds(pid), time.monotonic(), 0.0
    while time.monotonic() - began < seconds:
        peak = max(peak, rss_mib(pid))
        time.sleep(1)
    return (cpu_seconds(pid) - start) / (time.monotonic() - began), peak


def to_job(harness: Harness, name: str) -> float:
    """Seconds from create of a backup of "other" to its Job's existence."""
    began = time.monotonic()
    harness.admin.post(f"/apis/{API}/namespaces/{NS}/directorbackups", backup(name, NS, "other"))
    while True:
        jobs = harness.admin.get(f"/apis/batch/v1/namespaces/{NS}/jobs", labelSelector=f"bosh-backup.dev/name={name}")
        if jobs["items"]:
            return time.monotonic() - began
        time.sleep(0.02)


def wait_done(harness: Harness, name: str) -> None:
    while (harness.admin.get(f"/apis/{API}/namespaces/{NS}/directorbackups/{name}").get("status") or {}).get(
            "phase") not in ("Succeeded", "Failed", "Cancelled"):
        time.sleep(0.2)


def started_order(harness: Harness) -> list[str]:
    """Runs of "busy" that have a Job, in the order their Jobs were created."""
    jobs = harness.admin.get(f"/apis/batch/v1/namespaces/{NS}/jobs")["items"]
    runs = [job for job in jobs if job["metadata"]["annotations"].get("bosh-backup.dev/run-name", "").startswith(
        "busy-")]
    runs.sort(key=lambda job: (job["metadata"]["creationTimestamp"], int(job["metadata"]["resourceVersion"])))
    return [job["metadata"]["annotations"]["bosh-backup.dev/run-name"] for job in runs]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backups", type=int, default=500)
    parser.add_argument("--measure", type=float, default=30)
    parser.add_argument("--hold", type=float, default=15, help="seconds each backup of busy holds its director")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-storm-"))
    harness = Harness(work / "harness")
    directors: list[SimulatedDirector] = []
    try:
        harness.start()
        harness.create_namespace(NS)
        ca = CertificateAuthority(work / "ca")
        for name in ("busy", "other"):
            director = SimulatedDirector(work / name, work / f"{name}-iaas.json", ca).start()
            directors.append(director)
            register(harness, NS, director, name)
        assert harness.operator is not None
        pid = harness.operator.popen.pid
        baseline = []
        for number in range(3):
            baseline.append(to_job(harness, f"other-base-{number}"))
            wait_done(harness, f"other-base-{number}")
        idle_cpu, idle_rss = cpu_share(pid, 10)
        directors[0].set_faults(bbr_backup_seconds=args.hold)
        names = [f"busy-{number:04d}" for number in range(args.backups)]
        began = time.monotonic()
        for name in names:
            harness.admin.post(f"/apis/{API}/namespaces/{NS}/directorbackups", backup(name, NS, "busy"))
        created_in = time.monotonic() - began
        while True:
            listing = harness.admin.get(f"/apis/{API}/namespaces/{NS}/directorbackups")["items"]
            waiting = sum((b.get("status") or {}).get("reason") == "WaitingForDirector" for b in listing)
            if waiting >= args.backups - 2 or time.monotonic() - began > 600:
                break
            time.sleep(1)
        queued_in = time.monotonic() - began
        storm_cpu, storm_rss = cpu_share(pid, args.measure)
        during = []
        for number in range(3):
            during.append(to_job(harness, f"other-storm-{number}"))
            wait_done(harness, f"other-storm-{number}")
        order = started_order(harness)
        in_order = order == names[:len(order)]
        print(f"backups of busy created: {args.backups} in {created_in:.1f}s; {waiting} waiting after {queued_in:.1f}s")
        print(f"operator CPU, idle (baseline): {idle_cpu * 100:.1f}% of a core; RSS {idle_rss:.1f} MiB")
        print(f"operator CPU while {waiting} wait: {storm_cpu * 100:.1f}% of a core (goal <= 10%); "
              f"peak RSS {storm_rss:.1f} MiB (goal <= 200 MB)")
        base, storm = statistics.median(baseline), statistics.median(during)
        print(f"another director's backup, create -> Job: baseline {base:.2f}s, during the storm {storm:.2f}s "
              f"(ratio {storm / base:.2f}; goal <= 2 s)")
        print(f"runs of busy started so far: {len(order)}, in creation order: {'yes' if in_order else 'no'} "
              f"({', '.join(order[:6])})")
    finally:
        for director in directors:
            director.stop()
        harness.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
