"""A run (backup or restore) resolved against its Director: settings, or what is wrong.

Pure: the caller passes the Director's spec and a lookup of Secret/ConfigMap key
names; nothing here talks to the API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..bosh.commands import url_host
from .director import (
    CREDENTIAL_KEY_SETS,
    Problem,
    Reference,
    director_references,
    encryption_references,
    find_problems,
    storage_references,
)

Lookup = Callable[[str, str], "set[str] | None"]


@dataclass(frozen=True)
class KeyRef:
    name: str
    key: str


@dataclass
class RunSettings:
    director: str
    url: str
    dialect: str                   # v2 or v1
    method: str                    # bbr or v1
    credentials: KeyRef            # the user/client key; its secret twin is credentials_secret
    credentials_secret: KeyRef
    storage: dict[str, Any]
    ca: dict[str, Any] | None = None
    ssh: dict[str, Any] | None = None
    state_file: KeyRef | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    director_uuid: str | None = None  # as the Director's status last learnt it; part of the lock's key
    encryption: dict[str, Any] | None = None   # a backup's spec.encryption, or its Director's
    identity: KeyRef | None = None             # a restore's spec.identitySecretRef


def director_uuid(director: dict[str, Any] | None) -> str | None:
    """The UUID a run last learnt of a Director (status.director.uuid), if any."""
    return (((director or {}).get("status") or {}).get("director") or {}).get("uuid") or None


def duration_seconds(text: str) -> int:
    """'1h30m' -> 5400, '8d' -> 691200 (the CRD pattern guarantees the shape)."""
    total = 0
    for amount, unit in re.findall(r"(\d+)([dhms])", text):
        total += int(amount) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit]
    return total


def resolve_run(director_name: str, director_spec: dict[str, Any] | None, method: str,
                storage_override: dict[str, Any] | None, lookup: Lookup,
                *, want_state_file: bool = False, director_uuid: str | None = None,
                encryption: dict[str, Any] | None = None, want_encryption: bool = False,
                identity: dict[str, Any] | None = None) -> RunSettings | list[Problem]:
    """encryption: the backup's own spec.encryption, which replaces the Director's; a backup
    sets want_encryption (a restore needs none of it). identity: a restore's spec.identitySecretRef."""
    if director_spec is None:
        return [Problem("DirectorNotFound", f'spec.directorRef: Director "{director_name}" not found')]
    problems: list[Problem] = []
    dialect = director_spec.get("cli", "v2")
    if method == "bbr" and not director_spec.get("ssh"):
        problems.append(Problem("SshNotConfigured", f'spec.method: bbr needs SSH access to the director: set '
                                                    f'spec.ssh.privateKeySecretRef on Director "{director_name}"'))
    if method == "v1" and dialect != "v1":
        problems.append(Problem("MethodNotSupported", f'spec.method: v1 needs a Director with spec.cli: v1 '
                                                      f'(Director "{director_name}" is v2, whose CLI has no backup '
                                                      f'command); use method bbr'))
    storage = storage_override or director_spec.get("storage")
    if not storage:
        problems.append(Problem("StorageNotConfigured", f'spec.storage: not set, and Director "{director_name}" '
                                                        f'has no spec.storage'))
    director_refs = director_references(director_spec)
    if storage_override:  # the run's own storage replaces the Director's
        director_refs = [r for r in director_refs if not r.field.startswith("spec.storage")]
    if encryption or not want_encryption:   # likewise its own encryption; a restore needs neither
        director_refs = [r for r in director_refs if not r.field.startswith("spec.encryption")]
    problems += [Problem(p.reason, f'Director "{director_name}": {p.message}')
                 for p in find_problems(director_refs, lookup)]
    if storage_override:
        problems += find_problems(storage_references("spec.storage", storage_override), lookup)
    problems += find_problems(encryption_references("spec.encryption", encryption), lookup)
    identity_ref = None
    if identity:
        identity_ref = KeyRef(identity["name"], identity.get("key", "identity"))
        problems += find_problems([Reference("spec.identitySecretRef", "Secret", identity_ref.name,
                                             ((identity_ref.key,),))], lookup)
    if problems:
        return problems
    assert storage is not None
    credentials_name = director_spec["credentialsSecretRef"]["name"]
    keys = lookup("Secret", credentials_name) or set()
    user_key, secret_key = next(pair for pair in CREDENTIAL_KEY_SETS if set(pair) <= keys)
    ssh = None
    if director_spec.get("ssh"):
        spec_ssh = director_spec["ssh"]
        key_ref = spec_ssh["privateKeySecretRef"]
        ssh = {"host": spec_ssh.get("host") or url_host(director_spec["url"]), "port": spec_ssh.get("port", 22),
               "username": spec_ssh.get("username", "jumpbox"),
               "key": KeyRef(key_ref["name"], key_ref.get("key", "ssh-privatekey"))}
    state_file = None
    if want_state_file and director_spec.get("stateFileSecretRef"):
        ref = director_spec["stateFileSecretRef"]
        state_file = KeyRef(ref["name"], ref.get("key", "state.json"))
    return RunSettings(
        director=director_name, url=director_spec["url"], dialect=dialect, method=method,
        credentials=KeyRef(credentials_name, user_key), credentials_secret=KeyRef(credentials_name, secret_key),
        storage=storage, ca=director_spec.get("caCert"), ssh=ssh, state_file=state_file, director_uuid=director_uuid,
        encryption=(encryption or director_spec.get("encryption")) if want_encryption else None,
        identity=identity_ref)


__all__ = ["KeyRef", "Problem", "Reference", "RunSettings", "director_uuid", "duration_seconds", "resolve_run"]
