"""The embedded default, end to end: a backup, a disaster, a restore, and the proof.

    python -m harness.demo [--workdir DIR] [--exit]

Starts the local control plane with the operator (under deploy/'s RBAC) and a
simulated director seeded with deployments, stemcells and releases; backs it up
with a DirectorBackup, showing progress live; destroys the director and deploys a
fresh one at the same address; restores it with a DirectorRestore, showing each
step; and compares the two directors side by side. With a terminal it then keeps the
cluster up for kubectl until Ctrl-C; with --exit (or without a terminal) it stops.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from boshsim.fixtures import ArtifactServer, SimulatedDirector, install_clis, seed
from boshsim.k8s import API, backup, get, register

from .env import Harness, wait_forever
from .pki import CertificateAuthority

NS = "bosh"
DEFAULT_WORKDIR = Path("/tmp/bosh-backup-demo")


def say(text: str = "") -> None:
    print(text, flush=True)


def follow(harness: Harness, kind: str, name: str, timeout: float = 300) -> dict[str, Any]:
    """Prints each step as it changes, until the run ends."""
    shown: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = get(harness, kind, NS, name).get("status") or {}
        for step in status.get("steps") or []:
            line = f"{step['state']:<9} {step.get('message', '')}"
            if step.get("state") == "Running" and step.get("percent") is not None:
                line = f"{step['state']:<9} {step['percent']:3d}% {step.get('message', '')}"
            if shown.get(step["name"]) != line and step["state"] != "Pending":
                shown[step["name"]] = line
                # the whole message, wrapped between words: never a path or a reason cut short
                say(textwrap.fill(line, width=140, initial_indent=f"    {step['name']:<16} ",
                                  subsequent_indent=" " * 21, break_long_words=False, break_on_hyphens=False))
        if status.get("phase") in ("Succeeded", "Failed", "Cancelled"):
            return dict(status)
        time.sleep(0.3)
    raise SystemExit(f"{kind} {name} did not finish within {timeout:.0f}s")


def compare(before: dict[str, Any], after: dict[str, Any]) -> bool:
    def rows(snapshot: dict[str, Any]) -> dict[str, str]:
        instances = [i for d in snapshot["deployments"] for i in d["instances"]]
        processes = [p for i in instances for p in i["processes"]]
        return {
            "director uuid": snapshot["uuid"],
            "deployments": ", ".join(d["name"] for d in snapshot["deployments"]),
            "instances": f"{len(instances)} ({', '.join(sorted({i['job'] for i in instances}))})",
            "processes running": f"{sum(p['state'] == 'running' for p in processes)} of {len(processes)}",
            "stemcells": ", ".join(f"{s['version']}{'' if s['blob'] else ' (no blob!)'}"
                                   for s in snapshot["stemcells"]),
            "releases": ", ".join(f"{r['name']}/{r['version']}{'' if r['blob'] else ' (no blob!)'}"
                                  for r in snapshot["releases"]),
            "credhub credentials": str(len(snapshot["credhub"]["credentials"])),
            "uaa clients": str(len(snapshot["uaa"]["clients"])),
        }
    left, right = rows(before), rows(after)
    width = max(len(v) for v in [*left.values(), "original"]) + 2
    say(f"    {'':<20} {'original':<{width}} restored")
    for key in left:
        mark = "" if left[key] == right[key] else "   <-- differs"
        say(f"    {key:<20} {left[key]:<{width}} {right[key]}{mark}")
    return before == after


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.demo")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--exit", action="store_true", help="stop everything at the end")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    tools = install_clis(args.workdir / "tools")  # the real bosh and bbr, for seeding the director
    harness = Harness(args.workdir / "cluster", operator_env={"BOSH_BACKUP_SAFETY_NET_SECONDS": "3"})
    directors: list[SimulatedDirector] = []
    artifacts: ArtifactServer | None = None
    try:
        say("1. Starting a local Kubernetes control plane, the node agent and the operator ...")
        started = time.monotonic()
        harness.start()
        say(f"   ready in {time.monotonic() - started:.1f}s (etcd, kube-apiserver with RBAC, "
            "kube-controller-manager; the operator runs under deploy/'s RBAC)")
        harness.create_namespace(NS)

        say("2. Starting a simulated BOSH director with 3 deployments, 2 stemcells and 4 releases ...")
        ca = CertificateAuthority(args.workdir / "director-ca", common_name="director-ca")
        iaas = args.workdir / "iaas.json"
        original = SimulatedDirector(args.workdir / "director", iaas, ca, name="prod").start()
        directors.append(original)
        artifacts = ArtifactServer(args.workdir / "bosh.io")
        seed(original, artifacts, tools)
        register(harness, NS, original, "prod")
        before = original.snapshot()
        say(f"   Director prod at {original.url} (uuid {before['uuid']})")

        say("3. kubectl apply DirectorBackup prod-nightly (method bbr, to a PersistentVolumeClaim) ...")
        harness.apply(backup("prod-nightly", NS, "prod"))
        status = follow(harness, "DirectorBackup", "prod-nightly")
        if status["phase"] != "Succeeded":
            say(f"   backup {status['phase']}: {status.get('message')}")
            return 1
        artifact = status["artifact"]
        say(f"   Succeeded: {status['message']}")
        ran = status.get("tools") or {}
        say(f"   The runner pod ran the real bosh {ran.get('bosh', '?')} and bbr {ran.get('bbr', '?')} "
            f"(status.tools); bbr reached the director VM's sshd at {original.ssh_host}")

        say("4. Disaster: the director VM and its disk are gone. Deploying a fresh, empty director "
            "at the same address ...")
        original.destroy()
        directors.remove(original)
        fresh = original.replacement(args.workdir / "fresh-director").start()
        directors.append(fresh)
        say(f"   fresh director: {len(fresh.snapshot()['deployments'])} deployments, "
            f"{len(fresh.snapshot()['stemcells'])} stemcells")

        say("5. kubectl apply DirectorRestore prod-recovery (the BOSH docs' procedure, step by step) ...")
        mirror = f"http://127.0.0.1:{artifacts.port}"
        harness.apply({"apiVersion": API, "kind": "DirectorRestore",
                       "metadata": {"name": "prod-recovery", "namespace": NS},
                       "spec": {"directorRef": {"name": "prod"}, "source": {"backupRef": {"name": "prod-nightly"}},
                                "reupload": {"stemcellUrlPattern": f"{mirror}/{{name}}-{{version}}.tgz",
                                             "releaseUrlPattern": f"{mirror}/{{name}}-{{version}}.tgz"}}})
        status = follow(harness, "DirectorRestore", "prod-recovery")
        say(f"   {status['phase']}: {status.get('message')}")

        say("6. The restored director, side by side with the original:")
        equal = compare(before, fresh.snapshot())
        say("   The restored director equals the original: nothing lost." if equal else
            "   The restored director DIFFERS from the original.")
        say("7. kubectl bosh-backup status prod (the plugin's screen for whoever is on call):")
        plugin_env = {**os.environ, "KUBECONFIG": str(harness.plane.admin_kubeconfig),
                      "PATH": f"{harness.plane.bin_dir}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        shown = subprocess.run(["kubectl", "bosh-backup", "-n", NS, "status", "prod"], env=plugin_env,
                               capture_output=True, text=True)
        say(textwrap.indent("\n".join(line.rstrip() for line in (shown.stdout or shown.stderr).splitlines()), "   "))
        artifact_dir = Path(harness.node_root) / "pvcs" / NS / "backups" / artifact["path"]
        stays_up = not args.exit and sys.stdin.isatty()
        if not stays_up:
            say(f"\nThe artifact: {artifact_dir}\nLogs of every component: {harness.plane.logs}")
        else:
            say(f"""
What you can do next:
  export KUBECONFIG={harness.plane.admin_kubeconfig}
  export PATH={harness.plane.bin_dir}:$PATH
  kubectl get bosh-backup -n {NS}
  kubectl bosh-backup -n {NS} status                 # the plugin: one screen per director
  kubectl bosh-backup -n {NS} describe restore prod-recovery
  kubectl get dbk prod-nightly -n {NS} -o yaml       # steps, artifact, checksums
  kubectl get drs prod-recovery -n {NS} -o yaml      # every restore step and what it found
  kubectl get events -n {NS}
The artifact: {artifact_dir}
Logs of every component: {harness.plane.logs}""")
        ok = status["phase"] == "Succeeded" and equal
        if stays_up:
            say("\nThe cluster stays up for kubectl; press Ctrl-C to stop it.")
            wait_forever(harness)
        return 0 if ok else 1
    finally:
        for director in directors:
            director.stop()
        if artifacts:
            artifacts.close()
        harness.stop()


if __name__ == "__main__":
    sys.exit(main())
