"""Writes the run's steps and progress into its resource's status, from the pod.

The runner owns status.steps and status.progress while its pod runs; the operator
owns phase and conditions. Updates are throttled, but every state change is sent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .. import GROUP, VERSION
from ..planning.plan import Plan
from ..status import now_iso

log = logging.getLogger("runner")
PLURALS = {"DirectorBackup": "directorbackups", "DirectorRestore": "directorrestores",
           "DirectorBackupCatalog": "directorbackupcatalogs"}


class Reporter:
    """Keeps the steps and progress of a plan; pushes them when connected to the API."""

    def __init__(self, plan: Plan, api: Any = None, min_interval: float = 1.0):
        self.plan, self.api, self.min_interval = plan, api, min_interval
        self.steps: dict[str, dict[str, Any]] = {s.name: {"name": s.name, "state": "Pending"} for s in plan.steps}
        self.weights = {s.name: int(s.options.get("weight", 1)) for s in plan.steps}
        self.progress: dict[str, Any] = {"stepCount": len(plan.steps), "stepIndex": 0, "percent": 0}
        self.last_push = 0.0
        self.extra: dict[str, Any] = {}
        self.minimal = False  # after the API refused a full status, only steps and progress are sent

    # -- reading what earlier attempts recorded ---------------------------------------------

    def load(self) -> dict[str, Any]:
        if self.api is None:
            return {}
        body = self.api.get_namespaced_custom_object(GROUP, VERSION, self.plan.namespace,
                                                     PLURALS[self.plan.kind], self.plan.name)
        status = dict(body.get("status") or {})
        for step in status.get("steps") or []:
            if step.get("name") in self.steps:
                self.steps[step["name"]] = dict(step)
        for key in ("summary", "problems", "failing", "uploaded", "databaseInPlace"):  # what a resumed run carries on
            if key in status:
                self.extra[key] = status[key]
        return status

    def attempt(self) -> int:
        return max([int(s.get("attempts", 0)) for s in self.steps.values()] + [0]) + 1

    def succeeded(self, name: str) -> bool:
        return self.steps[name].get("state") == "Succeeded"

    # -- recording -------------------------------------------------------------------------------

    def start(self, name: str, attempt: int) -> None:
        step = self.steps[name]
        step.update(state="Running", startTime=now_iso(), attempts=attempt, message="")
        step.pop("completionTime", None)
        step.pop("percent", None)
        self.progress.update(step=name, stepIndex=self.plan.step_names().index(name) + 1)
        self._recompute()
        self.push(force=True)

    def update(self, name: str, *, message: str | None = None, percent: int | None = None,
               bytes_done: int | None = None, bytes_total: int | None = None, **counts: int) -> None:
        step = self.steps[name]
        if message is not None:
            step["message"] = message[:4000]
        if percent is not None:
            step["percent"] = max(0, min(100, percent))
        step.update(counts)
        if bytes_done is not None:
            self.progress["bytesDone"] = bytes_done
        if bytes_total is not None:
            self.progress["bytesTotal"] = bytes_total
        self._recompute()
        self.push()

    def finish(self, name: str, state: str, message: str) -> None:
        step = self.steps[name]
        step.update(state=state, completionTime=now_iso(), message=message[:4000])
        if state == "Succeeded":
            step["percent"] = 100
        self._recompute()
        self.push(force=True)

    def skip(self, name: str, message: str) -> None:
        self.steps[name].update(state="Skipped", message=message)

    def _recompute(self) -> None:
        total = sum(self.weights.values()) or 1
        done = 0.0
        for name, step in self.steps.items():
            if step.get("state") in ("Succeeded", "Skipped"):
                done += self.weights[name]
            elif step.get("state") == "Running":
                done += self.weights[name] * step.get("percent", 0) / 100
        percent = int(done * 100 / total)
        self.progress["percent"] = percent
        current = self.progress.get("step", "")
        self.progress["summary"] = f"{self.progress['stepIndex']}/{self.progress['stepCount']} {current} {percent}%"

    # -- sending -----------------------------------------------------------------------------------

    def status_patch(self) -> dict[str, Any]:
        return {"status": {"steps": [self.steps[name] for name in self.plan.step_names()],
                           "progress": dict(self.progress), **self.extra}}

    def push(self, force: bool = False) -> None:
        if self.api is None:
            return
        now = time.monotonic()
        if not force and now - self.last_push < self.min_interval:
            return
        self.last_push = now
        patch = self.status_patch()
        if self.minimal:
            patch = {"status": {key: patch["status"][key] for key in ("steps", "progress")}}
        try:
            self._patch(patch)
        except Exception as error:  # status is best effort; the run itself must go on
            if getattr(error, "status", None) != 422 or self.minimal:
                log.warning("could not update status: %s", error)
                return
            # the schema refused something the run learnt: keep the steps and progress current
            # rather than leave the status stale, and say so in the pod's log
            log.warning("the API refused this run's status (%s); writing steps and progress only", error)
            self.minimal = True
            self.push(force=True)

    def _patch(self, patch: dict[str, Any]) -> None:
        self.api.patch_namespaced_custom_object_status(GROUP, VERSION, self.plan.namespace, PLURALS[self.plan.kind],
                                                       self.plan.name, patch)


def connect() -> Any:
    import kubernetes

    kubernetes.config.load_incluster_config()
    return kubernetes.client.CustomObjectsApi()
