"""VerifyStored (runner/verify_actions.py) on a claim: a good artifact passes; each kind of
damage is found and named, all of them in one pass."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pyrage
import pytest

from bosh_backup_operator.planning.plan import Plan, Step
from bosh_backup_operator.runner.reporter import Reporter
from bosh_backup_operator.runner.run import Context
from bosh_backup_operator.runner.verify_actions import verify_stored
from bosh_backup_operator.storage import store_file
from bosh_backup_operator.storage.encryption import SUFFIX, EncryptingWriter
from bosh_backup_operator.storage.pvc import PvcStore

PATH = "bosh-backups/ns/prod"


def tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def make_backup(root: Path, work: Path, name: str, *, recipients: list[str] | None = None) -> Path:
    """An artifact as the Store step leaves it: bbr's tar and metadata, state.json, manifest.json."""
    members = {"./director-db.json": os.urandom(70_000), "./credhub.json": b'{"creds": 1}'}
    metadata = {"instances": [{"name": "bosh", "index": "0", "artifacts": [
        {"name": "director", "checksums": {k: hashlib.sha256(v).hexdigest() for k, v in members.items()}}]}]}
    sources = {"bbr/bosh-0-director.tar": tar_of(members), "bbr/metadata": json.dumps(metadata).encode(),
               "state.json": b'{"director_id": "x"}'}
    store = PvcStore("backups", f"{PATH}/{name}", root=root)
    store.begin()
    stored = []
    for stored_name, data in sources.items():
        source = work / name / stored_name
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(data)
        writer = (EncryptingWriter(store.writer(stored_name + SUFFIX, None), recipients, stored_name) if recipients
                  else store.writer(stored_name, source))
        stored.append(store_file(writer, source).as_status())
    manifest: dict[str, Any] = {"method": "bbr", "files": stored, "bbr": {"metadata": metadata}}
    if recipients:
        manifest["encryption"] = {"format": "age-encryption.org/v1", "recipients": recipients}
    store.publish(manifest)
    return store.final


def verify(root: Path, work: Path, name: str, identity: Path | None = None) -> tuple[str, dict[str, Any]]:
    plan = Plan(kind="DirectorBackup", namespace="ns", name=name, uid="u", director="prod", method="bbr",
                dialect="v2", steps=[Step("VerifyStored", "verify-stored", "check")],
                storage={"pvc": {"claimName": "backups"}}, artifact_path=f"{PATH}/{name}",
                options={"identity": {"path": str(identity), "from": "spec"}} if identity else {})
    context = Context(plan=plan, reporter=Reporter(plan), executor=None, work=work / "pod", started="")  # type: ignore[arg-type]
    message = verify_stored(plan.steps[0], context)
    return message, context.result["verification"]


@pytest.fixture
def claim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "claim"
    root.mkdir()
    monkeypatch.setenv("BOSH_BACKUP_STORAGE_ROOT", str(root))
    return root


def test_a_good_artifact_passes_with_every_file_and_tar_checked(claim: Path, tmp_path: Path) -> None:
    make_backup(claim, tmp_path, "b1")
    message, result = verify(claim, tmp_path, "b1")
    assert result["result"] == "Passed", result
    assert (result["filesChecked"], result["tarsChecked"], result["problems"]) == (3, 1, [])
    assert "every sha256 matches manifest.json" in message


def test_every_kind_of_damage_is_found_and_named_in_one_pass(claim: Path, tmp_path: Path) -> None:
    folder = make_backup(claim, tmp_path, "b1")
    other = make_backup(claim, tmp_path, "b2")
    tar = folder / "bbr" / "bosh-0-director.tar"
    data = bytearray(tar.read_bytes())
    data[1000] ^= 1                                                    # a flipped byte
    tar.write_bytes(bytes(data))
    (folder / "state.json").write_bytes((folder / "state.json").read_bytes()[:-3])   # cut short
    (folder / "bbr" / "metadata").unlink()                             # deleted
    _, result = verify(claim, tmp_path, "b1")
    assert result["result"] == "Failed" and result["problemCount"] == 3, result
    problems = "\n".join(result["problems"])
    assert "bbr/bosh-0-director.tar: sha256" in problems and "changed or replaced since it was stored" in problems
    assert "state.json: 17 bytes stored, manifest.json says 20: cut short or replaced" in problems
    assert "bbr/metadata: missing from storage" in problems

    # a valid file from another backup, same name and size: only its checksum tells
    (other / "bbr" / "bosh-0-director.tar").replace(make_backup(claim, tmp_path, "b3") / "bbr" / "bosh-0-director.tar")
    _, replaced = verify(claim, tmp_path, "b3")
    assert replaced["problemCount"] == 1 and replaced["problems"][0].startswith("bbr/bosh-0-director.tar: sha256")


def test_a_tar_whose_files_disagree_with_bbrs_metadata_is_named_by_file(claim: Path, tmp_path: Path) -> None:
    """Damage done before the manifest was written: stored bytes and manifest agree, bbr's
    metadata does not."""
    folder = make_backup(claim, tmp_path, "b1")
    manifest = json.loads((folder / "manifest.json").read_text())
    tar = folder / "bbr" / "bosh-0-director.tar"
    tar.write_bytes(tar_of({"./director-db.json": b"other", "./credhub.json": b'{"creds": 1}'}))
    entry = next(f for f in manifest["files"] if f["name"] == "bbr/bosh-0-director.tar")
    entry.update(size=tar.stat().st_size, sha256=hashlib.sha256(tar.read_bytes()).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _, result = verify(claim, tmp_path, "b1")
    assert result["problemCount"] == 1, result
    assert result["problems"][0].startswith("bbr/bosh-0-director.tar: ./director-db.json has sha256")


def test_encrypted_artifacts_are_checked_as_stored_without_the_key_and_in_full_with_it(
        claim: Path, tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    folder = make_backup(claim, tmp_path, "b1", recipients=[str(identity.to_public())])
    _, sealed = verify(claim, tmp_path, "b1")
    assert sealed["result"] == "Passed" and not sealed["decrypted"] and sealed["tarsChecked"] == 0
    key = tmp_path / "identity"
    key.write_text(str(identity))
    _, opened = verify(claim, tmp_path, "b1", identity=key)
    assert opened["result"] == "Passed" and opened["decrypted"] and opened["tarsChecked"] == 1
    stored = folder / "bbr" / "bosh-0-director.tar.age"
    data = bytearray(stored.read_bytes())
    data[-50] ^= 1
    stored.write_bytes(bytes(data))
    _, flipped = verify(claim, tmp_path, "b1")   # no key needed to find it
    assert flipped["problems"][0].startswith("bbr/bosh-0-director.tar.age: sha256")
