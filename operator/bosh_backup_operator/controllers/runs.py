"""What backup and restore runs share: ownership, the runner's account, the lock's
liveness test, the Director's record of its last runs, and waking waiting runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import API_VERSION
from ..jobs import LABEL_KIND, LABEL_NAME, RUNNER_ACCOUNT
from ..kube import Kube
from ..lock import parse_holder
from ..names import label_value

TERMINAL = ("Succeeded", "Failed", "Cancelled")
RUN_KINDS = ("DirectorBackup", "DirectorRestore")


def owner(body: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": body["kind"], "name": body["metadata"]["name"],
            "uid": body["metadata"]["uid"]}


_ACCOUNTS_MADE: set[str] = set()


def ensure_runner_account(kube: Kube, namespace: str) -> None:
    """The runner's ServiceAccount, bound to the bosh-backup-runner ClusterRole (deploy/):
    it may read runs and write their status in this namespace, and nothing else.
    Checked once per namespace per operator process."""
    if namespace in _ACCOUNTS_MADE:
        return
    objects: list[tuple[str, dict[str, Any]]] = [
        (kube.core("serviceaccounts", namespace), {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": RUNNER_ACCOUNT, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "bosh-backup-operator"}}}),
        (f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": RUNNER_ACCOUNT, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "bosh-backup-operator"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RUNNER_ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": RUNNER_ACCOUNT, "namespace": namespace}]}),
    ]
    for collection, body in objects:
        if kube.get(f"{collection}/{RUNNER_ACCOUNT}") is None:
            kube.create_if_absent(collection, body)
    _ACCOUNTS_MADE.add(namespace)


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
