"""One run per director at a time: a coordination.k8s.io Lease per director.

The Lease names its holder ("DirectorBackup/nightly-1"); a holder that no longer
exists, or has finished, does not block anyone, so a crash never wedges a director.
"""

from __future__ import annotations

from collections.abc import Callable

from .kube import ApiError, Kube
from .status import now_iso

HolderAlive = Callable[[str], bool]


def lease_name(director: str) -> str:
    return f"bosh-director-{director}"[:253]


def lease_path(namespace: str, director: str = "") -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{lease_name(director)}" if director else base


def acquire(kube: Kube, namespace: str, director: str, holder: str, holder_alive: HolderAlive) -> str | None:
    """Takes the director's lock for holder; returns None on success, else who holds it."""
    path = lease_path(namespace, director)
    lease = kube.get(path)
    stamp = now_iso(microseconds=True)
    spec = {"holderIdentity": holder, "acquireTime": stamp, "renewTime": stamp, "leaseDurationSeconds": 3600}
    if lease is None:
        try:
            kube.create(lease_path(namespace), {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                "metadata": {"name": lease_name(director), "namespace": namespace,
                                                             "labels": {"bosh-backup.dev/director": director}},
                                                "spec": spec})
            return None
        except ApiError as error:
            if error.status == 409:  # someone else just took it
                lease = kube.get(path) or {}
                return str((lease.get("spec") or {}).get("holderIdentity", "another run"))
            raise
    current = (lease.get("spec") or {}).get("holderIdentity") or ""
    if current == holder:
        return None
    if current and holder_alive(current):
        return str(current)
    try:  # the holder is gone or done: take over, guarded by resourceVersion
        kube.request("PUT", path, {**lease, "spec": {**lease.get("spec", {}), **spec}})
        return None
    except ApiError as error:
        if error.status == 409:
            return current or "another run"
        raise


def holder_of(kube: Kube, namespace: str, director: str) -> str | None:
    lease = kube.get(lease_path(namespace, director))
    return None if lease is None else (lease.get("spec") or {}).get("holderIdentity")


def release(kube: Kube, namespace: str, director: str, holder: str) -> None:
    lease = kube.get(lease_path(namespace, director))
    if lease is None or (lease.get("spec") or {}).get("holderIdentity") != holder:
        return
    try:
        kube.delete(lease_path(namespace, director), {
            "apiVersion": "v1", "kind": "DeleteOptions",
            "preconditions": {"resourceVersion": lease["metadata"]["resourceVersion"]}})
    except ApiError as error:
        if error.status != 409:
            raise


def parse_holder(holder: str) -> tuple[str, str]:
    kind, _, name = holder.partition("/")
    return kind, name

