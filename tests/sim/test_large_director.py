"""A director of realistic size through the real bosh CLI and the runner's own
executor and parsers: nothing may be cut, however much the CLI prints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bosh_backup_operator.bosh import commands, parsers
from bosh_backup_operator.runner.execute import Executor
from boshsim.large import make_large


def test_every_row_of_a_large_director_is_read(new_director: Any, bin_dir: Path, tmp_path: Path) -> None:
    director = new_director("large")
    expected = make_large(director)  # 500 releases, 100 stemcells, 200 deployments, 2,000 instances
    tools = commands.Tools(bosh=str(bin_dir / "bosh"))
    executor = Executor(str(tmp_path), env={**os.environ, **director.cli_env()})

    def run(*args: str) -> str:
        completed = executor.run(commands.bosh(tools, *args))
        assert completed.code == 0, completed.stdout[-2000:]
        return completed.stdout

    releases = parsers.parse_releases(run("releases"))
    assert len(releases) == expected["releases"]
    assert len({(r["name"], r["version"]) for r in releases}) == expected["releases"]
    assert len(parsers.parse_stemcells(run("stemcells"))) == expected["stemcells"]
    deployments = parsers.parse_deployments(run("deployments"))
    assert len(deployments) == expected["deployments"]
    assert all(len(d["releases"]) == 2 and len(d["stemcells"]) == 1 for d in deployments)
    output = run("instances", "--ps")
    assert output.count("\n") > 50_000  # far beyond any line cap
    instances = parsers.parse_instances(output)
    assert len(instances) == expected["instances"]
    assert sum(len(i.processes) for i in instances) == expected["processes"]
    assert len({i.deployment for i in instances}) == expected["deployments"]
    assert all(i.state == "running" and not i.failing_processes for i in instances)
