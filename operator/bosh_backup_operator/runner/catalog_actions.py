"""ListArtifacts: what a storage folder holds, written into the catalog's status."""

from __future__ import annotations

import datetime
import re
from typing import Any

import yaml

from ..bosh.artifact import manifest_problems
from ..planning.plan import Step
from ..storage import StorageError, open_store
from ..storage.catalog import find_artifacts
from .run import Context

MOST_LISTED = 2000   # status must stay well inside an object's size limit
BBR_FOLDER_TIME = re.compile(r"_(\d{8}T\d{6}Z)(\.tar)?$")


def bbr_time(text: str) -> str | None:
    """RFC 3339 from bbr's `2026/11/29 05:13:00 UTC` or a folder name's `20261129T051300Z`."""
    for pattern in ("%Y/%m/%d %H:%M:%S UTC", "%Y%m%dT%H%M%SZ"):
        try:
            return datetime.datetime.strptime(text, pattern).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            continue
    return None


def describe_operator_artifact(entry: dict[str, Any], manifest: dict[str, Any] | None) -> None:
    problems = manifest_problems(manifest) if manifest is not None else ["manifest.json cannot be read"]
    if problems or manifest is None:
        entry.update(form="incomplete", reason=f"its manifest.json cannot be used: {'; '.join(problems)}")
        return
    backup = manifest.get("backup") or {}
    director = manifest.get("director") or {}
    entry.update(backup=str(backup.get("name", "")), namespace=str(backup.get("namespace", "")),
                 method=manifest["method"], completionTime=manifest.get("completionTime"),
                 director={key: str(director[key]) for key in ("name", "uuid") if director.get(key)})


def list_artifacts(step: Step, context: Context) -> str:
    plan = context.plan
    folder = open_store(plan.storage, plan.artifact_path)
    files = folder.list_files()
    context.reporter.update(step.name, message=f"{len(files)} files under {folder.location}", percent=10)
    found = find_artifacts(files)
    entries: list[dict[str, Any]] = []
    for number, item in enumerate(found[-MOST_LISTED:], start=1):
        entry: dict[str, Any] = {**item.as_status(), "location": f"{folder.location}/{item.path}",
                                 "storagePath": f"{plan.artifact_path}/{item.path}"}
        try:
            if item.form == "operator":
                describe_operator_artifact(entry, open_store(plan.storage, entry["storagePath"]).read_manifest())
            elif item.form == "bbr-folder":
                target = context.work / "catalog" / "metadata"
                open_store(plan.storage, entry["storagePath"]).fetch("metadata", target)
                metadata = yaml.safe_load(target.read_text()) or {}
                finish = str((metadata.get("backup_activity") or {}).get("finish_time", ""))
                entry.update(method="bbr", completionTime=bbr_time(finish) or name_time(item.path))
            elif item.form == "bbr-tar":
                entry.update(method="bbr", completionTime=name_time(item.path))
        except (StorageError, yaml.YAMLError, AttributeError, OSError) as error:
            entry.update(form="incomplete", reason=f"it cannot be read: {error}")
        entries.append({key: value for key, value in entry.items() if value not in (None, "", {})})
        context.reporter.update(step.name, percent=10 + number * 90 // max(len(found), 1))
    context.reporter.extra["artifacts"] = entries
    complete = sum(1 for entry in entries if entry["form"] != "incomplete")
    cut = f" (the newest {MOST_LISTED} of {len(found)})" if len(found) > MOST_LISTED else ""
    return (f"{complete} complete artifacts and {len(entries) - complete} incomplete ones at "
            f"{folder.location}{cut}")


def name_time(path: str) -> str | None:
    match = BBR_FOLDER_TIME.search(path)
    return bbr_time(match[1]) if match else None


ACTIONS: dict[str, Any] = {"list-artifacts": list_artifacts}
