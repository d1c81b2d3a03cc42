"""S3-compatible object storage, through boto3.

Objects go to their final keys, but manifest.json is removed first and written last,
so an artifact counts as complete only once every object is stored and verified.
Large files are sent as multipart uploads whose parts stream from slices of the file,
several in flight, while one sequential pass hashes it: memory stays flat whatever the
artifact's size or the parts in flight.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..bosh import paths
from . import (
    CHUNK,
    MANIFEST,
    ChecksumMismatch,
    Progress,
    StorageError,
    StoredFile,
    hashed_chunks,
    location_of,
    manifest_bytes,
    store_file,
)

PART_SIZE = 16 << 20
IN_FLIGHT = 8
MEMORY_PART_SIZE = 8 << 20    # parts held in memory (no file to slice), at most MEMORY_PARTS of them
MEMORY_PARTS = 4


class FileSlice(io.RawIOBase):
    """A seekable, read-only window on part of a file: an upload body that is never
    held in memory whole."""

    def __init__(self, path: Path, offset: int, length: int):
        super().__init__()
        self.handle = path.open("rb")
        self.start, self.length, self.position = offset, length, 0
        self.handle.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        remaining = self.length - self.position
        count = remaining if size is None or size < 0 else min(size, remaining)
        data = self.handle.read(count)
        self.position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, min(self.length, base + offset))
        self.handle.seek(self.start + self.position)
        return self.position

    def tell(self) -> int:
        return self.position

    def __len__(self) -> int:
        return self.length

    def close(self) -> None:
        self.handle.close()
        super().close()


RETRIES = 6


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def client_for(spec: dict[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    # Every upload carries a CRC32 of its bytes in an unsigned trailer, which the server checks
    # (signing each payload's SHA-256, as botocore otherwise does over plain HTTP, would hash
    # everything once more); S3Upload compares the whole object's CRC32 with the file's.
    # a busy S3 (503 SlowDown) or one that restarts gets several tries, with exponential backoff
    config = Config(region_name=spec.get("region", "us-east-1"), retries={"max_attempts": RETRIES, "mode": "standard"},
                    s3={"addressing_style": "path" if spec.get("forcePathStyle") else "auto",
                        "payload_signing_enabled": False},
                    max_pool_connections=IN_FLIGHT + 2, connect_timeout=10, read_timeout=120,
                    request_checksum_calculation="when_supported", response_checksum_validation="when_required")
    verify: Any = True
    if spec.get("caCert"):
        verify = os.environ.get("BOSH_BACKUP_S3_CA", paths.S3_CA_CERT)
    return boto3.client("s3", endpoint_url=spec.get("endpoint") or None, config=config, verify=verify)


def storage_error(error: Exception, bucket: str, what: str) -> StorageError:
    """A boto/botocore failure as a reason and a message that says what to check."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, SSLError

    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket" or (code == "404" and what.startswith("bucket")):
            return StorageError("BucketNotFound", f'spec.storage.s3.bucket: bucket "{bucket}" does not exist')
        if code in ("XAmzContentSHA256Mismatch", "BadDigest", "InvalidDigest"):
            return StorageError("ChecksumMismatch", f"{what}: {code}: the S3 server received other bytes than were "
                                                    "sent: the artifact was corrupted in flight")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
            return StorageError("StorageAccessDenied", f"{what}: {code}: check the keys in the secret of "
                                                       "spec.storage.s3.credentialsSecretRef")
        meta = error.response.get("ResponseMetadata", {})
        status, tries = int(meta.get("HTTPStatusCode") or 0), int(meta.get("RetryAttempts") or 0) + 1
        message = error.response.get("Error", {}).get("Message", "")
        if status >= 500:
            answer = f"{status} ({message})" if code == str(status) else f"{status} {code} ({message})"
            return StorageError("StorageUnavailable", f"{what}: the S3 server answered {answer} "
                                                      f"to each of {tries} tries, with backoff between them: check "
                                                      "the S3 service, then back up again (nothing was published)")
        return StorageError("StorageFailed", f"{what}: {code}: {message}")
    if isinstance(error, SSLError):
        return StorageError("StorageTlsError", f"{what}: TLS verification failed; set spec.storage.s3.caCert")
    if isinstance(error, EndpointConnectionError):
        return StorageError("StorageUnreachable", f"{what}: cannot connect to the S3 endpoint: {error}")
    if isinstance(error, NoCredentialsError):
        return StorageError("StorageAccessDenied", f"{what}: no S3 credentials in the pod")
    return StorageError("StorageFailed", f"{what}: {error}")


