"""The operator's access to the Kubernetes API, as plain dicts.

Configuration and authentication come from the official client (in-cluster, or
KUBECONFIG locally); objects travel as the JSON the API speaks. Secret values never
leave this module: only key names are returned.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from typing import Any

import kubernetes

from . import GROUP, VERSION
from .status import now_iso

log = logging.getLogger("bosh-backup")

PLURALS = {"Director": "directors", "DirectorBackup": "directorbackups", "DirectorRestore": "directorrestores",
           "DirectorBackupSchedule": "directorbackupschedules", "DirectorBackupCatalog": "directorbackupcatalogs"}


POOL_SIZE = 72


class ApiError(Exception):
    def __init__(self, status: int, body: Any):
        self.status, self.body = status, body
        message = body.get("message", body) if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")


class Kube:
    def __init__(self) -> None:
        kubernetes.config.load_config()  # in-cluster, or KUBECONFIG for local runs
        configuration = kubernetes.client.Configuration.get_default_copy()
        # one connection per worker thread (kopf's and the schedules'): the client's default of
        # five per core would drop and re-handshake TLS connections whenever a fleet fires at once
        configuration.connection_pool_maxsize = POOL_SIZE
        self.client = kubernetes.client.ApiClient(configuration)
        self.local = threading.local()

    def request(self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None,
                content_type: str = "application/json") -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        serialized = self.client.param_serialize(
            method=method, resource_path=path, query_params=[(k, v) for k, v in (query or {}).items()
                                                             if v is not None],
            header_params=headers, body=body, auth_settings=["BearerToken"])
        try:
            response = self.client.call_api(*serialized)
            data = response.read()
        except kubernetes.client.exceptions.ApiException as error:
            raise ApiError(error.status or 0, _json(error.body)) from None
        if response.status >= 400:
            raise ApiError(response.status, _json(data))
        return _json(data) if data else {}

    def get(self, path: str, **query: Any) -> dict[str, Any] | None:
        """The object, or None if it does not exist."""
        try:
            return dict(self.request("GET", path, query=query))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.request("POST", path, body))

    def create_if_absent(self, path: str, body: dict[str, Any]) -> bool:
        """Creates the object unless one of its name exists; whether this call made it."""
        try:
            self.create(path, body)
            return True
        except ApiError as error:
            if error.status != 409:
                raise
            return False

    def merge(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.request("PATCH", path, body, content_type="application/merge-patch+json"))

    def delete(self, path: str, body: dict[str, Any] | None = None) -> bool:
        try:
            self.request("DELETE", path, body)
            return True
        except ApiError as error:
            if error.status == 404:
                return False
            raise

    # -- paths ------------------------------------------------------------------------------

    @staticmethod
    def custom(kind: str, namespace: str, name: str = "", sub: str = "") -> str:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURALS[kind]}"
        return path + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    @staticmethod
    def core(resource: str, namespace: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{namespace}/{resource}" + (f"/{name}" if name else "")

    @staticmethod
    def batch(namespace: str, name: str = "") -> str:
        return f"/apis/batch/v1/namespaces/{namespace}/jobs" + (f"/{name}" if name else "")

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.merge(self.custom(kind, namespace, name, "status"), {"status": status})
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    # -- what a Director references -------------------------------------------------------------

    def data_keys(self, namespace: str, kind: str, name: str) -> set[str] | None:
        """The key names an object holds (never values), or None if it does not exist."""
        resource = {"Secret": "secrets", "ConfigMap": "configmaps",
                    "PersistentVolumeClaim": "persistentvolumeclaims"}[kind]
        found = self.get(self.core(resource, namespace, name))
        if found is None:
            return None
        if kind == "PersistentVolumeClaim":
            return set()
        return set(found.get("data") or {}) | set(found.get("binaryData") or {})

    # -- Events -----------------------------------------------------------------------------------

    def event(self, body: dict[str, Any], kind: str, reason: str, message: str) -> None:
        meta = body["metadata"]
        stamp = now_iso()
        try:
            self.create(self.core("events", meta["namespace"]), {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                "involvedObject": {"apiVersion": body["apiVersion"], "kind": body["kind"], "name": meta["name"],
                                   "namespace": meta["namespace"], "uid": meta["uid"]},
                "reason": reason, "message": message[:1024], "type": kind,
                "source": {"component": "bosh-backup-operator"},
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
                "reportingComponent": "bosh-backup-operator", "reportingInstance": "bosh-backup-operator"})
        except ApiError as error:
            log.warning("event %s not posted: %s", reason, error)


def _json(data: Any) -> Any:
    if isinstance(data, bytes | bytearray):
        data = data.decode(errors="replace")
    try:
        return json.loads(data) if data else {}
    except (TypeError, ValueError):
        return data


@functools.cache
def api() -> Kube:
    return Kube()


def data_keys(namespace: str, kind: str, name: str) -> set[str] | None:
    return api().data_keys(namespace, kind, name)
