"""kopf's HTTP connections to the apiserver, bounded.

kopf's own session has no connection limit: when a fleet of schedules fires at once,
hundreds of handlers patch at the same moment, each on a new TLS connection that holds
a 256 KiB read buffer (asyncio's SSL transport) and stays pooled. Measured with
bench/schedules.py, 500 schedules: RSS 282 MiB unbounded, 150 MiB bounded. A bound
queues requests instead, and must leave room for the watch streams, which hold a
connection each for as long as they run.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import kopf

WATCHED_RESOURCES = 8  # our four kinds, Jobs, Pods, and kopf's peering and namespace watches
REQUEST_CONNECTIONS = 32  # for handlers' patches, Events and our own kopf-side calls
RETIRE_AFTER_SECONDS = 60.0


def connection_limit(namespaces: list[str]) -> int:
    """Cluster-wide, kopf watches each resource once; namespaced, once per namespace.
    A glob matches namespaces nobody can count in advance: then no limit (0), as kopf."""
    if any(char in pattern for pattern in namespaces for char in "*?[!,"):
        return 0
    return WATCHED_RESOURCES * max(1, len(namespaces)) + REQUEST_CONNECTIONS


class BoundedSessions:
    """Makes kopf's session at each login, and closes the one it replaces (after a grace
    period, so that requests in flight on it can finish)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.current: aiohttp.ClientSession | None = None
        self.closing: set[asyncio.Future[None]] = set()

    async def login(self, **kwargs: Any) -> kopf.AiohttpSession | None:
        info = kopf.login_via_client(**kwargs)
        if info is None:
            return None
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.limit, ssl=info.as_ssl_context()),
            headers=info.as_http_headers(), proxy=info.proxy_url, trust_env=info.trust_env)
        if self.current is not None:
            self.closing.add(asyncio.ensure_future(_close_later(self.current)))
            for done in [task for task in self.closing if task.done()]:
                self.closing.discard(done)
        self.current = session
        return kopf.AiohttpSession(aiohttp_session=session, server=info.server, priority=info.priority,
                                   default_namespace=info.default_namespace, expiration=info.expiration)


async def _close_later(session: aiohttp.ClientSession) -> None:
    await asyncio.sleep(RETIRE_AFTER_SECONDS)
    await session.close()