class S3Upload:
    """One file's upload, fed its bytes in order: one PUT for a small file, else a multipart
    upload whose parts go as soon as they are whole. Parts are sent from slices of the file
    (botocore streams them), so memory does not grow with parts in flight.

    Proof without reading back: every request carries a CRC32 of its bytes, which the
    server checks, and the server combines the parts' into the whole object's CRC32
    (FULL_OBJECT). That must equal the CRC32 the runner took of the file in the same pass
    as its SHA-256. CRC32 costs a fraction of a SHA-256 pass, and the unsigned trailer it
    travels in spares botocore from hashing every payload once more to sign it."""

    def __init__(self, store: S3Store, name: str, source: Path | None):
        self.store, self.name, self.source, self.key = store, name, source, store.key(name)
        self.digest, self.crc = hashlib.sha256(), 0
        self.size = self.queued = 0   # bytes fed; bytes handed to parts
        self.upload_id: str | None = None
        self.parts: list[Future[dict[str, Any]]] = []
        # without a source file (bytes made as they are fed: an encrypted file) parts are
        # held in memory until sent, a bounded number at a time
        self.pending: bytearray | None = bytearray() if source is None else None

    def part_size(self) -> int:
        if self.pending is None:
            return PART_SIZE
        # S3 allows 10,000 parts: larger ones after the first 1,000 (8 GiB) reach beyond 500 GiB
        return MEMORY_PART_SIZE if len(self.parts) < 1000 else 8 * MEMORY_PART_SIZE

    def feed(self, data: bytes) -> None:
        self.digest.update(data)
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        if self.pending is not None:
            self.pending += data
        while self.size - self.queued >= self.part_size():
            self._send(self.part_size())

    def _send(self, length: int) -> None:
        if self.upload_id is None:
            self.upload_id = self.store.call(f"starting upload of {self.name}",
                                             self.store.client.create_multipart_upload, Bucket=self.store.bucket,
                                             Key=self.key, ChecksumAlgorithm="CRC32",
                                             ChecksumType="FULL_OBJECT")["UploadId"]
        body: bytes | None = None
        if self.pending is not None:
            with memoryview(self.pending) as view:   # one copy, not two
                body = bytes(view[:length])
            del self.pending[:length]
            self.store.memory_parts.acquire()   # waits while the parts in memory are all in flight
        part = self.store.pool.submit(self._send_part, len(self.parts) + 1, self.queued, length, body)
        if body is not None:
            part.add_done_callback(lambda _: self.store.memory_parts.release())
        self.parts.append(part)
        self.queued += length

    def _send_part(self, number: int, offset: int, length: int, data: bytes | None) -> dict[str, Any]:
        with contextlib.ExitStack() as stack:
            body: Any = data if data is not None else stack.enter_context(FileSlice(self._source(), offset, length))
            result = self.store.call(f"uploading {self.name} part {number}", self.store.client.upload_part,
                                     Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id,
                                     PartNumber=number, Body=body, ContentLength=length, ChecksumAlgorithm="CRC32")
        part = {"PartNumber": number, "ETag": result["ETag"]}
        if result.get("ChecksumCRC32"):
            part["ChecksumCRC32"] = result["ChecksumCRC32"]
        return part

    def finish(self) -> StoredFile:
        store = self.store
        ours = b64(self.crc.to_bytes(4, "big"))
        if self.upload_id is None:   # small: the bytes hashed, sent in one PUT
            if self.pending is not None:
                data = bytes(self.pending)
            else:
                with FileSlice(self._source(), 0, self.size) as body:
                    data = body.read()
            answer = store.call(f"uploading {self.name}", store.client.put_object, Bucket=store.bucket, Key=self.key,
                                Body=data, ChecksumAlgorithm="CRC32")
        else:
            if self.size > self.queued:
                self._send(self.size - self.queued)
            sent = [part.result() for part in self.parts]
            answer = store.call(f"completing upload of {self.name}", store.client.complete_multipart_upload,
                                Bucket=store.bucket, Key=self.key, UploadId=self.upload_id,
                                MultipartUpload={"Parts": sent})
        store.proven_by_server(self.name, answer.get("ChecksumCRC32"), ours)
        store.uploaded.append(self.key)
        return StoredFile(self.name, self.size, self.digest.hexdigest())

    def _source(self) -> Path:
        assert self.source is not None
        return self.source

    def abandon(self) -> None:
        for part in self.parts:
            part.cancel()
        if self.upload_id is not None:
            with contextlib.suppress(Exception):  # the original failure is the one worth reporting
                self.store.client.abort_multipart_upload(Bucket=self.store.bucket, Key=self.key,
                                                         UploadId=self.upload_id)


