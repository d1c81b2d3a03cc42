"""A fleet backed up at once: 50 directors in 10 namespaces, each backup with the real bbr.

    .venv/bin/python bench/fleet_backups.py [--directors 50] [--namespaces 10] [--per-director 2]

Starts the harness and the simulated directors (each a real sshd and an HTTPS API),
then creates --per-director DirectorBackups for every director at once. Checks that all
succeed and that no two runs on one director overlapped (the per-director lock), and
prints the wall time, the operator's CPU (share of one core) and peak RSS, and the
apiserver's requests per second (its own apiserver_request_total). Baseline, in the same
run: one backup of one director alone, create to Succeeded.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
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


def apiserver_requests(harness: Harness) -> float:
    text = harness.plane.kubectl("get", "--raw", "/metrics").stdout
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("apiserver_request_total{"))


def phases(harness: Harness, namespaces: list[str]) -> dict[tuple[str, str], dict[str, str]]:
    out = {}
    for ns in namespaces:
        for body in harness.admin.get(f"/apis/{API}/namespaces/{ns}/directorbackups")["items"]:
            out[(ns, body["metadata"]["name"])] = {**(body.get("status") or {}),
                                                    "directorRef": body["spec"]["directorRef"]["name"]}
    return out


def overlaps(runs: dict[tuple[str, str], dict[str, str]]) -> list[str]:
    """Pairs of runs on one director whose [start, completion] overlap (seconds resolution:
    a run that starts in the second the previous one ended does not count)."""
    found = []
    by_director: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for (ns, name), status in runs.items():
        by_director.setdefault((ns, status["directorRef"]), []).append(
            (status.get("startTime", ""), status.get("completionTime", ""), name))
    for spans in by_director.values():
        spans.sort()
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            if start < end:
                found.append(f"{first} and {second}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--directors", type=int, default=50)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--per-director", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    harness = Harness(work / "harness")
    directors: list[SimulatedDirector] = []
    namespaces = [f"fleet-{number}" for number in range(args.namespaces)]
    try:
        harness.start()
        ca = CertificateAuthority(work / "ca")
        for ns in namespaces:
            harness.create_namespace(ns)
        for number in range(args.directors):
            director = SimulatedDirector(work / f"d{number}", work / f"iaas-{number}.json", ca).start()
            directors.append(director)
            register(harness, namespaces[number % args.namespaces], director, f"d{number}")
        assert harness.operator is not None
        pid = harness.operator.popen.pid

        began = time.monotonic()   # baseline: one backup alone
        first = namespaces[0]
        harness.admin.post(f"/apis/{API}/namespaces/{first}/directorbackups", backup("alone", first, "d0"))
        while (harness.admin.get(f"/apis/{API}/namespaces/{namespaces[0]}/directorbackups/alone").get("status")
               or {}).get("phase") not in ("Succeeded", "Failed"):
            time.sleep(0.2)
        alone = time.monotonic() - began

        cpu0, requests0, peak = cpu_seconds(pid), apiserver_requests(harness), 0.0
        began = time.monotonic()
        total = args.directors * args.per_director
        for round_ in range(args.per_director):
            for number in range(args.directors):
                ns = namespaces[number % args.namespaces]
                harness.admin.post(f"/apis/{API}/namespaces/{ns}/directorbackups",
                                   backup(f"d{number}-{round_}", ns, f"d{number}"))
        while True:
            peak = max(peak, rss_mib(pid))
            runs = {key: value for key, value in phases(harness, namespaces).items() if key[1] != "alone"}
            ended = [s for s in runs.values() if s.get("phase") in ("Succeeded", "Failed", "Cancelled")]
            if len(ended) >= total or time.monotonic() - began > 1800:
                break
            time.sleep(1)
        wall = time.monotonic() - began
        cpu = (cpu_seconds(pid) - cpu0) / wall
        rate = (apiserver_requests(harness) - requests0) / wall
        succeeded = sum(1 for s in runs.values() if s.get("phase") == "Succeeded")
        clashes = overlaps(runs)
        print(f"baseline: one backup alone, create -> Succeeded {alone:.1f}s")
        print(f"{total} backups of {args.directors} directors in {args.namespaces} namespaces: {succeeded} "
              f"succeeded in {wall:.1f}s wall ({wall / alone:.1f}x one backup alone)")
        print(f"runs on one director that overlapped: {len(clashes)} {clashes[:3]}")
        print(f"operator CPU {cpu * 100:.1f}% of a core on average, peak RSS {peak:.1f} MiB")
        print(f"apiserver requests: {rate:.1f} per second on average")
    finally:
        for director in directors:
            director.stop()
        harness.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
