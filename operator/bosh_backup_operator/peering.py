"""Several replicas, one active: kopf peering with a distinct priority per replica.

kopf freezes every operator that sees a live peer of the same priority, so replicas
made from one pod template must not share one. Each derives its priority from its
pod name: stable for the pod's life, distinct across pods but for a one-in-a-million
clash (then both pause and say so in their logs; deleting one pod resolves it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket

from .kube import Kube

log = logging.getLogger("bosh-backup")
PEERING_GROUP = "kopf.dev/v1"


def replica_identity() -> str:
    return os.environ.get("POD_ID") or socket.gethostname()


def priority_for(identity: str) -> int:
    return 1 + int(hashlib.sha256(identity.encode()).hexdigest(), 16) % 1_000_000


def ensure_peering_objects(kube: Kube, name: str, namespaces: list[str]) -> None:
    """kopf expects its peering object to exist; make it, so `kubectl apply -k deploy/ha`
    needs no second pass (a CRD and an object of it cannot be applied in one go)."""
    targets: list[tuple[str, str, str | None]] = [
        (f"/apis/{PEERING_GROUP}/namespaces/{ns}/kopfpeerings", "KopfPeering", ns) for ns in namespaces]
    targets = targets or [(f"/apis/{PEERING_GROUP}/clusterkopfpeerings", "ClusterKopfPeering", None)]
    for path, kind, namespace in targets:
        body = {"apiVersion": PEERING_GROUP, "kind": kind,
                "metadata": {"name": name, **({"namespace": namespace} if namespace else {})}}
        if kube.create_if_absent(path, body):
            log.info("created %s %s", kind, name)
