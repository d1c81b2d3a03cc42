"""Runs one container's process the way a kubelet would, minus the image.

The node agent starts this under `unshare --mount --propagation private`, so the
bind mounts below exist only for this process and its children: each volume
appears at its real mountPath (/var/run/secrets/kubernetes.io/serviceaccount,
/dev/termination-log, ...). Missing mount points are created on the host file
system as empty folders or files, which is the one trace pods leave behind.

    python -m harness.podexec SPEC.json
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, flags: int) -> None:
    if _libc.mount(source.encode(), target.encode(), None, flags, None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def bind(source: str, target: str, read_only: bool) -> None:
    target_path = Path(target)
    if Path(source).is_dir():
        if target_path.is_file() and target_path.stat().st_size == 0:
            target_path.unlink()  # an empty placeholder an earlier pod left for a file volume
        target_path.mkdir(parents=True, exist_ok=True)
    else:
        target_path.parent.mkdir(parents=True, exist_ok=True)
        if not target_path.exists():
            target_path.touch()
    _mount(source, target, MS_BIND | MS_REC)
    if read_only:
        _mount(source, target, MS_BIND | MS_REMOUNT | MS_RDONLY)


def check_shadowing(mounts: list[dict[str, str]], program: str) -> None:
    """Pods share the host's file system here, so a mountPath over a host folder hides it.
    Refuse mounts that would hide another volume's source or the program itself."""
    import shutil

    needed = [m["source"] for m in mounts] + [shutil.which(program) or program, sys.executable]
    for mount in mounts:
        target = mount["target"].rstrip("/") + "/"
        hidden = [path for path in needed if path.startswith(target)]
        if hidden:
            raise RuntimeError(f"mountPath {mount['target']} would hide {hidden[0]} on the harness host; "
                               "choose a mountPath outside the host folders the harness uses")


def main(argv: list[str]) -> None:
    spec = json.loads(Path(argv[1]).read_text())
    # parents before children, so a volume inside another volume stays visible
    mounts = sorted(spec["mounts"], key=lambda m: m["target"].count("/"))
    check_shadowing(mounts, spec["argv"][0])
    for mount in mounts:
        bind(mount["source"], mount["target"], mount.get("readOnly", False))
    gid, uid = spec.get("gid"), spec.get("uid")
    if gid is not None or uid is not None:
        os.setgroups([int(g) for g in spec.get("groups", [])])
        if gid is not None:
            os.setgid(int(gid))
        if uid is not None:
            os.setuid(int(uid))
    os.chdir(spec.get("cwd") or "/")
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Exception as error:  # the container "fails to start": exit 128 like runc does
        print(f"podexec: cannot start container: {error}", file=sys.stderr)
        sys.exit(128)
