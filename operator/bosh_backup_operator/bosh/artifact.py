"""What a stored artifact must be before a restore may touch a director (pure checks).

bbr's own `metadata` lists, per instance and job, the sha256 of every file inside that
job's tar (`bosh-0-director.tar` holds `./director-db.json` ...). bbr checks them again
before it restores; checking them here first names the damaged file, and a damaged tar
is found before the director is touched, whatever manifest.json says.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CHUNK = 1 << 20


@dataclass
class BbrCheck:
    tars: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)


class TarUnreadable(ValueError):
    """A tar whose bytes are not a whole tar; the message says where and why."""


_EXTENDED = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE,
             tarfile.XGLTYPE)   # headers whose data describes the next member (or, 'g', every one)
_EXTENDED_MOST = 1 << 20
_PAX_RECORD = re.compile(rb"(\d+) ([^=]+)=")


class TarSums:
    """The sha256 of every regular file in a tar, taken from the tar's bytes fed in order.

    Faster than tarfile, which copies every member's bytes: here the members' data is hashed
    from slices of what is fed. Ustar, GNU and pax headers are read
    (long names, pax `path` and `size`); a GNU sparse member, which bbr never writes, makes
    `result` ask for tarfile's own reading of the file instead (`unsupported`).
    """

    def __init__(self) -> None:
        self.sums: dict[str, str] = {}
        self.unsupported = False
        self._error = ""
        self._offset = 0          # where in the tar the bytes fed so far end
        self._header = bytearray()
        self._left = 0            # bytes of the current member's data still to come
        self._padding = 0         # then up to the next 512-byte block
        self._digest: Any = None  # the current regular file's
        self._name = ""
        self._extended: bytearray | None = None   # an extended header's data being collected
        self._extended_type = b""
        self._next: dict[str, Any] = {}           # what it says of the next member
        self._ended = False       # the end-of-archive block was read

    def feed(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view and not (self._error or self._ended or self.unsupported):
            if self._left:
                piece, view = view[:self._left], view[self._left:]
                if self._digest is not None:
                    self._digest.update(piece)
                elif self._extended is not None:
                    self._extended += piece
                self._left -= len(piece)
                self._offset += len(piece)
                if not self._left:
                    self._member_ended()
            elif self._padding:
                skipped = min(self._padding, len(view))
                view, self._padding, self._offset = view[skipped:], self._padding - skipped, self._offset + skipped
            else:
                taken = min(tarfile.BLOCKSIZE - len(self._header), len(view))
                self._header += view[:taken]
                view = view[taken:]
                if len(self._header) == tarfile.BLOCKSIZE:
                    self._read_header(bytes(self._header))
                    self._header.clear()
                    self._offset += tarfile.BLOCKSIZE

    def result(self) -> dict[str, str]:
        """{member name: sha256}, or TarUnreadable saying what is wrong with the tar."""
        if self._error:
            raise TarUnreadable(self._error)
        if not self._ended and (self._left or self._header):
            raise TarUnreadable(f"it ends at byte {self._offset + len(self._header)}, inside "
                                f"{'the data of ' + repr(self._name) if self._left else 'a header'}")
        if not self._ended and not self._offset:
            raise TarUnreadable("it is empty")
        return self.sums

    def _read_header(self, block: bytes) -> None:
        if block == tarfile.NUL * tarfile.BLOCKSIZE:
            self._ended = True   # what follows is the tar's padding
            return
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as error:
            self._error = f"the header at byte {self._offset} cannot be read ({error})"
            return
        if info.type in _EXTENDED:
            if info.size > _EXTENDED_MOST:   # names and pax records, held in memory
                self._error = f"the header at byte {self._offset} announces {info.size} bytes of names or records"
                return
            self._extended, self._extended_type, self._digest = bytearray(), info.type, None
            self._begin_data(info.size)
            return
        if info.type == tarfile.GNUTYPE_SPARSE:
            self.unsupported = True
            return
        self._name = self._next.get("path", info.name)
        size = int(self._next.get("size", info.size))
        self._next = {}
        self._extended = None
        self._digest = hashlib.sha256() if info.type in tarfile.REGULAR_TYPES else None
        # as tarfile reads it: a link, folder or device has no data, whatever its size field says
        self._begin_data(size if self._digest is not None or info.type not in tarfile.SUPPORTED_TYPES else 0)

    def _begin_data(self, size: int) -> None:
        self._left, self._padding = size, -size % tarfile.BLOCKSIZE
        if not size:
            self._member_ended()

    def _member_ended(self) -> None:
        if self._digest is not None:
            self.sums[self._name] = self._digest.hexdigest()
            self._digest = None
        elif self._extended is not None:
            data, self._extended = bytes(self._extended), None
            if self._extended_type == tarfile.GNUTYPE_LONGNAME:
                self._next["path"] = data.split(tarfile.NUL, 1)[0].decode("utf-8", "surrogateescape")
            elif self._extended_type in (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE):
                self._read_pax(data)

    def _read_pax(self, data: bytes) -> None:
        position = 0
        while position < len(data) and data[position:position + 1] != tarfile.NUL:
            match = _PAX_RECORD.match(data, position)
            length = int(match.group(1)) if match else 0
            if not match or length <= match.end() - position or data[position + length - 1:position + length] != b"\n":
                self._error = f"the pax header before byte {self._offset} cannot be read"
                return
            key = match.group(2).decode("utf-8", "surrogateescape")
            value = data[match.end():position + length - 1].decode("utf-8", "surrogateescape")
            if key.startswith("GNU.sparse."):   # GNU tar's pax form of a sparse file
                self.unsupported = True
                return
            if key == "path":
                self._next["path"] = value
            elif key == "size":
                if not value.isdigit():
                    self._error = f"the pax header before byte {self._offset} gives a size of {value!r}"
                    return
                self._next["size"] = int(value)
            position += length


def tar_checksums(tar: Path) -> dict[str, str]:
    """{member: sha256} of every regular file in the tar file."""
    sums = TarSums()
    with tar.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sums.feed(chunk)
            if sums.unsupported:
                return tarfile_checksums(tar)
    return sums.result()


def tarfile_checksums(tar: Path) -> dict[str, str]:
    """The same, by tarfile, which reads every kind of member (slower: it copies every byte)."""
    sums: dict[str, str] = {}
    try:
        with tarfile.open(tar, "r:") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                handle = archive.extractfile(member)
                assert handle is not None
                digest = hashlib.sha256()
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                sums[member.name] = digest.hexdigest()
    except (tarfile.TarError, EOFError) as error:
        raise TarUnreadable(str(error)) from None
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
    except (TarUnreadable, OSError) as error:
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
