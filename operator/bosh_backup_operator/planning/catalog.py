"""DirectorBackupCatalog: the listing plan, and which artifacts become imported backups (pure).

An artifact is imported when no DirectorBackup points at it and none did at the last
listing: a backup deleted on purpose (by a person, or a schedule's retention, with
deletionPolicy Retain) is remembered as released and not brought back. A catalog with
no memory (a new cluster after a lost one) imports everything it finds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import GROUP, VERSION
from ..names import fit, label_value
from ..status import human_size
from ..storage import location_of
from .backup import director_folder
from .plan import Plan, Step
from .schedule import SCHEDULE_ANNOTATION, SCHEDULE_LABEL

IMPORTED_LABEL = f"{GROUP}/imported"
CATALOG_LABEL = f"{GROUP}/catalog"
IMPORTED_FROM = f"{GROUP}/imported-from"
SYNC_NOW_ANNOTATION = f"{GROUP}/sync-now"
MOST_REMEMBERED = 2000


def auto_catalog_name(director: str) -> str:
    return fit(director, 253, suffix="storage")


def catalog_folder(spec: dict[str, Any], storage: dict[str, Any], namespace: str) -> str:
    return spec.get("path") or director_folder(storage, namespace, spec["directorRef"]["name"])


def plan_catalog(meta: dict[str, Any], spec: dict[str, Any], storage: dict[str, Any]) -> Plan:
    folder = catalog_folder(spec, storage, meta["namespace"])
    step = Step("ListArtifacts", "list-artifacts", f"list {location_of(storage, folder)} and read each manifest",
                options={"weight": 1})
    return Plan(kind="DirectorBackupCatalog", namespace=meta["namespace"], name=meta["name"], uid=meta["uid"],
                director=spec["directorRef"]["name"], method="", dialect="v2", steps=[step], storage=storage,
                artifact_path=folder, options={"apiVersion": f"{GROUP}/{VERSION}"})


@dataclass
class Decision:
    imports: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)   # (body, status)
    held: list[str] = field(default_factory=list)       # storage paths a DirectorBackup points at
    released: list[str] = field(default_factory=list)   # paths whose DirectorBackup was deleted


def backups_to_read(catalog: dict[str, Any], entries: list[dict[str, Any]]) -> list[str] | None:
    """The DirectorBackups an import decision needs to read: none when every complete entry
    was seen by an earlier listing (no import can follow), the names the new entries carry
    when each carries one of this namespace, or None: the whole namespace is read.
    A fleet's catalogs list after every backup; reading the namespace's every backup each
    time was half the operator's CPU (1,000 schedules, py-spy)."""
    namespace = catalog["metadata"]["namespace"]
    status = catalog.get("status") or {}
    remembered = set(status.get("held") or []) | set(status.get("released") or [])
    names = []
    for entry in entries:
        if entry["form"] == "incomplete" or entry["storagePath"] in remembered:
            continue
        if not entry.get("backup") or entry.get("namespace") != namespace:
            return None
        names.append(entry["backup"])
    return names


def decide_imports(catalog: dict[str, Any], entries: list[dict[str, Any]], backups: list[dict[str, Any]],
                   storage: dict[str, Any], stamp: str, *, partial: bool = False) -> Decision:
    """What to import from `entries` (the listing), given the namespace's DirectorBackups.
    partial: `backups` are only those backups_to_read named; entries seen before keep how
    the last full reading judged them (held or released: neither is imported again)."""
    meta = catalog["metadata"]
    status = catalog.get("status") or {}
    held_before = set(status.get("held") or [])
    remembered = held_before | set(status.get("released") or [])
    by_location = {((b.get("status") or {}).get("artifact") or {}).get("location"): b["metadata"]["name"]
                   for b in backups}
    by_name = {b["metadata"]["name"]: b for b in backups}
    decision = Decision()
    taken = set(by_name)
    for entry in entries:
        if entry["form"] == "incomplete":
            continue
        path = entry["storagePath"]
        if partial and path in remembered:
            (decision.held if path in held_before else decision.released).append(path)
            continue
        same = by_name.get(entry.get("backup", "")) if entry.get("namespace") == meta["namespace"] else None
        if entry["location"] in by_location or (same is not None and not imported(same)):
            decision.held.append(path)   # its own DirectorBackup (perhaps still finishing) is there
            continue
        if path in remembered:
            decision.released.append(path)
            continue
        name = imported_name(entry, taken)
        taken.add(name)
        decision.imports.append(imported_backup(catalog, entry, name, storage, stamp))
        decision.held.append(path)
    decision.held = decision.held[-MOST_REMEMBERED:]
    decision.released = decision.released[-MOST_REMEMBERED:]
    return decision


def imported(backup: dict[str, Any]) -> bool:
    return (backup["metadata"].get("labels") or {}).get(IMPORTED_LABEL) == "true"


def imported_name(entry: dict[str, Any], taken: set[str]) -> str:
    """The backup's own name when it is free; a plain bbr artifact's folder, made a valid name."""
    base = entry.get("backup") or "imported-" + "".join(
        c if c.isalnum() or c in ".-" else "-" for c in entry["path"].rsplit("/", 1)[-1].lower()).strip("-.")
    base = base.removesuffix(".tar")
    name = fit(base, 253)
    number = 1
    while name in taken:
        number += 1
        name = fit(base, 253, suffix=f"imported-{number}" if entry.get("backup") else str(number))
    return name


def imported_backup(catalog: dict[str, Any], entry: dict[str, Any], name: str, storage: dict[str, Any],
                    stamp: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A DirectorBackup for a stored artifact: Succeeded, Retain, never run."""
    meta, spec = catalog["metadata"], catalog["spec"]
    labels = {IMPORTED_LABEL: "true", CATALOG_LABEL: label_value(meta["name"])}
    annotations = {IMPORTED_FROM: entry["location"]}
    schedule = ((spec.get("retention") or {}).get("scheduleRef") or {}).get("name")
    if schedule:  # the user opted in: that schedule's retention counts these too
        labels[SCHEDULE_LABEL] = label_value(schedule)
        annotations[SCHEDULE_ANNOTATION] = schedule
    body = {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "DirectorBackup",
        "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels, "annotations": annotations},
        "spec": {"directorRef": {"name": spec["directorRef"]["name"]}, "method": entry.get("method", "bbr"),
                 "deletionPolicy": "Retain"},
    }
    form = {"operator": "an artifact of this operator", "bbr-folder": "a plain `bbr director backup` folder",
            "bbr-tar": "a plain bbr tar"}[entry["form"]]
    made = entry.get("completionTime")
    message = (f'imported by DirectorBackupCatalog "{meta["name"]}" from {entry["location"]} ({form}'
               + (f", completed {made}" if made else "") + "). Not run by this cluster: a DirectorRestore "
               "naming it verifies every checksum before it touches the director.")
    status: dict[str, Any] = {
        "phase": "Succeeded", "reason": "Imported", "message": message,
        "completionTime": made or stamp,
        "artifact": {"location": entry["location"], "path": entry["storagePath"], "storage": storage,
                     "totalSize": int(entry.get("size", 0)), "size": human_size(int(entry.get("size", 0)))},
    }
    if entry.get("director"):
        status["director"] = dict(entry["director"])
    return body, status

