"""DirectorBackupSchedule: create backups at their times, at most once each, and prune."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .. import API_VERSION, metrics
from ..kube import ApiError, Kube
from ..names import label_value
from ..planning.retention import BackupRecord, Policy, to_delete
from ..planning.schedule import (
    RUN_NOW_ANNOTATION,
    SCHEDULE_ANNOTATION,
    SCHEDULE_LABEL,
    Decision,
    ScheduleError,
    backup_name,
    decide,
    effective_schedule,
    run_now_name,
    zone,
)
from ..planning.verification import (
    VERIFY_IDENTITY,
    VERIFY_NOW,
    identity_annotation,
    max_age,
    standing,
    to_verify,
    verdict,
    verify_expression,
)
from ..status import condition, merge_conditions, now_iso, parse_time
from .runs import TERMINAL

log = logging.getLogger("bosh-backup")
KIND = "DirectorBackupSchedule"
MAX_SLEEP = 3600.0  # the scheduler looks again at least hourly; changes wake it at once
SETTLE_SECONDS = 2.0  # after a lone fire, the rest of the reconcile follows this much later


def iso(moment: datetime.datetime) -> str:
    return now_iso(moment)


def add(backups: list[dict[str, Any]], backup: dict[str, Any]) -> None:
    """Adds a created backup to a listing that may already hold it (a 409 on create)."""
    if backup["metadata"]["name"] not in {b["metadata"]["name"] for b in backups}:
        backups.append(backup)


class FireWindow:
    """While a fleet fires at one second, creating its backups goes before everything else
    the operator would do with them: each new backup's start, and each schedule's listing,
    pruning and status, wait until no fire has gone out for `quiet` seconds (never longer
    than `longest`). Measured with 1,000 schedules (bench/schedules.py): that work,
    done at once, slowed the creations it competes with for the operator and the apiserver
    to a fire jitter p99 of 4 s."""

    def __init__(self, quiet: float = 0.5, longest: float = 15.0,
                 clock: Callable[[], float] = time.monotonic):
        self.quiet, self.longest, self.clock = quiet, longest, clock
        self.last_fire = float("-inf")

    def fired(self) -> None:
        self.last_fire = self.clock()

    def remaining(self) -> float:
        """Seconds until the window is quiet; 0 when it is."""
        return max(0.0, self.last_fire + self.quiet - self.clock())

    async def wait(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Holds no thread: under a fleet's fire, thousands of handlers wait here at once."""
        deadline = self.clock() + self.longest
        while (left := self.remaining()) > 0 and self.clock() < deadline:
            await sleep(min(left, deadline - self.clock()))


Listing = Callable[[str, str], "list[dict[str, Any]] | None"]


def backup_record(body: dict[str, Any]) -> dict[str, Any]:
    """What a schedule needs of one of its backups (its summary and retention read these)."""
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    record = {"metadata": {"name": meta.get("name"), "creationTimestamp": meta.get("creationTimestamp")},
              "status": {key: status[key] for key in ("phase", "completionTime") if key in status}}
    verification = status.get("verification") or {}
    if verification:
        record["status"]["verification"] = {"lastVerdict": verdict(verification),
                                            "lastPassedTime": verification.get("lastPassedTime")}
    return record


def retention_phase(status: dict[str, Any]) -> str:
    """A backup's phase as retention counts it: one whose artifact a verification found
    damaged is Corrupt, not Succeeded."""
    phase = status.get("phase") or "Pending"
    if phase == "Succeeded" and verdict(status.get("verification") or {}) == "Failed":
        return "Corrupt"
    return str(phase)


