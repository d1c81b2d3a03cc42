"""DirectorRestore spec to plan (pure): the BOSH docs' recovery procedure, step by step.

Precheck         the target answers, accepts the credentials, is fresh (unless force);
                 the artifact's manifest.json is found
VerifyArtifact   every file fetched and checked against manifest.json (and bbr's
                 metadata) before anything touches the director
RestoreDatabase  bbr director restore (restore-cleanup if it fails), or bosh restore (v1)
ListExpected     bosh stemcells / releases on the restored director, joined with the
                 backup's inventory and the spec's sources; which of them the director lacks
UploadStemcells  bosh upload-stemcell URL --fix [--sha1], one by one, for those it lacks
UploadReleases   bosh upload-release URL --fix [--sha1], likewise
CloudCheck       bosh cloud-check --report | --auto, per deployment (or skipped)
VerifyInstances  bosh instances --ps: processes running or failing, by name
"""

from __future__ import annotations

from typing import Any

from .. import VERSION
from ..api.runs import RunSettings
from ..bosh import commands, paths
from ..bosh.commands import Tools
from .backup import bbr_argv
from .plan import Plan, Step

RESTORE_FOLDER = f"{paths.WORK}/restore"
WEIGHTS = {"Precheck": 3, "VerifyArtifact": 15, "RestoreDatabase": 30, "ListExpected": 2, "UploadStemcells": 20,
           "UploadReleases": 20, "CloudCheck": 5, "VerifyInstances": 5}


def bosh_for(settings: RunSettings, tools: Tools, *args: str, deployment: str | None = None) -> list[str]:
    if settings.dialect == "v1":
        return commands.bosh_v1(tools, *args, *([deployment] if deployment else []))
    return commands.bosh(tools, *args, deployment=deployment)


def plan_restore(meta: dict[str, Any], spec: dict[str, Any], settings: RunSettings, tools: Tools,
                 source: dict[str, Any]) -> Plan:
    """source: {"path", "storage", "backup" (name or None), "method" (bbr, v1 or None when unknown)}."""
    v1 = settings.dialect == "v1"
    target = ({"target": commands.bosh_v1_target(tools, settings.url, settings.ca is not None)} if v1 else {})
    info = {**target, ("status" if v1 else "env"): bosh_for(settings, tools, "status" if v1 else "env"),
            "deployments": bosh_for(settings, tools, "deployments")}
    restore_commands: dict[str, list[str]] = {}
    cleanup: list[str] = []
    if settings.ssh:
        restore_commands["bbr"] = bbr_argv(settings, tools, "restore", f"{RESTORE_FOLDER}/bbr")
        cleanup = bbr_argv(settings, tools, "restore-cleanup")
    if v1:
        restore_commands["v1"] = commands.bosh_v1(tools, "restore")  # the tarball's path is appended
    reupload = spec.get("reupload") or {}
    cloud_check = spec.get("cloudCheck", "report")
    skip_when_restored = {"skipIfSucceeded": "RestoreDatabase"}
    steps = [
        Step("Precheck", "restore-precheck", "the director answers and is fresh; the artifact is found",
             commands=info, options={"dialect": settings.dialect, "force": bool(spec.get("force")),
                                     **skip_when_restored}),
        Step("VerifyArtifact", "verify-artifact", "fetch every file and check its sha256 before touching the director",
             options={"folder": RESTORE_FOLDER, **skip_when_restored}),
        Step("RestoreDatabase", "restore-database", "bbr director restore, or bosh restore (v1)",
             commands=restore_commands, cleanup=cleanup, options={"folder": RESTORE_FOLDER, "resumable": True}),
        Step("ListExpected", "list-expected", "what the restored director expects, and where to get it",
             commands={"stemcells": bosh_for(settings, tools, "stemcells"),
                       "releases": bosh_for(settings, tools, "releases")},
             options={"dialect": settings.dialect, "sources": reupload.get("sources") or [],
                      "stemcellUrlPattern": reupload.get("stemcellUrlPattern", ""),
                      "releaseUrlPattern": reupload.get("releaseUrlPattern", ""),
                      "when": reupload.get("when", "Needed"), "folder": RESTORE_FOLDER}),
    ]
    for kind, enabled in (("stemcell", reupload.get("stemcells", True)), ("release", reupload.get("releases", True))):
        name = f"Upload{kind.capitalize()}s"
        upload = bosh_for(settings, tools, "upload", kind) if v1 else bosh_for(settings, tools, f"upload-{kind}")
        steps.append(Step(name, "upload" if enabled else "skip", f"bosh upload-{kind} URL --fix, one by one",
                          argv=upload, options={"kind": kind, "dialect": settings.dialect, "resumable": True,
                                                "reason": f"spec.reupload.{kind}s is false"}))
    steps.append(Step("CloudCheck", "cloud-check" if cloud_check != "skip" else "skip",
                      f"bosh cloud-check --{cloud_check} per deployment",
                      argv=bosh_for(settings, tools, "cloudcheck" if v1 else "cloud-check"),
                      options={"mode": cloud_check, "dialect": settings.dialect, "resumable": True,
                               "reason": "spec.cloudCheck is skip"}))
    steps.append(Step("VerifyInstances", "verify-instances" if spec.get("verifyInstances", True) else "skip",
                      "bosh instances --ps", argv=bosh_for(settings, tools, "instances", "--ps"),
                      options={"dialect": settings.dialect, "reason": "spec.verifyInstances is false"}))
    for step in steps:
        step.options["weight"] = WEIGHTS[step.name]
    return Plan(kind="DirectorRestore", namespace=meta["namespace"], name=meta["name"], uid=meta["uid"],
                director=settings.director, method=source.get("method") or "", dialect=settings.dialect,
                steps=steps, storage=source["storage"], artifact_path=source["path"],
                options={"apiVersion": f"bosh-backup.dev/{VERSION}", "url": settings.url,
                         "backup": source.get("backup"), **identity_option(settings)})


def identity_option(settings: RunSettings) -> dict[str, Any]:
    if settings.identity is None:
        return {}
    ref = settings.identity
    return {"identity": {"path": paths.IDENTITY,
                         "from": f'spec.identitySecretRef (Secret "{ref.name}", key "{ref.key}")'}}
