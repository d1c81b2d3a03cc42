"""What every run (backup or restore) goes through: check, lock the director, create
the Job, follow it, finish (or fail, or cancel) and let the next run in.

reconcile() is called by every trigger (the resource, its Job, its pods, a timer)
and is safe to call any number of times: it reads the world and moves one step.
Subclasses say how to plan a run and what success means for it.
"""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any

from .. import lock as director_lock
from .. import metrics
from ..api.director import Problem
from ..api.runs import RunSettings, duration_seconds
from ..config import OperatorConfig
from ..jobs import build_job, job_name
from ..kube import ApiError, Kube
from ..outcome import Outcome, job_outcome, stuck_reason
from ..planning.catalog import imported
from ..planning.plan import Plan
from ..status import condition, merge_conditions, now_iso
from ..waits import Waiter, WaitQueue
from . import runs
from .runs import TERMINAL

log = logging.getLogger("bosh-backup")
STUCK_GRACE_SECONDS = 120


def seconds_between(start: str, end: str) -> float:
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def duration_text(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or hours else "") + f"{secs}s"


def not_started(run: dict[str, Any]) -> bool:
    """A run that still waits to start: not under way or ended, not cancelled or going, and
    not an imported backup (which never runs)."""
    return (run.get("status") or {}).get("phase") in (None, "", "Pending") and not run["spec"].get("cancel") \
        and not run["metadata"].get("deletionTimestamp") and not imported(run)


# refusals that no retry changes: a malformed or invalid object, or rights the operator lacks
PERMANENT_API_ERRORS = (400, 403, 422)