class ScheduleController:
    def __init__(self, kube: Kube):
        self.kube = kube
        self.window = FireWindow()
        # (namespace, schedule) -> its backups, from the operator's watch; None until it is
        # ready, and then a listing of the apiserver is the fallback (with 1,000 schedules,
        # listing after each phase change of each backup was the apiserver's largest load)
        self.listing: Listing | None = None
        # fire times acted on but maybe not yet in status: a reconcile in between must not
        # decide the same fire again (harmless, as names are deterministic, but wasted calls)
        self._fired: dict[tuple[str, str], datetime.datetime] = {}

    def reconcile(self, namespace: str, name: str, now: datetime.datetime | None = None,
                  body: dict[str, Any] | None = None, known_active: bool | None = None) -> float:
        """Acts on the schedule at `now`; returns the seconds until it should look again.
        body: the schedule as the caller already has it (kopf's live view), saving a read;
        a stale one is safe, as backup names are deterministic.
        known_active: whether the caller's index shows a run of this schedule still active.
        Given, a due backup is created alone and at once, and the listing, pruning and
        status follow on the next call: when a fleet fires at the same second, every
        creation goes out before any of the slower bookkeeping.
        One schedule is never reconciled twice at once: the Scheduler, its one caller, sees
        to that."""
        if body is None:
            body = self.kube.get(self.kube.custom(KIND, namespace, name))
        if body is None or body["metadata"].get("deletionTimestamp"):
            self._fired.pop((namespace, name), None)
            return MAX_SLEEP
        return self._reconcile(body, now or datetime.datetime.now(datetime.UTC), known_active)

    def due(self, body: dict[str, Any], now: datetime.datetime | None = None) -> bool:
        """Whether a backup of this schedule is due now: a reconcile that must not wait."""
        try:
            return self._decide(body, now or datetime.datetime.now(datetime.UTC))[2].fire is not None
        except ScheduleError:
            return False

    def _decide(self, body: dict[str, Any], now: datetime.datetime) -> tuple[str, Any, Decision]:
        meta, spec = body["metadata"], body["spec"]
        expression = effective_schedule(spec["schedule"], meta["namespace"], meta["name"])
        tz = zone(spec.get("timeZone", "UTC"))
        recorded = parse_time((body.get("status") or {}).get("lastScheduleTime"))
        remembered = self._fired.get((meta["namespace"], meta["name"]))
        last = max(t for t in (recorded, remembered, parse_time(meta["creationTimestamp"])) if t is not None)
        return expression, tz, decide(expression, tz, last, now, spec.get("startingDeadlineSeconds"),
                                      spec.get("suspend", False))

    def _reconcile(self, body: dict[str, Any], now: datetime.datetime, known_active: bool | None) -> float:
        meta, spec = body["metadata"], body["spec"]
        status = dict(body.get("status") or {})
        namespace, name = meta["namespace"], meta["name"]
        generation = meta.get("generation")
        try:
            expression, tz, decision = self._decide(body, now)
        except ScheduleError as error:
            self.write(body, {}, [condition("Ready", False, "InvalidSchedule", str(error), generation=generation)])
            return MAX_SLEEP
        verifying, verify_condition = None, None
        if spec.get("verify"):
            try:   # a verify time that never comes stops verification, never the backups
                verifying = self._decide_verify(body, now, tz)
                verify_condition = condition("VerifyScheduled", True, "Scheduled",
                                             f"next verification at {iso(verifying[1].next_time)}",
                                             generation=generation)
            except ScheduleError as error:
                verify_condition = condition("VerifyScheduled", False, "InvalidVerifySchedule",
                                             f"{error}: no verification runs", generation=generation)
        elif any(c.get("type") == "VerifyScheduled" for c in status.get("conditions") or []):
            verify_condition = condition("VerifyScheduled", False, "NoPolicy", "spec.verify is not set",
                                         generation=generation)
        recorded = parse_time(status.get("lastScheduleTime"))
        remembered = self._fired.get((namespace, name))
        policy = spec.get("concurrencyPolicy", "Forbid")
        if decision.fire and known_active is not None and (
                policy == "Allow" or (policy == "Forbid" and not known_active)):
            self.window.fired()
            self.create_backup(body, backup_name(name, decision.fire), decision.fire)
            self._fired[(namespace, name)] = decision.fire
            return SETTLE_SECONDS
        backups = self.known_backups_of(namespace, name)
        active = [b for b in backups if (b.get("status") or {}).get("phase") not in TERMINAL]
        updates: dict[str, Any] = {"effectiveSchedule": expression, "nextScheduleTime": iso(decision.next_time),
                                   "effectiveRetention": policy_of(body["spec"]).describe()}
        if remembered and (recorded is None or remembered > recorded):
            updates["lastScheduleTime"] = iso(remembered)
        if decision.fire:
            updates["lastScheduleTime"] = iso(decision.fire)
            self._fired[(namespace, name)] = decision.fire
            if active and policy == "Forbid":
                updates["lastSkipped"] = {"time": iso(decision.fire), "reason": "ConcurrencyForbid"}
            else:
                if active and policy == "Replace":
                    for running in active:
                        self.kube.merge(self.kube.custom("DirectorBackup", namespace, running["metadata"]["name"]),
                                        {"spec": {"cancel": True}})
                add(backups, self.create_backup(body, backup_name(name, decision.fire), decision.fire))
        elif decision.skipped:
            updates["lastScheduleTime"] = iso(decision.skipped)
            updates["lastSkipped"] = {"time": iso(decision.skipped), "reason": decision.skip_reason}
        run_now = (meta.get("annotations") or {}).get(RUN_NOW_ANNOTATION)
        if run_now and run_now != status.get("lastRunNow"):
            add(backups, self.create_backup(body, run_now_name(name, run_now), now))
            updates["lastRunNow"] = run_now
        backups = self.prune(body, backups, tz)
        updates.update(self.summary(backups))
        wake = decision.next_time
        if verifying is not None:
            updates["verification"] = self.verify(body, backups, now, tz, *verifying)
            wake = min(wake, verifying[1].next_time)
        else:
            self.forget(namespace, name)
            if status.get("verification"):
                updates["verification"] = None
        message = "suspended" if spec.get("suspend") else f"next backup at {updates['nextScheduleTime']}"
        self.write(body, updates, [condition("Ready", True, "Suspended" if spec.get("suspend") else "Scheduled",
                                             message, generation=generation),
                                   *([verify_condition] if verify_condition else [])])
        return max(0.0, min(MAX_SLEEP, (wake - datetime.datetime.now(datetime.UTC)).total_seconds()))

    def _decide_verify(self, body: dict[str, Any], now: datetime.datetime, tz: Any) -> tuple[str, Decision]:
        meta, spec = body["metadata"], body["spec"]
        expression = verify_expression(spec, meta["namespace"], meta["name"])
        recorded = parse_time(((body.get("status") or {}).get("verification") or {}).get("lastScheduleTime"))
        last = max(t for t in (recorded, parse_time(meta["creationTimestamp"])) if t is not None)
        return expression, decide(expression, tz, last, now, None, spec.get("suspend", False))

    def verify(self, body: dict[str, Any], backups: list[dict[str, Any]], now: datetime.datetime, tz: Any,
               expression: str, decision: Decision) -> dict[str, Any]:
        """The verify policy: at its times (and on the schedule's verify-now annotation) every
        Succeeded backup is sent to verification; returns status.verification."""
        meta, spec = body["metadata"], body["spec"]
        namespace, name = meta["namespace"], meta["name"]
        previous = dict((body.get("status") or {}).get("verification") or {})
        out: dict[str, Any] = {"effectiveSchedule": expression, "nextScheduleTime": iso(decision.next_time),
                               "lastScheduleTime": previous.get("lastScheduleTime"),
                               "lastRunNow": previous.get("lastRunNow")}
        requests = []
        if decision.fire:
            requests.append(f"scheduled-{decision.fire.astimezone(datetime.UTC):%Y%m%dT%H%MZ}")
            out["lastScheduleTime"] = iso(decision.fire)
        elif decision.skipped:
            out["lastScheduleTime"] = iso(decision.skipped)
        run_now = (meta.get("annotations") or {}).get(VERIFY_NOW)
        if run_now and run_now != previous.get("lastRunNow"):
            requests.append(f"now-{run_now}"[:253])
            out["lastRunNow"] = run_now
        identity = spec["verify"].get("identitySecretRef")
        sent = to_verify(backups)
        for request in requests[-1:]:   # a fire and a run-now at once: one read-back is enough
            annotations = {VERIFY_NOW: request}
            if identity:
                annotations[VERIFY_IDENTITY] = identity_annotation(identity)
            for backup in sent:
                try:
                    self.kube.merge(self.kube.custom("DirectorBackup", namespace, backup),
                                    {"metadata": {"annotations": annotations}})
                except ApiError as error:
                    if error.status != 404:   # pruned meanwhile
                        raise
            log.info("%s %s/%s sent %d backups to verification (%s)", KIND, namespace, name,
                     len(sent), request)
        found = standing(backups, max_age(spec, expression, tz, now))
        out.update({"passed": found.passed, "failed": found.failed, "unverified": found.unverified,
                    "lastPassedTime": iso(found.last_passed) if found.last_passed else None,
                    "deadline": iso(found.deadline) if found.deadline else None})
        director = spec["directorRef"]["name"]
        if found.deadline:
            metrics.VERIFICATION_DEADLINE.labels(namespace, name, director).set(found.deadline.timestamp())
        else:
            self.forget(namespace, name)
        return {key: value for key, value in out.items() if value is not None}

    def gone(self, namespace: str, name: str) -> None:
        """The schedule is deleted: nothing of it is kept."""
        self._fired.pop((namespace, name), None)
        self.forget(namespace, name)

    @staticmethod
    def forget(namespace: str, name: str) -> None:
        """No verify policy (any more), or no schedule: no deadline to alert on."""
        for labels in [labels for labels in metrics.deadline_labels() if labels[:2] == (namespace, name)]:
            metrics.VERIFICATION_DEADLINE.remove(*labels)

    def create_backup(self, schedule: dict[str, Any], name: str, scheduled: datetime.datetime) -> dict[str, Any]:
        """A backup from the template; its name is deterministic, so a second try finds it."""
        meta, spec = schedule["metadata"], schedule["spec"]
        template = spec.get("backupTemplate") or {}
        template_meta = template.get("metadata") or {}
        body = {
            "apiVersion": API_VERSION, "kind": "DirectorBackup",
            "metadata": {"name": name, "namespace": meta["namespace"],
                         "labels": {**(template_meta.get("labels") or {}), SCHEDULE_LABEL: label_value(meta["name"])},
                         "annotations": {**(template_meta.get("annotations") or {}), SCHEDULE_ANNOTATION: meta["name"],
                                         "bosh-backup.dev/scheduled-time": iso(scheduled)}},
            "spec": {**(template.get("spec") or {}), "directorRef": spec["directorRef"]},
        }
        try:
            created = self.kube.create(self.kube.custom("DirectorBackup", meta["namespace"]), body)
            log.info("%s %s/%s created DirectorBackup %s", KIND, meta["namespace"], meta["name"], name)
            return created
        except ApiError as error:
            if error.status == 409:  # made by an earlier attempt: the same run, not a second one
                return self.kube.get(self.kube.custom("DirectorBackup", meta["namespace"], name)) or body
            raise

    def prune(self, schedule: dict[str, Any], backups: list[dict[str, Any]], tz: Any) -> list[dict[str, Any]]:
        policy = policy_of(schedule["spec"])
        records = []
        for backup in backups:
            status = backup.get("status") or {}
            moment = parse_time(status.get("completionTime") or backup["metadata"].get("creationTimestamp"))
            records.append(BackupRecord(backup["metadata"]["name"], retention_phase(status),
                                        moment or datetime.datetime.now(datetime.UTC)))
        doomed = set(to_delete(records, policy, tz))
        for name in doomed:
            self.kube.delete(self.kube.custom("DirectorBackup", schedule["metadata"]["namespace"], name))
            log.info("%s %s pruned DirectorBackup %s", KIND, schedule["metadata"]["name"], name)
        return [b for b in backups if b["metadata"]["name"] not in doomed]

    @staticmethod
    def summary(backups: list[dict[str, Any]]) -> dict[str, Any]:
        def created(body: dict[str, Any]) -> str:
            return str(body["metadata"].get("creationTimestamp") or "")
        ordered = sorted(backups, key=lambda b: (created(b), b["metadata"]["name"]))
        out: dict[str, Any] = {"active": [b["metadata"]["name"] for b in ordered
                                          if (b.get("status") or {}).get("phase") not in TERMINAL]}
        if ordered:
            newest = ordered[-1]
            phase = (newest.get("status") or {}).get("phase") or "Pending"
            out["lastBackup"] = {"name": newest["metadata"]["name"], "phase": phase}
        successes = [(b.get("status") or {}).get("completionTime") for b in ordered
                     if retention_phase(b.get("status") or {}) == "Succeeded"]
        if successes:
            out["lastSuccessfulTime"] = max(s for s in successes if s)
        return out

    def write(self, body: dict[str, Any], updates: dict[str, Any], conditions: list[dict[str, Any]]) -> None:
        status = dict(body.get("status") or {})
        merged = merge_conditions(status.get("conditions"), conditions)
        patch = {**updates, "conditions": merged, "observedGeneration": body["metadata"].get("generation")}
        if all(same(status.get(key), value) for key, value in patch.items()):
            return  # nothing changed: no write, so 500 idle schedules cost nothing
        self.kube.patch_status(KIND, body["metadata"]["namespace"], body["metadata"]["name"], patch)

    def known_backups_of(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """This schedule's backups as the operator's watch knows them, or listed when it
        knows none yet. A view a moment old is safe: a backup just created is added by
        whoever created it, and pruning one already gone finds nothing to delete."""
        known = self.listing(namespace, label_value(name)) if self.listing else None
        return self.backups_of(namespace, name) if known is None else [dict(record) for record in known]

    def backups_of(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The DirectorBackups this schedule created (its label says so), listed."""
        listing = self.kube.get(self.kube.custom("DirectorBackup", namespace),
                                labelSelector=f"{SCHEDULE_LABEL}={label_value(name)}")
        return list((listing or {}).get("items", []))

    def delete_backups(self, schedule: dict[str, Any]) -> None:
        namespace, name = schedule["metadata"]["namespace"], schedule["metadata"]["name"]
        for backup in self.backups_of(namespace, name):
            self.kube.delete(self.kube.custom("DirectorBackup", namespace, backup["metadata"]["name"]))


def same(current: Any, wanted: Any) -> bool:
    """Whether status already holds what a merge patch would write (nested objects are
    merged, so fields the patch does not name do not count)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(same(current.get(key), value) for key, value in wanted.items())
    return bool(current == wanted)


def policy_of(spec: dict[str, Any]) -> Policy:
    retention = spec.get("retention") or {}
    return Policy(retention.get("keepLast", 0), retention.get("keepDaily", 0), retention.get("keepWeekly", 0),
                  retention.get("keepMonthly", 0), spec.get("failedBackupsHistoryLimit", 3))
