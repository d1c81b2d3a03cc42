"""What a stored artifact must be before a restore may touch a director (pure checks).

bbr's own `metadata` lists, per instance and job, the sha256 of every file inside that
job's tar (`bosh-0-director.tar` holds `./director-db.json` ...). bbr checks them again
before it restores; checking them here first names the damaged file, and a damaged tar
is found before the director is touched, whatever manifest.json says.
"""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class BbrCheck:
    tars: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)


def tar_checksums(tar: Path) -> dict[str, str]:
    sums: dict[str, str] = {}
    with tarfile.open(tar, "r:") as archive:
        for member in archive:
            if not member.isfile():
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            digest = hashlib.sha256()
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
            sums[member.name] = digest.hexdigest()
    return sums


def expected_tars(metadata: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """(tar file name, {member: sha256}) for every artifact bbr's metadata lists."""
    found = []
    for instance in metadata.get("instances") or []:
        for artifact in instance.get("artifacts") or []:
            found.append((f"{instance['name']}-{instance['index']}-{artifact['name']}.tar",
                          dict(artifact.get("checksums") or {})))
    for artifact in metadata.get("custom_artifacts") or []:
        found.append((f"{artifact['name']}.tar", dict(artifact.get("checksums") or {})))
    return found


def expected_tars_of(metadata_file: Path) -> list[tuple[str, dict[str, str]]]:
    """The tars bbr's metadata file lists, with their files' checksums ([] if unreadable)."""
    try:
        metadata = yaml.safe_load(metadata_file.read_text())
        return expected_tars(metadata) if isinstance(metadata, dict) else []
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return []


def check_bbr_folder(folder: Path) -> BbrCheck:
    """Every file of every tar against bbr's metadata in `folder`; problems name the tar
    and the file."""
    check = BbrCheck()
    metadata_file = folder / "metadata"
    try:
        metadata = yaml.safe_load(metadata_file.read_text())
    except (OSError, yaml.YAMLError) as error:
        check.problems.append(f"bbr's metadata cannot be read: {error}")
        return check
    try:
        listed = expected_tars(metadata) if isinstance(metadata, dict) else []
    except (KeyError, TypeError, AttributeError) as error:
        check.problems.append(f"bbr's metadata is not in bbr's form ({error})")
        return check
    if not listed:
        check.problems.append("bbr's metadata lists no artifacts")
        return check
    for tar_name, expected in listed:
        tar = folder / tar_name
        if not tar.is_file():
            check.problems.append(f"{tar_name} is missing")
            continue
        check.tars += 1
        problems, matching = compare_tar(tar_name, tar, expected)
        check.problems += problems
        check.files += matching
    return check


def compare_tar(tar_name: str, tar: Path, expected: dict[str, str]) -> tuple[list[str], int]:
    """Every file in the tar against bbr's metadata: (problems naming the tar and the file,
    files that match)."""
    try:
        actual = tar_checksums(tar)
    except (tarfile.TarError, OSError, EOFError) as error:
        return [f"{tar_name} cannot be read as a tar ({error})"], 0
    problems, matching = [], 0
    for member, sha256 in sorted(expected.items()):
        if member not in actual:
            problems.append(f"{tar_name}: {member} is missing")
        elif actual[member] != sha256:
            problems.append(f"{tar_name}: {member} has sha256 {actual[member][:12]}..., bbr's metadata "
                            f"says {sha256[:12]}...")
        else:
            matching += 1
    problems += [f"{tar_name}: {member} is not in bbr's metadata" for member in sorted(set(actual) - set(expected))]
    return problems, matching


def manifest_problems(manifest: Any) -> list[str]:
    """What makes a manifest.json unusable for a restore, each naming the field."""
    if not isinstance(manifest, dict):
        return ["manifest.json is not a JSON object"]
    problems = []
    if manifest.get("method") not in ("bbr", "v1"):
        problems.append(f"method is {manifest.get('method')!r}, not bbr or v1")
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        problems.append("files lists no files")
        return problems
    for number, entry in enumerate(files):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            problems.append(f"files[{number}] has no name")
            continue
        if not isinstance(entry.get("size"), int) or entry["size"] < 0:
            problems.append(f"files[{number}] ({entry['name']}) has no size")
        if not stays_inside(entry["name"]):
            problems.append(f"files[{number}] ({entry['name']}) is not a path inside the artifact")
        if not is_sha256(entry.get("sha256")):
            problems.append(f"files[{number}] ({entry['name']}) has no sha256")
        plaintext = entry.get("plaintext")
        if plaintext is None:
            continue
        if not manifest.get("encryption"):
            problems.append(f"files[{number}] ({entry['name']}) has a plaintext but the manifest no encryption")
        if not isinstance(plaintext, dict) or not isinstance(plaintext.get("name"), str) or \
                not stays_inside(plaintext["name"]) or not is_sha256(plaintext.get("sha256")) or \
                not isinstance(plaintext.get("size"), int):
            problems.append(f"files[{number}].plaintext ({entry['name']}) needs a name inside the artifact, a size "
                            "and a sha256")
    return problems


def is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def stays_inside(name: str) -> bool:
    """A relative path with no '.' or '..' segment: a file of the artifact's own folder."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and all(part not in ("", ".", "..") for part in parts)


def blobs_restored(method: str, bbr_metadata: Any) -> tuple[bool, str]:
    """Whether the restore brought the director's stemcell and release blobs back with its
    database, and why, in words for status."""
    if method != "bbr":
        return False, ("the v1 backup holds the director database only, so every stemcell and release blob "
                       "it lists is missing")
    jobs = {artifact.get("name") for instance in ((bbr_metadata or {}).get("instances") or [])
            for artifact in instance.get("artifacts") or []} if isinstance(bbr_metadata, dict) else set()
    if jobs and "blobstore" not in jobs:
        return True, ("bbr restored the database; the director's blobstore is not in the backup (an external "
                      "blobstore, which the lost director VM did not hold)")
    return True, "bbr restored the blobstore with the database"
