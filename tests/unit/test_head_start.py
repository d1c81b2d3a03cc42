"""A restore's VerifyArtifact begun while Precheck asks the director (HeadStart): what
it finds is the step's, shown only once the step begins, and a failed Precheck stops it."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from bosh_backup_operator.planning.plan import Plan, Step
from bosh_backup_operator.runner.reporter import Reporter
from bosh_backup_operator.runner.restore_actions import Abandoned, HeadStart, verify_artifact
from bosh_backup_operator.runner.run import Context, StepFailed
from bosh_backup_operator.storage import open_store


class RecordingApi:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    def patch_namespaced_custom_object_status(self, *args: Any) -> None:
        self.patches.append(args[-1])


def restore_of(tmp_path: Path, monkeypatch: Any, data: bytes, recorded: bytes | None = None) -> Context:
    """A restore of a v1 artifact of one file on a claim; manifest.json records `recorded`'s sha256."""
    root = tmp_path / "claim"
    (root / "art").mkdir(parents=True)
    (root / "art" / "director.tgz").write_bytes(data)
    monkeypatch.setenv("BOSH_BACKUP_STORAGE_ROOT", str(root))
    steps = [Step("Precheck", "restore-precheck", "check"),
             Step("VerifyArtifact", "verify-artifact", "fetch", options={"folder": str(tmp_path / "restore")})]
    plan = Plan(kind="DirectorRestore", namespace="ns", name="r", uid="u", director="d", method="v1", dialect="v1",
                steps=steps, storage={"pvc": {"claimName": "backups"}}, artifact_path="art")
    reporter = Reporter(plan, RecordingApi(), min_interval=0)
    context = Context(plan, reporter, executor=None, work=tmp_path, started="")  # type: ignore[arg-type]
    body = data if recorded is None else recorded
    context.manifest = {"method": "v1", "files": [{"name": "director.tgz", "size": len(body),
                                                   "sha256": hashlib.sha256(body).hexdigest()}]}
    return context


def store_of(context: Context) -> Any:
    return open_store(context.plan.storage, context.plan.artifact_path)


def shown_for(context: Context, step: str) -> list[dict[str, Any]]:
    """Every state of `step` the status patches carried."""
    api = context.reporter.api
    return [s for patch in api.patches for s in patch["status"]["steps"] if s["name"] == step]


def test_a_head_start_shows_nothing_until_its_step_begins_then_gives_the_steps_result(tmp_path: Path,
                                                                                      monkeypatch: Any) -> None:
    data = os.urandom(3 << 20)
    context = restore_of(tmp_path, monkeypatch, data)
    context.reporter.start("Precheck", 1)
    context.head_start = HeadStart(context.plan.steps[1], context, store_of(context))
    context.head_start.thread.join(30)
    context.reporter.finish("Precheck", "Succeeded", "ok")
    assert all(s["state"] == "Pending" and "percent" not in s for s in shown_for(context, "VerifyArtifact")), \
        "a step that has not begun showed progress"
    assert (tmp_path / "restore" / "director.tgz").read_bytes() == data, "the fetch did not run ahead"

    context.reporter.start("VerifyArtifact", 1)
    message = verify_artifact(context.plan.steps[1], context)
    assert message.startswith("1 files, 3145728 bytes") and "every sha256 matches" in message
    assert context.head_start is None


def test_what_a_head_start_finds_wrong_fails_its_own_step(tmp_path: Path, monkeypatch: Any) -> None:
    context = restore_of(tmp_path, monkeypatch, b"stored bytes", recorded=b"other bytes")
    context.head_start = HeadStart(context.plan.steps[1], context, store_of(context))
    context.head_start.thread.join(30)
    with pytest.raises(StepFailed) as failed:
        verify_artifact(context.plan.steps[1], context)
    assert failed.value.reason == "ChecksumMismatch"
    assert failed.value.message.startswith("VerifyArtifact failed: director.tgz has sha256")


def test_a_stopped_head_start_stops_reading(tmp_path: Path, monkeypatch: Any) -> None:
    """Precheck failed: the fetch must end at once, not download the rest of the artifact."""
    context = restore_of(tmp_path, monkeypatch, b"", recorded=b"x" * (1 << 30))
    pipe = tmp_path / "claim" / "art" / "director.tgz"
    pipe.unlink()
    os.mkfifo(pipe)
    written = [0]

    def feed() -> None:   # an endless artifact: the writer learns the reader went by a broken pipe
        with pipe.open("wb") as out:
            try:
                while True:
                    out.write(b"\0" * (1 << 20))
                    written[0] += 1
            except BrokenPipeError:
                pass
    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    head = HeadStart(context.plan.steps[1], context, store_of(context))
    while written[0] < 8:
        threading.Event().wait(0.01)
    head.stop()
    assert not head.thread.is_alive()
    assert isinstance(head.outcome[0], Abandoned)
    writer.join(10)
    assert not writer.is_alive(), "the fetch went on reading after the stop"
    assert all(s["state"] == "Pending" for s in shown_for(context, "VerifyArtifact"))
