"""Executes a plan step by step, reporting each step, with cleanup on failure or stop.

The outcome leaves the pod as its termination message (JSON): the operator reads it
to set the phase, the artifact and the director snapshot.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..bosh import paths
from ..bosh.parsers import parse_tool_version
from ..planning.plan import Plan, Step
from ..storage import StorageError
from .execute import Executor, Stopped
from .reporter import Reporter

log = logging.getLogger("runner")
TERMINATION_LOG = "/dev/termination-log"
TERMINATION_LIMIT = 4000


class StepFailed(Exception):
    """A step failed for a reason the runner understands. soft: later steps still run
    (they tell the rest of the story), but the run ends Failed."""

    def __init__(self, reason: str, message: str, *, soft: bool = False):
        super().__init__(message)
        self.reason, self.message, self.soft = reason, message, soft


@dataclass
class Context:
    """What steps learn and hand on to later steps."""
    plan: Plan
    reporter: Reporter
    executor: Executor
    work: Path
    started: str
    director: dict[str, Any] = field(default_factory=dict)
    inventory: dict[str, Any] = field(default_factory=dict)
    files: list[tuple[str, Path]] = field(default_factory=list)   # (stored name, local file)
    result: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bbr: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    expected: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    blobs_note: str = ""        # why the restored director does or does not lack its blobs
    soft_failures: list[StepFailed] = field(default_factory=list)
    tools: dict[str, str] = field(default_factory=dict)
    store: Any = None                                   # the artifact's store, opened and begun once per pod
    streamed: dict[str, Any] = field(default_factory=dict)   # name -> StoredFile, stored while bbr ran
    recipients: Any = None       # the run's Recipients, when its files are encrypted
    identities: Any = None       # a restore's private keys, once read
    head_start: Any = None       # a restore's VerifyArtifact, begun while Precheck asks the director


def run_cleanup(step: Step, executor: Executor) -> bool | None:
    """Runs the step's cleanup even while stopping; True if it worked, None if there is none."""
    if not step.cleanup:
        return None
    log.info("cleaning up after %s", step.name)
    return executor.run(step.cleanup, check_stop=False).code == 0


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Runner:
    def __init__(self, plan: Plan, reporter: Reporter, actions: dict[str, Any],
                 termination_log: str | None = None, work: str | None = None):
        self.plan, self.reporter, self.actions = plan, reporter, actions
        self.termination_log = termination_log or os.environ.get("BOSH_BACKUP_TERMINATION_LOG", TERMINATION_LOG)
        work_dir = work or os.environ.get("BOSH_BACKUP_WORK", paths.WORK)
        self.executor = Executor(cwd=work_dir)
        self.context = Context(plan, reporter, self.executor, Path(work_dir), now())

    def terminate(self, outcome: dict[str, Any]) -> None:
        text = termination_text(outcome)
        try:
            Path(self.termination_log).write_text(text)
        except OSError as error:
            log.warning("cannot write the termination message: %s", error)
        print(f"RESULT {text}", flush=True)


    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.executor.stop())
        try:
            self.reporter.load()
        except Exception as error:
            log.warning("cannot read earlier attempts: %s", error)
        self.reporter.extra["tools"] = self.context.tools = tool_versions(self.plan, self.executor)
        attempt = self.reporter.attempt()
        for step in self.plan.steps:
            # an earlier pod died inside this step: undo what it may have left on the director
            if step.cleanup and self.reporter.steps[step.name].get("state") in ("Running", "Failed", "Cancelled"):
                log.info("the interrupted %s of attempt %d left work behind", step.name, attempt - 1)
                run_cleanup(step, self.executor)
        for step in self.plan.steps:
            if step.options.get("resumable") and self.reporter.succeeded(step.name):
                log.info("%s already succeeded in an earlier attempt", step.name)
                continue
            after = step.options.get("skipIfSucceeded")
            if after and self.reporter.succeeded(after):
                log.info("%s is not needed: %s already succeeded", step.name, after)
                continue
            if step.action == "skip":
                self.reporter.skip(step.name, f"skipped: {step.options.get('reason', 'disabled')}")
                self.reporter.push(force=True)
                continue
            self.reporter.start(step.name, attempt)
            try:
                try:
                    message = self.actions[step.action](step, self.context)
                except StorageError as error:  # wherever a step met it: the store's own reason
                    raise StepFailed(error.reason, f"{step.name} failed: {error.message}") from None
            except Stopped:
                cleaned = run_cleanup(step, self.executor)
                note = " The runner ran its cleanup." if cleaned else ""
                self.reporter.finish(step.name, "Cancelled", f"stopped while running.{note}")
                self._abandon_rest(step, "Cancelled")
                self.terminate({"result": "Stopped", "step": step.name, "reason": "Stopped",
                                "message": f"{step.name} was stopped.{note}"})
                return 143
            except StepFailed as failure:
                self.reporter.finish(step.name, "Failed", failure.message)
                if failure.soft:
                    self.context.soft_failures.append(failure)
                    continue
                self._abandon_rest(step, "Skipped")
                self.terminate({"result": "Failed", "step": step.name, "reason": failure.reason,
                                "message": failure.message, **self._summary()})
                return 1
            except Exception as error:  # a bug of ours: say so plainly rather than crash silently
                log.exception("step %s crashed", step.name)
                message = f"{step.name} failed inside the runner: {type(error).__name__}: {error}"
                self.reporter.finish(step.name, "Failed", message)
                self._abandon_rest(step, "Skipped")
                self.terminate({"result": "Failed", "step": step.name, "reason": "RunnerError",
                                "message": message})
                return 1
            self.reporter.finish(step.name, "Succeeded", message or "done")
        if self.context.soft_failures:
            first = self.context.soft_failures[0]
            message = " ".join(f.message for f in self.context.soft_failures)
            self.terminate({"result": "Failed", "step": "", "reason": first.reason, "message": message,
                            **self._summary()})
            return 1
        self.terminate({"result": "Succeeded", "warnings": self.context.warnings, **self._summary()})
        return 0

    def _drop_unpublished(self) -> None:
        """A run that ends without publishing leaves nothing in storage: bbr's files go there
        while it copies, so a later step's failure must take them away again."""
        store = self.context.store
        if store is not None and "artifact" not in self.context.result:
            try:
                store.abort()
            except Exception as error:  # the step's own failure is the one to report
                log.warning("cannot remove what this run stored: %s", error)

    def _abandon_rest(self, failed: Step, state: str) -> None:
        self._drop_unpublished()
        names = self.plan.step_names()
        for name in names[names.index(failed.name) + 1:]:
            if self.reporter.steps[name].get("state") not in ("Succeeded",):
                self.reporter.skip(name, "not run") if state == "Skipped" else self.reporter.steps[name].update(
                    state=state)
        self.reporter.push(force=True)

    def _summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        context = self.context
        if context.director:
            out["director"] = context.director
        if context.inventory:
            out["inventory"] = {kind: len(context.inventory.get(kind, []))
                                for kind in ("stemcells", "releases", "deployments")}
        out.update(context.result)
        for key in ("summary", "source"):  # the lists are in status already, written as the run went
            if key in self.reporter.extra:
                out[key] = self.reporter.extra[key]
        return out


