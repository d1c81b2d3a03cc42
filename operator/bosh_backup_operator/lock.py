"""One run per BOSH director at a time: coordination.k8s.io Leases keyed by the director.

A director is known by its normalized URL and, once a run has learnt it, by its UUID,
so two Director resources (in any namespaces) that reach the same director share its
lock. A run takes every key's Lease, or none. Names and labels are derived by hashing,
so they fit Kubernetes' limits whatever the user's names. The Leases live in one
namespace (the operator's, `BOSH_BACKUP_LOCK_NAMESPACE`), else in the run's.

The holder is "Kind/namespace/name"; a holder that no longer exists, or has finished,
does not block anyone, so a crash never wedges a director.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Callable

from . import GROUP
from .kube import ApiError, Kube
from .status import now_iso

HolderAlive = Callable[[str], bool]
DEFAULT_DIRECTOR_PORT = 25555


def director_keys(url: str, uuid: str | None = None) -> list[str]:
    """The identities a director is locked by: its normalized URL, and its UUID when known."""
    try:
        parts = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
        host = (parts.hostname or "").lower().rstrip(".")
        keys = [f"url:https://{host}:{parts.port or DEFAULT_DIRECTOR_PORT}"]
    except ValueError:  # not a URL Python can read: lock on it as written
        keys = [f"url:{url.strip().lower()}"]
    if uuid:
        keys.append(f"uuid:{uuid.lower()}")
    return keys


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def lease_name(key: str) -> str:
    return f"bosh-director-{digest(key)}"


def lease_path(namespace: str, key: str = "") -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{lease_name(key)}" if key else base


def holder_id(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def parse_holder(holder: str, namespace: str = "") -> tuple[str, str, str]:
    """(kind, namespace, name); a holder written before namespaces were named is in `namespace`."""
    parts = holder.split("/", 2)
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    kind, _, name = holder.partition("/")
    return kind, namespace, name


def describe_holder(holder: str) -> str:
    kind, namespace, name = parse_holder(holder)
    return f"{kind} {namespace}/{name}" if namespace else holder


def acquire(kube: Kube, namespace: str, keys: list[str], holder: str, holder_alive: HolderAlive) -> str | None:
    """Takes every key's Lease for holder; returns None on success, else who holds one
    (and then holds none of them)."""
    taken: list[str] = []
    for key in keys:
        busy = _acquire_one(kube, namespace, key, holder, holder_alive)
        if busy:
            release(kube, namespace, taken, holder)
            return busy
        taken.append(key)
    return None


def _acquire_one(kube: Kube, namespace: str, key: str, holder: str, holder_alive: HolderAlive) -> str | None:
    path = lease_path(namespace, key)
    lease = kube.get(path)
    stamp = now_iso(microseconds=True)
    spec = {"holderIdentity": holder, "acquireTime": stamp, "renewTime": stamp, "leaseDurationSeconds": 3600}
    if lease is None:
        try:
            kube.create(lease_path(namespace), {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                "metadata": {"name": lease_name(key), "namespace": namespace,
                                                             "labels": {f"{GROUP}/director-key": digest(key)},
                                                             "annotations": {f"{GROUP}/director": key}},
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


def release(kube: Kube, namespace: str, keys: list[str], holder: str) -> None:
    for key in keys:
        lease = kube.get(lease_path(namespace, key))
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != holder:
            continue
        try:
            kube.delete(lease_path(namespace, key), {
                "apiVersion": "v1", "kind": "DeleteOptions",
                "preconditions": {"resourceVersion": lease["metadata"]["resourceVersion"]}})
        except ApiError as error:
            if error.status != 409:
                raise


def held_by(kube: Kube, namespace: str, holder: str) -> list[str]:
    """The keys of every Lease this holder has (what it must release when it ends)."""
    listing = kube.get(lease_path(namespace), labelSelector=f"{GROUP}/director-key") or {}
    return [lease["metadata"].get("annotations", {}).get(f"{GROUP}/director", "")
            for lease in listing.get("items", [])
            if (lease.get("spec") or {}).get("holderIdentity") == holder]
