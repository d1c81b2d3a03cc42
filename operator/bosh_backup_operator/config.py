"""The operator's settings, from its environment (set in deploy/operator.yaml)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .bosh.commands import Tools
from .jobs import RunnerConfig


@dataclass(frozen=True)
class OperatorConfig:
    tools: Tools
    runner: RunnerConfig
    lock_wait_seconds: float = 5.0
    # where the directors' Leases live, so that runs in every namespace share them; in
    # deploy/ the operator's own namespace. Empty: each run's namespace (no cross-namespace lock)
    lock_namespace: str = ""

    @classmethod
    def from_env(cls) -> OperatorConfig:
        env = os.environ
        tools = Tools(bosh=env.get("BOSH_BACKUP_BOSH_CLI", "bosh"),
                      bosh_v1=env.get("BOSH_BACKUP_BOSH_V1_CLI", "bosh1"),
                      bbr=env.get("BOSH_BACKUP_BBR_CLI", "bbr"))
        runner = RunnerConfig(image=env.get("BOSH_BACKUP_RUNNER_IMAGE", RunnerConfig.image),
                              grace_seconds=int(env.get("BOSH_BACKUP_RUNNER_GRACE_SECONDS", "120")))
        return cls(tools=tools, runner=runner, lock_namespace=env.get("BOSH_BACKUP_LOCK_NAMESPACE", ""))
