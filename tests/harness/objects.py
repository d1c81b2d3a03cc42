"""Builders for the Kubernetes objects tests create (pods meet the restricted standard)."""

from __future__ import annotations

from typing import Any

from .cluster import wait_for

RUN_AS = 65532


def restricted_container(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "image": "harness/none", "command": command,
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True, "runAsUser": RUN_AS,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        **extra,
    }


def job(name: str, namespace: str, command: list[str], *, backoff_limit: int = 0,
        pod_spec: dict[str, Any] | None = None, container: dict[str, Any] | None = None,
        **job_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "backoffLimit": backoff_limit, **job_spec,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [restricted_container("main", command, **(container or {}))],
                **(pod_spec or {}),
            }},
        },
    }


def job_condition(harness: Any, namespace: str, name: str, timeout: float = 60) -> str:
    """Waits until the Job is Complete or Failed and returns which."""
    def finished() -> str | None:
        status = harness.admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}").get(
            "status", {})
        for cond in status.get("conditions", []):
            if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
                return str(cond["type"])
        return None
    return str(wait_for(f"Job {namespace}/{name} to finish", finished, timeout=timeout))


def job_pods(harness: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    return list(harness.admin.get(f"/api/v1/namespaces/{namespace}/pods",
                                  labelSelector=f"job-name={name}")["items"])


def terminated(pod: dict[str, Any], container: str = "main") -> dict[str, Any]:
    for status in pod["status"].get("containerStatuses", []):
        if status["name"] == container:
            return dict(status["state"].get("terminated") or {})
    return {}
