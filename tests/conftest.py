"""Shared pytest setup: integration tests get one real local cluster per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def harness() -> Iterator[object]:
    from harness.env import Harness

    # runner pods find the real bosh and bbr (and the CLI v1 stand-in) at the image's
    # paths, as they would in the Dockerfile's image: see tests/harness/image.py
    workdir = Path(tempfile.mkdtemp(prefix="bosh-backup-tests-"))
    env = Harness(workdir, operator_env={
        "BOSH_BACKUP_RECHECK_SECONDS": "2", "BOSH_BACKUP_READY_RECHECK_SECONDS": "6",
        "BOSH_BACKUP_SAFETY_NET_SECONDS": "3",
        "BOSH_BACKUP_RUNNER_GRACE_SECONDS": "20"})
    try:
        env.start()
        yield env
    finally:
        env.stop()
        if os.environ.get("KEEP_HARNESS"):
            print(f"harness state kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
