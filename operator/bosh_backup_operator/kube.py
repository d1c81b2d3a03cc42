"""Reads from the Kubernetes API for the handlers (values never leave this module)."""

from __future__ import annotations

import functools

import kubernetes
from kubernetes.client.exceptions import ApiException


@functools.cache
def core() -> kubernetes.client.CoreV1Api:
    kubernetes.config.load_config()  # in-cluster, or KUBECONFIG for local runs
    return kubernetes.client.CoreV1Api()


def data_keys(namespace: str, kind: str, name: str) -> set[str] | None:
    """The keys an object holds, or None if it does not exist. Only key names are returned."""
    api = core()
    try:
        if kind == "Secret":
            secret = api.read_namespaced_secret(name, namespace)
            return set(secret.data or {}) | set(secret.string_data or {})
        if kind == "ConfigMap":
            config_map = api.read_namespaced_config_map(name, namespace)
            return set(config_map.data or {}) | set(config_map.binary_data or {})
        if kind == "PersistentVolumeClaim":
            api.read_namespaced_persistent_volume_claim(name, namespace)
            return set()
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    raise ValueError(f"unknown kind {kind}")
