"""The image cannot be built here; check that what it declares matches what the code expects."""

from __future__ import annotations

import re
from pathlib import Path

from bosh_backup_operator.bosh import paths
from bosh_backup_operator.bosh.commands import Tools
from bosh_backup_operator.jobs import RUN_AS

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
PINNED = dict(line.split("=", 1) for line in (REPO / "tests/harness/bosh-tools.versions").read_text().splitlines()
              if line and not line.startswith("#"))


def arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert match, f"Dockerfile has no ARG {name}"
    return match[1]


def test_the_image_pins_the_tools_the_tests_run() -> None:
    """The image ships exactly the bosh and bbr that the test world builds and runs."""
    assert arg("BOSH_CLI_VERSION") == f"v{PINNED['BOSH_CLI_VERSION']}"
    assert arg("BBR_VERSION") == f"v{PINNED['BBR_VERSION']}"
    assert arg("BOSH_CLI_SHA256") == PINNED["BOSH_CLI_SHA256"]
    assert arg("BBR_SHA256") == PINNED["BBR_SHA256"]
    assert "bosh-cli-${BOSH_CLI_VERSION#v}-vendored.tar.gz" in DOCKERFILE
    assert PINNED["BOSH_CLI_ARCHIVE"] == f"bosh-cli-{PINNED['BOSH_CLI_VERSION']}-vendored.tar.gz"
    assert PINNED["BBR_ARCHIVE"] == f"bbr-{PINNED['BBR_VERSION']}-vendored.tar.gz"
    assert "sha256sum -c" in DOCKERFILE and "GOPROXY=off" in DOCKERFILE
    assert "gem install bosh_cli --version 1.3262" in DOCKERFILE


def test_tools_land_where_the_runner_looks_for_them() -> None:
    tools = Tools()
    assert "/usr/local/bin/" in DOCKERFILE and "mv /go/bin/bosh-cli /go/bin/bosh" in DOCKERFILE
    assert "-o /go/bin/bosh " in DOCKERFILE and "-o /go/bin/bbr " in DOCKERFILE
    assert tools.bosh == "bosh" and tools.bbr == "bbr" and tools.bosh_v1 == "bosh1"
    assert "/usr/local/bin/bosh1" in DOCKERFILE
    path = re.search(r"PATH=(\S+)", DOCKERFILE)
    assert path and "/usr/local/bin" in path[1].split(":") and "/opt/bosh-backup/bin" in path[1].split(":")


def test_non_root_user_and_writable_paths_match_the_pods() -> None:
    assert f"USER {RUN_AS}:{RUN_AS}" in DOCKERFILE
    assert f"--uid {RUN_AS}" in DOCKERFILE
    assert f"HOME={paths.WORK}" in DOCKERFILE and f"TMPDIR={paths.TMP}" in DOCKERFILE
    assert f"WORKDIR {paths.WORK}" in DOCKERFILE


def test_final_stage_has_no_build_tools() -> None:
    runtime = DOCKERFILE.split("AS runtime", 1)[1].split("AS with-cli-v1", 1)[0]
    assert "golang" not in runtime and "pip install" not in runtime and "apt-get install" not in runtime
    assert 'CMD ["bosh-backup-operator"]' in runtime
