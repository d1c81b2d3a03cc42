"""Simulated directors, their artifacts and an S3 server, for runs on the harness."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from boshsim.fixtures import ArtifactServer, SimulatedDirector, install_clis, seed
from harness.pki import CertificateAuthority
from harness.s3 import S3Server

_counter = itertools.count()


@pytest.fixture(scope="session")
def sim_ca(harness: Any) -> CertificateAuthority:
    return CertificateAuthority(harness.workdir / "sim" / "ca", common_name="director-ca")


@pytest.fixture(scope="session")
def sim_bin(harness: Any) -> Path:
    return install_clis(harness.workdir / "sim" / "bin")


@pytest.fixture(scope="session")
def artifacts(harness: Any) -> Iterator[ArtifactServer]:
    server = ArtifactServer(harness.workdir / "sim" / "artifacts")
    yield server
    server.close()


@pytest.fixture(scope="session")
def s3(harness: Any) -> Iterator[S3Server]:
    server = S3Server(harness.workdir / "s3").start()
    yield server
    server.stop()


@pytest.fixture
def make_director(harness: Any, sim_ca: CertificateAuthority, sim_bin: Path,
                  artifacts: ArtifactServer) -> Iterator[Callable[..., tuple[SimulatedDirector, dict[str, Any]]]]:
    """A started, seeded simulated director of its own (mode uaa or basic)."""
    started: list[SimulatedDirector] = []

    def make(mode: str = "uaa", seeded: bool = True) -> tuple[SimulatedDirector, dict[str, Any]]:
        number = next(_counter)
        root = harness.workdir / "sim" / f"director-{number}"
        # the cloud outlives the director: its file is not in the director's folder
        iaas = harness.workdir / "sim" / f"iaas-{number}.json"
        director = SimulatedDirector(root, iaas, sim_ca, mode=mode).start()
        started.append(director)
        sources = seed(director, artifacts, sim_bin) if seeded else {}
        return director, sources
    yield make
    for director in started:
        director.stop()
