"""DirectorBackup: from Pending to a verified artifact, or to a failure that says why.

reconcile() is called by every trigger (the resource, its Job, its pods, a timer)
and is safe to call any number of times: it reads the world and moves one step.
"""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any

from .. import lock as director_lock
from .. import metrics
from ..api.runs import RunSettings, duration_seconds, resolve_run
from ..config import OperatorConfig
from ..jobs import build_job, job_name
from ..kube import ApiError, Kube
from ..outcome import Outcome, job_outcome, stuck_reason
from ..planning.backup import plan_backup
from ..planning.plan import Plan, Step
from ..status import condition, merge_conditions, now_iso
from . import runs

log = logging.getLogger("bosh-backup")
KIND = "DirectorBackup"
TERMINAL = ("Succeeded", "Failed", "Cancelled")
STUCK_GRACE_SECONDS = 120


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def seconds_between(start: str, end: str) -> float:
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def duration_text(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or hours else "") + f"{secs}s"


class BackupController:
    def __init__(self, kube: Kube, config: OperatorConfig):
        self.kube, self.config = kube, config
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, namespace: str, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((namespace, name), threading.Lock())

    # -- the entry point -------------------------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> None:
        with self._lock(namespace, name):
            backup = self.kube.get(self.kube.custom(KIND, namespace, name))
            if backup is None or backup["metadata"].get("deletionTimestamp"):
                return
            phase = (backup.get("status") or {}).get("phase")
            if phase in TERMINAL:
                return
            if backup["spec"].get("cancel"):
                phase = self.cancel(backup)
            elif phase in (None, "", "Pending"):
                phase = self.start(backup)
            else:
                phase = self.watch(backup)
        if phase in TERMINAL:  # the director is free: let the next run in
            runs.kick_waiters(self.kube, namespace, backup["spec"]["directorRef"]["name"], self.reconcile)

    # -- status ------------------------------------------------------------------------------------

    def write(self, backup: dict[str, Any], status: dict[str, Any], conditions: list[dict[str, Any]]) -> None:
        generation = backup["metadata"].get("generation")
        current = (backup.get("status") or {}).get("conditions")
        status["conditions"] = merge_conditions(current, conditions)
        status["observedGeneration"] = generation
        meta = backup["metadata"]
        self.kube.patch_status(KIND, meta["namespace"], meta["name"], status)

    def fail(self, backup: dict[str, Any], reason: str, message: str, *, holding_lock: bool = False) -> str:
        meta = backup["metadata"]
        generation = meta.get("generation")
        stamp = now_iso()
        status = {"phase": "Failed", "reason": reason, "message": message, "completionTime": stamp}
        start = (backup.get("status") or {}).get("startTime")
        if start:
            status["duration"] = duration_text(seconds_between(start, stamp))
        self.write(backup, status, [
            condition("Succeeded", False, reason, message, generation=generation),
            condition("Running", False, reason, "the run ended", generation=generation)])
        self.kube.event(backup, "Warning", reason, message)
        metrics.RUNS.labels(KIND, meta["namespace"], backup["spec"]["directorRef"]["name"], "Failed").inc()
        if holding_lock:
            self.release(backup)
        runs.record_on_director(self.kube, backup, "Failed", stamp)
        log.info("DirectorBackup %s/%s failed: %s: %s", meta["namespace"], meta["name"], reason, message)
        return "Failed"

    def release(self, backup: dict[str, Any]) -> None:
        meta = backup["metadata"]
        director_lock.release(self.kube, meta["namespace"], backup["spec"]["directorRef"]["name"],
                              f"{KIND}/{meta['name']}")

    # -- Pending: check, lock, create the Job --------------------------------------------------------

    def resolve(self, backup: dict[str, Any]) -> RunSettings | list[Any]:
        meta, spec = backup["metadata"], backup["spec"]
        director_name = spec["directorRef"]["name"]
        director = self.kube.get(self.kube.custom("Director", meta["namespace"], director_name))
        return resolve_run(director_name, (director or {}).get("spec") if director else None,
                           spec.get("method", "bbr"), spec.get("storage"),
                           lambda kind, name: self.kube.data_keys(meta["namespace"], kind, name),
                           want_state_file=spec.get("includeStateFile", True))

    def start(self, backup: dict[str, Any]) -> str:
        meta, spec = backup["metadata"], backup["spec"]
        namespace, name = meta["namespace"], meta["name"]
        generation = meta.get("generation")
        settings = self.resolve(backup)
        if not isinstance(settings, RunSettings):
            return self.fail(backup, settings[0].reason, "; ".join(p.message for p in settings))
        holder = f"{KIND}/{name}"
        busy = director_lock.acquire(self.kube, namespace, settings.director, holder,
                                     runs.holder_alive(self.kube, namespace))
        if busy:
            message = f'waiting for {busy} to finish: one run at a time on Director "{settings.director}"'
            if (backup.get("status") or {}).get("message") != message:
                self.write(backup, {"phase": "Pending", "reason": "WaitingForDirector", "message": message},
                           [condition("Running", False, "WaitingForDirector", message, generation=generation),
                            condition("Succeeded", None, "WaitingForDirector", message, generation=generation)])
            return "Pending"
        plan = plan_backup(meta, spec, settings, self.config.tools)
        runs.ensure_runner_account(self.kube, namespace)
        job = build_job(plan, settings, runs.owner(backup), timeout_seconds=duration_seconds(spec.get("timeout", "2h")),
                        pod=spec.get("pod"), config=self.config.runner)
        try:
            self.kube.create(self.kube.batch(namespace), job)
        except ApiError as error:
            if error.status != 409:  # an earlier attempt (or operator) made it: adopt it
                self.release(backup)
                raise
        message = f'{len(plan.steps)} steps on Director "{settings.director}" ({settings.method})'
        self.write(backup, {
            "phase": "Running", "reason": "Running", "message": message, "startTime": now_iso(),
            "jobName": job["metadata"]["name"],
            "steps": [{"name": step.name, "state": "Pending", "message": step.description} for step in plan.steps],
            "progress": {"step": plan.steps[0].name, "stepIndex": 0, "stepCount": len(plan.steps), "percent": 0,
                         "summary": f"0/{len(plan.steps)} {plan.steps[0].name} 0%"},
        }, [condition("Running", True, "JobCreated", f"Job {job['metadata']['name']} runs the plan",
                      generation=generation),
            condition("Succeeded", None, "Running", "the run has not finished", generation=generation)])
        self.kube.event(backup, "Normal", "Started", f"Job {job['metadata']['name']}: {message}")
        log.info("DirectorBackup %s/%s started: %s", namespace, name, message)
        return "Running"

    # -- Running: follow the Job -----------------------------------------------------------------------

    def job_and_pods(self, backup: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        namespace = backup["metadata"]["namespace"]
        name = (backup.get("status") or {}).get("jobName") or job_name(KIND, backup["metadata"]["name"])
        job = self.kube.get(self.kube.batch(namespace, name))
        pods = (self.kube.get(self.kube.core("pods", namespace), labelSelector=f"job-name={name}")
                or {}).get("items", [])
        return job, pods

    def watch(self, backup: dict[str, Any]) -> str:
        status = backup.get("status") or {}
        job, pods = self.job_and_pods(backup)
        if job is None:
            if pods:
                return "Running"  # the Job is going away; its pods are still cleaning up
            return self.fail(backup, "JobVanished", f"the run's Job {status.get('jobName')} was deleted before "
                                                    "it finished; create a new DirectorBackup", holding_lock=True)
        outcome = job_outcome(job, pods, backup["spec"].get("timeout", "2h"), require_artifact=True)
        if outcome.state == "Running":
            return self.note_stuck(backup, pods)
        if outcome.pods_active:
            return "Running"  # a pod is still stopping (cleanup after a deadline); the lock stays held
        return self.finish(backup, outcome)

    def note_stuck(self, backup: dict[str, Any], pods: list[dict[str, Any]]) -> str:
        """A pod that cannot start (a Secret deleted since the check, an image) fails the run
        after a grace period rather than at spec.timeout."""
        reason = stuck_reason(pods)
        generation = backup["metadata"].get("generation")
        current = {c["type"]: c for c in (backup.get("status") or {}).get("conditions") or []}
        running = current.get("Running", {})
        if not reason:
            if running.get("reason") == "PodNotStarting":
                self.write(backup, {}, [condition("Running", True, "PodRunning", "the runner pod runs",
                                                  generation=generation)])
            return "Running"
        if running.get("reason") != "PodNotStarting":
            self.write(backup, {"message": reason}, [condition("Running", True, "PodNotStarting", reason,
                                                                generation=generation)])
            return "Running"
        since = running.get("lastTransitionTime") or now_iso()
        if seconds_between(since, now_iso()) > STUCK_GRACE_SECONDS:
            job_path = self.kube.batch(backup["metadata"]["namespace"], backup["status"]["jobName"])
            self.kube.delete(job_path, {"propagationPolicy": "Background"})
            return self.fail(backup, "PodNotStarting", f"{reason}; fix it and create a new DirectorBackup",
                             holding_lock=True)
        return "Running"

    def finish(self, backup: dict[str, Any], outcome: Outcome) -> str:
        meta, spec = backup["metadata"], backup["spec"]
        namespace, director = meta["namespace"], spec["directorRef"]["name"]
        if outcome.state != "Succeeded":
            step = outcome.result.get("step")
            message = outcome.message or "the run failed"
            return self.fail(backup, outcome.reason or "Failed", message if not step or step in message
                             else f"{step}: {message}", holding_lock=True)
        result = outcome.result
        artifact = dict(result["artifact"])
        artifact["size"] = human_size(int(artifact.get("totalSize", 0)))
        stamp = now_iso()
        start = (backup.get("status") or {}).get("startTime") or stamp
        warnings = result.get("warnings") or []
        reason = "CompletedWithWarnings" if warnings else "Completed"
        message = (f"stored {len(artifact['files'])} files, {artifact['size']}, verified, at {artifact['location']}"
                   + (f"; warning: {' '.join(warnings)}" if warnings else ""))
        status: dict[str, Any] = {
            "phase": "Succeeded", "reason": reason, "message": message, "completionTime": stamp,
            "duration": duration_text(seconds_between(start, stamp)), "artifact": artifact,
        }
        if result.get("director"):
            status["director"] = result["director"]
        if result.get("inventory"):
            status["inventory"] = result["inventory"]
        progress = dict((backup.get("status") or {}).get("progress") or {})
        progress.update(percent=100, summary=f"{progress.get('stepCount', 0)}/{progress.get('stepCount', 0)} done")
        status["progress"] = progress
        generation = meta.get("generation")
        self.write(backup, status, [condition("Succeeded", True, reason, message, generation=generation),
                                    condition("Running", False, reason, "the run ended", generation=generation)])
        self.kube.event(backup, "Warning" if warnings else "Normal", reason, message)
        metrics.RUNS.labels(KIND, namespace, director, "Succeeded").inc()
        metrics.DURATION.labels(KIND).observe(seconds_between(start, stamp))
        metrics.LAST_SUCCESS.labels(namespace, director).set(datetime.datetime.now(datetime.UTC).timestamp())
        metrics.ARTIFACT_BYTES.labels(namespace, director).set(int(artifact.get("totalSize", 0)))
        self.release(backup)
        runs.record_on_director(self.kube, backup, "Succeeded", stamp, location=artifact["location"],
                                snapshot=result.get("director"))
        log.info("DirectorBackup %s/%s succeeded: %s", namespace, meta["name"], message)
        return "Succeeded"

    # -- cancel and delete ---------------------------------------------------------------------------------

    def cancel(self, backup: dict[str, Any]) -> str:
        job, pods = self.job_and_pods(backup)
        generation = backup["metadata"].get("generation")
        if job is not None and not job["metadata"].get("deletionTimestamp"):
            self.kube.delete(self.kube.batch(backup["metadata"]["namespace"], job["metadata"]["name"]),
                             {"propagationPolicy": "Background"})
        if job is not None or pods:
            message = "stopping the runner pod; it runs bbr backup-cleanup before it ends"
            if (backup.get("status") or {}).get("reason") != "Cancelling":
                self.write(backup, {"reason": "Cancelling", "message": message},
                           [condition("Running", True, "Cancelling", message, generation=generation)])
            return "Running"
        had_run = bool((backup.get("status") or {}).get("jobName"))
        message = ("cancelled by spec.cancel: the runner pod was stopped and cleaned up; no artifact was kept"
                   if had_run else "cancelled by spec.cancel before it started")
        self.write(backup, {"phase": "Cancelled", "reason": "Cancelled", "message": message,
                            "completionTime": now_iso()},
                   [condition("Succeeded", False, "Cancelled", message, generation=generation),
                    condition("Running", False, "Cancelled", message, generation=generation)])
        self.kube.event(backup, "Normal", "Cancelled", message)
        metrics.RUNS.labels(KIND, backup["metadata"]["namespace"], backup["spec"]["directorRef"]["name"],
                            "Cancelled").inc()
        self.release(backup)
        return "Cancelled"

    def delete_artifact(self, backup: dict[str, Any]) -> bool:
        """For deletionPolicy Delete: True once the artifact is gone (or cannot be reached)."""
        meta, spec = backup["metadata"], backup["spec"]
        artifact = (backup.get("status") or {}).get("artifact")
        job, pods = self.job_and_pods(backup)
        if job is not None or pods:  # stop a running backup first
            if job is not None and not job["metadata"].get("deletionTimestamp"):
                self.kube.delete(self.kube.batch(meta["namespace"], job["metadata"]["name"]),
                                 {"propagationPolicy": "Background"})
            return False
        if not artifact or spec.get("deletionPolicy") != "Delete":
            return True
        settings = self.resolve(backup)
        storage = spec.get("storage") or (settings.storage if isinstance(settings, RunSettings) else None)
        if storage is None:
            self.kube.event(backup, "Warning", "ArtifactKept", f"{artifact['location']} was not deleted: its "
                                                               "storage can no longer be resolved")
            return True
        name = f"{meta['name'][:50]}-delete"
        path = self.kube.batch(meta["namespace"], name)
        existing = self.kube.get(path)
        if existing is None:
            plan = Plan(kind=KIND, namespace=meta["namespace"], name=meta["name"], uid=meta["uid"],
                        director=spec["directorRef"]["name"], method=spec.get("method", "bbr"), dialect="v2",
                        steps=[Step("DeleteArtifact", "delete-artifact", f"delete {artifact['location']}")],
                        storage=storage, artifact_path=artifact["path"], options={"noStatus": True})
            job_body = build_job(plan, None, runs.owner(backup), timeout_seconds=600, pod=spec.get("pod"),
                                 config=self.config.runner)
            job_body["metadata"]["name"] = name
            runs.ensure_runner_account(self.kube, meta["namespace"])
            self.kube.create(self.kube.batch(meta["namespace"]), job_body)
            return False
        conditions = {c["type"]: c for c in (existing.get("status") or {}).get("conditions") or []
                      if c.get("status") == "True"}
        if "Complete" in conditions:
            self.kube.event(backup, "Normal", "ArtifactDeleted", f"deleted {artifact['location']}")
            return True
        if "Failed" in conditions:
            self.kube.event(backup, "Warning", "ArtifactKept", f"{artifact['location']} could not be deleted; "
                                                               "see the logs of Job " + name)
            return True
        return False


