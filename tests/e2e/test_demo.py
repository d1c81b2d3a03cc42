"""The README's first command, end to end: backup, disaster, restore, nothing lost,
from a fresh clone inside a private folder, as a user who clones into their home
directory (mode 0700) would run it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_from_a_clone_in_a_private_folder() -> None:
    private = Path(tempfile.mkdtemp(prefix="bosh-backup-e2e-"))
    try:
        assert stat.S_IMODE(private.stat().st_mode) == 0o700  # what a runner pod's user cannot enter
        clone = private / "bosh-backup-operator"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
        result = subprocess.run(
            ["bash", "hack/demo.sh", "--exit", "--workdir", str(private / "demo")],
            cwd=clone, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL, env=env)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    out = result.stdout
    assert result.returncode == 0, out[-6000:] + result.stderr[-6000:]
    assert "Succeeded: stored 7 files" in out
    assert "ran the real bosh 7.10.6 and bbr 1.9.81 (status.tools)" in out
    assert "fresh director: 0 deployments, 0 stemcells" in out
    assert "VerifyInstances  Succeeded 12 processes running on 6 instances in 3 deployments" in out
    assert "The restored director equals the original: nothing lost." in out
    assert "pvc://backups/bosh-backups/bosh/prod/prod-nightly" in out  # a long step message, whole
    assert "differs" not in out and "DIFFERS" not in out
    # the cluster is gone at the end: nothing tells the user to point kubectl at it
    assert "export KUBECONFIG=" not in out and "The artifact: " in out
