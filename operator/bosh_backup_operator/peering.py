"""Several replicas, one active: kopf peering with a distinct priority per replica.

kopf freezes every operator that sees a live peer of the same priority, so replicas
made from one pod template must not share one. Each derives its priority from its
pod name: stable for the pod's life, distinct across pods but for a one-in-a-million
clash (then both pause and say so in their logs; deleting one pod resolves it).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import socket
from typing import Any

from .kube import Kube
from .status import parse_time

log = logging.getLogger("bosh-backup")
PEERING_GROUP = "kopf.dev/v1"


def replica_identity() -> str:
    return os.environ.get("POD_ID") or socket.gethostname()


def priority_for(identity: str) -> int:
    return 1 + int(hashlib.sha256(identity.encode()).hexdigest(), 16) % 1_000_000


def peering_collections(namespaces: list[str]) -> list[tuple[str, str, str | None]]:
    """(path, kind, namespace) of the collections kopf keeps its peering objects in: one
    per watched namespace, or the cluster's one when it watches them all."""
    return ([(f"/apis/{PEERING_GROUP}/namespaces/{ns}/kopfpeerings", "KopfPeering", ns) for ns in namespaces]
            or [(f"/apis/{PEERING_GROUP}/clusterkopfpeerings", "ClusterKopfPeering", None)])


def ensure_peering_objects(kube: Kube, name: str, namespaces: list[str]) -> None:
    """kopf expects its peering object to exist; make it, so `kubectl apply -k deploy/ha`
    needs no second pass (a CRD and an object of it cannot be applied in one go)."""
    for path, kind, namespace in peering_collections(namespaces):
        body = {"apiVersion": PEERING_GROUP, "kind": kind,
                "metadata": {"name": name, **({"namespace": namespace} if namespace else {})}}
        if kube.create_if_absent(path, body):
            log.info("created %s %s", kind, name)


def outranked(peers: dict[str, Any], priority: int, now: datetime.datetime) -> bool:
    """kopf's rule for pausing a replica: a peer of higher priority whose entry is still
    alive (its lastseen plus its lifetime is ahead). `peers` is a peering object's status."""
    for info in peers.values():
        if not isinstance(info, dict):
            continue
        seen = parse_time(info.get("lastseen")) or now
        alive = seen + datetime.timedelta(seconds=int(info.get("lifetime", 60))) > now
        if alive and int(info.get("priority", 0)) > priority:
            return True
    return False


class Standing:
    """Whether this replica is the active one, read from its peering objects. kopf pauses
    its watches and daemons on its own; the scheduler, which is neither, asks this."""

    def __init__(self, kube: Kube, name: str, namespaces: list[str], priority: int):
        self.kube, self.priority = kube, priority
        self.paths = [f"{path}/{name}" for path, _, _ in peering_collections(namespaces)]

    def active(self) -> bool:
        now = datetime.datetime.now(datetime.UTC)
        for path in self.paths:
            body = self.kube.get(path) or {}
            if outranked(body.get("status") or {}, self.priority, now):
                return False
        return True
