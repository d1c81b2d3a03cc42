"""What each kind of backup step does in the pod; parsing lives in bosh/parsers.py."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..bosh import parsers
from ..bosh.diagnose import diagnose_bbr, diagnose_bosh
from ..planning.plan import Step
from ..status import human_size
from ..storage import FileWriter, StorageError, open_store, store_file
from ..storage.encryption import SUFFIX, EncryptingWriter, Recipients
from ..storage.encryption import manifest_entry as encryption_entry
from . import scratch
from .execute import Completed
from .run import Context, StepFailed, now, run_cleanup, runner_version
from .stream import BbrFollower

STEMCELL_SOURCE = "https://bosh.io/d/stemcells/{name}?v={version}"


def run_bosh(step: Step, context: Context, argv: list[str]) -> Completed:
    completed = context.executor.run(argv)
    if completed.code != 0:
        diagnosis = diagnose_bosh(completed.stdout, completed.stderr, json_output="--json" in argv)
        raise StepFailed(diagnosis.reason, diagnosis.message(step.name))
    return completed


def parsed(step: Step, parse: Any, output: str) -> Any:
    try:
        return parse(output)
    except (parsers.OutputError, KeyError) as error:
        raise StepFailed("UnexpectedToolOutput", f"{step.name}: cannot read the tool's output ({error}); "
                                                 "is the image's bosh CLI a supported version?") from None


def director_info(step: Step, context: Context) -> str:
    if step.options.get("dialect") == "v1":
        run_bosh(step, context, step.commands["target"])
        info = parsed(step, parsers.parse_v1_status, run_bosh(step, context, step.commands["status"]).stdout)
    else:
        info = parsed(step, parsers.parse_env, run_bosh(step, context, step.commands["env"]).stdout)
    if not info.logged_in:  # /info answers anyone: check the credentials were accepted too
        raise StepFailed("DirectorAuthenticationFailed",
                         f"{step.name} failed: the director answers but did not accept the credentials (bosh "
                         f"reports user '{info.user}'). Check the keys of the Director's spec.credentialsSecretRef "
                         "(client and clientSecret, or username and password).")
    context.director = info.as_status()
    return f"director {info.name} ({info.uuid}), version {info.version}, cpi {info.cpi}"


def inventory(step: Step, context: Context) -> str:
    v1 = step.options.get("dialect") == "v1"
    readers = {"stemcells": parsers.parse_v1_stemcells if v1 else parsers.parse_stemcells,
               "releases": parsers.parse_v1_releases if v1 else parsers.parse_releases,
               "deployments": parsers.parse_v1_deployments if v1 else parsers.parse_deployments}
    found: dict[str, Any] = {}
    for kind, argv in step.commands.items():
        found[kind] = parsed(step, readers[kind], run_bosh(step, context, argv).stdout)
    for stemcell in found.get("stemcells", []):
        # the director does not remember where a stemcell came from; bosh.io's pattern is a guess
        stemcell["source"] = {"url": STEMCELL_SOURCE.format(**stemcell), "guessed": True}
    context.inventory = found
    return (f"{len(found['stemcells'])} stemcells, {len(found['releases'])} releases, "
            f"{len(found['deployments'])} deployments")


def exec_step(step: Step, context: Context) -> str:
    completed = context.executor.run(step.argv)
    if completed.code != 0:
        if step.options.get("tool") == "bbr":
            diagnosis = diagnose_bbr(completed.code, completed.stderr, step.cleanup or None, None)
        else:
            diagnosis = diagnose_bosh(completed.stdout, completed.stderr, "--json" in step.argv)
        raise StepFailed(diagnosis.reason, diagnosis.message(step.name))
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    return (parsers.bbr_message(lines[-1]) or lines[-1]) if lines else "done"


def artifact_dir(context: Context) -> Path:
    folder = context.work / "artifact"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def run_store(context: Context) -> Any:
    """The artifact's store, begun (an earlier attempt's leftovers cleared) once per pod."""
    if context.store is None:
        store = open_store(context.plan.storage, context.plan.artifact_path)
        store.begin()
        context.store = store
    return context.store


def recipients_of(context: Context) -> Recipients | None:
    """The run's age recipients (spec.encryption), read and checked once per pod; None
    when its files are stored as they are."""
    spec = context.plan.options.get("encryption")
    if not spec:
        return None
    if context.recipients is None:
        recipients = Recipients.gather(spec.get("recipients") or [],
                                       [(origin, Path(path)) for origin, path in spec.get("files") or []])
        recipients.parsed()   # each key checked here, where a bad one can be named by its field
        context.recipients = recipients
    return context.recipients


def writer_for(context: Context, store: Any) -> Callable[[str, Path | None], FileWriter]:
    """How a file named in the artifact reaches the store: as it is, or encrypted (stored
    as <name>.age, nothing of it left in the clear on the store)."""
    recipients = recipients_of(context)
    if recipients is None:
        return store.writer
    return lambda name, _source: EncryptingWriter(store.writer(name + SUFFIX, None), recipients.keys, name)


def with_artifact_path(argv: list[str], folder: Path) -> list[str]:
    at = argv.index("--artifact-path")
    return [*argv[:at + 1], str(folder), *argv[at + 2:]]


def bbr_backup(step: Step, context: Context) -> str:
    try:   # before bbr locks the director: a bad recipient or an absent store stops nothing
        store = run_store(context)
        writer = writer_for(context, store)
    except StorageError as error:
        raise StepFailed(error.reason, f"{step.name} failed before bbr started: {error.message}") from None
    # bbr writes straight into the claim's staging folder, so nothing is left to copy afterwards;
    # unless the files are to be encrypted: no plaintext may land on the claim
    on_claim = "pvc" in context.plan.storage and context.recipients is None
    if on_claim:
        folder = store.staging / "bbr-run"
        folder.mkdir()
    else:
        folder = artifact_dir(context)
    space = scratch.room(folder, on_claim=on_claim)
    progress = parsers.BbrProgress(jobs=["director", "blobstore", "bbr-credhubdb", "bbr-uaadb"])
    announced: dict[str, int] = {}     # job -> bytes, as bbr says before copying each
    too_big: list[str] = []
    follower = BbrFollower(folder, writer)

    def on_line(stream: str, line: str) -> None:
        if stream != "stdout":
            return
        message = parsers.bbr_message(line)
        if message is None:
            return
        follower.saw(message)
        match = parsers.BBR_COPY_START.match(message)
        if match and match["job"] not in progress.jobs:
            progress.jobs.append(match["job"])
        if match and not too_big:
            announced[match["job"]] = scratch.du_bytes(match["size"]) or 0
            if sum(announced.values()) > space.free:
                too_big.append(scratch.shortfall(f"bbr's copy ({job_sizes(announced)}, uncompressed)",
                                                 sum(announced.values()), space))
                context.executor.interrupt()   # before the kubelet evicts the pod for it
        percent = progress.feed(line)
        context.reporter.update(step.name, message=message, percent=percent)

    follower.start()
    try:
        completed = context.executor.run(with_artifact_path(step.argv, folder), on_line)
    except BaseException:
        follower.abandon()
        store.abort()
        raise
    out_of_space = bool(too_big) or (completed.code != 0 and NO_SPACE in completed.stderr.lower())
    if out_of_space or not parsers.bbr_artifact_usable(completed.code):
        follower.abandon()
        store.abort()   # what was streamed must not look like part of an artifact
    if out_of_space:
        cleaned = run_cleanup(step, context.executor)
        said = too_big[0] if too_big else scratch.shortfall(
            f"bbr's copy ({job_sizes(announced)}, uncompressed)" if announced else "bbr's copy",
            sum(announced.values()), scratch.room(store.root if on_claim else context.work, on_claim=on_claim)) \
            + " bbr reported: no space left on device."
        raise StepFailed("ScratchSpaceExhausted", f"{step.name} stopped: {said} {cleanup_words(cleaned, step)}")
    if not parsers.bbr_artifact_usable(completed.code):
        cleaned = run_cleanup(step, context.executor)
        diagnosis = diagnose_bbr(completed.code, completed.stderr, step.cleanup, cleaned)
        raise StepFailed(diagnosis.reason, diagnosis.message(step.name))
    context.streamed = follower.stop()
    folders = [p for p in folder.iterdir() if p.is_dir()]
    if len(folders) != 1 or not (folders[0] / "metadata").is_file():
        store.abort()
        raise StepFailed("ArtifactMissing", f"{step.name}: bbr exited {completed.code} but left no complete "
                                            f"artifact (metadata missing) in {folder}")
    produced = folders[0]
    context.bbr = {"folder": produced.name, "metadata": yaml.safe_load((produced / "metadata").read_text())}
    if on_claim:   # into place as bbr/, beside where the other files go
        produced = produced.rename(store.staging / "bbr")
        folder.rmdir()
    for path in sorted(produced.iterdir()):
        if path.is_file():
            context.files.append((f"bbr/{path.name}", path))
    if completed.code != 0:  # 8 or 16: the artifact is whole, but the director needs a look
        diagnosis = diagnose_bbr(completed.code, completed.stderr, step.cleanup, None)
        context.warnings.append(diagnosis.message(step.name))
    streamed = f", {len(context.streamed)} of them stored while bbr copied" if context.streamed else ""
    return f"bbr backup {context.bbr['folder']}: {len(context.files)} files{streamed}"


NO_SPACE = "no space left on device"


def job_sizes(announced: dict[str, int]) -> str:
    return ", ".join(f"{job} {human_size(size)}" for job, size in sorted(announced.items()))


def cleanup_words(cleaned: bool | None, step: Step) -> str:
    if cleaned:
        return "bbr's backup-cleanup ran: the director is unlocked and nothing was stored."
    if cleaned is None:
        return "Nothing was stored."
    return (f"bbr's backup-cleanup failed too: run `{' '.join(step.cleanup)}` before the next backup. "
            "Nothing was stored.")


def v1_backup(step: Step, context: Context) -> str:
    artifact_dir(context)
    completed = context.executor.run(step.argv)
    if completed.code != 0:
        diagnosis = diagnose_bosh(completed.stdout, completed.stderr, json_output=False)
        raise StepFailed(diagnosis.reason, diagnosis.message(step.name))
    path = Path(parsed(step, parsers.parse_v1_backup_path, completed.stdout))
    if not path.is_file():
        raise StepFailed("ArtifactMissing", f"{step.name}: bosh backup reported {path}, which does not exist")
    context.files.append((path.name, path))
    return f"bosh backup wrote {path.name} ({path.stat().st_size} bytes)"


def state_file(step: Step, context: Context) -> str:
    source = Path(step.options["source"])
    origin = step.options.get("from", "the Director's spec.stateFileSecretRef")
    if not source.is_file():
        raise StepFailed("StateFileMissing", f"{step.name}: the create-env state file is not mounted at {source}")
    problems = parsers.state_file_problems(source.read_text(errors="replace"))
    if problems:
        raise StepFailed("StateFileInvalid", f"{step.name} failed: the create-env state file in {origin} cannot "
                                             f"recreate the director: {'; '.join(problems)}. Put the JSON that "
                                             "`bosh create-env --state` wrote there, or set includeStateFile: false.")
    context.files.append(("state.json", source))
    return f"state.json ({source.stat().st_size} bytes)"


def store(step: Step, context: Context) -> str:
    plan = context.plan
    try:
        target = run_store(context)
    except StorageError as error:
        raise StepFailed(error.reason, f"{step.name} failed: {error.message}") from None
    total = sum(path.stat().st_size for _, path in context.files)
    moved = 0

    def progress(count: int) -> None:
        nonlocal moved
        moved += count
        # writing is the first half of the step, proving what was stored (a read-back, or the S3 server's
        # checksum) the second
        context.reporter.update(step.name, percent=moved * 50 // max(total, 1), bytes_done=moved // 2,
                                bytes_total=total)
    try:
        writer = writer_for(context, target)
        stored = []
        for name, path in context.files:
            already = context.streamed.get(name)
            if already is not None:
                progress(already.plaintext.size if already.plaintext else already.size)
            stored.append(already or store_file(writer(name, path), path, progress,
                                                what=f"storing {name} at {target.location}"))
        for item in stored:
            target.verify(item)
            progress(item.plaintext.size if item.plaintext else item.size)
        manifest: dict[str, Any] = {
            "apiVersion": plan.options.get("apiVersion"), "kind": "BackupManifest",
            "backup": {"namespace": plan.namespace, "name": plan.name, "uid": plan.uid},
            "method": plan.method, "director": context.director, "inventory": context.inventory,
            "bbr": context.bbr or None, "files": [item.as_status() for item in stored],
            "startTime": context.started, "completionTime": now(),
            "tools": context.tools or {"runner": runner_version()}, "warnings": context.warnings,
        }
        recipients = recipients_of(context)
        if recipients is not None:
            manifest["encryption"] = encryption_entry(recipients)
        published = target.publish(manifest)
    except StorageError as error:
        target.abort()
        raise StepFailed(error.reason, f"{step.name} failed: {error.message}") from None
    files = [item.as_status() for item in (*stored, published)]
    total_size = sum(f["size"] for f in files)  # what status.artifact.totalSize says: manifest.json included
    context.result["artifact"] = {"location": target.location, "path": plan.artifact_path, "files": files,
                                  "totalSize": total_size, "storage": plan.storage}
    if "encryption" in manifest:
        context.result["artifact"]["encryption"] = manifest["encryption"]
    sealed = f", encrypted for {len(manifest['encryption']['recipients'])} recipients" if "encryption" in manifest \
        else ""
    return (f"{len(files)} files, {total_size} bytes (manifest.json included) stored{sealed} and verified at "
            f"{target.location}")


def delete_artifact(step: Step, context: Context) -> str:
    target = open_store(context.plan.storage, context.plan.artifact_path)
    try:
        target.delete()
    except StorageError as error:
        raise StepFailed(error.reason, f"{step.name} failed: {error.message}") from None
    return f"deleted {target.location}"


ACTIONS: dict[str, Any] = {
    "director-info": director_info, "inventory": inventory, "exec": exec_step, "bbr-backup": bbr_backup,
    "v1-backup": v1_backup, "state-file": state_file, "store": store, "delete-artifact": delete_artifact,
}
