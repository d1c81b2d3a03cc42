"""What each step of a restore does in the pod (the BOSH docs' recovery procedure)."""

from __future__ import annotations

import shutil
import tarfile
import threading
from pathlib import Path
from typing import Any

import yaml

from ..bosh import parsers
from ..bosh.artifact import (
    BbrCheck,
    blobs_restored,
    check_bbr_folder,
    expected_tars_of,
    manifest_problems,
)
from ..bosh.diagnose import diagnose_bbr, diagnose_bosh
from ..planning.plan import Step
from ..storage import StorageError, Store, open_store
from ..storage.encryption import Undecryptable, decrypt_file, load_identities
from . import scratch
from .actions import director_info, parsed, run_bosh
from .run import Context, StepFailed, run_cleanup


def summary(context: Context) -> dict[str, int]:
    return context.reporter.extra.setdefault("summary", {})


def record(context: Context, key: str, items: list[str]) -> None:
    context.reporter.extra[key] = items[:200]


def manifest_of(context: Context, store: Store | None = None) -> dict[str, Any]:
    """The backup's manifest.json (read again by a resumed pod), through the caller's store if it has one."""
    if context.manifest is None:
        store = store or open_store(context.plan.storage, context.plan.artifact_path)
        tar = context.plan.artifact_path.endswith(".tar")  # one plain bbr tar: no folder holds a manifest
        try:
            context.manifest = None if tar else store.read_manifest()
        except StorageError as error:
            raise StepFailed(error.reason, f"cannot read the backup's manifest: {error.message}") from None
        if context.manifest is None:
            context.manifest = plain_bbr_manifest(store, tar, context.work / "plain-probe")
        if context.manifest is None:
            raise StepFailed("ArtifactNotFound", f"no backup at {store.location}: neither manifest.json (an "
                                                 "artifact of this operator) nor bbr's metadata (a plain `bbr "
                                                 "director backup` folder) is there, and the path is not a .tar. "
                                                 "Check source.path and the storage, or restore another backup.")
        if context.manifest.get("plain"):
            return context.manifest
        problems = manifest_problems(context.manifest)
        if problems:
            context.manifest = None
            raise StepFailed("ArtifactInvalid", f"the manifest.json at {store.location} cannot be used: "
                                                f"{'; '.join(problems)}. The director was not touched; restore "
                                                "another backup.")
    return context.manifest


def plain_bbr_manifest(store: Any, tar: bool, scratch: Path) -> dict[str, Any] | None:
    """An artifact made by `bbr director backup` itself, by hand or by a pipeline: one tar of
    its folder, or the folder with bbr's `metadata`. Its only checksums are bbr's own."""
    if not tar:
        try:
            store.fetch("metadata", scratch / "metadata")
        except StorageError:
            return None
    return {"method": "bbr", "plain": "tar" if tar else "folder", "files": [], "director": {}, "inventory": {}}


def extract_plainly(archive: Path, target: Path) -> None:
    """Files and folders only, each inside `target`: a tar from elsewhere may hold links or
    names that climb out (this Python has no tarfile filter to do it)."""
    root = target.resolve()
    with tarfile.open(archive) as outer:
        for member in outer:
            destination = (root / member.name).resolve()
            if not destination.is_relative_to(root):
                raise ValueError(f"{member.name} would land outside the artifact's folder")
            if member.isdir():
                destination.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = outer.extractfile(member)
                assert source is not None
                with destination.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
            else:
                raise ValueError(f"{member.name} is neither a file nor a folder")


