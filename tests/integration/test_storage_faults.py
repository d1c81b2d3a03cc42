"""The storage misbehaves mid-backup: S3 busy for a while (retried with backoff), S3 broken
(a clear failure), the S3 server stopped and started again. In every case nothing that
looks complete is left unless the backup Succeeded, and the next backup succeeds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from boshsim.k8s import backup, register, s3_storage, wait_for_step, wait_phase, wait_recorded_success
from harness.fault_proxy import S3FaultProxy

NS = "storage-faults"


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NS))


@pytest.fixture
def proxy(s3: Any) -> Iterator[S3FaultProxy]:
    server = S3FaultProxy(s3.port)
    yield server
    server.close()


def behind(harness: Any, s3: Any, proxy: S3FaultProxy, make_director: Any, name: str) -> str:
    """A director whose storage is reached through the proxy; returns its bucket."""
    director, _ = make_director()
    bucket = s3.bucket(name)
    storage = s3_storage(harness, s3, NS, bucket)
    storage["s3"]["endpoint"] = proxy.endpoint
    register(harness, NS, director, name, storage=storage)
    return bucket


def complete_artifacts(s3: Any, bucket: str) -> list[str]:
    keys = [item["Key"] for item in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    return [key for key in keys if key.endswith("/manifest.json")]


def test_a_busy_s3_is_retried_with_backoff(harness: Any, ns: str, s3: Any, proxy: S3FaultProxy,
                                           make_director: Any) -> None:
    bucket = behind(harness, s3, proxy, make_director, "busy-s3")
    proxy.errors(503, 3)   # SlowDown, three times in a row
    harness.apply(backup("busy-s3-1", NS, "busy-s3"))
    status = wait_phase(harness, "DirectorBackup", NS, "busy-s3-1", timeout=240)["status"]
    assert status["phase"] == "Succeeded", status
    assert proxy.answered == 3
    assert len(complete_artifacts(s3, bucket)) == 1


def test_a_broken_s3_fails_clearly_and_leaves_nothing_that_looks_complete(
        harness: Any, ns: str, s3: Any, proxy: S3FaultProxy, make_director: Any) -> None:
    bucket = behind(harness, s3, proxy, make_director, "broken-s3")
    harness.apply(backup("broken-s3-1", NS, "broken-s3"))
    wait_for_step(harness, "DirectorBackup", NS, "broken-s3-1", "Backup", timeout=120)
    proxy.errors(500, -1)   # from now on, every request
    status = wait_phase(harness, "DirectorBackup", NS, "broken-s3-1", timeout=300)["status"]
    assert status["phase"] == "Failed" and status["reason"] == "StorageUnavailable", status
    assert "the S3 server answered 500" in status["message"]
    assert "tries, with backoff between them" in status["message"]
    assert "nothing was published" in status["message"]
    assert complete_artifacts(s3, bucket) == []
    proxy.errors(0, 0)
    harness.apply(backup("broken-s3-2", NS, "broken-s3"))   # the S3 is back: nothing is stuck
    assert wait_phase(harness, "DirectorBackup", NS, "broken-s3-2", timeout=240)["status"]["phase"] == "Succeeded"
    assert len(complete_artifacts(s3, bucket)) == 1


def test_the_s3_server_stopped_mid_upload_and_started_again(harness: Any, ns: str, s3: Any,
                                                            make_director: Any) -> None:
    director, _ = make_director()
    with (director.state.blobs / "large-blob").open("wb") as handle:   # an upload that takes a while
        handle.write(bytes(160 << 20))
    bucket = s3.bucket("restarted-s3")
    register(harness, NS, director, "restarted-s3", storage=s3_storage(harness, s3, NS, bucket))
    harness.apply(backup("restarted-s3-1", NS, "restarted-s3"))
    wait_for_step(harness, "DirectorBackup", NS, "restarted-s3-1", "Store", timeout=240)
    s3.stop()
    time.sleep(4)   # back within the retries' backoff (started from this thread: a process dies with its starter)
    s3.start()
    status = wait_phase(harness, "DirectorBackup", NS, "restarted-s3-1", timeout=300)["status"]
    # either the retries carried it through, or it failed saying why: never half of each
    if status["phase"] == "Succeeded":
        assert len(complete_artifacts(s3, bucket)) == 1
    else:
        assert status["reason"] in ("StorageUnavailable", "StorageUnreachable"), status
        assert complete_artifacts(s3, bucket) == []
    harness.apply(backup("restarted-s3-2", NS, "restarted-s3"))
    assert wait_phase(harness, "DirectorBackup", NS, "restarted-s3-2", timeout=240)["status"]["phase"] == "Succeeded"
    wait_recorded_success(harness, NS, "restarted-s3", "restarted-s3-2")
