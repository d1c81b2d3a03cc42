"""BOSH-FACTS.md section 4 (CLI v1), and the whole procedure as round trips.

A round trip: seed a director, back it up, destroy it, deploy a fresh one from the
same vars-store at the same address, restore, re-upload with --fix, cloud-check,
and compare the two directors' state: equal.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from boshsim.fixtures import ArtifactServer, SimulatedDirector, bbr, bosh, seed


def v1(bin_dir: Path, director: SimulatedDirector, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"BOSH_USER": director.credentials.client, "BOSH_PASSWORD": director.credentials.client_secret,
           "HOME": str(home)}
    return subprocess.run([str(bin_dir / "bosh1"), "-n", *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", **env})


def v1_director(new_director: Any, artifacts: ArtifactServer, bin_dir: Path, tmp_path: Path
                ) -> tuple[SimulatedDirector, dict[str, Any]]:
    director = new_director("v1", mode="basic")
    sources = seed(director, artifacts, bin_dir)
    target = v1(bin_dir, director, tmp_path, "target", director.url, "--ca-cert", str(director.ca.cert_path))
    assert target.stdout.strip() == "Target set to 'sim-director'", target.stderr
    return director, sources


def test_v1_backup_holds_only_the_database(new_director: Any, artifacts: ArtifactServer, bin_dir: Path,
                                           tmp_path: Path) -> None:
    director, _ = v1_director(new_director, artifacts, bin_dir, tmp_path)
    result = v1(bin_dir, director, tmp_path, "backup", str(tmp_path))
    assert result.returncode == 0, result.stderr
    match = re.search(r"Backup of BOSH director was put in '(.+)'", result.stdout)
    assert match
    path = Path(match[1])
    assert re.fullmatch(r"bosh_backup_sim-director_\d+\.tgz", path.name)
    with tarfile.open(path) as archive:
        assert archive.getnames() == ["director_db.sql"]


def test_v1_fix_cannot_go_with_skip_if_exists(new_director: Any, artifacts: ArtifactServer, bin_dir: Path,
                                              tmp_path: Path) -> None:
    director, sources = v1_director(new_director, artifacts, bin_dir, tmp_path)
    result = v1(bin_dir, director, tmp_path, "upload", "release", sources["releases"][0]["url"], "--fix",
                "--skip-if-exists")
    assert result.returncode == 1 and "--fix" in result.stderr


def test_v1_cloudcheck_non_interactive_needs_auto_or_report(new_director: Any, artifacts: ArtifactServer,
                                                             bin_dir: Path, tmp_path: Path) -> None:
    director, _ = v1_director(new_director, artifacts, bin_dir, tmp_path)
    refused = v1(bin_dir, director, tmp_path, "cloudcheck", "web")
    assert refused.returncode == 1 and "--auto" in refused.stderr and "--report" in refused.stderr
    web = next(d for d in director.snapshot()["deployments"] if d["name"] == "web")
    director.break_vm(web["instances"][0]["vm_cid"])
    report = v1(bin_dir, director, tmp_path, "cloudcheck", "web", "--report")
    assert report.returncode == 1 and "Found 1 problem" in report.stdout
    auto = v1(bin_dir, director, tmp_path, "cloudcheck", "web", "--auto")
    assert auto.returncode == 0 and "Cloudcheck is finished" in auto.stdout


def test_v1_instances_ps_box_table(new_director: Any, artifacts: ArtifactServer, bin_dir: Path,
                                   tmp_path: Path) -> None:
    director, _ = v1_director(new_director, artifacts, bin_dir, tmp_path)
    result = v1(bin_dir, director, tmp_path, "instances", "--ps")
    assert result.returncode == 0
    assert "| Instance" in result.stdout and "Deployment 'web'" in result.stdout
    assert "Instances total: 6" in result.stdout


def test_bbr_round_trip_loses_nothing(seeded: Any, bin_dir: Path, tmp_path: Path, new_director: Any) -> None:
    original, sources = seeded
    before = original.snapshot()
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    result = bbr(bin_dir, original, "backup", "--artifact-path", str(artifacts), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = next(artifacts.iterdir())

    original.destroy()
    fresh = new_director("fresh", credentials=original.credentials, port=original.port,
                         ssh_port=original.ssh_port)
    assert fresh.snapshot()["deployments"] == []
    restored = bbr(bin_dir, fresh, "restore", "--artifact-path", str(folder), cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "Completed restore of 127.0.0.1" in restored.stdout
    for kind in ("stemcell", "release"):
        for item in sources[f"{kind}s"]:  # idempotent after bbr: the blobstore came back too
            bosh(bin_dir, fresh, f"upload-{kind}", item["url"], "--fix", "--sha1", item["sha1"], check=True)
    for deployment in ("web", "db", "cache"):
        assert bosh(bin_dir, fresh, "-d", deployment, "cck", "--report").returncode == 0
    assert fresh.snapshot() == before


def test_v1_round_trip_needs_the_reupload(new_director: Any, artifacts: ArtifactServer, bin_dir: Path,
                                          tmp_path: Path) -> None:
    original, sources = v1_director(new_director, artifacts, bin_dir, tmp_path)
    before = original.snapshot()
    backup = v1(bin_dir, original, tmp_path, "backup", str(tmp_path))
    assert backup.returncode == 0, backup.stderr
    tarball = Path(re.search(r"put in '(.+)'", backup.stdout)[1])  # type: ignore[index]

    original.destroy()
    fresh = new_director("v1-fresh", mode="basic", credentials=original.credentials, port=original.port,
                         ssh_port=original.ssh_port)
    restore = v1(bin_dir, fresh, tmp_path, "restore", str(tarball))
    assert restore.returncode == 0, restore.stderr
    after_restore = fresh.snapshot()
    assert after_restore["deployments"] == before["deployments"]
    assert all(row["blob"] is None for row in after_restore["stemcells"] + after_restore["releases"])

    for item in sources["stemcells"]:
        assert v1(bin_dir, fresh, tmp_path, "upload", "stemcell", item["url"], "--fix", "--sha1",
                  item["sha1"]).returncode == 0
    for item in sources["releases"]:
        assert v1(bin_dir, fresh, tmp_path, "upload", "release", item["url"], "--fix").returncode == 0
    for deployment in ("web", "db", "cache"):
        assert v1(bin_dir, fresh, tmp_path, "cloudcheck", deployment, "--report").returncode == 0
    after = fresh.snapshot()
    # credhub and uaa are not in a v1 backup: a v1 restore brings back the database only
    assert {k: v for k, v in after.items() if k not in ("credhub", "uaa")} == \
        {k: v for k, v in before.items() if k not in ("credhub", "uaa")}
