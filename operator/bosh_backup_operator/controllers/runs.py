"""What the controllers share: ownership, the runner's account, the lock's liveness test,
the Director's record of its last runs, waking waiting runs, and one pass at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .. import API_VERSION, GROUP
from ..jobs import LABEL_KIND, LABEL_NAME, job_name
from ..kube import PLURALS, Kube
from ..lock import parse_holder
from ..names import label_value

TERMINAL = ("Succeeded", "Failed", "Cancelled")
RUN_KINDS = ("DirectorBackup", "DirectorRestore")


def owner(body: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": body["kind"], "name": body["metadata"]["name"],
            "uid": body["metadata"]["uid"]}


def ensure_run_account(kube: Kube, run: dict[str, Any]) -> None:
    """The ServiceAccount of one run's pods (named as its Job), with a Role that reaches that
    one object: read it and write its status. Nothing else, and no Secret: the kubelet hands
    the pod the ones its run references. Owned by the run, so they go with it."""
    meta, kind = run["metadata"], run["kind"]
    namespace, name = meta["namespace"], job_name(kind, meta["name"])
    plural = PLURALS[kind]
    labels = {"app.kubernetes.io/managed-by": "bosh-backup-operator"}
    owned = {"name": name, "namespace": namespace, "labels": labels,
             "ownerReferences": [{**owner(run), "controller": True, "blockOwnerDeletion": False}]}
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + namespace
    objects: list[tuple[str, dict[str, Any]]] = [
        (kube.core("serviceaccounts", namespace), {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": owned}),
        (f"{rbac}/roles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": owned,
            "rules": [{"apiGroups": [GROUP], "resources": [plural], "resourceNames": [meta["name"]],
                       "verbs": ["get"]},
                      {"apiGroups": [GROUP], "resources": [f"{plural}/status"], "resourceNames": [meta["name"]],
                       "verbs": ["get", "patch", "update"]}]}),
        (f"{rbac}/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": owned,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]}),
    ]
    for collection, body in objects:
        kube.create_if_absent(collection, body)


def holder_alive(kube: Kube, namespace: str) -> Callable[[str], bool]:
    """Whether a lock holder still needs the director: it exists and has not finished, or
    its pods are still stopping (cleanup)."""
    def alive(holder: str) -> bool:
        kind, holder_namespace, name = parse_holder(holder, namespace)
        if kind not in RUN_KINDS:
            return False
        body = kube.get(kube.custom(kind, holder_namespace, name))
        if body is not None and (body.get("status") or {}).get("phase") not in TERMINAL:
            return True
        pods = kube.get(kube.core("pods", holder_namespace),
                        labelSelector=f"{LABEL_KIND}={kind},{LABEL_NAME}={label_value(name)}")
        return any((pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                   for pod in (pods or {}).get("items", []))
    return alive


def kick_waiters(kube: Kube, namespace: str, director: str,
                 reconcilers: dict[str, Callable[[str, str], None]]) -> None:
    """Reconcile, oldest first, the runs (of any kind) waiting for this director."""
    waiting = []
    for kind, reconcile in reconcilers.items():
        listing = kube.get(kube.custom(kind, namespace)) or {}
        waiting += [(body["metadata"]["creationTimestamp"], body["metadata"]["name"], reconcile)
                    for body in listing.get("items", [])
                    if (body.get("status") or {}).get("reason") == "WaitingForDirector"
                    and body["spec"]["directorRef"]["name"] == director]
    for _, name, reconcile in sorted(waiting, key=lambda w: (w[0], w[1])):
        reconcile(namespace, name)


def record_on_director(kube: Kube, run: dict[str, Any], phase: str, stamp: str, *, location: str | None = None,
                       snapshot: dict[str, Any] | None = None) -> None:
    """The Director's status keeps its last backup, last successful one, and what it learned."""
    if run["kind"] != "DirectorBackup":
        return
    status: dict[str, Any] = {"lastBackup": {"name": run["metadata"]["name"], "phase": phase, "time": stamp}}
    if phase == "Succeeded":
        status["lastSuccessfulBackup"] = {"name": run["metadata"]["name"], "time": stamp, "location": location}
    if snapshot:
        status["director"] = snapshot
    kube.patch_status("Director", run["metadata"]["namespace"], run["spec"]["directorRef"]["name"], status)


class Coalescing:
    """One pass at a time per key, and no thread ever waits for one: a call that finds its
    key busy leaves a note and returns, and the pass under way runs once more when it ends.
    A child Job and pod change many times while their owner is read; with one blocking
    lock, those events held every one of kopf's handler threads while 50 catalogs
    imported one after another (1,000-schedule fleet, seen with py-spy)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._busy: set[Any] = set()
        self._again: set[Any] = set()

    def run(self, key: Any, act: Callable[[], None]) -> bool:
        """Runs `act` now (and again for every call that came meanwhile); False when
        another thread is on this key and will run it again instead."""
        with self._guard:
            if key in self._busy:
                self._again.add(key)
                return False
            self._busy.add(key)
        try:
            while True:
                act()
                with self._guard:
                    if key not in self._again:
                        return True
                    self._again.discard(key)
        finally:
            with self._guard:
                self._busy.discard(key)
                self._again.discard(key)