def termination_text(outcome: dict[str, Any]) -> str:
    """The outcome as JSON within the termination message's limit: always whole JSON (a
    cut document reads as a crash), keeping what the operator needs and shortening only
    the message, whose whole text is in status.steps."""
    text = json.dumps(outcome, separators=(",", ":"))
    if len(text) <= TERMINATION_LIMIT:
        return text
    outcome = {k: v for k, v in outcome.items() if k in ("result", "reason", "message", "step", "artifact")}
    text = json.dumps(outcome, separators=(",", ":"))
    excess = len(text) - TERMINATION_LIMIT
    if excess > 0 and isinstance(outcome.get("message"), str):
        note = " ... (the whole message is in status.steps)"
        outcome["message"] = outcome["message"][:max(0, len(outcome["message"]) - excess - len(note) - 8)] + note
        text = json.dumps(outcome, separators=(",", ":"))
    return text


def runner_version() -> str:
    return __version__


def tools_of(plan: Plan) -> list[str]:
    """Every executable the plan runs, in order of first use."""
    found: list[str] = []
    for step in plan.steps:
        for argv in (step.argv, *step.commands.values(), step.cleanup):
            if argv and argv[0] not in found:
                found.append(argv[0])
    return found


def tool_versions(plan: Plan, executor: Executor) -> dict[str, str]:
    """What each tool says its version is, for status and manifest.json: a run reports
    what really ran, not what the image was meant to hold."""
    versions = {"runner": runner_version()}
    for tool in tools_of(plan):
        completed = executor.run([tool, "--version"], check_stop=False)
        parsed = parse_tool_version(completed.stdout) if completed.code == 0 else None
        if parsed:
            versions[parsed[0]] = parsed[1]
        else:
            log.warning("%s --version said nothing usable (exit %s)", tool, completed.code)
    return versions
