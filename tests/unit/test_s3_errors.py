"""What an S3 failure says: the reason word and the next step, from botocore's own errors."""

from __future__ import annotations

from botocore.exceptions import ClientError

from bosh_backup_operator.storage.s3 import storage_error


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
