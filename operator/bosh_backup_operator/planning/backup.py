"""DirectorBackup spec to plan (pure).

bbr:  DirectorInfo, Inventory, PreBackupCheck, Backup, [StateFile], Store
v1:   DirectorInfo, Inventory, Backup, [StateFile], Store
"""

from __future__ import annotations

from typing import Any

from .. import VERSION
from ..api.runs import RunSettings
from ..bosh import commands, paths
from ..bosh.commands import Tools
from .plan import Plan, Step

# share of the progress bar each step takes: copying and storing dominate
WEIGHTS = {"DirectorInfo": 2, "Inventory": 3, "PreBackupCheck": 5, "Backup": 55, "StateFile": 1, "Store": 34}


def director_folder(storage: dict[str, Any], namespace: str, director: str) -> str:
    """Where this operator keeps a Director's backups, relative to the storage root."""
    prefix = (storage.get("pvc") or storage.get("s3") or {}).get("prefix", "bosh-backups")
    return f"{prefix}/{namespace}/{director}"


def artifact_path(storage: dict[str, Any], namespace: str, director: str, backup: str) -> str:
    return f"{director_folder(storage, namespace, director)}/{backup}"


def director_steps(settings: RunSettings, tools: Tools) -> list[Step]:
    """Learn who the director is and what it holds; the restore reuses these."""
    if settings.dialect == "v1":
        info = Step("DirectorInfo", "director-info", "bosh target and bosh status", commands={
            "target": commands.bosh_v1_target(tools, settings.url, settings.ca is not None),
            "status": commands.bosh_v1(tools, "status")}, options={"dialect": "v1"})
        inventory = Step("Inventory", "inventory", "bosh stemcells, releases and deployments", commands={
            kind: commands.bosh_v1(tools, kind) for kind in ("stemcells", "releases", "deployments")},
            options={"dialect": "v1"})
    else:
        info = Step("DirectorInfo", "director-info", "bosh env", commands={"env": commands.bosh(tools, "env")},
                    options={"dialect": "v2"})
        inventory = Step("Inventory", "inventory", "bosh stemcells, releases and deployments", commands={
            kind: commands.bosh(tools, kind) for kind in ("stemcells", "releases", "deployments")},
            options={"dialect": "v2"})
    return [info, inventory]


def bbr_argv(settings: RunSettings, tools: Tools, subcommand: str, artifact: str | None = None) -> list[str]:
    assert settings.ssh is not None
    return commands.bbr(tools, settings.ssh["host"], settings.ssh["port"], settings.ssh["username"],
                        subcommand, artifact)


def plan_backup(meta: dict[str, Any], spec: dict[str, Any], settings: RunSettings, tools: Tools) -> Plan:
    steps = director_steps(settings, tools)
    if settings.method == "bbr":
        cleanup = bbr_argv(settings, tools, "backup-cleanup")
        steps.append(Step("PreBackupCheck", "exec", "bbr director pre-backup-check",
                          argv=bbr_argv(settings, tools, "pre-backup-check"), options={"tool": "bbr"}))
        steps.append(Step("Backup", "bbr-backup", "bbr director backup", cleanup=cleanup,
                          argv=bbr_argv(settings, tools, "backup", paths.ARTIFACT)))
    else:
        steps.append(Step("Backup", "v1-backup", "bosh backup (director database)",
                          argv=commands.bosh_v1(tools, "backup", paths.ARTIFACT)))
    if settings.state_file is not None and spec.get("includeStateFile", True):
        ref = settings.state_file
        steps.append(Step("StateFile", "state-file", "check and copy the create-env state file",
                          options={"source": paths.STATE_FILE, "from": f'the Director\'s spec.stateFileSecretRef '
                                                                        f'(Secret "{ref.name}", key "{ref.key}")'}))
    steps.append(Step("Store", "store", "stream to storage, verify checksums, publish"))
    for step in steps:
        step.options["weight"] = WEIGHTS[step.name]
    options: dict[str, Any] = {"apiVersion": f"bosh-backup.dev/{VERSION}", "url": settings.url}
    if settings.encryption:
        options["encryption"] = encryption_option(settings.encryption)
    return Plan(kind="DirectorBackup", namespace=meta["namespace"], name=meta["name"], uid=meta["uid"],
                director=settings.director, method=settings.method, dialect=settings.dialect, steps=steps,
                storage=settings.storage,
                artifact_path=artifact_path(settings.storage, meta["namespace"], settings.director, meta["name"]),
                options=options)


def recipients_file(number: int) -> str:
    """Where the runner finds spec.encryption.recipientsFrom[number] (jobs.py mounts it)."""
    return f"{paths.RECIPIENTS}/{number}/recipients"


def encryption_option(encryption: dict[str, Any]) -> dict[str, Any]:
    """What the runner needs to encrypt: the inline public keys, and where each recipients
    file is mounted with the field it came from (for its messages)."""
    files = []
    for number, source in enumerate(encryption.get("recipientsFrom") or []):
        kind = "secretKeyRef" if "secretKeyRef" in source else "configMapKeyRef"
        ref = source[kind]
        files.append([f'spec.encryption.recipientsFrom[{number}] ({"Secret" if kind == "secretKeyRef" else "ConfigMap"}'
                      f' "{ref["name"]}", key "{ref.get("key", "recipients")}")', recipients_file(number)])
    return {"recipients": list(encryption.get("recipients") or []), "files": files}
