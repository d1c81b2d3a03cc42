"""The storage misbehaves mid-backup: S3 busy for a while (retried with backoff), S3 broken
(a clear failure), the S3 server stopped and started again. In every case nothing that
looks complete is left unless the backup Succeeded, and the next backup succeeds."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from boshsim.k8s import (
    backup,
    leases_held_by,
    register,
    run_jobs,
    s3_storage,
    wait_for_step,
    wait_phase,
    wait_recorded_success,
)
from harness.cluster import wait_for
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
    wait_for("the backup's upload", lambda: s3.uploads_in_flight(bucket) > 0, timeout=240)
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


def test_a_scratch_volume_too_small_fails_saying_how_much_the_run_needed(harness: Any, ns: str, s3: Any,
                                                                         make_director: Any) -> None:
    director, _ = make_director()
    with (director.state.blobs / "large-blob").open("wb") as handle:
        handle.write(bytes(96 << 20))
    bucket = s3.bucket("small-scratch")
    register(harness, NS, director, "small-scratch", storage=s3_storage(harness, s3, NS, bucket))
    harness.apply(backup("small-scratch-1", NS, "small-scratch", pod={"scratch": {"sizeLimit": "32Mi"}}))
    status = wait_phase(harness, "DirectorBackup", NS, "small-scratch-1", timeout=240)["status"]
    # the runner stopped bbr itself, before the node agent (which evicts as a kubelet does) had to
    assert status["phase"] == "Failed" and status["reason"] == "ScratchSpaceExhausted", status
    message = status["message"]
    assert "blobstore" in message and "of scratch space" in message, message
    assert "the scratch volume's limit is 32.0 MiB (spec.pod.scratch.sizeLimit)" in message, message
    needed = int(message.split("at least ", 1)[1].split("Mi", 1)[0])
    assert 96 < needed < 200, message            # the blob, plus a tenth and the small jobs
    assert "backup-cleanup ran: the director is unlocked and nothing was stored" in message
    assert not director.state.workers_stopped(), "bbr's cleanup unlocked the director"
    assert not director.state.bbr_lock.exists(), "no bbr lock is left"
    assert complete_artifacts(s3, bucket) == []
    # what the message asked for is enough
    harness.apply(backup("small-scratch-2", NS, "small-scratch", pod={"scratch": {"sizeLimit": f"{needed}Mi"}}))
    assert wait_phase(harness, "DirectorBackup", NS, "small-scratch-2", timeout=240)["status"]["phase"] == "Succeeded"
    assert len(complete_artifacts(s3, bucket)) == 1


def run_pods(harness: Any, name: str) -> list[dict[str, Any]]:
    listing = harness.admin.get(f"/api/v1/namespaces/{NS}/pods", labelSelector=f"bosh-backup.dev/name={name}")
    return sorted(listing["items"], key=lambda pod: pod["metadata"]["creationTimestamp"])


def test_the_runner_killed_mid_upload_leaves_nothing_half_published(harness: Any, ns: str, s3: Any,
                                                                     make_director: Any) -> None:
    director, _ = make_director()
    with (director.state.blobs / "large-blob").open("wb") as handle:   # an upload that takes a while
        handle.write(os.urandom(160 << 20))
    bucket = s3.bucket("killed-runner")
    register(harness, NS, director, "killed-runner", storage=s3_storage(harness, s3, NS, bucket))
    harness.apply(backup("killed-runner-1", NS, "killed-runner"))
    wait_for("the backup's upload", lambda: s3.uploads_in_flight(bucket) > 0, timeout=240)
    first = run_pods(harness, "killed-runner-1")[0]
    pid = int(first["status"]["containerStatuses"][0]["containerID"].removeprefix("harness://"))
    os.killpg(pid, signal.SIGKILL)   # as the OOM killer would: no handler, no cleanup
    status = wait_phase(harness, "DirectorBackup", NS, "killed-runner-1", timeout=300)["status"]
    pods = run_pods(harness, "killed-runner-1")
    assert pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137
    # the Job's next pod starts over (bbr's folder died with the first pod's scratch) and finishes
    assert status["phase"] == "Succeeded", status
    assert len(pods) == 2 and len(run_jobs(harness, NS, "killed-runner-1")) == 1
    assert complete_artifacts(s3, bucket) == [f"{status['artifact']['path']}/manifest.json"]
    keys = [item["Key"] for item in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    stored = {f["name"] for f in status["artifact"]["files"]}
    assert len(keys) == len(stored) and all(any(key.endswith(f"/{name}") for key in keys) for name in stored), keys
    uploads = s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uploads == [], "the first pod's unfinished multipart upload is aborted"
    assert leases_held_by(harness, NS, "killed-runner-1") == []
    assert not director.state.workers_stopped() and not director.state.bbr_lock.exists()
    harness.apply(backup("killed-runner-2", NS, "killed-runner"))
    assert wait_phase(harness, "DirectorBackup", NS, "killed-runner-2", timeout=240)["status"]["phase"] == "Succeeded"
