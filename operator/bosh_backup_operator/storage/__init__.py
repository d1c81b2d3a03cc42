"""Artifact stores: a PersistentVolumeClaim folder, or S3-compatible object storage.

Every store streams while hashing (sha256), never holds an artifact in memory,
stages under a temporary name, proves what it stored (by reading it back, or on S3 by
the server's own checksum of every stored object), and publishes only then: the presence
of manifest.json marks a complete artifact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

CHUNK = 1 << 20
MANIFEST = "manifest.json"
STAGING_SUFFIX = ".partial"   # a claim folder being written, renamed to its path when whole

Progress = Callable[[int], None]   # called with bytes just transferred


@dataclass(frozen=True)
class Plaintext:
    """What an encrypted file holds: its name, size and sha256 before encryption."""
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class StoredFile:
    name: str
    size: int
    sha256: str                        # of the stored bytes
    plaintext: Plaintext | None = None   # for an encrypted file

    def as_status(self) -> dict[str, Any]:
        status = asdict(self)
        if self.plaintext is None:
            del status["plaintext"]
        return status


class StorageError(Exception):
    """A storage failure, with a reason word and a message for people."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class ChecksumMismatch(StorageError):
    def __init__(self, name: str, expected: str, actual: str):
        super().__init__("ChecksumMismatch", f"{name}: stored bytes have sha256 {actual[:12]}..., "
                                             f"expected {expected[:12]}...: the artifact was corrupted in flight")


class _NoDigest:
    """For a read whose bytes another writer hashes."""

    def update(self, data: bytes) -> None:
        pass


NO_DIGEST = _NoDigest()


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def hashed_chunks(handle: Readable, digest: Any, progress: Progress | None = None,
                  chunk: int = CHUNK) -> Iterator[bytes]:
    while data := handle.read(chunk):
        digest.update(data)
        if progress:
            progress(len(data))
        yield data


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for _ in hashed_chunks(handle, digest):
            pass
    return digest.hexdigest()


class FileWriter(Protocol):
    """One file on its way to storage, fed its bytes in order (they are in `source` already)."""

    def feed(self, data: bytes) -> None: ...
    def finish(self) -> StoredFile: ...
    def abandon(self) -> None: ...


def store_file(writer: FileWriter, source: Path, progress: Progress | None = None, *, what: str = "") -> StoredFile:
    """`source` fed to a store's writer in order; the writer abandoned if anything fails.
    `what` (e.g. "writing f to pvc://claim/path") leads the message of a failed read or write."""
    try:
        with source.open("rb") as handle:
            for chunk in hashed_chunks(handle, NO_DIGEST, progress):
                writer.feed(chunk)
        return writer.finish()
    except OSError as error:   # the file, or a claim, failed under us
        writer.abandon()
        raise StorageError("StorageWriteFailed", f"{what or f'storing {source.name}'}: {error}") from None
    except BaseException:
        writer.abandon()
        raise


class Store(Protocol):
    location: str

    def begin(self) -> None: ...
    def put(self, name: str, source: Path, progress: Progress | None = None) -> StoredFile: ...
    def writer(self, name: str, source: Path | None) -> FileWriter: ...
    def verify(self, stored: StoredFile) -> None: ...
    def publish(self, manifest: dict[str, Any]) -> StoredFile: ...
    def abort(self) -> None: ...
    def read_manifest(self) -> dict[str, Any] | None: ...
    def fetch(self, name: str, target: Path, progress: Progress | None = None) -> StoredFile: ...
    def delete(self) -> None: ...
    def list_files(self) -> list[tuple[str, int]]: ...


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def location_of(storage: dict[str, Any], path: str) -> str:
    """The URL people see for `path` in a storage: pvc://<claim>/<path> or s3://<bucket>/<key>."""
    if "pvc" in storage:
        return f"pvc://{storage['pvc']['claimName']}/{path}"
    return f"s3://{storage['s3']['bucket']}/{path.strip('/')}"


def open_store(storage: dict[str, Any], path: str) -> Store:
    """The store for a resolved storage spec, at the artifact's path."""
    if "pvc" in storage:
        from .pvc import PvcStore
        return PvcStore(storage["pvc"]["claimName"], path)
    from .s3 import S3Store
    return S3Store(storage["s3"], path)
