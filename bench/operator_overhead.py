"""Operator overhead on the harness: create -> Job created, Job complete -> phase Succeeded.

    .venv/bin/python bench/operator_overhead.py [--runs 50] [--directors 10]

Starts the harness (control plane, node agent, operator under deploy/'s RBAC) and
simulated directors, then creates DirectorBackups in waves of one per director (runs
overlap as in a fleet, none waits for a director's lock) and watches, from a
separate client:
- t0: just before `create` of the DirectorBackup returns,
- t1: when the Job appears (watch on Jobs),
- t2: when the Job reports Complete (watch on Jobs),
- t3: when the DirectorBackup reports Succeeded (watch on DirectorBackups).
Prints p50/p99 of t1-t0 and t3-t2 (goal: p50 <= 100 ms each). Baseline, measured in
the same run: the apiserver's own round trip for a create, and the watch's delivery
delay of a write made by the same client (both bound what the operator can reach).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "operator")]

from boshsim.fixtures import SimulatedDirector  # noqa: E402
from boshsim.k8s import API, backup, register  # noqa: E402
from harness.env import Harness  # noqa: E402
from harness.pki import CertificateAuthority  # noqa: E402
from harness.rest import Rest  # noqa: E402

NS = "bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Watcher(threading.Thread):
    def __init__(self, rest: Rest, path: str, on_event: Any):
        super().__init__(daemon=True)
        self.rest, self.path, self.on_event = rest, path, on_event

    def run(self) -> None:
        try:
            version = self.rest.get(self.path)["metadata"]["resourceVersion"]
            while True:
                for event in self.rest.watch(self.path, version, timeout_seconds=300):
                    version = event["object"]["metadata"]["resourceVersion"]
                    self.on_event(event["type"], event["object"], time.perf_counter())
        except Exception:  # the harness stopped under us at the end of the run
            return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--directors", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    harness = Harness(work / "harness")  # runner pods get the real bosh and bbr from the image (image.py)
    directors: list[SimulatedDirector] = []
    try:
        harness.start()
        harness.create_namespace(NS)
        ca = CertificateAuthority(work / "ca")
        for number in range(args.directors):
            director = SimulatedDirector(work / f"d{number}", work / "iaas.json", ca).start()
            directors.append(director)
            register(harness, NS, director, f"d{number}")
        observer = Rest(harness.plane.admin_kubeconfig)
        times: dict[str, dict[str, float]] = {}
        done = threading.Event()
        lock = threading.Lock()

        def on_job(kind: str, job: dict[str, Any], at: float) -> None:
            name = job["metadata"].get("labels", {}).get("bosh-backup.dev/name")
            if not name:
                return
            with lock:
                entry = times.setdefault(name, {})
                entry.setdefault("job_created", at)
                if any(c["type"] == "Complete" and c["status"] == "True"
                       for c in (job.get("status") or {}).get("conditions") or []):
                    entry.setdefault("job_complete", at)

        def on_backup(kind: str, body: dict[str, Any], at: float) -> None:
            phase = (body.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                with lock:
                    entry = times.setdefault(body["metadata"]["name"], {})
                    entry.setdefault("phase", at)
                    entry["result"] = phase  # type: ignore[assignment]
                    if sum(1 for e in times.values() if "phase" in e) >= args.runs:
                        done.set()

        Watcher(Rest(harness.plane.admin_kubeconfig), f"/apis/batch/v1/namespaces/{NS}/jobs", on_job).start()
        Watcher(Rest(harness.plane.admin_kubeconfig), f"/apis/{API}/namespaces/{NS}/directorbackups",
                on_backup).start()
        time.sleep(1)

        # baseline: a create's round trip, and a watch delivering our own write
        echo: dict[str, float] = {}
        Watcher(Rest(harness.plane.admin_kubeconfig), f"/api/v1/namespaces/{NS}/configmaps",
                lambda kind, obj, at: echo.setdefault(obj["metadata"]["name"], at)).start()
        time.sleep(0.5)
        round_trips, deliveries = [], []
        for number in range(20):
            name = f"echo-{number}"
            started = time.perf_counter()
            observer.post(f"/api/v1/namespaces/{NS}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                                 "metadata": {"name": name}})
            round_trips.append(time.perf_counter() - started)
            while name not in echo:
                time.sleep(0.001)
            deliveries.append(echo[name] - started)

        # waves of one run per director: no run waits for the director lock, so the
        # latencies are the operator's, not the queue's
        for number in range(args.runs):
            director = f"d{number % args.directors}"
            name = f"run-{number:03d}"
            if number and number % args.directors == 0:
                wave_done = threading.Event()
                while not wave_done.is_set():
                    with lock:
                        finished = sum(1 for e in times.values() if "phase" in e)
                    if finished >= number:
                        wave_done.set()
                    time.sleep(0.05)
            with lock:
                times.setdefault(name, {})["created"] = time.perf_counter()
            observer.post(f"/apis/{API}/namespaces/{NS}/directorbackups", backup(name, NS, director))
        if not done.wait(900):
            raise SystemExit("runs did not finish within 15 minutes")
        failures = [observer.get(f"/apis/{API}/namespaces/{NS}/directorbackups/{n}")["status"].get("message")
                    for n, e in times.items() if e.get("result") == "Failed"]  # type: ignore[comparison-overlap]
        for message in sorted(set(failures))[:5]:
            print(f"failed run: {message}")
        create_to_job = [e["job_created"] - e["created"] for e in times.values() if "job_created" in e]
        complete_to_phase = [e["phase"] - e["job_complete"] for e in times.values()
                             if "job_complete" in e and "phase" in e]
        failed = [n for n, e in times.items() if e.get("result") == "Failed"]  # type: ignore[comparison-overlap]
        ms = 1000.0
        print(f"runs: {args.runs} over {args.directors} directors ({len(failed)} failed)")
        print(f"baseline create round trip      p50 {statistics.median(round_trips) * ms:7.1f} ms   "
              f"p99 {percentile(round_trips, 0.99) * ms:7.1f} ms")
        print(f"baseline write -> watch event   p50 {statistics.median(deliveries) * ms:7.1f} ms   "
              f"p99 {percentile(deliveries, 0.99) * ms:7.1f} ms")
        print(f"create -> Job created           p50 {statistics.median(create_to_job) * ms:7.1f} ms   "
              f"p99 {percentile(create_to_job, 0.99) * ms:7.1f} ms   (goal p50 <= 100 ms)")
        print(f"Job complete -> Succeeded       p50 {statistics.median(complete_to_phase) * ms:7.1f} ms   "
              f"p99 {percentile(complete_to_phase, 0.99) * ms:7.1f} ms   (goal p50 <= 100 ms)")
        watch = statistics.median(deliveries)
        print(f"ratios to the watch baseline    create->Job {statistics.median(create_to_job) / watch:.1f}x, "
              f"complete->phase {statistics.median(complete_to_phase) / watch:.1f}x")
    finally:
        for director in directors:
            director.stop()
        harness.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
