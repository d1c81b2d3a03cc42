"""Fixtures for the simulator's own tests: a CA, an IaaS, directors, the CLIs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from boshsim.fixtures import ArtifactServer, SimulatedDirector, install_clis, seed
from harness.pki import CertificateAuthority


@pytest.fixture(autouse=True)
def in_a_scratch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bbr leaves bbr-<time>.err.log in its working directory on failure: the test's own
    folder, not the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def sim_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="boshsim-tests-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def ca(sim_root: Path) -> CertificateAuthority:
    return CertificateAuthority(sim_root / "ca")


@pytest.fixture(scope="session")
def bin_dir(sim_root: Path) -> Path:
    return install_clis(sim_root / "bin")


@pytest.fixture(scope="session")
def artifacts(sim_root: Path) -> Iterator[ArtifactServer]:
    server = ArtifactServer(sim_root / "artifacts")
    yield server
    server.close()


@pytest.fixture
def new_director(tmp_path: Path, ca: CertificateAuthority) -> Iterator[Callable[..., SimulatedDirector]]:
    started: list[SimulatedDirector] = []

    def make(name: str = "d", **kwargs: Any) -> SimulatedDirector:
        director = SimulatedDirector(tmp_path / name, tmp_path / "iaas.json", ca, **kwargs).start()
        started.append(director)
        return director
    yield make
    for director in started:
        director.stop()


@pytest.fixture
def seeded(new_director: Callable[..., SimulatedDirector], artifacts: ArtifactServer,
           bin_dir: Path) -> tuple[SimulatedDirector, dict[str, Any]]:
    director = new_director()
    return director, seed(director, artifacts, bin_dir)
