"""What a Director references, and whether all of it exists (pure functions).

The operator fetches the referenced objects; these functions decide what is
missing and say so naming the field, so a user can fix the right line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reference:
    field: str            # where in the spec, e.g. spec.ssh.privateKeySecretRef
    kind: str             # Secret, ConfigMap or PersistentVolumeClaim
    name: str
    keys: tuple[tuple[str, ...], ...] = ()   # any one of these key sets must be present


@dataclass(frozen=True)
class Problem:
    reason: str
    message: str


CREDENTIAL_KEY_SETS = (("client", "clientSecret"), ("username", "password"))
S3_KEYS = (("accessKeyId", "secretAccessKey"),)


def _ca_references(field: str, ca: dict[str, Any] | None) -> list[Reference]:
    if not ca:
        return []
    if "secretKeyRef" in ca:
        ref = ca["secretKeyRef"]
        return [Reference(f"{field}.secretKeyRef", "Secret", ref["name"], ((ref.get("key", "ca.crt"),),))]
    ref = ca["configMapKeyRef"]
    return [Reference(f"{field}.configMapKeyRef", "ConfigMap", ref["name"],
                      ((ref.get("key", "ca.crt"),),))]


def storage_references(field: str, storage: dict[str, Any] | None) -> list[Reference]:
    if not storage:
        return []
    if "pvc" in storage:
        return [Reference(f"{field}.pvc.claimName", "PersistentVolumeClaim",
                          storage["pvc"]["claimName"])]
    s3 = storage["s3"]
    return [Reference(f"{field}.s3.credentialsSecretRef", "Secret",
                      s3["credentialsSecretRef"]["name"], S3_KEYS),
            *_ca_references(f"{field}.s3.caCert", s3.get("caCert"))]


def encryption_references(field: str, encryption: dict[str, Any] | None) -> list[Reference]:
    refs = []
    for number, source in enumerate((encryption or {}).get("recipientsFrom") or []):
        kind, ref_field = ("Secret", "secretKeyRef") if "secretKeyRef" in source else ("ConfigMap", "configMapKeyRef")
        ref = source[ref_field]
        refs.append(Reference(f"{field}.recipientsFrom[{number}].{ref_field}", kind, ref["name"],
                              ((ref.get("key", "recipients"),),)))
    return refs


def director_references(spec: dict[str, Any]) -> list[Reference]:
    refs = [Reference("spec.credentialsSecretRef", "Secret", spec["credentialsSecretRef"]["name"],
                      CREDENTIAL_KEY_SETS)]
    refs += _ca_references("spec.caCert", spec.get("caCert"))
    if spec.get("ssh"):
        key = spec["ssh"]["privateKeySecretRef"]
        refs.append(Reference("spec.ssh.privateKeySecretRef", "Secret", key["name"],
                              ((key.get("key", "ssh-privatekey"),),)))
    if spec.get("stateFileSecretRef"):
        state = spec["stateFileSecretRef"]
        refs.append(Reference("spec.stateFileSecretRef", "Secret", state["name"],
                              ((state.get("key", "state.json"),),)))
    refs += storage_references("spec.storage", spec.get("storage"))
    refs += encryption_references("spec.encryption", spec.get("encryption"))
    return refs


def find_problems(refs: list[Reference],
                  lookup: Callable[[str, str], set[str] | None]) -> list[Problem]:
    """lookup(kind, name) gives the object's data keys, or None when it does not exist."""
    problems = []
    for ref in refs:
        keys = lookup(ref.kind, ref.name)
        if keys is None:
            problems.append(Problem(f"{ref.kind}NotFound".replace("PersistentVolumeClaim", "Claim"),
                                    f'{ref.field}: {ref.kind} "{ref.name}" not found'))
            continue
        if ref.keys and not any(set(key_set) <= keys for key_set in ref.keys):
            wanted = " or ".join("+".join(key_set) for key_set in ref.keys)
            problems.append(Problem(f"{ref.kind}KeyMissing",
                                    f'{ref.field}: {ref.kind} "{ref.name}" lacks key {wanted}'))
    return problems


def readiness(problems: list[Problem]) -> tuple[bool, str, str]:
    """(ready, reason, message) for the Ready condition."""
    if not problems:
        return True, "ReferencesFound", "every referenced Secret, ConfigMap and claim exists"
    return False, problems[0].reason, "; ".join(p.message for p in problems)


def plain_http_warning(spec: dict[str, Any]) -> str | None:
    """Why the Director's storage would send its keys in the clear, if it would."""
    endpoint = ((spec.get("storage") or {}).get("s3") or {}).get("endpoint") or ""
    if endpoint.startswith("http://"):
        return (f"spec.storage.s3.endpoint {endpoint} is plain HTTP: the storage keys and every artifact "
                "(the director's credentials among them) travel unencrypted; use https:// with caCert")
    return None


class Rechecks:
    """When a Director's recheck tick reads its Secrets again: every tick while it is not
    Ready (so a Secret created after it is seen soon), and at most every `ready_every`
    seconds once it is (each look costs a GET per Secret it names; a fleet's Directors
    are almost all Ready, and their reads were most of an idle operator's work)."""

    def __init__(self, ready_every: float, clock: Callable[[], float] = time.monotonic):
        self.ready_every, self.clock = ready_every, clock
        self._looked: dict[tuple[str, str], float] = {}

    def looked(self, director: tuple[str, str]) -> None:
        """A look was taken now (a tick's, or one on a create or a spec change)."""
        self._looked[director] = self.clock()

    def due(self, director: tuple[str, str], ready: bool) -> bool:
        last = self._looked.get(director)
        return not ready or last is None or self.clock() - last >= self.ready_every

    def forget(self, director: tuple[str, str]) -> None:
        self._looked.pop(director, None)
