"""A run's Job and pods to an outcome (pure): still running, or how it ended and why."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    state: str                       # Running, Succeeded, Failed
    reason: str = ""
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)   # the runner's termination message
    pods_active: int = 0


def termination_message(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        text = terminated.get("message")
        if text:
            try:
                result = json.loads(text)
                return result if isinstance(result, dict) else None
            except ValueError:
                return {"result": "Failed", "reason": "RunnerCrashed",
                        "message": " ".join(text.strip().splitlines()[-3:])[:1000]}
    return None


def _newest(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)


def stuck_reason(pods: list[dict[str, Any]]) -> str | None:
    """Why a pod cannot start (a missing secret, an image, scheduling), as its kubelet says."""
    for pod in _newest(pods):
        status = pod.get("status") or {}
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return f"pod {pod['metadata']['name']} cannot be scheduled: {condition.get('message', '')}"
        for container in status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in ("CreateContainerConfigError", "ErrImagePull", "ImagePullBackOff",
                                         "InvalidImageName", "CreateContainerError"):
                return f"pod {pod['metadata']['name']}: {waiting['reason']}: {waiting.get('message', '')}"
    return None


def evicted_pod(pods: list[dict[str, Any]]) -> str | None:
    """The kubelet's words when it evicted the run's pod, with what to change."""
    for pod in _newest(pods):
        status = pod.get("status") or {}
        if status.get("reason") != "Evicted":
            continue
        said = (status.get("message") or "").strip()
        advice = ("Set spec.pod.scratch.sizeLimit to at least the artifact's size plus a tenth, so the runner "
                  "can check before writing" if "EmptyDir" in said else
                  "Find why the node evicted it (disk or memory pressure) and create a new run")
        return (f"the node evicted pod {pod['metadata']['name']}: {said} The runner had no time for bbr's "
                f"cleanup: if the next run reports BackupAlreadyInProgress, run the backup-cleanup command it "
                f"names. {advice}.")
    return None


def pod_ending(pods: list[dict[str, Any]]) -> str | None:
    """How the newest failed pod ended, in the kubelet's words: what is left to say when
    the runner wrote no result (killed, out of memory, never started, lost with its node)."""
    for pod in _newest(pods):
        status = pod.get("status") or {}
        if status.get("phase") != "Failed":
            continue
        said = [f"pod {pod['metadata']['name']}"]
        if status.get("reason") or status.get("message"):
            said.append(f"{status.get('reason') or 'Failed'}: {(status.get('message') or '').strip()}".rstrip(": "))
        for container in status.get("containerStatuses") or []:
            ended = (container.get("state") or {}).get("terminated")
            if ended:
                said.append(f"container {container.get('name')} exited with code {ended.get('exitCode')} "
                            f"({ended.get('reason') or 'Error'})")
        return ", ".join(said)
    return None


def job_outcome(job: dict[str, Any], pods: list[dict[str, Any]], timeout: str, *,
                require_artifact: bool) -> Outcome:
    """require_artifact: a backup succeeds only with a stored, verified artifact."""
    status = job.get("status") or {}
    active = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    conditions = {c["type"]: c for c in status.get("conditions") or [] if c.get("status") == "True"}
    results = [r for r in (termination_message(p) for p in _newest(pods)) if r]
    # A pod that succeeded with its result decides the run (completions is 1): the Job
    # controller batches pod updates and marks the Job Complete about a second later.
    finished = any((p.get("status") or {}).get("phase") == "Succeeded" for p in pods) and \
        any(r.get("result") == "Succeeded" for r in results)
    if "Complete" in conditions or (finished and not (conditions.get("Failed") or conditions.get("FailureTarget"))):
        succeeded = next((r for r in results if r.get("result") == "Succeeded"), None)
        if succeeded and (succeeded.get("artifact") or not require_artifact):
            return Outcome("Succeeded", "Completed", "", succeeded, len(active))
        return Outcome("Failed", "NoResult", "the runner pod completed without reporting its result; see its log",
                       succeeded or {}, len(active))
    failed = conditions.get("Failed") or conditions.get("FailureTarget")
    if failed:
        last = results[0] if results else {}
        if failed.get("reason") == "DeadlineExceeded":
            step = f" during {last['step']}" if last.get("step") else ""
            return Outcome("Failed", "DeadlineExceeded",
                           f"the run took longer than spec.timeout ({timeout}) and was stopped{step}; the runner "
                           "ran its cleanup. Raise spec.timeout if the director is large.", last, len(active))
        evicted = evicted_pod(pods)
        if evicted and last.get("reason") != "ScratchSpaceExhausted":
            return Outcome("Failed", "Evicted", evicted, last, len(active))
        if last:
            return Outcome("Failed", last.get("reason", "Failed"), last.get("message", ""), last, len(active))
        ending = pod_ending(pods)
        said = failed.get("message") or "the run's Job failed"
        return Outcome("Failed", failed.get("reason", "JobFailed"),
                       f"{said}; the runner left no result: {ending}" if ending else said, {}, len(active))
    return Outcome("Running", pods_active=len(active))
