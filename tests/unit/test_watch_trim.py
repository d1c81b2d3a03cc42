"""Watched bodies lose their managedFields before kopf keeps them (operator/watch_trim.py)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kopf._cogs.clients import watching

from bosh_backup_operator import watch_trim


def body(name: str) -> dict[str, Any]:
    return {"apiVersion": "bosh-backup.dev/v1alpha1", "kind": "DirectorBackupSchedule",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": "7",
                         "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"schedule": "@daily"}}


def test_events_keep_everything_but_managed_fields_and_bookmarks_pass() -> None:
    async def watch(**_: Any) -> Any:
        yield watching.Bookmark.LISTED
        yield {"type": "ADDED", "object": body("a")}
        yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "8"}}}

    async def collect() -> list[Any]:
        return [event async for event in watch_trim.trimmed(watch)()]
    events = asyncio.run(collect())
    assert events[0] is watching.Bookmark.LISTED
    expected = body("a")
    del expected["metadata"]["managedFields"]
    assert events[1] == {"type": "ADDED", "object": expected}
    assert events[2]["object"]["metadata"] == {"resourceVersion": "8"}


def test_the_installed_kopf_release_has_the_function_its_watchers_read_from() -> None:
    """A kopf upgrade that moves it fails here, not silently in production memory."""
    original = watching.infinite_watch
    try:
        assert watch_trim.install()
        assert watching.infinite_watch is not original
        assert watching.infinite_watch.__wrapped__ is original  # type: ignore[attr-defined]
        assert watch_trim.install()   # a second call does not wrap twice
        assert watching.infinite_watch.__wrapped__ is original  # type: ignore[attr-defined]
        import kopf._core.reactor.queueing as queueing
        assert queueing.watching is watching   # the watchers look it up on the module at each stream
    finally:
        watching.infinite_watch = original


def test_closing_or_cancelling_the_stream_reaches_kopfs_own_clean_up() -> None:
    """kopf's stream closes its connection in its own finally: the wrapper must not stand
    between (a generator wrapper once did, on a stream restart)."""
    cleaned: list[str] = []

    async def watch(**_: Any) -> Any:
        try:
            while True:
                yield {"type": "MODIFIED", "object": body("a")}
                await asyncio.sleep(0)
        finally:
            cleaned.append("closed")

    async def read_two_then_close() -> None:
        stream = watch_trim.trimmed(watch)()
        assert "managedFields" not in (await stream.__anext__())["object"]["metadata"]
        await stream.__anext__()
        await stream.aclose()

    async def cancelled_while_reading() -> None:
        async def consume() -> None:
            async for _ in watch_trim.trimmed(watch)():
                await asyncio.sleep(0.01)
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(read_two_then_close())
    assert cleaned == ["closed"]

    async def thrown_into() -> None:
        stream = watch_trim.trimmed(watch)()
        await stream.__anext__()
        try:
            await stream.athrow(RuntimeError("connection lost"))
        except RuntimeError as error:
            assert str(error) == "connection lost"
    asyncio.run(thrown_into())
    assert cleaned == ["closed", "closed"]
    asyncio.run(cancelled_while_reading())   # asyncio.run closes the abandoned generator at its end
    assert cleaned == ["closed", "closed", "closed"]
