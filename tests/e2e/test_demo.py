"""The README's first command, end to end: backup, disaster, restore, nothing lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_backs_up_loses_and_restores_a_director() -> None:
    # not pytest's tmp_path: its parents are closed to the non-root runner pods
    workdir = Path(tempfile.gettempdir()) / f"bosh-backup-e2e-{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "harness.demo", "--exit", "--workdir", str(workdir)],
            cwd=ROOT, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT / "tests")})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Succeeded: stored 7 files" in out
    assert "fresh director: 0 deployments, 0 stemcells" in out
    assert "VerifyInstances  Succeeded 12 processes running on 6 instances in 3 deployments" in out
    assert "The restored director equals the original: nothing lost." in out
    assert "differs" not in out
    assert "export KUBECONFIG=" in out and "The artifact: " in out
