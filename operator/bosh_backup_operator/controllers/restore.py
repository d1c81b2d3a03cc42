"""DirectorRestore: the BOSH docs' recovery procedure onto a fresh director, once."""

from __future__ import annotations

from typing import Any

from ..api.director import Problem
from ..api.runs import RunSettings, director_uuid, resolve_run
from ..outcome import Outcome
from ..planning.plan import Plan
from ..planning.restore import plan_restore
from .run import RunController


class RestoreController(RunController):
    kind = "DirectorRestore"
    require_artifact = False
    cancel_cleanup = "it runs bbr restore-cleanup if it was restoring"

    def source(self, restore: dict[str, Any], director_spec: dict[str, Any] | None) -> dict[str, Any] | list[Problem]:
        """Where the artifact is: a Succeeded DirectorBackup's, or storage + path."""
        namespace = restore["metadata"]["namespace"]
        source = restore["spec"]["source"]
        fallback = (director_spec or {}).get("storage")
        if "backupRef" in source:
            name = source["backupRef"]["name"]
            backup = self.kube.get(self.kube.custom("DirectorBackup", namespace, name))
            if backup is None:
                return [Problem("BackupNotFound", f'spec.source.backupRef: DirectorBackup "{name}" not found; if '
                                                  "its resource is gone, restore from source.storage and "
                                                  "source.path")]
            status = backup.get("status") or {}
            if status.get("phase") != "Succeeded" or not status.get("artifact"):
                return [Problem("BackupNotSucceeded", f'spec.source.backupRef: DirectorBackup "{name}" is '
                                                      f'{status.get("phase") or "Pending"}, not Succeeded: only a '
                                                      "stored and verified backup can be restored")]
            # where the artifact really went (status), not what a spec says now
            storage = status["artifact"].get("storage") or backup["spec"].get("storage")
            if not storage:
                origin = self.kube.get(self.kube.custom("Director", namespace, backup["spec"]["directorRef"]["name"]))
                storage = (origin or {}).get("spec", {}).get("storage") or fallback
            return {"path": status["artifact"]["path"], "storage": storage, "backup": name,
                    "method": backup["spec"].get("method", "bbr")}
        return {"path": source["path"], "storage": source.get("storage") or fallback, "backup": None,
                "method": None}

    def prepare(self, restore: dict[str, Any]) -> tuple[Plan, RunSettings] | list[Problem]:
        meta, spec = restore["metadata"], restore["spec"]
        director_name = spec["directorRef"]["name"]
        director = self.kube.get(self.kube.custom("Director", meta["namespace"], director_name))
        source = self.source(restore, director["spec"] if director else None)
        if isinstance(source, list):
            return source
        settings = resolve_run(director_name, director["spec"] if director else None, source["method"] or "",
                               source["storage"], lambda kind, name: self.kube.data_keys(meta["namespace"], kind, name),
                               director_uuid=director_uuid(director), identity=spec.get("identitySecretRef"))
        if isinstance(settings, list):
            return settings
        return plan_restore(meta, spec, settings, self.config.tools, source), settings

    def start_status(self, restore: dict[str, Any], plan: Plan) -> dict[str, Any]:
        source: dict[str, Any] = {"location": plan.artifact_path}
        if plan.options.get("backup"):
            source["backup"] = plan.options["backup"]
        if plan.method:
            source["method"] = plan.method
        return {"source": source}

    def succeeded(self, restore: dict[str, Any], outcome: Outcome) -> tuple[dict[str, Any], str, str, bool]:
        counts = outcome.result.get("summary") or {}
        uploaded = counts.get("stemcellsUploaded", 0) + counts.get("releasesUploaded", 0)
        message = (f'restored into Director "{restore["spec"]["directorRef"]["name"]}": {uploaded} stemcells and '
                   f'releases re-uploaded, {counts.get("problemsResolved", 0)} problems resolved, '
                   f'{counts.get("processesRunning", 0)} processes running')
        status: dict[str, Any] = {}
        if outcome.result.get("source"):
            status["source"] = outcome.result["source"]
        return status, "Restored", message, False
