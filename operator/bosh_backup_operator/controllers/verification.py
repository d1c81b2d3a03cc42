"""Verifying a stored backup: the verify-now annotation (set by a person, or by a schedule's
verify policy) starts a Job that reads the artifact back and checks it
(runner/verify_actions.py); its result goes into status.verification, the Verified
condition, an Event and the metrics."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from .. import GROUP, metrics
from ..api.director import Reference, find_problems
from ..bosh import paths
from ..config import OperatorConfig
from ..jobs import build_job
from ..kube import ApiError, Kube
from ..names import fit
from ..outcome import job_outcome
from ..planning.plan import Plan, Step
from ..planning.verification import VERIFY_IDENTITY, VERIFY_NOW, parse_identity, verdict
from ..status import condition, merge_conditions, now_iso
from . import runs
from .runs import Coalescing

log = logging.getLogger("bosh-backup")
KIND = "DirectorBackup"
PURPOSE_LABEL = f"{GROUP}/purpose"
TIMEOUT_SECONDS = 4 * 3600
FIELDS = ("requested", "startTime", "time", "result", "filesChecked", "bytesChecked", "tarsChecked", "decrypted",
          "problems", "problemCount", "jobName")


def verify_job_name(backup: str) -> str:
    return fit(backup, 63, suffix="verify", hash_length=8)


class VerificationController:
    def __init__(self, kube: Kube, config: OperatorConfig):
        self.kube, self.config = kube, config
        # a verify policy sends every kept backup at once: their Jobs' events must not
        # queue behind one another on kopf's threads
        self.passes = Coalescing()

    def reconcile(self, namespace: str, name: str) -> None:
        def one_pass() -> None:
            backup = self.kube.get(self.kube.custom(KIND, namespace, name))
            if backup is None or backup["metadata"].get("deletionTimestamp"):
                return
            self._reconcile(backup)
        self.passes.run((namespace, name), one_pass)

    def _reconcile(self, backup: dict[str, Any]) -> None:
        meta, status = backup["metadata"], backup.get("status") or {}
        namespace = meta["namespace"]
        job = self.kube.get(self.kube.batch(namespace, verify_job_name(meta["name"])))
        if job is not None:
            self.follow(backup, job)
            return
        annotations = meta.get("annotations") or {}
        requested = annotations.get(VERIFY_NOW)
        verification = status.get("verification") or {}
        if not requested or requested == verification.get("requested"):
            return
        artifact = status.get("artifact")
        refused = {"requested": requested, "time": now_iso(), "result": "Error"}
        if status.get("phase") != "Succeeded" or not artifact:
            self.record(backup, {**refused, "problems": [
                f"only a Succeeded backup has an artifact to verify; this one is {status.get('phase') or 'Pending'}"]})
            return
        spec = backup["spec"]
        options: dict[str, Any] = {"noStatus": True}
        identity = None
        if annotations.get(VERIFY_IDENTITY):
            try:
                identity = parse_identity(annotations[VERIFY_IDENTITY])
            except ValueError as error:
                self.record(backup, {**refused, "problems": [str(error)]})
                return
            where = f"annotation {VERIFY_IDENTITY}"
            missing = find_problems([Reference(where, "Secret", identity.name, ((identity.key,),))],
                                    lambda kind, name: self.kube.data_keys(namespace, kind, name))
            if missing:
                self.record(backup, {**refused, "problems": [problem.message for problem in missing]})
                return
            options["identity"] = {"path": paths.IDENTITY,
                                   "from": f'{where} (Secret "{identity.name}", key "{identity.key}")'}
        plan = Plan(kind=KIND, namespace=namespace, name=meta["name"], uid=meta["uid"],
                    director=spec["directorRef"]["name"], method=spec.get("method", "bbr"), dialect="v2",
                    steps=[Step("VerifyStored", "verify-stored", f"read back and check {artifact['location']}")],
                    storage=artifact.get("storage") or spec.get("storage") or {}, artifact_path=artifact["path"],
                    options=options)
        if not plan.storage:
            self.record(backup, {**refused, "problems": [
                "the backup's status.artifact does not say which storage holds it"]})
            return
        body = build_job(plan, None, runs.owner(backup), timeout_seconds=TIMEOUT_SECONDS, pod=spec.get("pod"),
                         config=self.config.runner, identity=identity)
        body["metadata"]["name"] = verify_job_name(meta["name"])
        body["metadata"]["labels"][PURPOSE_LABEL] = "verify"
        body["spec"]["template"]["metadata"]["labels"][PURPOSE_LABEL] = "verify"
        body["spec"]["backoffLimit"] = 0   # a new request is the retry
        runs.ensure_run_account(self.kube, backup)
        try:
            self.kube.create(self.kube.batch(namespace), body)
        except ApiError as error:
            if error.status != 409:
                raise
        self.record(backup, {"requested": requested, "startTime": now_iso(), "result": "Running",
                             "jobName": body["metadata"]["name"]})

    def follow(self, backup: dict[str, Any], job: dict[str, Any]) -> None:
        namespace, name = backup["metadata"]["namespace"], job["metadata"]["name"]
        if job["metadata"].get("deletionTimestamp"):
            return   # its result is recorded; it is going
        if ((backup.get("status") or {}).get("verification") or {}).get("result") not in (None, "Running"):
            self.kube.delete(self.kube.batch(namespace, name), {"propagationPolicy": "Background"})
            return   # recorded already (a second event before the deletion was seen)
        pods = (self.kube.get(self.kube.core("pods", namespace), labelSelector=f"job-name={name}")
                or {}).get("items", [])
        outcome = job_outcome(job, pods, f"{TIMEOUT_SECONDS}s", require_artifact=False)
        if outcome.state == "Running":
            return
        found = dict(outcome.result.get("verification") or {})
        if outcome.state != "Succeeded" or "result" not in found:
            # storage unreachable, a wrong identity, a pod that never ran: nothing is known
            # of the artifact, so it is an Error, never a Failed that retention would act on
            found = {"result": "Error", "problems": [f"the verification did not finish ({outcome.reason}): "
                                                     f"{outcome.message or 'see the logs of Job ' + name}"]}
        previous = (backup.get("status") or {}).get("verification") or {}
        self.record(backup, {**found, "requested": previous.get("requested"), "startTime": previous.get("startTime"),
                             "time": now_iso(), "jobName": None})
        self.kube.delete(self.kube.batch(namespace, name), {"propagationPolicy": "Background"})

    def record(self, backup: dict[str, Any], verification: dict[str, Any]) -> None:
        """status.verification, the Verified condition and, once there is a result, an Event
        and the metrics."""
        meta = backup["metadata"]
        namespace, director = meta["namespace"], backup["spec"]["directorRef"]["name"]
        previous = (backup.get("status") or {}).get("verification") or {}
        # every field named: a merge patch keeps what it does not name, and nothing of an
        # earlier verification may pass for this one's (null removes it) but its verdict:
        # a check that is running or could not finish leaves a damaged backup damaged
        verification = {key: verification.get(key) for key in FIELDS}
        result = verification["result"]
        conclusive = result in ("Passed", "Failed")
        verification["lastVerdict"] = result if conclusive else verdict(previous)
        verification["lastPassedTime"] = (verification["time"] if result == "Passed"
                                          else previous.get("lastPassedTime"))
        conditions = []
        if result == "Passed":
            message = (f"{verification['filesChecked'] or 0} files read back; every checksum matches"
                       + (" (decrypted)" if verification.get("decrypted") else ""))
            conditions.append(condition("Verified", True, "Passed", message,
                                        generation=meta.get("generation")))
            self.kube.event(backup, "Normal", "Verified", message)
            metrics.LAST_VERIFIED.labels(namespace, director).set(datetime.datetime.now(datetime.UTC).timestamp())
        elif result == "Failed":
            problems = verification.get("problems") or []
            count = verification["problemCount"] or len(problems)   # None (not sent) when found before any Job
            message = (f"{count} problems: {'; '.join(problems[:3])}. Restore from another backup if this one "
                       "is needed; make a new backup now")
            conditions.append(condition("Verified", False, "VerificationFailed", message,
                                        generation=meta.get("generation")))
            self.kube.event(backup, "Warning", "VerificationFailed", message)
            metrics.VERIFICATION_FAILURES.labels(namespace, director).inc()
        elif result == "Error":
            problems = verification.get("problems") or ["no reason given"]
            message = (f"could not be verified: {'; '.join(problems[:3])}. Nothing is known of the artifact; "
                       "mend the cause and annotate again")
            conditions.append(condition("Verified", None, "VerificationError", message,
                                        generation=meta.get("generation")))
            self.kube.event(backup, "Warning", "VerificationError", message)
        status = backup.get("status") or {}
        patch: dict[str, Any] = {"verification": verification}
        if conditions:
            patch["conditions"] = merge_conditions(status.get("conditions"), conditions)
        self.kube.patch_status(KIND, namespace, meta["name"], patch)
        log.info("%s %s/%s verification %s", KIND, namespace, meta["name"], result)
