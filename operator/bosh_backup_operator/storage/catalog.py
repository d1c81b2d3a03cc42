"""What a storage folder holds, from a listing of its files (pure).

Three forms are complete artifacts:
  operator   a folder with manifest.json (published last, so it marks a whole artifact)
  bbr-folder a folder with bbr's `metadata` (made by `bbr director backup` by hand or a pipeline)
  bbr-tar    a .tar file (a bbr folder, tarred as bbr's pipeline tasks do)
Anything else that holds files is incomplete, with the reason it cannot be restored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

from . import MANIFEST, STAGING_SUFFIX


@dataclass(frozen=True)
class Found:
    path: str          # relative to the listed folder
    form: str          # operator, bbr-folder, bbr-tar or incomplete
    size: int          # bytes of every file in it
    files: int
    reason: str = ""   # for incomplete ones: why it cannot be restored

    def as_status(self) -> dict[str, Any]:
        out = asdict(self)
        if not out["reason"]:
            del out["reason"]
        return out


def _parents(name: str) -> list[str]:
    """Each folder a file is in, outermost first ("" excluded)."""
    parts = PurePosixPath(name).parts[:-1]
    return ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]


def find_artifacts(files: list[tuple[str, int]]) -> list[Found]:
    """The artifacts and the incomplete folders in a listing of (name, size), sorted by path."""
    names = {name for name, _ in files}
    roots: dict[str, str] = {}
    for name in sorted(names, key=lambda n: n.count("/")):   # the shallowest mark wins
        folder, base = str(PurePosixPath(name).parent), PurePosixPath(name).name
        folder = "" if folder == "." else folder
        if not folder or any(parent in roots for parent in _parents(name)[:-1]) or folder in roots \
                or PurePosixPath(name).parts[0].endswith(STAGING_SUFFIX):
            continue
        if base == MANIFEST:
            roots[folder] = "operator"
        elif base == "metadata" and PurePosixPath(folder).name != "bbr":  # bbr/ is this operator's layout
            roots[folder] = "bbr-folder"
    totals: dict[str, list[int]] = {}
    loose: dict[str, list[int]] = {}
    for name, size in files:
        owner = next((parent for parent in _parents(name) if parent in roots), None)
        if owner is not None:
            totals.setdefault(owner, [0, 0])
            totals[owner][0] += size
            totals[owner][1] += 1
        elif name.endswith(".tar") and "/" not in name:
            roots[name] = "bbr-tar"
            totals[name] = [size, 1]
        else:  # a file of no artifact: its top folder is an incomplete one
            top = PurePosixPath(name).parts[0]
            loose.setdefault(top, [0, 0])
            loose[top][0] += size
            loose[top][1] += 1
    found = [Found(path, form, totals.get(path, [0, 0])[0], totals.get(path, [0, 0])[1])
             for path, form in roots.items()]
    for top, (size, count) in loose.items():
        found.append(Found(top, "incomplete", size, count, incomplete_reason(top, names)))
    return sorted(found, key=lambda item: item.path)


def incomplete_reason(top: str, names: set[str]) -> str:
    if top.endswith(STAGING_SUFFIX):
        return (f"{top} is a backup still being written, or one whose run was stopped before it published "
                "manifest.json")
    if any(name.endswith(".tar") for name in names if name.startswith(f"{top}/")):
        return (f"{top} holds tars but neither manifest.json (published last by this operator) nor bbr's "
                "metadata: the upload did not finish, or part of the artifact was deleted")
    return (f"{top} holds files but neither manifest.json nor bbr's metadata: it is not a backup this "
            "operator or bbr made, or only part of one")