class S3Store:
    def __init__(self, spec: dict[str, Any], path: str, client: Any = None):
        self.spec = spec
        self.bucket = spec["bucket"]
        self.prefix = path.strip("/")
        self.location = location_of({"s3": spec}, path)
        self._client = client
        self.uploaded: list[str] = []
        self.proven: set[str] = set()   # names whose stored object the server's checksum proved
        self._pool: ThreadPoolExecutor | None = None
        self.memory_parts = threading.BoundedSemaphore(MEMORY_PARTS)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = client_for(self.spec)
        return self._client

    def key(self, name: str) -> str:
        """The object of `name` in the artifact's folder; "" is the object at the path itself
        (a single-file artifact, such as a plain bbr tar)."""
        return f"{self.prefix}/{name}" if name else self.prefix

    def call(self, what: str, function: Any, **kwargs: Any) -> Any:
        try:
            return function(**kwargs)
        except Exception as error:
            raise storage_error(error, self.bucket, what) from None

    def begin(self) -> None:
        self.call(f"bucket {self.bucket}", self.client.head_bucket, Bucket=self.bucket)
        self.call("removing an earlier manifest", self.client.delete_object, Bucket=self.bucket,
                   Key=self.key(MANIFEST))
        # a pod killed mid-upload (OOM, node lost) leaves its parts behind, billed until aborted
        listing = self.call("listing unfinished uploads", self.client.list_multipart_uploads, Bucket=self.bucket,
                             Prefix=f"{self.prefix}/")
        for upload in listing.get("Uploads") or []:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])

    def put(self, name: str, source: Path, progress: Progress | None = None) -> StoredFile:
        return store_file(self.writer(name, source), source, progress)

    def writer(self, name: str, source: Path | None) -> S3Upload:
        """An upload fed with the bytes of `source` as they come, even while the file grows;
        without a source, of bytes that exist only as they are fed."""
        return S3Upload(self, name, source)

    def proven_by_server(self, name: str, theirs: str | None, ours: str) -> None:
        """The server's CRC32 of the whole stored object against ours of the file: equal, no
        read-back is needed. A server that gives none is read back."""
        if theirs is None:
            return
        if theirs != ours:
            raise StorageError("ChecksumMismatch", f"{name}: the S3 server stored an object whose CRC32 is {theirs}, "
                                                   f"the file's is {ours}: the artifact was corrupted in flight")
        self.proven.add(name)

    @property
    def pool(self) -> ThreadPoolExecutor:
        """Parts in flight, shared by every file being uploaded at once."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="s3-part")
        return self._pool

    def _read(self, name: str, sink: Any, progress: Progress | None = None) -> StoredFile:
        response = self.call(f"reading {name}", self.client.get_object, Bucket=self.bucket, Key=self.key(name))
        digest = hashlib.sha256()
        size = 0
        try:
            for chunk in response["Body"].iter_chunks(1 << 20):
                digest.update(chunk)
                size += len(chunk)
                sink(chunk)
                if progress:
                    progress(len(chunk))
        except Exception as error:
            raise storage_error(error, self.bucket, f"reading {name}") from None
        return StoredFile(name, size, digest.hexdigest())

    def verify(self, stored: StoredFile) -> None:
        if stored.name in self.proven:
            return
        actual = self._read(stored.name, lambda chunk: None)
        if actual.sha256 != stored.sha256:
            raise ChecksumMismatch(stored.name, stored.sha256, actual.sha256)

    def publish(self, manifest: dict[str, Any]) -> StoredFile:
        data = manifest_bytes(manifest)
        self.call("uploading manifest.json", self.client.put_object, Bucket=self.bucket, Key=self.key(MANIFEST),
                   Body=data)
        stored = StoredFile(MANIFEST, len(data), hashlib.sha256(data).hexdigest())
        try:
            self.verify(stored)
        except ChecksumMismatch:  # a manifest that lies must not mark the artifact complete
            with contextlib.suppress(Exception):
                self.client.delete_object(Bucket=self.bucket, Key=self.key(MANIFEST))
            raise
        return stored

    def abort(self) -> None:
        for key in self.uploaded:
            with contextlib.suppress(Exception):
                self.client.delete_object(Bucket=self.bucket, Key=key)

    def read_manifest(self) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(MANIFEST))
            return dict(json.loads(response["Body"].read()))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise storage_error(error, self.bucket, "reading manifest.json") from None
        except Exception as error:
            raise storage_error(error, self.bucket, "reading manifest.json") from None

    def fetch(self, name: str, target: Path, progress: Progress | None = None) -> StoredFile:
        """A large object comes as ranges in parallel (as a person's `aws s3 cp` would), each
        written at its place; the file is hashed in order as the ranges land."""
        target.parent.mkdir(parents=True, exist_ok=True)
        head = self.call(f"reading {name}", self.client.head_object, Bucket=self.bucket, Key=self.key(name))
        size = int(head["ContentLength"])
        if size <= 2 * PART_SIZE:
            with target.open("wb") as handle:
                return self._read(name, handle.write, progress)
        digest = hashlib.sha256()
        with target.open("w+b") as out:
            out.truncate(size)

            def get(offset: int, length: int) -> None:
                response = self.call(f"reading {name}", self.client.get_object, Bucket=self.bucket,
                                     Key=self.key(name), Range=f"bytes={offset}-{offset + length - 1}",
                                     IfMatch=head["ETag"])   # the same object throughout, or a clear failure
                position = offset
                try:
                    for chunk in response["Body"].iter_chunks(CHUNK):
                        os.pwrite(out.fileno(), chunk, position)
                        position += len(chunk)
                except Exception as error:
                    raise storage_error(error, self.bucket, f"reading {name}") from None
                if position != offset + length:
                    raise StorageError("StorageFailed", f"reading {name}: the S3 server sent {position - offset} "
                                                        f"bytes of a {length}-byte range")
            ranges = [(offset, min(PART_SIZE, size - offset)) for offset in range(0, size, PART_SIZE)]
            futures = [self.pool.submit(get, offset, length) for offset, length in ranges]
            try:
                for (offset, length), future in zip(ranges, futures, strict=True):
                    future.result()
                    with FileSlice(target, offset, length) as landed:   # what is on disk is what is hashed
                        for _ in hashed_chunks(landed, digest, progress):
                            pass
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return StoredFile(name, size, digest.hexdigest())

    def list_files(self) -> list[tuple[str, int]]:
        """Every object under the path (name relative to it, size)."""
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) + 1:] if self.prefix else item["Key"]
                    if name and not name.endswith("/"):
                        found.append((name, int(item["Size"])))
        except Exception as error:
            raise storage_error(error, self.bucket, f"listing {self.location}") from None
        return sorted(found)

    def delete(self) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/"):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
        except Exception as error:
            raise storage_error(error, self.bucket, f"deleting {self.location}") from None
