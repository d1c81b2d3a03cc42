"""The image cannot be built here; check that what it declares matches what the code expects."""

from __future__ import annotations

import re
from pathlib import Path

from bosh_backup_operator.bosh import paths
from bosh_backup_operator.bosh.commands import Tools
from bosh_backup_operator.jobs import RUN_AS

DOCKERFILE = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()


def test_pinned_tool_versions() -> None:
    assert re.search(r"^ARG BOSH_CLI_VERSION=v7\.\d+\.\d+$", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^ARG BBR_VERSION=v1\.\d+\.\d+$", DOCKERFILE, re.MULTILINE)
    assert "gem install bosh_cli --version 1.3262" in DOCKERFILE


def test_tools_land_where_the_runner_looks_for_them() -> None:
    tools = Tools()
    assert "/usr/local/bin/" in DOCKERFILE and "mv /go/bin/bosh-cli /go/bin/bosh" in DOCKERFILE
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
