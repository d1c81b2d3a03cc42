"""A director of realistic size, written straight into its database (uploading hundreds
of releases through the CLI would take minutes and prove nothing more)."""

from __future__ import annotations

import hashlib
from typing import Any

from .fixtures import SimulatedDirector


def make_large(director: SimulatedDirector, *, releases: int = 500, stemcells: int = 100, deployments: int = 200,
               instances_per_deployment: int = 10, processes: int = 3) -> dict[str, int]:
    """Fills the director's database; returns the counts a reader must find."""
    def sha1(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()
    stemcell_rows = [{"name": f"bosh-aws-xen-hvm-ubuntu-jammy-go_agent-{n % 4}", "version": f"1.{n}",
                      "os": "ubuntu-jammy", "cpi": "", "cid": f"ami-{sha1(str(n))[:12]}", "sha1": sha1(f"s{n}"),
                      "blob_id": None} for n in range(stemcells)]
    release_rows = [{"name": f"release-{n // 5}", "version": f"{n % 5}.{n}", "sha1": sha1(f"r{n}"), "blob_id": None,
                     "commit_hash": sha1(f"c{n}")[:8], "uncommitted_changes": False, "jobs": [f"job-{n}"]}
                    for n in range(releases)]
    vms: dict[str, Any] = {}
    deployment_rows = []
    for d in range(deployments):
        stemcell = stemcell_rows[d % stemcells]
        instances = []
        for i in range(instances_per_deployment):
            vm_cid = f"vm-{d}-{i}"
            vms[vm_cid] = {"agent_responsive": True}
            instances.append({
                "job": f"group-{i % 3}", "index": i, "id": sha1(f"{d}/{i}")[:8] + "-" + sha1(f"{i}/{d}")[:4],
                "az": f"z{i % 3 + 1}", "ips": [f"10.{d // 250}.{d % 250}.{i + 10}"], "vm_cid": vm_cid,
                "disk_cid": f"disk-{d}-{i}", "agent_id": sha1(vm_cid)[:16], "vm_type": "default",
                "processes": [{"name": f"process-{p}", "state": "running"} for p in range(processes)]})
        deployment_rows.append({
            "name": f"deployment-{d:03d}",
            "releases": [{"name": r["name"], "version": r["version"]}
                         for r in release_rows[(d * 2) % releases:(d * 2) % releases + 2]],
            "stemcells": [{"name": stemcell["name"], "version": stemcell["version"]}],
            "instances": instances})
    state = director.state
    with state.lock:
        db = state.db()
        db.update(stemcells=stemcell_rows, releases=release_rows, deployments=deployment_rows)
        state.save(db)
    with director.iaas.edit() as cloud:
        cloud["vms"].update(vms)
    return {"releases": releases, "stemcells": stemcells, "deployments": deployments,
            "instances": deployments * instances_per_deployment,
            "processes": deployments * instances_per_deployment * processes}