class RunController:
    kind = ""
    require_artifact = False
    cancel_cleanup = "it runs its cleanup before it ends"
    def __init__(self, kube: Kube, config: OperatorConfig, peers: dict[str, RunController] | None = None,
                 waits: WaitQueue | None = None):
        self.kube, self.config = kube, config
        self.peers = peers if peers is not None else {}  # every kind's controller, to wake waiting runs
        self.peers[self.kind] = self
        self.waits = waits if waits is not None else WaitQueue()   # shared by the peers
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, namespace: str, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((namespace, name), threading.Lock())

    # -- the entry point -------------------------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> None:
        with self._lock(namespace, name):
            run = self.kube.get(self.kube.custom(self.kind, namespace, name))
            if run is None or run["metadata"].get("deletionTimestamp"):
                return
            phase = (run.get("status") or {}).get("phase")
            if phase in TERMINAL or imported(run):  # an imported backup never runs: its catalog writes it
                return
            try:
                if run["spec"].get("cancel"):
                    phase = self.cancel(run)
                elif phase in (None, "", "Pending"):
                    phase = self.start(run)
                else:
                    phase = self.watch(run)
            except ApiError as error:
                if error.status not in PERMANENT_API_ERRORS:
                    raise  # the apiserver is busy or away: kopf retries with backoff
                # the apiserver refuses what this run asks of it, and will on every retry:
                # say so on the run instead of retrying in silence
                phase = self.fail(run, "ApiRequestRejected",
                                  f"the Kubernetes API refused a request of this run ({error}); the operator "
                                  "cannot go on with it. Check the operator's rights (deploy/ RBAC) and the names "
                                  "this run uses, then create a new " + self.kind, holding_lock=True)
        if phase in TERMINAL:  # the director is free: let the next run in
            self.waits.remove((self.kind, namespace, name))
            self.wake_next(namespace, name, run["spec"]["directorRef"]["name"])

    def wake_next(self, namespace: str, name: str, director: str) -> None:
        """The first waiting run of each queue this run held up; all of its Director's
        waiting runs when memory knows nothing (each then finds its place)."""
        heads = self.waits.released((self.kind, namespace, name), namespace, director)
        if heads is None:
            if director:
                runs.kick_waiters(self.kube, namespace, director,
                                  {kind: peer.reconcile for kind, peer in self.peers.items()})
            return
        for head in heads:
            self.peers[head.kind].reconcile(head.namespace, head.name)

    # -- status ------------------------------------------------------------------------------------

    def write(self, run: dict[str, Any], status: dict[str, Any], conditions: list[dict[str, Any]]) -> None:
        generation = run["metadata"].get("generation")
        current = (run.get("status") or {}).get("conditions")
        status["conditions"] = merge_conditions(current, conditions)
        status["observedGeneration"] = generation
        meta = run["metadata"]
        self.kube.patch_status(self.kind, meta["namespace"], meta["name"], status)

    def fail(self, run: dict[str, Any], reason: str, message: str, *, holding_lock: bool = False) -> str:
        meta = run["metadata"]
        generation = meta.get("generation")
        stamp = now_iso()
        status = {"phase": "Failed", "reason": reason, "message": message, "completionTime": stamp}
        if holding_lock:  # free the director before anyone can read that the run ended
            self.release(run)
        start = (run.get("status") or {}).get("startTime")
        if start:
            status["duration"] = duration_text(seconds_between(start, stamp))
        # the Event and the log line first: whoever sees the terminal phase can find what explains it
        self.kube.event(run, "Warning", reason, message)
        log.info("%s %s/%s failed: %s: %s", self.kind, meta["namespace"], meta["name"], reason, message)
        self.write(run, status, [
            condition("Succeeded", False, reason, message, generation=generation),
            condition("Running", False, reason, "the run ended", generation=generation)])
        metrics.RUNS.labels(self.kind, meta["namespace"], run["spec"]["directorRef"]["name"], "Failed").inc()
        runs.record_on_director(self.kube, run, "Failed", stamp)
        return "Failed"

    def lock_namespace(self, run: dict[str, Any]) -> str:
        return self.config.lock_namespace or run["metadata"]["namespace"]

    def holder(self, run: dict[str, Any]) -> str:
        meta = run["metadata"]
        return director_lock.holder_id(self.kind, meta["namespace"], meta["name"])

    def release(self, run: dict[str, Any]) -> None:
        namespace, holder = self.lock_namespace(run), self.holder(run)
        director_lock.release(self.kube, namespace, director_lock.held_by(self.kube, namespace, holder), holder)

    # -- Pending: check, lock, create the Job --------------------------------------------------------

    def prepare(self, run: dict[str, Any]) -> tuple[Plan, RunSettings] | list[Problem]:
        """The run's plan and settings, or what is wrong (each problem names its field)."""
        raise NotImplementedError

    def start(self, run: dict[str, Any]) -> str:
        meta, spec = run["metadata"], run["spec"]
        namespace, name = meta["namespace"], meta["name"]
        generation = meta.get("generation")
        prepared = self.prepare(run)
        if isinstance(prepared, list):
            return self.fail(run, prepared[0].reason, "; ".join(p.message for p in prepared))
        plan, settings = prepared
        keys = director_lock.director_keys(settings.url, settings.director_uuid)
        me = Waiter(meta["creationTimestamp"], name, self.kind, namespace, settings.director, tuple(keys))
        ahead = self.first_ahead(me)
        if ahead:
            self.waits.add(me)
            return self.wait(run, f"waiting for its turn: runs of Director \"{settings.director}\" go one at a "
                                  "time, in creation order, and older ones have not run yet")
        busy = director_lock.acquire(self.kube, self.lock_namespace(run), keys, self.holder(run),
                                     runs.holder_alive(self.kube, namespace))
        if busy:
            self.waits.add(me)
            return self.wait(run, f"waiting for {director_lock.describe_holder(busy)} to finish: one run at a time "
                                  f'on the BOSH director at {settings.url} (Director "{settings.director}")')
        self.waits.holding(me.key, me.keys)
        runs.ensure_run_account(self.kube, run)
        job = build_job(plan, settings, runs.owner(run), timeout_seconds=duration_seconds(spec.get("timeout", "2h")),
                        pod=spec.get("pod"), config=self.config.runner)
        try:
            self.kube.create(self.kube.batch(namespace), job)
        except ApiError as error:
            if error.status != 409:  # an earlier attempt (or operator) made it: adopt it
                self.release(run)
                raise
        message = f'{len(plan.steps)} steps on Director "{settings.director}"' + (
            f" ({plan.method})" if plan.method else "")
        self.write(run, {
            **self.start_status(run, plan),
            "phase": "Running", "reason": "Running", "message": message, "startTime": now_iso(),
            "jobName": job["metadata"]["name"],
            "steps": [{"name": step.name, "state": "Pending", "message": step.description} for step in plan.steps],
            "progress": {"step": plan.steps[0].name, "stepIndex": 0, "stepCount": len(plan.steps), "percent": 0,
                         "summary": f"0/{len(plan.steps)} {plan.steps[0].name} 0%"},
        }, [condition("Running", True, "JobCreated", f"Job {job['metadata']['name']} runs the plan",
                      generation=generation),
            condition("Succeeded", None, "Running", "the run has not finished", generation=generation)])
        self.kube.event(run, "Normal", "Started", f"Job {job['metadata']['name']}: {message}")
        log.info("%s %s/%s started: %s", self.kind, namespace, name, message)
        return "Running"

    def wait(self, run: dict[str, Any], message: str) -> str:
        if (run.get("status") or {}).get("message") != message:
            generation = run["metadata"].get("generation")
            self.write(run, {"phase": "Pending", "reason": "WaitingForDirector", "message": message},
                       [condition("Running", False, "WaitingForDirector", message, generation=generation),
                        condition("Succeeded", None, "WaitingForDirector", message, generation=generation)])
        return "Pending"

    def first_ahead(self, me: Waiter) -> Waiter | None:
        """The run queued before this one, checked against the API: a place in memory may be
        held by a run that has ended or gone."""
        while ahead := self.waits.ahead_of(me):
            body = self.kube.get(self.kube.custom(ahead.kind, ahead.namespace, ahead.name))
            if body is not None and not_started(body):
                return ahead
            self.waits.remove(ahead.key)
        return self.older_waiting(me)

    def forget(self, namespace: str, name: str, director: str) -> None:
        """The run is gone (deleted): the next in its queue goes, and its lock with it, so
        that the locks kept are as many as the runs that exist (retention bounds them)."""
        with self._guard:
            self._locks.pop((namespace, name), None)
        self.waits.remove((self.kind, namespace, name))
        self.wake_next(namespace, name, director)

    def older_waiting(self, me: Waiter) -> Waiter | None:
        """An older run of the same Director that has not started, as the API lists them: the
        queue in memory is empty after a restart until each run has been looked at."""
        older = []
        for kind in self.peers:
            listing = self.kube.get(self.kube.custom(kind, me.namespace)) or {}
            for body in listing.get("items", []):
                meta = body["metadata"]
                if body["spec"]["directorRef"]["name"] != me.director or not not_started(body):
                    continue
                other = Waiter(meta["creationTimestamp"], meta["name"], kind, me.namespace, me.director, me.keys)
                if other < me and other.key != me.key:
                    older.append(other)
        for other in older:
            self.waits.add(other)   # each will look for itself; meanwhile they hold their places
        return min(older) if older else None

    # -- Running: follow the Job -----------------------------------------------------------------------

    def job_and_pods(self, run: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        namespace = run["metadata"]["namespace"]
        name = (run.get("status") or {}).get("jobName") or job_name(self.kind, run["metadata"]["name"])
        job = self.kube.get(self.kube.batch(namespace, name))
        pods = (self.kube.get(self.kube.core("pods", namespace), labelSelector=f"job-name={name}")
                or {}).get("items", [])
        return job, pods

    def watch(self, run: dict[str, Any]) -> str:
        status = run.get("status") or {}
        job, pods = self.job_and_pods(run)
        if job is None:
            if pods:
                return "Running"  # the Job is going away; its pods are still cleaning up
            return self.fail(run, "JobVanished", f"the run's Job {status.get('jobName')} was deleted before "
                                                    "it finished; create a new " + self.kind, holding_lock=True)
        outcome = job_outcome(job, pods, run["spec"].get("timeout", "2h"), require_artifact=self.require_artifact)
        if outcome.state == "Running":
            return self.note_stuck(run, pods)
        if outcome.pods_active:
            return "Running"  # a pod is still stopping (cleanup after a deadline); the lock stays held
        return self.finish(run, outcome)

    def note_stuck(self, run: dict[str, Any], pods: list[dict[str, Any]]) -> str:
        """A pod that cannot start (a Secret deleted since the check, an image) fails the run
        after a grace period rather than at spec.timeout."""
        reason = stuck_reason(pods)
        generation = run["metadata"].get("generation")
        current = {c["type"]: c for c in (run.get("status") or {}).get("conditions") or []}
        running = current.get("Running", {})
        if not reason:
            if running.get("reason") == "PodNotStarting":
                self.write(run, {}, [condition("Running", True, "PodRunning", "the runner pod runs",
                                                  generation=generation)])
            return "Running"
        if running.get("reason") != "PodNotStarting":
            self.write(run, {"message": reason}, [condition("Running", True, "PodNotStarting", reason,
                                                                generation=generation)])
            return "Running"
        since = running.get("lastTransitionTime") or now_iso()
        if seconds_between(since, now_iso()) > STUCK_GRACE_SECONDS:
            job_path = self.kube.batch(run["metadata"]["namespace"], run["status"]["jobName"])
            self.kube.delete(job_path, {"propagationPolicy": "Background"})
            return self.fail(run, "PodNotStarting", f"{reason}; fix it and create a new " + self.kind,
                             holding_lock=True)
        return "Running"

    def finish(self, run: dict[str, Any], outcome: Outcome) -> str:
        meta, spec = run["metadata"], run["spec"]
        namespace, director = meta["namespace"], spec["directorRef"]["name"]
        if outcome.state != "Succeeded":
            step = outcome.result.get("step")
            message = outcome.message or "the run failed"
            return self.fail(run, outcome.reason or "Failed", message if not step or step in message
                             else f"{step}: {message}", holding_lock=True)
        stamp = now_iso()
        start = (run.get("status") or {}).get("startTime") or stamp
        status, reason, message, warned = self.succeeded(run, outcome)
        self.release(run)  # free the director before anyone can read that the run ended
        status.update(phase="Succeeded", reason=reason, message=message, completionTime=stamp,
                      duration=duration_text(seconds_between(start, stamp)))
        progress = dict((run.get("status") or {}).get("progress") or {})
        progress.update(percent=100, summary=f"{progress.get('stepCount', 0)}/{progress.get('stepCount', 0)} done")
        status["progress"] = progress
        generation = meta.get("generation")
        self.kube.event(run, "Warning" if warned else "Normal", reason, message)   # before the phase, as in fail()
        log.info("%s %s/%s succeeded: %s", self.kind, namespace, meta["name"], message)
        self.write(run, status, [condition("Succeeded", True, reason, message, generation=generation),
                                    condition("Running", False, reason, "the run ended", generation=generation)])
        metrics.RUNS.labels(self.kind, namespace, director, "Succeeded").inc()
        metrics.DURATION.labels(self.kind).observe(seconds_between(start, stamp))
        self.after_success(run, outcome, stamp)
        return "Succeeded"

    def start_status(self, run: dict[str, Any], plan: Plan) -> dict[str, Any]:
        """Status fields to set when the Job is created."""
        return {}

    def succeeded(self, run: dict[str, Any], outcome: Outcome) -> tuple[dict[str, Any], str, str, bool]:
        """(status fields, reason, message, whether to warn) for a run that succeeded."""
        raise NotImplementedError

    def after_success(self, run: dict[str, Any], outcome: Outcome, stamp: str) -> None:
        """What else a success changes (the Director's record, metrics)."""

    # -- cancel and delete ---------------------------------------------------------------------------------

    def cancel(self, run: dict[str, Any]) -> str:
        job, pods = self.job_and_pods(run)
        generation = run["metadata"].get("generation")
        if job is not None and not job["metadata"].get("deletionTimestamp"):
            self.kube.delete(self.kube.batch(run["metadata"]["namespace"], job["metadata"]["name"]),
                             {"propagationPolicy": "Background"})
        if job is not None or pods:
            message = f"stopping the runner pod; {self.cancel_cleanup}"
            if (run.get("status") or {}).get("reason") != "Cancelling":
                self.write(run, {"reason": "Cancelling", "message": message},
                           [condition("Running", True, "Cancelling", message, generation=generation)])
            return "Running"
        self.release(run)  # free the director before anyone can read that the run ended
        had_run = bool((run.get("status") or {}).get("jobName"))
        message = ("cancelled by spec.cancel: the runner pod was stopped and ran its cleanup"
                   if had_run else "cancelled by spec.cancel before it started")
        self.kube.event(run, "Normal", "Cancelled", message)   # before the phase, as in fail()
        self.write(run, {"phase": "Cancelled", "reason": "Cancelled", "message": message,
                            "completionTime": now_iso()},
                   [condition("Succeeded", False, "Cancelled", message, generation=generation),
                    condition("Running", False, "Cancelled", message, generation=generation)])
        metrics.RUNS.labels(self.kind, run["metadata"]["namespace"], run["spec"]["directorRef"]["name"],
                            "Cancelled").inc()
        return "Cancelled"
