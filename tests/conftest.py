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
    from boshsim.fixtures import install_clis
    from harness.env import Harness

    workdir = Path(tempfile.mkdtemp(prefix="bosh-backup-tests-"))
    tools = install_clis(workdir / "tools")  # the runner image's bosh, bosh v1 and bbr
    env = Harness(workdir, operator_env={
        "BOSH_BACKUP_RECHECK_SECONDS": "2", "BOSH_BACKUP_SAFETY_NET_SECONDS": "3",
        "BOSH_BACKUP_BOSH_CLI": str(tools / "bosh"), "BOSH_BACKUP_BOSH_V1_CLI": str(tools / "bosh1"),
        "BOSH_BACKUP_BBR_CLI": str(tools / "bbr"), "BOSH_BACKUP_RUNNER_GRACE_SECONDS": "20"})
    try:
        env.start()
        yield env
    finally:
        env.stop()
        if os.environ.get("KEEP_HARNESS"):
            print(f"harness state kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
