"""kopf keeps the newest body of every object with a daemon or timer, and queues bodies
per object while events arrive. On a body, metadata.managedFields (the apiserver's record
of which client set which field) is often as large as the rest, and nothing in the
operator or in kopf reads it. Measured with 1,000 schedules and their backups
(bench/schedules.py), bodies were most of the operator's memory.

kopf offers no hook on the watch stream, so this wraps the one function its watchers
read events from. The wrapper is a plain proxy, not a generator of its own: closing,
cancelling and errors reach kopf's stream exactly as without it (an earlier generator
wrapper broke kopf's clean-up when a stream restarted). If a kopf release moves the
function, the operator runs as before, only larger, and says so in its log
(tests/unit/test_watch_trim.py fails on such a release).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

log = logging.getLogger("bosh-backup")


def without_managed_fields(event: Any) -> Any:
    """The watch event, its object's managedFields dropped (bookmarks pass unchanged)."""
    if isinstance(event, dict):
        obj = event.get("object")
        if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
            obj["metadata"].pop("managedFields", None)
    return event


class TrimmedStream:
    """kopf's event stream, each event trimmed as it passes; everything else forwarded."""

    def __init__(self, events: AsyncGenerator[Any, None]):
        self.events = events

    def __aiter__(self) -> TrimmedStream:
        return self

    async def __anext__(self) -> Any:
        return without_managed_fields(await self.events.__anext__())

    async def asend(self, value: Any) -> Any:
        return without_managed_fields(await self.events.asend(value))

    async def athrow(self, *args: Any) -> Any:
        return without_managed_fields(await self.events.athrow(*args))

    async def aclose(self) -> None:
        await self.events.aclose()


def trimmed(watch: Callable[..., AsyncGenerator[Any, None]]) -> Callable[..., TrimmedStream]:
    def stream(*args: Any, **kwargs: Any) -> TrimmedStream:
        return TrimmedStream(watch(*args, **kwargs))
    stream.__wrapped__ = watch  # type: ignore[attr-defined]
    return stream


def install() -> bool:
    """Trims every watch event kopf reads from now on; whether it could."""
    try:
        from kopf._cogs.clients import watching
    except ImportError:
        watch = None
    else:
        watch = getattr(watching, "infinite_watch", None)
    if watch is None:
        log.warning("this kopf release has no watching.infinite_watch: watched bodies keep their "
                    "managedFields, and the operator uses more memory")
        return False
    if not hasattr(watch, "__wrapped__"):
        watching.infinite_watch = trimmed(watch)
    return True