def fetch_plain_bbr(step: Step, report: StepReport, store: Any, plain: str, folder: Path) -> Path:
    """The plain artifact's files in folder/bbr, as `bbr director restore` wants them."""
    target = folder / "bbr"
    target.mkdir(parents=True, exist_ok=True)
    try:
        if plain == "folder":
            store.fetch("metadata", target / "metadata")
            names = [tar for tar, _ in expected_tars_of(target / "metadata")]
            for number, name in enumerate(names, start=1):
                report(message=f"{number}/{len(names)} {name}", percent=(number - 1) * 100 // max(len(names), 1))
                store.fetch(name, target / name)
            return target
        archive = folder / "plain.tar"
        store.fetch("", archive)
        unpacked = folder / "unpacked"
        extract_plainly(archive, unpacked)
        archive.unlink()
    except (tarfile.TarError, OSError, ValueError) as error:
        raise StepFailed("ArtifactCorrupted", f"{step.name} failed: the plain bbr artifact cannot be read "
                                              f"({error}). The director was not touched; restore another backup.") \
            from None
    found = sorted(unpacked.rglob("metadata"), key=lambda p: len(p.parts))
    if not found:
        raise StepFailed("ArtifactInvalid", f"{step.name} failed: the tar holds no bbr `metadata`: it is not a plain "
                                            "bbr artifact. The director was not touched.")
    for item in found[0].parent.iterdir():
        shutil.move(str(item), target / item.name)
    return target


def ensure_v1_target(context: Context, step: Step) -> None:
    """bosh v1 keeps its target in a config file: a resumed pod targets again."""
    target = context.plan.steps[0].commands.get("target")
    if target and not (context.work / ".bosh_config").exists():
        run_bosh(step, context, target)


# -- Precheck and VerifyArtifact ----------------------------------------------------------------------

def precheck(step: Step, context: Context) -> str:
    v1 = step.options.get("dialect") == "v1"
    store = open_store(context.plan.storage, context.plan.artifact_path)
    # where the artifact is, in status even when a check below fails
    context.reporter.extra["source"] = {"location": store.location,
                                        **({"backup": context.plan.options["backup"]}
                                           if context.plan.options.get("backup") else {})}
    manifest = manifest_of(context, store)
    sealed = check_identity(step, context, store, manifest)
    method = manifest.get("method", "")
    if method == "bbr" and "bbr" not in context.plan.steps[2].commands:
        raise StepFailed("SshNotConfigured", f"{step.name} failed: the backup was made with bbr, which needs SSH "
                                             "to the director: set spec.ssh on the Director")
    if method == "v1" and "v1" not in context.plan.steps[2].commands:
        raise StepFailed("MethodNotSupported", f"{step.name} failed: the backup was made with bosh v1 `backup`; "
                                               "restore it into a Director with spec.cli: v1")
    context.reporter.extra["source"]["method"] = method
    # the artifact is found and can be opened: its download need not wait for the director's checks
    verify = next((s for s in context.plan.steps if s.action == "verify-artifact"), None)
    if verify is not None and not context.reporter.succeeded(verify.name):
        context.head_start = HeadStart(verify, context, store)
    try:
        director_info(step, context)  # answers, and accepts the credentials
        info = context.director
        reader = parsers.parse_v1_deployments if v1 else parsers.parse_deployments
        deployments = parsed(step, reader, run_bosh(step, context, step.commands["deployments"]).stdout)
        in_place = bool(deployments) and holds_database_of(info, deployments, manifest)
        if in_place and not step.options.get("force"):
            # a second try after a restore whose later steps failed: its database is there already
            context.reporter.extra["databaseInPlace"] = True
        elif deployments and not step.options.get("force"):
            names = ", ".join(d["name"] for d in deployments[:10])
            raise StepFailed("DirectorNotEmpty", f'{step.name} failed: Director "{context.plan.director}" (the '
                                                 f"BOSH director {info['name']}, {info['uuid']}) already has "
                                                 f"{len(deployments)} deployments ({names}); a restore replaces "
                                                 "its database. Restore into a fresh director, or set spec.force: "
                                                 "true in a new DirectorRestore.")
    except BaseException:
        if context.head_start is not None:
            context.head_start.stop()
            context.head_start = None
        raise
    resumed = ("; it already holds this backup's database, so RestoreDatabase is skipped"
               if context.reporter.extra.get("databaseInPlace") else "")
    what = (f"a plain bbr artifact ({manifest['plain']})" if manifest.get("plain") else
            f"backup of {manifest.get('director', {}).get('name', '?')} ({method})")
    return (f"Director {info['name']} ({info['uuid']}) answers with {len(deployments)} deployments; {what} "
            f"found at {store.location}{sealed}{resumed}")


class Abandoned(Exception):
    """A fetch begun ahead of its step, stopped because the step will not run."""


class StepReport:
    """Where a fetch reports its step's progress: to the reporter at once or, for a fetch
    begun ahead of its step, only from when the step begins (a Pending step shows nothing).
    A stop asked for ends the fetch at its next report."""

    def __init__(self, context: Context, name: str, *, live: bool = True):
        self.context, self.name = context, name
        self.live, self.stopping = threading.Event(), threading.Event()
        if live:
            self.live.set()

    def __call__(self, **fields: Any) -> None:
        if self.stopping.is_set():
            raise Abandoned(self.name)
        if self.live.is_set():
            self.context.reporter.update(self.name, **fields)


class HeadStart:
    """VerifyArtifact's fetch and checks, begun on a thread once Precheck has found the
    artifact, so that its bytes flow while Precheck asks the director. What it finds is
    the step's own: its failure fails VerifyArtifact, and its progress shows once that
    step begins. If Precheck fails, the fetch stops."""

    STOP_WAIT = 60.0

    def __init__(self, step: Step, context: Context, store: Store):
        """`store` is Precheck's: it is done with it but for its location. A boto3 client is
        made here, not on the thread: making them on two threads at once is not safe."""
        getattr(store, "client", None)
        self.report = StepReport(context, step.name, live=False)
        self.outcome: list[Any] = []
        self.thread = threading.Thread(target=self._fetch, args=(step, context, store), daemon=True,
                                       name=f"{step.name}-head-start")
        self.thread.start()

    def _fetch(self, step: Step, context: Context, store: Any) -> None:
        try:
            self.outcome.append(fetch_and_check(step, context, store, self.report))
        except BaseException as error:   # handed to the step, which raises it as its own
            self.outcome.append(error)

    def result(self) -> str:
        """The step's message once the fetch and checks end, or their failure raised."""
        self.report.live.set()
        self.thread.join()
        outcome = self.outcome[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return str(outcome)

    def stop(self) -> None:
        self.report.stopping.set()
        self.thread.join(self.STOP_WAIT)


def recipients_words(manifest: dict[str, Any]) -> str:
    return ", ".join((manifest.get("encryption") or {}).get("recipients") or ["(none recorded)"])


def identities_of(step: Step, context: Context, manifest: dict[str, Any]) -> list[Any]:
    """The private keys the restore was given (spec.identitySecretRef), read once per pod."""
    if context.identities is None:
        given = context.plan.options.get("identity")
        if not given:
            raise StepFailed("DecryptionKeyMissing", f"{step.name} failed: the backup is encrypted (age) for "
                                                     f"{recipients_words(manifest)}, and the DirectorRestore names no "
                                                     "identity: create a Secret holding the private key of one of "
                                                     "them and set spec.identitySecretRef in a new DirectorRestore. "
                                                     "The director was not touched.")
        try:
            context.identities = load_identities(Path(given["path"]).read_text(), given["from"])
        except StorageError as error:
            raise StepFailed(error.reason, f"{step.name} failed: {error.message}. The director was not touched.") \
                from None
    return list(context.identities)


def check_identity(step: Step, context: Context, store: Any, manifest: dict[str, Any]) -> str:
    """For an encrypted backup: the identity opens it, proven on its smallest file before
    anything large is fetched or the director is touched."""
    sealed = [entry for entry in manifest.get("files") or [] if entry.get("plaintext")]
    if not sealed:
        return ""
    identities = identities_of(step, context, manifest)
    probe = min(sealed, key=lambda entry: int(entry["size"]))
    folder = context.work / "identity-probe"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fetch_checked(step, store, probe, folder / "probe.age")
        decrypted(step, context, manifest, probe, folder / "probe.age", folder / "probe", identities)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return f"; encrypted for {recipients_words(manifest)}, and the identity opens it"


def decrypted(step: Step, context: Context, manifest: dict[str, Any], entry: dict[str, Any], source: Path,
              target: Path, identities: list[Any]) -> None:
    """source decrypted into target and checked against the plaintext manifest.json records."""
    try:
        plain = decrypt_file(source, target, identities)
    except Undecryptable as error:
        origin = (context.plan.options.get("identity") or {}).get("from", "the identity")
        if not error.wrong_key:   # the key fits, the bytes do not
            raise StepFailed("ArtifactCorrupted", f"{step.name} failed: {entry['name']} cannot be decrypted "
                                                  f"({error}) although its stored bytes match manifest.json: it "
                                                  "was damaged before it was stored. The director was not "
                                                  "touched; restore another backup.") from None
        raise StepFailed("DecryptionFailed", f"{step.name} failed: {entry['name']} cannot be decrypted with "
                                             f"{origin} ({error}). The backup was encrypted for "
                                             f"{recipients_words(manifest)}: give the private key of one of them. "
                                             "The director was not touched.") from None
    as_recorded(step, f"{entry['name']} decrypts to", plain.sha256, plain.size, entry["plaintext"])


def as_recorded(step: Step, what: str, sha256: str, size: int, recorded: dict[str, Any]) -> None:
    """Bytes found against what manifest.json recorded for them, or the step fails naming both."""
    if sha256 != recorded["sha256"] or size != int(recorded["size"]):
        raise StepFailed("ChecksumMismatch", f"{step.name} failed: {what} sha256 {sha256[:12]}... ({size} bytes), "
                                             f"manifest.json says {recorded['sha256'][:12]}... ({recorded['size']} "
                                             "bytes): the stored artifact was changed or damaged. The director was "
                                             "not touched; restore another backup.")


def fetch_checked(step: Step, store: Any, entry: dict[str, Any], target: Path, progress: Any = None) -> None:
    """One stored file fetched, and its bytes checked against manifest.json."""
    try:
        fetched = store.fetch(entry["name"], target, progress)
    except StorageError as error:
        raise StepFailed(error.reason, f"{step.name} failed: {error.message}") from None
    as_recorded(step, f"{entry['name']} has", fetched.sha256, fetched.size, entry)


def bbr_checksums_match(step: Step, folder: Path) -> BbrCheck:
    """Every file in every tar of `folder` against bbr's metadata, or the step fails naming each."""
    check = check_bbr_folder(folder)
    if check.problems:
        raise StepFailed("ArtifactCorrupted", f"{step.name} failed: the artifact does not match bbr's own "
                                              f"metadata: {'; '.join(check.problems[:10])}. The director was not "
                                              "touched; restore another backup.")
    return check


def verify_artifact(step: Step, context: Context) -> str:
    head_start, context.head_start = context.head_start, None
    if head_start is not None:
        return head_start.result()
    return fetch_and_check(step, context, open_store(context.plan.storage, context.plan.artifact_path),
                           StepReport(context, step.name))


def fetch_and_check(step: Step, context: Context, store: Any, report: StepReport) -> str:
    """Every file of the artifact fetched into the step's folder, each checked against
    manifest.json as it lands; a plain bbr artifact's tars, which have no manifest.json,
    against bbr's own metadata."""
    manifest = manifest_of(context)
    folder = Path(step.options["folder"])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if manifest.get("plain"):
        check = bbr_checksums_match(step, fetch_plain_bbr(step, report, store, manifest["plain"], folder))
        return (f"a plain bbr artifact ({manifest['plain']}, no manifest.json): no stored checksums to compare, "
                f"and bbr's metadata matches all {check.files} files in its {check.tars} tars")
    files = manifest.get("files") or []
    if not files:
        raise StepFailed("ArtifactInvalid", f"{step.name} failed: manifest.json lists no files")
    # an encrypted file is decrypted beside its ciphertext before the ciphertext goes
    total = sum(int(f["size"]) for f in files)
    needed = total + max([int(f["plaintext"]["size"]) for f in files if f.get("plaintext")] or [0])
    space = scratch.room(folder)
    if needed > space.free:
        raise StepFailed("ScratchSpaceExhausted", f"{step.name} failed: "
                         f"{scratch.shortfall(f'the artifact ({len(files)} files)', needed, space)} "
                         "The director was not touched.")
    moved = 0

    def progress(count: int) -> None:
        nonlocal moved
        moved += count
        report(percent=moved * 100 // max(total, 1), bytes_done=moved, bytes_total=total)
    for entry in files:
        fetch_checked(step, store, entry, folder / entry["name"], progress)
        if entry.get("plaintext"):   # into the name bbr knows, checked again after decryption
            ciphertext = folder / entry["name"]
            decrypted(step, context, manifest, entry, ciphertext, folder / entry["plaintext"]["name"],
                      identities_of(step, context, manifest))
            ciphertext.unlink()
    message = (f"{len(files)} files, {total} bytes (as manifest.json lists them, itself not counted), every sha256 "
               "matches")
    if manifest.get("encryption"):
        message += ", each decrypted and its plaintext's sha256 matching too"
    if manifest.get("method") == "bbr":
        # bbr checks every file inside every tar against its metadata before it reaches the director; a
        # second pass here would only slow every restore (RestoreDatabase names the files if bbr refuses)
        message += "; bbr checks the files inside its tars against its own metadata as RestoreDatabase begins"
    return message


# -- RestoreDatabase ---------------------------------------------------------------------------------------

def restored_names(manifest: dict[str, Any]) -> list[str]:
    """The artifact's files as VerifyArtifact leaves them: an encrypted one under its plaintext name."""
    return [(entry.get("plaintext") or entry)["name"] for entry in manifest.get("files") or []]


def holds_database_of(info: dict[str, Any], deployments: list[dict[str, Any]], manifest: dict[str, Any]) -> bool:
    """Whether the director already holds the backup's database: the same director UUID, and
    the same deployments the backup recorded."""
    recorded = (manifest.get("inventory") or {}).get("deployments") or []
    return bool(info.get("uuid")) and info.get("uuid") == (manifest.get("director") or {}).get("uuid") and \
        {d["name"] for d in deployments} == {d["name"] for d in recorded}


def corrupted_message(step: Step, folder: Path, tool_line: str) -> str:
    """bbr refused the artifact, saying only that it is corrupted: our own check names the tars and files."""
    problems = check_bbr_folder(folder).problems
    if not problems:
        return (f"{step.name} failed: bbr refused the artifact before it reached the director ({tool_line}). The "
                "director was not touched; restore another backup.")
    return (f"{step.name} failed: bbr refused the artifact before it reached the director: the files inside its "
            f"tars do not match bbr's own metadata: {'; '.join(problems[:10])}. manifest.json's sums matched, so "
            "the tars were damaged before they were stored. The director was not touched; restore another backup.")


def restore_database(step: Step, context: Context) -> str:
    if context.reporter.extra.get("databaseInPlace"):
        return ("skipped: the director already holds this backup's database (the same UUID and deployments); "
                "the restore goes on with the uploads and checks")
    manifest = manifest_of(context)
    folder = Path(step.options["folder"])
    if manifest.get("method") == "bbr":
        completed = context.executor.run(step.commands["bbr"], lambda stream, line: context.reporter.update(
            step.name, message=parsers.bbr_message(line) or None) if stream == "stdout" else None)
        if completed.code != 0:
            refused = diagnose_bbr(completed.code, completed.stderr, step.cleanup, None)
            if refused.reason == "ArtifactCorrupted":   # bbr's first check, before it reaches the director
                raise StepFailed(refused.reason, corrupted_message(step, folder / "bbr", refused.tool_line))
            cleaned = run_cleanup(step, context.executor)
            diagnosis = diagnose_bbr(completed.code, completed.stderr, step.cleanup, cleaned)
            raise StepFailed(diagnosis.reason, diagnosis.message(step.name).replace("backup-cleanup",
                                                                                     "restore-cleanup"))
        return "bbr director restore completed: database, blobstore, credhub and uaa restored"
    tarballs = [name for name in restored_names(manifest) if name.endswith(".tgz")]
    if not tarballs:
        raise StepFailed("ArtifactInvalid", f"{step.name} failed: the v1 backup holds no .tgz")
    ensure_v1_target(context, step)
    run_bosh(step, context, [*step.commands["v1"], str(folder / tarballs[0])])
    return f"bosh restore {tarballs[0]}: the director database is restored (stemcell and release blobs are not)"


# -- ListExpected and the uploads -----------------------------------------------------------------------------

def source_for(kind: str, item: dict[str, Any], options: dict[str, Any], inventory: dict[str, Any]) -> dict[str, Any]:
    """Where to download one stemcell or release: spec sources, spec patterns, the backup's record."""
    for source in options.get("sources") or []:
        if source["kind"].lower() == kind and source["name"] == item["name"] and source["version"] == item["version"]:
            return {"url": source["url"], "sha1": source.get("sha1"), "from": "spec.reupload.sources"}
    pattern = options.get(f"{kind}UrlPattern")
    if pattern:
        return {"url": pattern.format(name=item["name"], version=item["version"]), "sha1": None,
                "from": f"spec.reupload.{kind}UrlPattern"}
    for recorded in inventory.get(f"{kind}s", []):
        source = recorded.get("source") or {}
        # a URL the backup guessed (bosh.io's pattern) is no source: most sites cannot reach it
        if recorded["name"] == item["name"] and recorded["version"] == item["version"] and source.get("url") \
                and not source.get("guessed"):
            return {**source, "from": "the backup's inventory"}
    return {"url": None, "sha1": None, "from": None}


def bbr_metadata_of(manifest: dict[str, Any], folder: Path) -> Any:
    """bbr's metadata: recorded in manifest.json, or the plain artifact's own file."""
    recorded = (manifest.get("bbr") or {}).get("metadata")
    if recorded or manifest.get("method") != "bbr":
        return recorded
    try:
        return yaml.safe_load((folder / "bbr" / "metadata").read_text())
    except (OSError, yaml.YAMLError):
        return None   # a resumed pod without the fetched files: assume bbr's usual director


def list_expected(step: Step, context: Context) -> str:
    v1 = step.options.get("dialect") == "v1"
    if v1:
        ensure_v1_target(context, step)
    manifest = manifest_of(context)
    inventory = manifest.get("inventory") or {}
    restored, context.blobs_note = blobs_restored(manifest.get("method", ""),
                                                  bbr_metadata_of(manifest, Path(step.options.get("folder", "."))))
    always = step.options.get("when") == "Always"
    readers = {"stemcell": parsers.parse_v1_stemcells if v1 else parsers.parse_stemcells,
               "release": parsers.parse_v1_releases if v1 else parsers.parse_releases}
    unknown = []
    for kind in ("stemcell", "release"):
        items = parsed(step, readers[kind], run_bosh(step, context, step.commands[f"{kind}s"]).stdout)
        context.expected[kind] = [{**item, "source": source_for(kind, item, step.options, inventory),
                                   "needed": not restored, "wanted": always or not restored} for item in items]
        unknown += [f"{kind} {i['name']}/{i['version']}" for i in context.expected[kind]
                    if i["needed"] and not i["source"]["url"]]
    counts = {kind: len(items) for kind, items in context.expected.items()}
    message = f"the restored director expects {counts['stemcell']} stemcells and {counts['release']} releases"
    lacking = "it lacks none of their blobs" if restored else "it lacks every one of their blobs"
    message += f"; {lacking}: {context.blobs_note}"
    if restored and always:
        message += "; spec.reupload.when is Always, so those with a source are uploaded anyway"
    return message + (f"; no source known for {len(unknown)} it lacks" if unknown else "")


def upload(step: Step, context: Context) -> str:
    kind = step.options["kind"]
    if kind not in context.expected:  # a resumed pod: ListExpected ran in this pod, so this is a bug
        raise StepFailed("RunnerError", f"{step.name}: ListExpected did not run")
    v1 = step.options.get("dialect") == "v1"
    if v1:
        ensure_v1_target(context, step)
    uploaded: list[str] = list(context.reporter.extra.get("uploaded", []))
    failing: list[str] = list(context.reporter.extra.get("failing", []))
    items = context.expected[kind]
    done = failed = skipped = not_needed = 0
    for number, item in enumerate(items, start=1):
        key = f"{kind}:{item['name']}/{item['version']}"
        label = f"{kind} {item['name']}/{item['version']}"
        context.reporter.update(step.name, message=f"{number}/{len(items)} {label}", itemsDone=done,
                                itemsTotal=len(items), itemsFailed=failed, percent=(number - 1) * 100 // len(items))
        if key in uploaded:
            done += 1
            continue
        if not item["wanted"]:
            not_needed += 1
            continue
        source = item["source"]
        if not source["url"]:
            if not item["needed"]:  # asked for (Always), but the director has it: no failure
                skipped += 1
                continue
            failed += 1
            failing.append(f"{label}: the director lacks it and no source is known; add it to "
                           f"spec.reupload.sources or set spec.reupload.{kind}UrlPattern (a mirror inside the site "
                           "works: the director downloads from it)")
            continue
        argv = [*step.argv, source["url"], "--fix"]
        if source.get("sha1"):
            argv += ["--sha1", source["sha1"]]
        completed = context.executor.run(argv)
        if completed.code == 0:
            done += 1
            uploaded.append(key)
            record(context, "uploaded", uploaded)
            summary(context)[f"{kind}sUploaded"] = summary(context).get(f"{kind}sUploaded", 0) + 1
            context.reporter.push(force=True)  # a killed pod must not upload this one again
        else:
            failed += 1
            line = diagnose_bosh(completed.stdout, completed.stderr, json_output=not v1).tool_line
            failing.append(f"{label} from {source['url']} ({source['from']}): {line}")
    record(context, "failing", failing)
    summary(context)["uploadsFailed"] = summary(context).get("uploadsFailed", 0) + failed
    summary(context)["uploadsNotNeeded"] = summary(context).get("uploadsNotNeeded", 0) + not_needed
    context.reporter.update(step.name, itemsDone=done, itemsTotal=len(items), itemsFailed=failed)
    if failed:
        raise StepFailed("UploadFailed", f"{step.name} failed: {failed} of {len(items)} {kind}s could not be "
                                         f"uploaded (listed in status.failing). Fix their sources in a new "
                                         "DirectorRestore of the same backup: the director holds its database "
                                         "now, so that restore skips RestoreDatabase (no force needed) and "
                                         "uploads again (uploads are idempotent)", soft=True)
    if not_needed == len(items):
        return (f"none of {len(items)} {kind}s uploaded: the director lacks none ({context.blobs_note}); "
                "spec.reupload.when: Always uploads them anyway")
    notes = [f"{skipped} without a source left as the restore brought them back" if skipped else "",
             f"{not_needed} not needed" if not_needed else ""]
    note = "".join(f", {n}" for n in notes if n)
    return f"{done} of {len(items)} {kind}s uploaded with --fix{note}"


# -- CloudCheck and VerifyInstances ---------------------------------------------------------------------------

def deployments_now(step: Step, context: Context) -> list[str]:
    v1 = step.options.get("dialect") == "v1"
    precheck_step = context.plan.steps[0]
    reader = parsers.parse_v1_deployments if v1 else parsers.parse_deployments
    return [d["name"] for d in parsed(step, reader, run_bosh(step, context,
                                                             precheck_step.commands["deployments"]).stdout)]


def cloud_check(step: Step, context: Context) -> str:
    v1 = step.options.get("dialect") == "v1"
    if v1:
        ensure_v1_target(context, step)
    mode = step.options["mode"]
    flag = "--auto" if mode == "auto" else "--report"
    problems: list[str] = []
    found = 0
    for deployment in deployments_now(step, context):
        argv = [*step.argv, deployment, flag] if v1 else [*step.argv[:3], "-d", deployment, *step.argv[3:], flag]
        completed = context.executor.run(argv)
        listed = (parsers.parse_v1_problems(completed.stdout) if v1 else
                  parsers.parse_problems(completed.stdout) if completed.stdout.strip().startswith("{") else [])
        found += len(listed)
        problems += [f"{deployment}: {p['description']}" for p in listed]
        if completed.code != 0 and not (mode == "report" and listed):
            diagnosis = diagnose_bosh(completed.stdout, completed.stderr, json_output=not v1)
            raise StepFailed(diagnosis.reason, diagnosis.message(f"{step.name} of {deployment}"), soft=True)
    record(context, "problems", problems)
    summary(context)["problemsFound"] = found
    if mode == "auto":
        summary(context)["problemsResolved"] = found
        return f"{found} problems found and resolved" if found else "no problems found"
    if found:
        raise StepFailed("CloudCheckProblemsFound", f"{step.name} failed: cloud-check found {found} problems "
                                                    "(listed in status.problems). Resolve them with `bosh "
                                                    "cloud-check`, or restore with spec.cloudCheck: auto.", soft=True)
    return "no problems found"


def verify_instances(step: Step, context: Context) -> str:
    v1 = step.options.get("dialect") == "v1"
    if v1:
        ensure_v1_target(context, step)
    completed = run_bosh(step, context, step.argv)
    instances = parsed(step, parsers.parse_v1_instances if v1 else parsers.parse_instances, completed.stdout)
    processes = [(i, name, state) for i in instances for name, state in i.processes.items()]
    failing = [f"{i.deployment} {i.instance} {name}: {state}" for i, name, state in processes if state != "running"]
    failing += [f"{i.deployment} {i.instance}: {i.state}" for i in instances
                if not i.processes and i.state != "running"]
    running = len(processes) - len([p for p in processes if p[2] != "running"])
    summary(context).update(processesRunning=running, processesFailing=len(failing))
    if failing:
        record(context, "failing", [*context.reporter.extra.get("failing", []), *failing])
        raise StepFailed("ProcessesFailing", f"{step.name} failed: {len(failing)} processes or instances are not "
                                             f"running ({'; '.join(failing[:5])}); check them with `bosh instances "
                                             "--ps` before deploying", soft=True)
    deployments = len({i.deployment for i in instances})
    return f"{running} processes running on {len(instances)} instances in {deployments} deployments"


ACTIONS: dict[str, Any] = {
    "restore-precheck": precheck, "verify-artifact": verify_artifact, "restore-database": restore_database,
    "list-expected": list_expected, "upload": upload, "cloud-check": cloud_check,
    "verify-instances": verify_instances,
}
