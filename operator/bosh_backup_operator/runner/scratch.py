"""Room on the run's scratch volume, against what a step is about to write there.

A real kubelet does not return ENOSPC when an emptyDir passes its sizeLimit: it evicts
the pod, and the run would end with the node's words and bbr's lock possibly held.
So the runner measures first and stops the step itself, saying how much it needed.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..jobs import SCRATCH_LIMIT_ENV
from ..status import human_size

LIMIT_FIELD = "spec.pod.scratch.sizeLimit"

_QUANTITY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[KMGTPE]i|[kMGTPE]|m)?$")
_BINARY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 10**-3}
# `du -h` (what bbr prints for a job's size) uses powers of 1024 and rounds up
_DU = re.compile(r"^(?P<number>[0-9]+(?:[.,][0-9]+)?)(?P<unit>[KMGTPE]?)$")
_DU_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}


def quantity_bytes(text: str) -> int:
    """A Kubernetes quantity ("64Mi", "1G", "5e9" is not accepted by our schema) in bytes."""
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"not a quantity: {text!r}")
    suffix = match["suffix"] or ""
    scale = _BINARY.get(suffix) or _DECIMAL.get(suffix) or 1
    return int(float(match["number"]) * scale)


def du_bytes(text: str) -> int | None:
    """`du -h`'s size ("1.2G", "512K", "0") in bytes, or None when it is not one."""
    match = _DU.match(text.strip())
    if not match:
        return None
    return int(float(match["number"].replace(",", ".")) * _DU_UNITS[match["unit"]])


def used_bytes(folder: Path) -> int:
    """What the files under folder take on disk, as du and the kubelet count it."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


@dataclass
class Room:
    free: int                 # bytes the run may still write
    limit: int | None         # the volume's sizeLimit, if it has one
    used: int                 # bytes the volume already holds
    disk_free: int            # what the file system has left
    on_claim: bool = False    # bbr writes straight into the storage claim

    def describe(self) -> str:
        if self.limit is not None and self.free < self.disk_free:
            held = f", {human_size(self.used)} of it already used" if self.used else ""
            return f"the scratch volume's limit is {human_size(self.limit)} ({LIMIT_FIELD}){held}"
        where = "the storage claim" if self.on_claim else "the node's disk under the scratch volume"
        return f"{where} has {human_size(self.disk_free)} free"


def room(folder: Path, limit_text: str | None = None, *, on_claim: bool = False) -> Room:
    limit_text = "" if on_claim else limit_text if limit_text is not None else os.environ.get(SCRATCH_LIMIT_ENV)
    limit = quantity_bytes(limit_text) if limit_text else None
    disk_free = shutil.disk_usage(folder).free
    used = used_bytes(folder) if limit is not None else 0
    free = disk_free if limit is None else max(0, min(disk_free, limit - used))
    return Room(free=free, limit=limit, used=used, disk_free=disk_free, on_claim=on_claim)


def advice(needed: int, space: Room) -> str:
    """What to change so the next run fits: the need plus a tenth, rounded up to a MiB."""
    mib = -(-needed * 11 // 10 // (1 << 20))
    if space.on_claim:
        return (f"Give the claim (spec.storage.pvc.claimName) at least {mib}Mi more free space: grow it, or let "
                "retention remove older backups.")
    return (f"Set {LIMIT_FIELD} to at least {mib}Mi (on the DirectorBackup, or the schedule's template), "
            "and run the pod where the node has that much ephemeral storage.")


def shortfall(what: str, needed: int, space: Room) -> str:
    kind = "space on the claim" if space.on_claim else "scratch space"
    return (f"{what} needs {human_size(needed)} of {kind}, but {space.describe()}, leaving "
            f"{human_size(space.free)}. {advice(needed + space.used, space)}")
