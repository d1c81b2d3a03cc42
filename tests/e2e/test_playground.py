"""The README's third command: a playground that stays up, works, and stops everything
it started on a signal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def processes_using(folder: Path) -> list[str]:
    """Command lines of the processes that name `folder` (everything the playground ran does)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(folder) in line and "pytest" not in line:
                found.append(line)
    return found


def test_playground_serves_a_backup_and_stops_everything_on_sigterm() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="playground-")) / "pg"
    process = subprocess.Popen([sys.executable, "-m", "harness.playground", "--workdir", str(workdir)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT / "tests")})
    output = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "Stop with Ctrl-C" in line:
                break
        text = "".join(output)
        assert "The playground is up." in text, text
        env = {**os.environ, "KUBECONFIG": re.search(r"export KUBECONFIG=(\S+)", text)[1]}  # type: ignore[index]
        kubectl = re.search(r"export PATH=([^:]+):", text)[1] + "/kubectl"  # type: ignore[index]

        def run(*args: str, stdin: str | None = None) -> str:
            return subprocess.run([kubectl, *args], env=env, input=stdin, capture_output=True, text=True,
                                  check=True).stdout

        backup = {"apiVersion": "bosh-backup.dev/v1alpha1", "kind": "DirectorBackup",
                  "metadata": {"name": "first", "namespace": "bosh"}, "spec": {"directorRef": {"name": "prod"}}}
        run("apply", "-f", "-", stdin=yaml.safe_dump(backup))
        deadline = time.monotonic() + 180
        phase = ""
        while time.monotonic() < deadline and phase not in ("Succeeded", "Failed"):
            time.sleep(1)
            phase = run("get", "dbk", "first", "-n", "bosh", "-o", "jsonpath={.status.phase}")
        assert phase == "Succeeded", run("get", "dbk", "first", "-n", "bosh", "-o", "yaml")
        assert processes_using(workdir), "the playground's processes run"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
        deadline = time.monotonic() + 30
        while processes_using(workdir) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processes_using(workdir) == [], "everything the playground started has stopped"
    finally:
        if process.poll() is None:
            process.kill()
