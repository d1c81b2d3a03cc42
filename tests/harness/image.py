"""The runner image, as the node agent presents it to every container.

The Dockerfile installs the package under /opt/bosh-backup and the bosh CLI and bbr
beside it; pods run as a non-root user. Here a pod would otherwise reach this
checkout's virtualenv by its host path, which fails when the checkout lies in a
private folder (a home directory, `mktemp -d`): a non-root user cannot enter it. So
the agent bind-mounts, inside each container's mount namespace:

    /opt/bosh-backup               <workdir>/image: launchers, the real bosh and bbr, bosh1
    /opt/bosh-backup/lib/site-packages   the virtualenv's site-packages (read-only)
    /opt/bosh-backup/src           operator/ of this checkout (read-only)
    /opt/bosh-backup/tests         tests/ (the CLI v1 stand-in lives there; read-only)

and gives containers the image's PATH. Nothing a pod runs is reached by a host path.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import sysconfig
from pathlib import Path
from typing import Any

from .cluster import REPO_ROOT

IMAGE_ROOT = "/opt/bosh-backup"
IMAGE_PATH = f"{IMAGE_ROOT}/bin:/usr/local/bin:/usr/bin:/bin"
DISTRIBUTION = "bosh-backup-operator"

LAUNCHER = """#!{python}
# {name}: a console script of the image, made by tests/harness/image.py
import site
import sys

site.addsitedir("{root}/lib/site-packages")
sys.path[:0] = ["{root}/src", "{root}/tests"]
{call}
"""


def _launcher(folder: Path, name: str, call: str) -> None:
    path = folder / name
    path.write_text(LAUNCHER.format(python=os.path.realpath(sys.executable), name=name, root=IMAGE_ROOT,
                                    call=call))
    path.chmod(0o755)


def build_image(folder: Path) -> Path:
    """Lays out the image folder and writes image.json for the node agent; returns it."""
    from boshsim.fixtures import place_tool, real_tools

    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("lib/site-packages", "src", "tests"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for entry in importlib.metadata.distribution(DISTRIBUTION).entry_points:
        if entry.group == "console_scripts":
            module, _, function = entry.value.partition(":")
            _launcher(bin_dir, entry.name, f"from {module} import {function}\nsys.exit({function}())")
    _launcher(bin_dir, "bosh1", 'import runpy\nrunpy.run_module("boshsim.cli_v1", run_name="__main__")')
    bosh_dir, bbr_dir = real_tools()
    place_tool(bosh_dir / "bosh", bin_dir / "bosh")
    place_tool(bbr_dir / "bbr", bin_dir / "bbr")
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    mounts: list[dict[str, Any]] = [
        {"source": str(folder), "target": IMAGE_ROOT, "readOnly": True},
        {"source": sysconfig.get_paths()["purelib"], "target": f"{IMAGE_ROOT}/lib/site-packages", "readOnly": True},
        {"source": str(REPO_ROOT / "operator"), "target": f"{IMAGE_ROOT}/src", "readOnly": True},
        {"source": str(REPO_ROOT / "tests"), "target": f"{IMAGE_ROOT}/tests", "readOnly": True},
    ]
    spec = folder.parent / "image.json"
    spec.write_text(json.dumps({"mounts": mounts, "path": IMAGE_PATH}, indent=1))
    return spec
