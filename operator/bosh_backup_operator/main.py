"""kopf handlers: thin adapters from events to the controllers that decide."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
from collections.abc import Callable
from typing import Any

import kopf

from . import GROUP, VERSION, kube
from . import settings as operator_settings
from .api.director import Rechecks, director_references, find_problems, plain_http_warning, readiness
from .config import OperatorConfig
from .connections import BoundedSessions, connection_limit
from .controllers.backup import TERMINAL, BackupController
from .controllers.catalog import CatalogController, ensure_auto_catalog
from .controllers.restore import RestoreController
from .controllers.run import RunController
from .controllers.schedule import ScheduleController, backup_record
from .controllers.scheduler import Scheduler
from .controllers.verification import PURPOSE_LABEL, VERIFY_NOW, VerificationController
from .inventory import Inventory, is_active
from .jobs import ANNOTATION_RUN, LABEL_KIND, LABEL_NAME, MANAGED_BY
from .kube import PLURALS
from .names import label_value
from .nudges import Nudges
from .planning.schedule import SCHEDULE_ANNOTATION, SCHEDULE_LABEL
from .status import condition, conditions_changed, merge_conditions
from .waits import SafetyNet, WaitQueue

DIRECTORS = (GROUP, VERSION, "directors")
BACKUPS = (GROUP, VERSION, "directorbackups")
RESTORES = (GROUP, VERSION, "directorrestores")
SCHEDULES = (GROUP, VERSION, "directorbackupschedules")
CATALOGS = (GROUP, VERSION, "directorbackupcatalogs")
RECHECK_SECONDS = float(os.environ.get("BOSH_BACKUP_RECHECK_SECONDS", "30"))
READY_RECHECK_SECONDS = float(os.environ.get("BOSH_BACKUP_READY_RECHECK_SECONDS", "300"))
SAFETY_NET_SECONDS = float(os.environ.get("BOSH_BACKUP_SAFETY_NET_SECONDS", "10"))
WAITING_SAFETY_NET_SECONDS = float(os.environ.get("BOSH_BACKUP_WAITING_SAFETY_NET_SECONDS", "60"))


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
    return await sessions().login(**kwargs)


@functools.cache
def sessions() -> BoundedSessions:
    return BoundedSessions(connection_limit(operator_settings.watched_namespaces))


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    operator_settings.configure(settings)
    handler_threads.append(settings.execution.executor)


handler_threads: list[concurrent.futures.Executor] = []   # kopf's, for its sync handlers


@functools.cache
def controllers() -> dict[str, RunController]:
    peers: dict[str, RunController] = {}
    config = OperatorConfig.from_env()
    waits = WaitQueue()   # one queue per director, whatever the kind of run
    BackupController(kube.api(), config, peers, waits)
    RestoreController(kube.api(), config, peers, waits)
    return peers


def backups() -> BackupController:
    controller = controllers()["DirectorBackup"]
    assert isinstance(controller, BackupController)
    return controller


def deleted(type: str, **_: Any) -> bool:   # kopf names the event type `type`
    return type == "DELETED"


# -- Director ------------------------------------------------------------------------------------

def reconcile_director(body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
                       namespace: str, patch: kopf.Patch, logger: Any) -> None:
    problems = find_problems(director_references(dict(spec)),
                             lambda kind, name: kube.data_keys(namespace, kind, name))
    ready, reason, message = readiness(problems)
    generation = meta.get("generation")
    current = status.get("conditions") or []
    insecure = plain_http_warning(dict(spec))
    transport = (condition("SecureTransport", False, "PlainHttpStorage", insecure, generation=generation) if insecure
                 else condition("SecureTransport", True, "Encrypted", "storage is reached over https or a claim",
                                generation=generation))
    merged = merge_conditions(current, [condition("Ready", ready, reason, message, generation=generation), transport])
    if conditions_changed(current, merged) or status.get("observedGeneration") != generation:
        patch.status["conditions"] = merged
        patch.status["observedGeneration"] = generation
        if not ready:
            kopf.warn(body, reason=reason, message=message)
        if insecure:
            kopf.warn(body, reason="PlainHttpStorage", message=insecure)
        logger.info("Director %s: Ready=%s (%s)", meta.get("name"), ready, reason)
    ensure_auto_catalog(kube.api(), dict(body))


@kopf.on.resume(*DIRECTORS)
@kopf.on.create(*DIRECTORS)
@kopf.on.update(*DIRECTORS, field="spec")
def director_changed(**kwargs: Any) -> None:
    rechecks().looked((kwargs["namespace"], kwargs["name"]))
    reconcile_director(kwargs["body"], kwargs["spec"], kwargs["meta"], kwargs["status"],
                       kwargs["namespace"], kwargs["patch"], kwargs["logger"])


@functools.cache
def rechecks() -> Rechecks:
    return Rechecks(READY_RECHECK_SECONDS)


@kopf.timer(*DIRECTORS, interval=RECHECK_SECONDS, initial_delay=RECHECK_SECONDS)
async def director_recheck(**kwargs: Any) -> None:
    """Secrets can appear, go or change after the Director: look again, every tick while it
    is not Ready, and now and then once it is."""
    key = (kwargs["namespace"], kwargs["name"])
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in kwargs["status"].get("conditions") or [])
    if not rechecks().due(key, ready):
        return
    rechecks().looked(key)
    await asyncio.to_thread(reconcile_director, kwargs["body"], kwargs["spec"], kwargs["meta"], kwargs["status"],
                            kwargs["namespace"], kwargs["patch"], kwargs["logger"])


@kopf.on.event(*DIRECTORS, when=deleted)
async def director_gone(**kwargs: Any) -> None:
    rechecks().forget((kwargs["namespace"], kwargs["name"]))


# -- DirectorBackupCatalog -----------------------------------------------------------------------

@functools.cache
def catalogs() -> CatalogController:
    return CatalogController(kube.api(), OperatorConfig.from_env())


@kopf.on.resume(*CATALOGS)
@kopf.on.create(*CATALOGS)
@kopf.on.update(*CATALOGS)
def catalog_changed(**kwargs: Any) -> None:
    catalogs().reconcile(kwargs["namespace"], kwargs["name"])


@kopf.timer(*CATALOGS, interval=SAFETY_NET_SECONDS)
async def catalog_tick(**kwargs: Any) -> None:
    """Listings fall due, and their Jobs end (a Job's end also wakes it). Between listings a
    catalog costs no request, nor a thread: every Director has one."""
    body = dict(kwargs["body"])
    if (body.get("status") or {}).get("jobName") or catalogs().due(body):
        await asyncio.to_thread(catalogs().reconcile, kwargs["namespace"], kwargs["name"])


# -- DirectorBackup --------------------------------------------------------------------------------

def active(status: kopf.Status, **_: Any) -> bool:
    return is_active(dict(status))


@kopf.on.resume(*BACKUPS, when=active)
@kopf.on.create(*BACKUPS)
@kopf.on.update(*BACKUPS, field="spec.cancel")
async def backup_changed(**kwargs: Any) -> None:
    """Asks for a pass and returns: kopf's worker for this backup is free at once. A pass
    waits for a fleet's fire to go out first; one that fails is taken up again by its
    Director's safety net, as every active run is."""
    ask_for_pass(backups().kind, backups().reconcile, kwargs["namespace"], kwargs["name"])


@kopf.on.event(*BACKUPS, when=deleted)   # filtered first: a fleet's runs change status all the time
@kopf.on.event(*RESTORES, when=deleted)
def run_gone(**kwargs: Any) -> None:
    """A run deleted while it waited gives up its place in the queue."""
    body = kwargs["body"]
    if kwargs["namespace"]:
        controllers()[body["kind"]].forget(kwargs["namespace"], kwargs["name"],
                                           body["spec"]["directorRef"]["name"])


@kopf.on.resume(*RESTORES, when=active)
@kopf.on.create(*RESTORES)
def restore_changed(**kwargs: Any) -> None:
    """The spec is immutable and a finished restore never runs again, whatever is re-applied."""
    controllers()["DirectorRestore"].reconcile(kwargs["namespace"], kwargs["name"])


@functools.cache
def inventory() -> Inventory:
    return Inventory(backup_record)


@kopf.on.startup()
async def take_inventory(**_: Any) -> None:
    """One LIST of the runs before kopf watches anything; the watch's events keep it."""
    def listed(kind: str) -> list[dict[str, Any]]:
        api = kube.api()
        plural = PLURALS[kind]
        paths = ([f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{plural}" for ns in operator_settings.watched_namespaces]
                 or [f"/apis/{GROUP}/{VERSION}/{plural}"])
        return [item for path in paths for item in (api.get(path) or {}).get("items", [])]
    for kind in ("DirectorBackup", "DirectorRestore"):
        for body in await asyncio.to_thread(listed, kind):
            inventory().observe(kind, body)
    inventory().ready = True


@kopf.on.event(*BACKUPS)
async def backup_seen(body: kopf.Body, type: str | None, namespace: str | None, **_: Any) -> None:
    """A scheduled backup started or ended, or a verification judged it: its schedule's
    status and retention follow. Told apart here, from the record the inventory keeps,
    rather than by kopf's field handlers: those write the fields they follow into an
    annotation of the backup, one more write per phase change of every scheduled backup."""
    if inventory().observe("DirectorBackup", dict(body), deleted=type == "DELETED") and namespace:
        meta = body.get("metadata") or {}
        scheduler().poke((namespace, (meta.get("annotations") or {}).get(SCHEDULE_ANNOTATION)
                          or (meta.get("labels") or {})[SCHEDULE_LABEL]))


@kopf.on.event(*RESTORES)
async def restore_seen(body: kopf.Body, type: str | None, **_: Any) -> None:
    inventory().observe("DirectorRestore", dict(body), deleted=type == "DELETED")


@functools.cache
def safety_net() -> SafetyNet:
    return SafetyNet(WAITING_SAFETY_NET_SECONDS)


@kopf.timer(*DIRECTORS, interval=SAFETY_NET_SECONDS)
async def runs_safety_net(**kwargs: Any) -> None:
    """A missed Job event, or a waiting run whose wake-up was missed: each of the Director's
    active runs is looked at again now and then. A Director with none costs no thread."""
    namespace, key = kwargs["namespace"], (kwargs["namespace"], kwargs["name"])
    for run in safety_net().pick(key, inventory().active_runs(*key)):
        controller = controllers()[run.kind]
        if not (run.waiting and controller.waits.skip_tick((run.kind, namespace, run.name))):
            await asyncio.to_thread(controller.reconcile, namespace, run.name)


@functools.cache
def verifications() -> VerificationController:
    return VerificationController(kube.api(), OperatorConfig.from_env())


def verify_unanswered(annotations: kopf.Annotations, status: kopf.Status, **_: Any) -> bool:
    """A verify-now value no verification has taken up yet (once one has, its Job's events
    drive it: a schedule's verify policy annotates every backup it keeps, and their other
    events need not cost a read each)."""
    return annotations.get(VERIFY_NOW) != (status.get("verification") or {}).get("requested")


@kopf.on.event(*BACKUPS, annotations={VERIFY_NOW: kopf.PRESENT}, when=verify_unanswered)
def verify_requested(**kwargs: Any) -> None:
    """bosh-backup.dev/verify-now: any new value reads the stored backup back and checks it."""
    if kwargs["namespace"] and kwargs["type"] != "DELETED":
        verifications().reconcile(kwargs["namespace"], kwargs["name"])


Reconcile = Callable[[str, str], None]   # (namespace, name)


def child_owner(labels: dict[str, str], annotations: dict[str, str]) -> tuple[str, Reconcile, str] | None:
    """What a change of one of the operator's Jobs or pods asks to look at again: which
    controller, its reconcile, and the name of the object it runs for."""
    name = annotations.get(ANNOTATION_RUN) or labels.get(LABEL_NAME, "")
    if labels.get(PURPOSE_LABEL) == "verify":
        return "verification", verifications().reconcile, name
    kind = labels.get(LABEL_KIND, "")
    if kind == "DirectorBackupCatalog":
        return kind, catalogs().reconcile, name
    controller = controllers().get(kind)
    return (kind, controller.reconcile, name) if controller and name else None


@functools.cache
def run_passes() -> Nudges:
    """Every pass of a run, a catalog or a verification asked for by an event, one at a time
    each; a fleet's fire goes out before any of them (they wait holding no thread)."""
    return Nudges(lambda: handler_threads[0] if handler_threads else None, before=schedules().window.wait)


def ask_for_pass(which: str, reconcile: Reconcile, namespace: str, name: str) -> None:
    """One key per object, whoever asks: a backup's own handlers and its Job's and pod's
    events then share one pass."""
    run_passes().nudge((which, namespace, name), functools.partial(reconcile, namespace, name))


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED_BY)
@kopf.on.event("", "v1", "pods", labels=MANAGED_BY)
async def run_child_changed(**kwargs: Any) -> None:
    """Asks for a pass of the child's run (or catalog, or verification), and keeps nothing of
    the event: however many changes come meanwhile, one pass follows the one under way."""
    owner = child_owner(dict(kwargs["labels"]), dict(kwargs["annotations"]))
    namespace = kwargs["namespace"]
    if owner and namespace:
        which, reconcile, name = owner
        ask_for_pass(which, reconcile, namespace, name)


@kopf.on.delete(*BACKUPS, when=lambda spec, status, **_: spec.get("deletionPolicy") == "Delete"
                and bool(status.get("artifact") or status.get("phase") not in TERMINAL))
def backup_deleted(body: kopf.Body, **_: Any) -> None:
    """deletionPolicy Delete: the artifact goes with the resource."""
    if not backups().delete_artifact(dict(body)):
        raise kopf.TemporaryError("waiting for the artifact's deletion Job", delay=2)


# -- DirectorBackupSchedule --------------------------------------------------------------------------

@functools.cache
def schedules() -> ScheduleController:
    controller = ScheduleController(kube.api())
    controller.listing = inventory().listing
    return controller


@functools.cache
def schedule_executor() -> concurrent.futures.ThreadPoolExecutor:
    """Schedule reconciles are I/O-bound and a fleet fires at the same second: they get
    threads of their own rather than queueing behind every other handler in kopf's pool."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=48, thread_name_prefix="schedules")


@functools.cache
def scheduler() -> Scheduler:
    controller = schedules()

    def reconcile(namespace: str, name: str, body: dict[str, Any]) -> float:
        return controller.reconcile(namespace, name, body=body,
                                    known_active=inventory().schedule_active(namespace, label_value(name)))
    standing = operator_settings.standing
    return Scheduler(reconcile, controller.due, controller.window.remaining, schedule_executor(),
                     longest_wait=controller.window.longest, forget=controller.gone,
                     standing=standing.active if standing else None)


@kopf.on.startup()
async def start_scheduler(memo: kopf.Memo, **_: Any) -> None:
    """One task keeps every schedule's next time; kopf keeps nothing per schedule."""
    memo["scheduler"] = asyncio.create_task(scheduler().run(), name="schedules")


@kopf.on.cleanup()
async def stop_scheduler(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("scheduler")
    if task is not None:
        task.cancel()


@kopf.on.event(*SCHEDULES)
async def schedule_seen(body: kopf.Body, type: str | None, **_: Any) -> None:
    """Created, listed at start, or changed (spec, suspend, run-now, retention): acted on at
    once; its own status writes do not wake it."""
    scheduler().observe(dict(body), deleted=type == "DELETED")


@kopf.on.delete(*SCHEDULES, when=lambda spec, **_: bool(spec.get("deleteBackupsWithSchedule")))
def schedule_deleted(body: kopf.Body, **_: Any) -> None:
    """Only when asked: a GitOps prune of a schedule must not wipe its backups."""
    schedules().delete_backups(dict(body))
