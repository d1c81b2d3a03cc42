"""A plan: the ordered steps a runner executes, and everything it needs but secrets.

A plan travels to the pod as JSON in an environment variable; it names secret
material only by the paths and variable names the pod receives it under.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Step:
    name: str                      # shown in status.steps, e.g. "PreBackupCheck"
    action: str                    # what the runner does: exec, director-info, inventory, ...
    description: str               # one line for people
    argv: list[str] = field(default_factory=list)
    commands: dict[str, list[str]] = field(default_factory=dict)   # named argv for multi-command steps
    cleanup: list[str] = field(default_factory=list)   # argv to run when this step fails or is stopped
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    kind: str                      # DirectorBackup or DirectorRestore
    namespace: str
    name: str
    uid: str
    director: str
    method: str                    # bbr or v1
    dialect: str                   # v2 or v1
    steps: list[Step]
    storage: dict[str, Any]        # resolved storage spec (no secrets)
    artifact_path: str             # <prefix>/<namespace>/<director>/<backup> relative to the storage root
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        data["steps"] = [Step(**step) for step in data["steps"]]
        return cls(**data)

    def step_names(self) -> list[str]:
        return [step.name for step in self.steps]
