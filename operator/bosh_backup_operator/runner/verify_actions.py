"""VerifyStored: proof that a stored artifact is still good, long after it was made.

Every file manifest.json lists is read back from storage and its sha256 recomputed; an
encrypted one is decrypted when the run has the identity (its plaintext's sha256 checked
too), and checked as ciphertext when it has not; each of bbr's tars is opened and every
file in it checked against bbr's own metadata. Problems are collected, each naming the
file, rather than stopping at the first: the result is what the operator writes into
status.verification.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..bosh.artifact import compare_tar, expected_tars, manifest_problems
from ..planning.plan import Step
from ..status import human_size
from ..storage import StorageError, open_store
from ..storage.encryption import Undecryptable, decrypt_file, load_identities
from .run import Context, StepFailed

MOST_PROBLEMS = 10   # the result travels in the pod's termination message, which is small


class Verification:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.files = self.bytes = self.tars = 0
        self.decrypted = False

    def result(self) -> dict[str, Any]:
        return {"result": "Failed" if self.problems else "Passed", "filesChecked": self.files,
                "bytesChecked": self.bytes, "tarsChecked": self.tars, "decrypted": self.decrypted,
                "problems": [problem[:300] for problem in self.problems[:MOST_PROBLEMS]],
                "problemCount": len(self.problems)}


def verify_stored(step: Step, context: Context) -> str:
    plan = context.plan
    store = open_store(plan.storage, plan.artifact_path)
    check = Verification()
    context.result["verification"] = check.result()
    try:
        manifest = store.read_manifest()
        listed = dict(store.list_files())
    except StorageError as error:
        raise StepFailed(error.reason, f"{step.name} failed: {error.message}") from None
    if manifest is None:
        check.problems.append(f"manifest.json is missing at {store.location}: the artifact is not whole")
    else:
        check.problems += [f"manifest.json: {problem}" for problem in manifest_problems(manifest)]
    if check.problems:
        context.result["verification"] = check.result()
        return f"{store.location} cannot be verified: {check.problems[0]}"
    assert manifest is not None
    identities = None
    if plan.options.get("identity"):
        given = plan.options["identity"]
        try:
            identities = load_identities(Path(given["path"]).read_text(), given["from"])
        except StorageError as error:
            raise StepFailed(error.reason, f"{step.name} failed: {error.message}") from None
    metadata = (manifest.get("bbr") or {}).get("metadata")
    tars = dict(expected_tars(metadata)) if isinstance(metadata, dict) else {}
    work = context.work / "verify"
    files = manifest["files"]
    for number, entry in enumerate(files, start=1):
        context.reporter.update(step.name, message=f"{number}/{len(files)} {entry['name']}",
                                percent=(number - 1) * 100 // len(files))
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            verify_file(store, entry, listed, identities, tars, work, check)
        except StorageError as error:   # the store failing is no news of the artifact: an Error
            raise StepFailed(error.reason, f"{step.name} failed reading {entry['name']}: {error.message}") from None
        except Undecryptable as error:
            raise StepFailed("DecryptionFailed", f"{step.name} failed: {error}; the identity from "
                                                 f"{plan.options['identity']['from']} is not one of the "
                                                 "artifact's recipients") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    context.result["verification"] = check.result()
    if check.problems:
        return f"{len(check.problems)} problems at {store.location}: {'; '.join(check.problems[:3])}"
    how = " (decrypted, plaintexts checked too)" if check.decrypted else ""
    return (f"{check.files} files, {human_size(check.bytes)}: every sha256 matches manifest.json{how}; "
            f"{check.tars} of bbr's tars match its metadata")


def verify_file(store: Any, entry: dict[str, Any], listed: dict[str, int], identities: list[Any] | None,
                tars: dict[str, dict[str, str]], work: Path, check: Verification) -> None:
    name, size = entry["name"], int(entry["size"])
    if name not in listed:
        check.problems.append(f"{name}: missing from storage")
        return
    if listed[name] != size:
        check.problems.append(f"{name}: {listed[name]} bytes stored, manifest.json says {size}: cut short or "
                              "replaced")
        return
    fetched = store.fetch(name, work / "stored")
    check.files += 1
    check.bytes += fetched.size
    if fetched.sha256 != entry["sha256"]:
        check.problems.append(f"{name}: sha256 {fetched.sha256[:12]}..., manifest.json says "
                              f"{entry['sha256'][:12]}...: changed or replaced since it was stored")
        return
    plain_name, plain = name, work / "stored"
    if entry.get("plaintext"):
        if identities is None:   # the stored bytes are proven; what they hold needs the key
            return
        plain_name, plain = entry["plaintext"]["name"], work / "plain"
        try:
            opened = decrypt_file(work / "stored", plain, identities)
        except Undecryptable as error:
            if error.wrong_key:   # the stored bytes are proven good above: the key is wrong
                raise
            check.problems.append(f"{name}: cannot be decrypted ({error})")
            return
        check.decrypted = True
        if opened.sha256 != entry["plaintext"]["sha256"]:
            check.problems.append(f"{name}: decrypts to sha256 {opened.sha256[:12]}..., manifest.json says "
                                  f"{entry['plaintext']['sha256'][:12]}...")
            return
    tar = plain_name.removeprefix("bbr/")
    if plain_name.startswith("bbr/") and tar in tars:
        check.tars += 1
        check.problems += compare_tar(plain_name, plain, tars[tar])[0]


ACTIONS: dict[str, Any] = {"verify-stored": verify_stored}
