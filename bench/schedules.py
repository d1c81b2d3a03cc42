"""500 DirectorBackupSchedules across 50 namespaces: operator RSS, idle CPU, fire jitter.

    .venv/bin/python bench/schedules.py [--schedules 500] [--namespaces 50] [--idle-seconds 60]

On the harness (control plane, node agent, operator under deploy/'s RBAC):
1. jitter: every schedule is "* * * * *" for one minute boundary, pointed at a
   Director that does not exist (its backups fail at once, so the fire itself is
   measured, not backup runs). A separate watch records when each backup appears;
   the delay is that moment minus the scheduled second. Then all are suspended.
2. idle: schedules set to @daily-random (the usual nightly fleet), nothing due;
   the operator's CPU time over --idle-seconds, from /proc, as % of one core.
Baseline in the same run: the operator's RSS and idle CPU with no schedules.
Goals: RSS <= 200 MB, idle CPU <= 2% of one core, jitter p99 <= 2 s.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "operator"), str(ROOT / "bench")]

from proc import cpu_seconds, rss_mib  # noqa: E402

from boshsim.k8s import API  # noqa: E402
from harness.env import Harness  # noqa: E402
from harness.rest import Rest  # noqa: E402


def idle_cpu(pid: int, seconds: float) -> float:
    start = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - start) / seconds * 100


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=500)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-schedules-"))
    work.chmod(0o755)
    harness = Harness(work / "harness")
    try:
        harness.start()
        assert harness.operator is not None
        pid = harness.operator.popen.pid
        rest = Rest(harness.plane.admin_kubeconfig)
        namespaces = [f"fleet-{n:02d}" for n in range(args.namespaces)]
        for namespace in namespaces:
            harness.create_namespace(namespace, pod_security="restricted")
        time.sleep(5)
        baseline_rss, baseline_cpu = rss_mib(pid), idle_cpu(pid, min(args.idle_seconds, 30))

        names = [(namespaces[n % len(namespaces)], f"s{n:03d}") for n in range(args.schedules)]
        arrivals: dict[str, float] = {}
        lock = threading.Lock()

        def watch() -> None:
            version = rest.get(f"/apis/{API}/directorbackups")["metadata"]["resourceVersion"]
            try:
                while True:
                    for event in rest.watch(f"/apis/{API}/directorbackups", version, timeout_seconds=300):
                        obj = event["object"]
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] == "ADDED":
                            with lock:
                                arrivals.setdefault(obj["metadata"]["name"] + "@" + obj["metadata"]["namespace"],
                                                    time.time())
            except Exception:
                return
        threading.Thread(target=watch, daemon=True).start()

        # wait so that creating the fleet is done well before a minute boundary
        if datetime.datetime.now().second > 25:
            time.sleep(62 - datetime.datetime.now().second)
        started = time.monotonic()
        for namespace, name in names:
            rest.post(f"/apis/{API}/namespaces/{namespace}/directorbackupschedules", {
                "apiVersion": API, "kind": "DirectorBackupSchedule", "metadata": {"name": name},
                "spec": {"directorRef": {"name": "nowhere"}, "schedule": "* * * * *",
                         "concurrencyPolicy": "Allow", "failedBackupsHistoryLimit": 1}})
        created_in = time.monotonic() - started
        boundary = (int(time.time() // 60) + 1) * 60
        deadline = boundary + 90
        while time.time() < deadline:
            with lock:
                fired = [a for k, a in arrivals.items() if a >= boundary - 1]
            if len(fired) >= args.schedules:
                break
            time.sleep(0.5)
        with lock:
            delays = [a - boundary for a in arrivals.values() if a >= boundary - 1]
        for namespace, name in names:
            rest.merge_patch(f"/apis/{API}/namespaces/{namespace}/directorbackupschedules/{name}",
                             {"spec": {"suspend": True, "schedule": "@daily-random"}})
        time.sleep(20)  # let the fired backups fail and every status settle
        for namespace, name in names:
            rest.merge_patch(f"/apis/{API}/namespaces/{namespace}/directorbackupschedules/{name}",
                             {"spec": {"suspend": False}})
        time.sleep(10)
        fleet_rss, fleet_cpu = rss_mib(pid), idle_cpu(pid, args.idle_seconds)
        print(f"schedules: {args.schedules} in {args.namespaces} namespaces (created in {created_in:.1f} s)")
        print(f"baseline (no schedules):    RSS {baseline_rss:6.1f} MiB   idle CPU {baseline_cpu:5.2f}% of a core")
        print(f"with the fleet:             RSS {fleet_rss:6.1f} MiB   idle CPU {fleet_cpu:5.2f}% of a core"
              "   (goals: <= 200 MB, <= 2%)")
        if delays:
            print(f"fire jitter over {len(delays)} fires: p50 {statistics.median(delays):.3f} s   "
                  f"p99 {percentile(delays, 0.99):.3f} s   max {max(delays):.3f} s   (goal p99 <= 2 s)")
        else:
            print("fire jitter: no fire observed")
    finally:
        harness.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
