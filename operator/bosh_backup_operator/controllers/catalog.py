"""DirectorBackupCatalog: list a storage folder in a Job, now and then, and import what
has no DirectorBackup (Velero's backup sync, for director backups)."""

from __future__ import annotations

import logging
from typing import Any

from ..api.director import find_problems, storage_references
from ..config import OperatorConfig
from ..jobs import build_job, job_name
from ..kube import ApiError, Kube
from ..outcome import job_outcome
from ..planning.catalog import (
    SYNC_NOW_ANNOTATION,
    auto_catalog_name,
    backups_to_read,
    decide_imports,
    plan_catalog,
)
from ..status import condition, merge_conditions, now_iso
from ..storage import location_of
from . import runs
from .run import seconds_between
from .runs import Coalescing

log = logging.getLogger("bosh-backup")
KIND = "DirectorBackupCatalog"
LISTING_TIMEOUT_SECONDS = 900


class CatalogController:
    def __init__(self, kube: Kube, config: OperatorConfig):
        self.kube, self.config = kube, config
        # one pass per catalog at a time; catalogs of one namespace may import at once, as
        # imported names are deterministic, and a creation that loses the race is skipped and
        # left to that catalog's next listing
        self.passes = Coalescing()

    def reconcile(self, namespace: str, name: str) -> None:
        def one_pass() -> None:
            catalog = self.kube.get(self.kube.custom(KIND, namespace, name))
            if catalog is None or catalog["metadata"].get("deletionTimestamp"):
                return
            self._reconcile(catalog)
        self.passes.run((namespace, name), one_pass)

    def _reconcile(self, catalog: dict[str, Any]) -> None:
        meta, spec = catalog["metadata"], catalog["spec"]
        namespace = meta["namespace"]
        director_name = spec["directorRef"]["name"]
        director = self.kube.get(self.kube.custom("Director", namespace, director_name))
        storage = spec.get("storage") or ((director or {}).get("spec") or {}).get("storage")
        problem = self.problem(director_name, director, spec, storage, namespace)
        if problem:
            self.synced(catalog, False, *problem)
            return
        assert storage is not None
        job_path = self.kube.batch(namespace, job_name(KIND, meta["name"]))
        job = self.kube.get(job_path)
        if job is not None:
            self.follow(catalog, job, storage)
            return
        if spec.get("suspend") or not self.due(catalog):
            return
        plan = plan_catalog(meta, spec, storage)
        runs.ensure_run_account(self.kube, catalog)
        body = build_job(plan, None, runs.owner(catalog), timeout_seconds=LISTING_TIMEOUT_SECONDS,
                         pod=spec.get("pod"), config=self.config.runner)
        body["spec"]["backoffLimit"] = 0   # the next listing is the retry
        try:
            self.kube.create(self.kube.batch(namespace), body)
        except ApiError as error:
            if error.status != 409:
                raise
        self.write(catalog, {"jobName": body["metadata"]["name"], "location": location_of(storage, plan.artifact_path),
                             "lastSyncRequest": (meta.get("annotations") or {}).get(SYNC_NOW_ANNOTATION, "")}, [])

    def problem(self, director_name: str, director: dict[str, Any] | None, spec: dict[str, Any],
                storage: dict[str, Any] | None, namespace: str) -> tuple[str, str] | None:
        if director is None:
            return "DirectorNotFound", f'spec.directorRef: Director "{director_name}" not found'
        if not storage:
            return "StorageNotConfigured", (f'spec.storage: not set, and Director "{director_name}" has no '
                                            "spec.storage")
        field = "spec.storage" if spec.get("storage") else f'Director "{director_name}" spec.storage'
        found = find_problems(storage_references(field, storage),
                              lambda kind, name: self.kube.data_keys(namespace, kind, name))
        return (found[0].reason, "; ".join(p.message for p in found)) if found else None

    def due(self, catalog: dict[str, Any]) -> bool:
        meta, status = catalog["metadata"], catalog.get("status") or {}
        last = status.get("lastSyncTime")
        request = (meta.get("annotations") or {}).get(SYNC_NOW_ANNOTATION, "")
        if not last or status.get("observedGeneration") != meta.get("generation"):
            return True
        if request and request != status.get("lastSyncRequest", ""):
            return True
        interval = int(catalog["spec"].get("intervalSeconds", 300))
        return seconds_between(last, now_iso()) >= interval

    def follow(self, catalog: dict[str, Any], job: dict[str, Any], storage: dict[str, Any]) -> None:
        namespace = catalog["metadata"]["namespace"]
        name = job["metadata"]["name"]
        pods = (self.kube.get(self.kube.core("pods", namespace), labelSelector=f"job-name={name}")
                or {}).get("items", [])
        outcome = job_outcome(job, pods, f"{LISTING_TIMEOUT_SECONDS}s", require_artifact=False)
        if outcome.state == "Running":
            return
        self.kube.delete(self.kube.batch(namespace, name), {"propagationPolicy": "Background"})
        fresh = self.kube.get(self.kube.custom(KIND, namespace, catalog["metadata"]["name"])) or catalog
        if outcome.state != "Succeeded":
            self.synced(fresh, False, outcome.reason or "ListingFailed",
                        f"listing {(fresh.get('status') or {}).get('location', 'the storage')} failed: "
                        f"{outcome.message or 'see the logs of Job ' + name}. The next listing is in "
                        f"{fresh['spec'].get('intervalSeconds', 300)}s, or annotate {SYNC_NOW_ANNOTATION}.",
                        job_done=True)
            return
        self.import_listed(fresh, storage)

    def import_listed(self, catalog: dict[str, Any], storage: dict[str, Any]) -> None:
        meta, status = catalog["metadata"], catalog.get("status") or {}
        namespace = meta["namespace"]
        entries = status.get("artifacts") or []
        stamp = now_iso()
        decision = None
        wanted = backups_to_read(catalog, entries)
        if wanted is not None:
            found = [self.kube.get(self.kube.custom("DirectorBackup", namespace, name)) for name in wanted]
            if all(found):
                trial = decide_imports(catalog, entries, [b for b in found if b], storage, stamp, partial=True)
                if not trial.imports:   # an import must be decided on the whole namespace
                    decision = trial
        if decision is None:
            backups = (self.kube.get(self.kube.custom("DirectorBackup", namespace)) or {}).get("items", [])
            decision = decide_imports(catalog, entries, backups, storage, stamp)
        created = []
        for body, backup_status in decision.imports:
            try:
                made = self.kube.create(self.kube.custom("DirectorBackup", namespace), body)
            except ApiError as error:
                if error.status != 409:
                    raise
                continue   # made meanwhile (a run finishing): the next listing sees it
            generation = made["metadata"].get("generation")
            self.kube.patch_status("DirectorBackup", namespace, body["metadata"]["name"], {
                **backup_status, "observedGeneration": generation, "conditions": [
                    condition("Succeeded", True, "Imported", backup_status["message"], generation=generation),
                    condition("Imported", True, "FoundInStorage",
                              f'DirectorBackupCatalog "{meta["name"]}" found {backup_status["artifact"]["location"]}',
                              generation=generation)]})
            created.append(body["metadata"]["name"])
            self.kube.event(made, "Normal", "Imported", backup_status["message"])
        complete = sum(1 for e in entries if e.get("form") != "incomplete")
        incomplete = len(entries) - complete
        message = (f"{complete} complete artifacts at {status.get('location', '')}, {incomplete} incomplete; "
                   f"{len(created)} imported as DirectorBackups" + (f" ({', '.join(created[:10])})" if created else "")
                   + (f"; {len(decision.released)} whose DirectorBackup was deleted are not brought back"
                      if decision.released else ""))
        if incomplete:
            first = next(e for e in entries if e.get("form") == "incomplete")
            message += f"; incomplete: {first.get('reason', first['path'])}"
        if created:
            self.kube.event(catalog, "Normal", "Imported", message)
        log.info("%s %s/%s: %s", KIND, namespace, meta["name"], message)
        self.synced(catalog, True, "Listed", message, job_done=True, extra={
            "lastSyncTime": stamp, "complete": complete, "incomplete": incomplete, "imported": len(created),
            "held": decision.held, "released": decision.released})

    def synced(self, catalog: dict[str, Any], ok: bool, reason: str, message: str, *, job_done: bool = False,
               extra: dict[str, Any] | None = None) -> None:
        current = {c["type"]: c for c in (catalog.get("status") or {}).get("conditions") or []}.get("Synced", {})
        changed = current.get("reason") != reason or current.get("message") != message
        status: dict[str, Any] = dict(extra or {})
        if job_done:
            status["jobName"] = None
            if not ok:  # a failed listing waits its interval like a good one
                status["lastSyncTime"] = now_iso()
        if changed or status:
            self.write(catalog, status, [condition("Synced", ok, reason, message,
                                                   generation=catalog["metadata"].get("generation"))])
        if changed and not ok:
            self.kube.event(catalog, "Warning", reason, message)

    def write(self, catalog: dict[str, Any], status: dict[str, Any], conditions: list[dict[str, Any]]) -> None:
        meta = catalog["metadata"]
        current = (catalog.get("status") or {}).get("conditions")
        if conditions:
            status["conditions"] = merge_conditions(current, conditions)
        status["observedGeneration"] = meta.get("generation")
        self.kube.patch_status(KIND, meta["namespace"], meta["name"], status)


