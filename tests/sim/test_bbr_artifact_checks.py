"""The operator's check of a bbr artifact against bbr's own metadata, on artifacts the real
bbr made, and agreeing with what the real bbr says of them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bosh_backup_operator.bosh.artifact import check_bbr_folder
from boshsim.capture import flip_data_byte
from boshsim.fixtures import bbr


def made_by_bbr(bin_dir: Path, director: Any, tmp_path: Path) -> Path:
    out = tmp_path / "artifacts"
    out.mkdir()
    result = bbr(bin_dir, director, "backup", "--artifact-path", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return next(out.iterdir())


def test_a_whole_artifact_passes_every_file(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    director, _ = seeded
    folder = made_by_bbr(bin_dir, director, tmp_path)
    check = check_bbr_folder(folder)
    assert check.problems == []
    assert check.tars == 4 and check.files >= 9  # 3 dumps and the blobstore's 6 blobs


def test_damage_is_named_and_bbr_agrees(seeded: Any, bin_dir: Path, tmp_path: Path, new_director: Any) -> None:
    director, _ = seeded
    folder = made_by_bbr(bin_dir, director, tmp_path)
    flipped = tmp_path / "flipped"
    shutil.copytree(folder, flipped)
    flip_data_byte(flipped / "bosh-0-director.tar")
    [problem] = check_bbr_folder(flipped).problems
    assert problem.startswith("bosh-0-director.tar: ./director-db.json has sha256 ")
    fresh = new_director("fresh", credentials=director.credentials)
    refused = bbr(bin_dir, fresh, "restore", "--artifact-path", str(flipped), cwd=tmp_path)
    assert refused.returncode == 1 and "Backup is corrupted" in refused.stderr  # bbr says the same

    truncated = tmp_path / "truncated"
    shutil.copytree(folder, truncated)
    tar = truncated / "bosh-0-blobstore.tar"
    tar.write_bytes(tar.read_bytes()[:700])
    assert any(p.startswith("bosh-0-blobstore.tar") for p in check_bbr_folder(truncated).problems)

    missing = tmp_path / "missing"
    shutil.copytree(folder, missing)
    (missing / "bosh-0-bbr-uaadb.tar").unlink()
    assert check_bbr_folder(missing).problems == ["bosh-0-bbr-uaadb.tar is missing"]
