"""What an S3 failure says (the reason word and the next step, from botocore's own errors), and
when the server's own SHA-256 check stands in for reading an upload back."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bosh_backup_operator.storage import StorageError, StoredFile
from bosh_backup_operator.storage.s3 import PART_SIZE, S3Store, storage_error


def client_error(status: int, code: str, message: str, retries: int = 0) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": retries}}, "PutObject")


def test_a_server_error_after_the_retries_says_how_often_and_what_to_do() -> None:
    error = storage_error(client_error(503, "SlowDown", "Please reduce your request rate.", retries=5), "b",
                          "uploading bbr/metadata")
    assert error.reason == "StorageUnavailable"
    assert error.message == ("uploading bbr/metadata: the S3 server answered 503 SlowDown (Please reduce your request "
                             "rate.) to each of 6 tries, with backoff between them: check the S3 service, then back "
                             "up again (nothing was published)")
    # a HEAD has no body: the code is the status itself
    assert "answered 500 (Internal Server Error)" in storage_error(
        client_error(500, "500", "Internal Server Error"), "b", "bucket b").message


def test_client_errors_keep_their_own_reasons() -> None:
    assert storage_error(client_error(404, "NoSuchBucket", ""), "b", "x").reason == "BucketNotFound"
    assert storage_error(client_error(403, "AccessDenied", ""), "b", "x").reason == "StorageAccessDenied"
    assert storage_error(client_error(400, "BadDigest", ""), "b", "x").reason == "ChecksumMismatch"
    assert storage_error(client_error(409, "OperationAborted", "busy"), "b", "x").reason == "StorageFailed"


def crc32_of(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


class EchoingClient:
    """put_object and get_object of a server that echoes a chosen checksum (or none) and stores what it got."""

    def __init__(self, echo: str | None):
        self.echo, self.reads = echo, 0
        self.objects: dict[str, bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ChecksumAlgorithm: str) -> dict[str, str]:
        assert ChecksumAlgorithm == "CRC32"
        self.objects[Key] = Body
        echoed = crc32_of(Body) if self.echo == "same" else self.echo
        return {"ChecksumCRC32": echoed} if echoed else {}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.reads += 1
        return {"Body": _Body(self.objects[Key])}


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def iter_chunks(self, size: int) -> list[bytes]:
        return [self.data]


def stored_with(echo: str | None, tmp_path: Path) -> tuple[S3Store, EchoingClient, StoredFile]:
    client = EchoingClient(echo)
    store = S3Store({"bucket": "b"}, "x", client=client)
    source = tmp_path / "f"
    source.write_bytes(b"director database")
    return store, client, store.put("f", source)


def test_a_whole_object_checksum_the_server_gave_needs_no_read_back(tmp_path: Path) -> None:
    store, client, item = stored_with("same", tmp_path)
    store.verify(item)
    assert client.reads == 0 and item.sha256 == hashlib.sha256(b"director database").hexdigest()


def test_a_server_that_echoes_no_checksum_is_read_back(tmp_path: Path) -> None:
    store, client, item = stored_with(None, tmp_path)
    store.verify(item)
    assert client.reads == 1


def test_a_server_that_gives_another_checksum_fails_the_upload(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as failure:
        stored_with(crc32_of(b"other bytes"), tmp_path)
    assert failure.value.reason == "ChecksumMismatch" and "corrupted in flight" in failure.value.message


class PartsServer:
    """Multipart calls of a server that gives each part's CRC32 and the whole object's (FULL_OBJECT)."""

    def __init__(self) -> None:
        self.parts: dict[int, bytes] = {}
        self.objects: dict[str, bytes] = {}

    def create_multipart_upload(self, **kwargs: Any) -> dict[str, str]:
        return {"UploadId": "u1"}

    def upload_part(self, PartNumber: int, Body: Any, **kwargs: Any) -> dict[str, str]:
        self.parts[PartNumber] = Body.read()
        return {"ETag": f"e{PartNumber}", "ChecksumCRC32": crc32_of(self.parts[PartNumber])}

    def complete_multipart_upload(self, Key: str, MultipartUpload: dict[str, Any], **kwargs: Any) -> dict[str, str]:
        parts = MultipartUpload["Parts"]
        assert all(part["ChecksumCRC32"] == crc32_of(self.parts[part["PartNumber"]]) for part in parts)
        self.objects[Key] = b"".join(self.parts[part["PartNumber"]] for part in parts)
        return {"ChecksumCRC32": crc32_of(self.objects[Key])}


def test_a_file_fed_in_uneven_pieces_is_stored_whole_in_parts(tmp_path: Path) -> None:
    data = os.urandom(PART_SIZE * 2 + 12345)
    source = tmp_path / "bosh-0-blobstore.tar"
    source.write_bytes(data)
    server = PartsServer()
    store = S3Store({"bucket": "b"}, "x", client=server)
    upload = store.writer("bbr/bosh-0-blobstore.tar", source)
    for start in range(0, len(data), 3_000_001):   # as a growing file's reads come: never a part's size
        upload.feed(data[start:start + 3_000_001])
    stored = upload.finish()
    assert len(server.parts) == 3
    assert server.objects["x/bbr/bosh-0-blobstore.tar"] == data
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert "bbr/bosh-0-blobstore.tar" in store.proven