def auto_catalog(director: dict[str, Any]) -> dict[str, Any] | None:
    """The catalog a Director keeps of its default storage, or None when it keeps none."""
    meta, spec = director["metadata"], director["spec"]
    settings = spec.get("catalog") or {}
    if not spec.get("storage") or not settings.get("sync", True):
        return None
    return {
        "apiVersion": director["apiVersion"], "kind": KIND,
        "metadata": {"name": auto_catalog_name(meta["name"]), "namespace": meta["namespace"],
                     "labels": {"app.kubernetes.io/managed-by": "bosh-backup-operator"},
                     "ownerReferences": [{**runs.owner(director), "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"directorRef": {"name": meta["name"]}, "intervalSeconds": int(settings.get("intervalSeconds", 300))},
    }


def ensure_auto_catalog(kube: Kube, director: dict[str, Any]) -> None:
    """Create, update or delete the Director's own catalog to match its spec."""
    meta = director["metadata"]
    wanted = auto_catalog(director)
    path = kube.custom(KIND, meta["namespace"], auto_catalog_name(meta["name"]))
    current = kube.get(path)
    mine = current is not None and any(ref.get("uid") == meta.get("uid")
                                       for ref in current["metadata"].get("ownerReferences") or [])
    if wanted is None:
        if mine:
            kube.delete(path)
        return
    if current is None:
        kube.create_if_absent(kube.custom(KIND, meta["namespace"]), wanted)
    elif mine and current["spec"].get("intervalSeconds") != wanted["spec"]["intervalSeconds"]:
        kube.merge(path, {"spec": {"intervalSeconds": wanted["spec"]["intervalSeconds"]}})


__all__ = ["KIND", "CatalogController", "auto_catalog", "ensure_auto_catalog"]
