"""DirectorBackup: from Pending to a verified artifact, or to a failure that says why."""

from __future__ import annotations

import datetime
from typing import Any

from .. import metrics
from ..api.director import Problem
from ..api.runs import RunSettings, director_uuid, resolve_run
from ..jobs import build_job
from ..outcome import Outcome
from ..planning.backup import plan_backup
from ..planning.plan import Plan, Step
from ..status import human_size
from . import runs
from .run import TERMINAL, RunController

__all__ = ["TERMINAL", "BackupController"]


class BackupController(RunController):
    kind = "DirectorBackup"
    require_artifact = True   # no backup succeeds without a stored, verified artifact
    cancel_cleanup = "it runs bbr backup-cleanup before it ends; no artifact is kept"

    def resolve(self, backup: dict[str, Any]) -> RunSettings | list[Problem]:
        meta, spec = backup["metadata"], backup["spec"]
        director_name = spec["directorRef"]["name"]
        director = self.kube.get(self.kube.custom("Director", meta["namespace"], director_name))
        return resolve_run(director_name, director["spec"] if director else None,
                           spec.get("method", "bbr"), spec.get("storage"),
                           lambda kind, name: self.kube.data_keys(meta["namespace"], kind, name),
                           want_state_file=spec.get("includeStateFile", True),
                           director_uuid=director_uuid(director),
                           encryption=spec.get("encryption"), want_encryption=True)

    def prepare(self, backup: dict[str, Any]) -> tuple[Plan, RunSettings] | list[Problem]:
        settings = self.resolve(backup)
        if isinstance(settings, list):
            return settings
        return plan_backup(backup["metadata"], backup["spec"], settings, self.config.tools), settings

    def succeeded(self, backup: dict[str, Any], outcome: Outcome) -> tuple[dict[str, Any], str, str, bool]:
        result = outcome.result
        artifact = dict(result["artifact"])
        artifact["size"] = human_size(int(artifact.get("totalSize", 0)))
        warnings = result.get("warnings") or []
        reason = "CompletedWithWarnings" if warnings else "Completed"
        message = (f"stored {len(artifact['files'])} files, {artifact['size']} ({artifact.get('totalSize', 0)} bytes), "
                   f"verified, at {artifact['location']}"
                   + (f"; warning: {' '.join(warnings)}" if warnings else ""))
        status: dict[str, Any] = {"artifact": artifact}
        for key in ("director", "inventory"):
            if result.get(key):
                status[key] = result[key]
        return status, reason, message, bool(warnings)

    def after_success(self, backup: dict[str, Any], outcome: Outcome, stamp: str) -> None:
        namespace, director = backup["metadata"]["namespace"], backup["spec"]["directorRef"]["name"]
        artifact = outcome.result["artifact"]
        metrics.LAST_SUCCESS.labels(namespace, director).set(datetime.datetime.now(datetime.UTC).timestamp())
        metrics.ARTIFACT_BYTES.labels(namespace, director).set(int(artifact.get("totalSize", 0)))
        runs.record_on_director(self.kube, backup, "Succeeded", stamp, location=artifact["location"],
                                snapshot=outcome.result.get("director"))

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
        storage = artifact.get("storage")  # where it really went; older backups did not record it
        if storage is None:
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
            plan = Plan(kind=self.kind, namespace=meta["namespace"], name=meta["name"], uid=meta["uid"],
                        director=spec["directorRef"]["name"], method=spec.get("method", "bbr"), dialect="v2",
                        steps=[Step("DeleteArtifact", "delete-artifact", f"delete {artifact['location']}")],
                        storage=storage, artifact_path=artifact["path"], options={"noStatus": True})
            job_body = build_job(plan, None, runs.owner(backup), timeout_seconds=600, pod=spec.get("pod"),
                                 config=self.config.runner)
            job_body["metadata"]["name"] = name
            runs.ensure_run_account(self.kube, backup)
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


