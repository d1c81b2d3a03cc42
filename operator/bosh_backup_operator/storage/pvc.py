"""A folder on a PersistentVolumeClaim mounted at /storage.

Files are written into `<path>.partial/`, fsync'ed and read back, then the folder is
renamed to `<path>/` in one step, so a reader never sees half an artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from ..bosh import paths
from . import (
    MANIFEST,
    STAGING_SUFFIX,
    ChecksumMismatch,
    Progress,
    StorageError,
    StoredFile,
    hashed_chunks,
    location_of,
    manifest_bytes,
    store_file,
)


def inside(root: Path, path: str) -> Path:
    """root/path, refused unless it stays inside root once resolved (a `..` segment, or a
    link on the volume, could otherwise reach the pod's scratch space or another folder)."""
    resolved_root = root.resolve()
    target = (resolved_root / path).resolve()
    if target == resolved_root or not target.is_relative_to(resolved_root):
        raise StorageError("StoragePathInvalid", f"the artifact path {path!r} leaves the claim mounted at {root}: "
                                                 "check the storage prefix and source.path (no '.' or '..' segments)")
    return target


class PvcWrite:
    def __init__(self, store: PvcStore, name: str, source: Path | None, *, in_place: bool):
        self.store, self.name, self.source, self.in_place = store, name, source, in_place
        self.digest, self.size = hashlib.sha256(), 0
        self.handle: BinaryIO | None = None
        if not in_place:
            target = store.staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            self.handle = target.open("wb")

    def feed(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        if self.handle is not None:
            self.handle.write(data)

    def finish(self) -> StoredFile:
        if self.handle is not None:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
        else:
            assert self.source is not None
            with self.source.open("rb") as handle:
                os.fsync(handle.fileno())
            self.store.proven.add(self.name)   # hashed from the claim itself
        return StoredFile(self.name, self.size, self.digest.hexdigest())

    def abandon(self) -> None:
        if self.handle is not None:
            self.handle.close()


class PvcStore:
    def __init__(self, claim: str, path: str, root: Path | None = None):
        self.root = root or Path(os.environ.get("BOSH_BACKUP_STORAGE_ROOT", paths.STORAGE))
        self.final = inside(self.root, path)
        self.staging = inside(self.root, f"{path}{STAGING_SUFFIX}")
        self.location = location_of({"pvc": {"claimName": claim}}, path)
        self.proven: set[str] = set()   # names hashed from the claim's own bytes: no second read

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise StorageError("StorageUnavailable", f"the claim is not mounted at {self.root}")

    def begin(self) -> None:
        self._check_root()
        shutil.rmtree(self.staging, ignore_errors=True)  # what an interrupted attempt left
        self.staging.mkdir(parents=True)

    def put(self, name: str, source: Path, progress: Progress | None = None) -> StoredFile:
        return store_file(self.writer(name, source), source, progress, what=f"writing {name} to {self.location}")

    def writer(self, name: str, source: Path | None) -> PvcWrite:
        """A file fed in order: copied into the staging folder, or, when the tool wrote it
        there already, only hashed as it grows (that reading is the read-back). Without a
        source, the bytes exist only as they are fed (an encrypted file)."""
        in_place = source is not None and source.resolve().is_relative_to(self.staging.resolve())
        return PvcWrite(self, name, source, in_place=in_place)

    def verify(self, stored: StoredFile) -> None:
        if stored.name in self.proven:
            return
        digest = hashlib.sha256()
        with (self.staging / stored.name).open("rb") as handle:
            for _ in hashed_chunks(handle, digest):
                pass
        if digest.hexdigest() != stored.sha256:
            raise ChecksumMismatch(stored.name, stored.sha256, digest.hexdigest())

    def publish(self, manifest: dict[str, Any]) -> StoredFile:
        data = manifest_bytes(manifest)
        target = self.staging / MANIFEST
        with target.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if self.final.exists():  # a retried run replaces what an earlier attempt published
            shutil.rmtree(self.final)
        os.replace(self.staging, self.final)
        directory = os.open(self.final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return StoredFile(MANIFEST, len(data), hashlib.sha256(data).hexdigest())

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads((self.final / MANIFEST).read_text()))
        except (FileNotFoundError, NotADirectoryError):  # no folder, or a single-file artifact
            return None

    def fetch(self, name: str, target: Path, progress: Progress | None = None) -> StoredFile:
        digest = hashlib.sha256()
        size = 0
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with (self.final / name).open("rb") as src, target.open("wb") as dst:
                for chunk in hashed_chunks(src, digest, progress):
                    dst.write(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise StorageError("ArtifactNotFound", f"{self.location}/{name} does not exist") from None
        return StoredFile(name, size, digest.hexdigest())

    def list_files(self) -> list[tuple[str, int]]:
        """Every file under the path (name relative to it, size), links not followed."""
        self._check_root()
        found = []
        for folder, _, names in os.walk(self.final):
            for name in names:
                path = Path(folder) / name
                if path.is_file() and not path.is_symlink():
                    found.append((str(path.relative_to(self.final)), path.stat().st_size))
        return sorted(found)

    def delete(self) -> None:
        shutil.rmtree(self.final, ignore_errors=True)
        shutil.rmtree(self.staging, ignore_errors=True)
