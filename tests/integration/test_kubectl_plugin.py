"""kubectl bosh-backup, driven as a person drives it: the real kubectl finds the plugin on
PATH, in a real terminal (tmux), against the harness's control plane, operator, real bbr
and a simulated director. The screen is read back with capture-pane."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from boshsim.k8s import get, register
from harness.cluster import wait_for

NS = "plugin"


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NS))


@pytest.fixture(scope="module")
def terminal_env(harness: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """kubectl and the plugin on PATH, and a kubeconfig whose context's namespace is ours."""
    scripts = Path(sys.executable).parent
    assert (scripts / "kubectl-bosh_backup").exists(), "the package's console script is not installed"
    config = yaml.safe_load(Path(harness.plane.admin_kubeconfig).read_text())
    config["contexts"][0]["context"]["namespace"] = NS
    path = tmp_path_factory.mktemp("kubeconfig") / "config"
    path.write_text(yaml.safe_dump(config))
    return {"PATH": f"{harness.plane.bin_dir}:{scripts}:/usr/bin:/bin", "KUBECONFIG": str(path),
            "HOME": str(path.parent), "TERM": "xterm-256color"}


class Terminal:
    def __init__(self, socket: str, env: dict[str, str]):
        self.socket, self.env = socket, env
        exports = " ".join(f"{key}={value}" for key, value in env.items())
        self.tmux("new-session", "-d", "-s", "t", "-x", "160", "-y", "50", f"env -i {exports} bash --norc --noprofile")
        self.type("PS1='$ '")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True).stdout

    def type(self, line: str) -> None:
        self.tmux("send-keys", "-t", "t", "-l", line)
        self.tmux("send-keys", "-t", "t", "Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t", "-S", "-200")

    def until(self, what: str, text: str, timeout: float = 240) -> list[str]:
        """Screens seen until `text` shows, oldest first."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen.append(self.screen())
            if text in seen[-1]:
                return seen
            time.sleep(0.2)
        raise TimeoutError(f"{what}: {text!r} not on screen after {timeout}s:\n{seen[-1] if seen else ''}")


@pytest.fixture
def terminal(terminal_env: dict[str, str], tmp_path: Path) -> Iterator[Terminal]:
    if not shutil.which("tmux"):
        pytest.fail("tmux is not installed: hack/setup.sh installs it")
    socket = f"plugin-{os.getpid()}-{tmp_path.name}"
    shown = Terminal(socket, terminal_env)
    yield shown
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def test_backup_wait_shows_progress_then_the_result_and_status_shows_it(
        harness: Any, ns: str, make_director: Any, terminal: Terminal) -> None:
    director, _ = make_director()
    register(harness, ns, director, "plug")
    terminal.type("kubectl bosh-backup backup plug --wait; echo EXIT=$?")
    screens = terminal.until("backup --wait", "EXIT=")
    final = screens[-1]
    assert "EXIT=0" in final, final
    name = next(word for line in final.splitlines() if "created" in line for word in line.split()
                if word.startswith("plug-backup-"))
    artifact = get(harness, "DirectorBackup", ns, name)["status"]["artifact"]
    assert f"Backup {name} Succeeded in " in final and artifact["location"] in final
    # while it ran, the bar moved through the steps
    running = [s for s in screens[:-1] if "EXIT=" not in s]
    steps_seen = {step for s in running for step in ("Backup", "Store", "Precheck") if f" {step}" in s and "/" in s}
    assert steps_seen, "no step was shown while the backup ran:\n" + "\n----\n".join(running[-3:])
    assert any("%" in s for s in running)

    terminal.type("clear; kubectl bosh-backup status plug")
    screen = terminal.until("status", "Storage")[-1]
    lines = [" ".join(line.split()) for line in screen.splitlines()]
    assert f"Director {NS}/plug {director.url}" in lines
    assert "Reachable yes, as of " in "\n".join(lines)
    assert any(line.startswith(f"Last good backup {name} (") for line in lines), screen
    assert "Running nothing" in lines and "Queued nothing" in lines
    assert "Storage claim backups" in lines

    described = subprocess.run(["kubectl", "bosh-backup", "describe", "backup", name, "-o", "json"],
                               env={**os.environ, **terminal.env}, capture_output=True, text=True, check=True)
    assert json.loads(described.stdout)["status"]["phase"] == "Succeeded"


def test_restore_asks_first_and_a_no_changes_nothing_then_yes_restores(
        harness: Any, ns: str, make_director: Any, terminal: Terminal) -> None:
    director, _ = make_director()
    register(harness, ns, director, "plugr")
    before = director.snapshot()
    terminal.type("kubectl bosh-backup backup plugr --wait > /dev/null; echo BACKUP=$?")
    assert "BACKUP=0" in terminal.until("a backup to restore", "BACKUP=")[-1]
    [backup] = [b["metadata"]["name"] for b in harness.admin.get(
        f"/apis/bosh-backup.dev/v1alpha1/namespaces/{NS}/directorbackups")["items"]
        if b["spec"]["directorRef"]["name"] == "plugr"]
    director.destroy()
    fresh = director.replacement(harness.workdir / "sim" / f"plugin-fresh-{director.port}").start()

    terminal.type(f"clear; kubectl bosh-backup restore plugr --from {backup}; echo EXIT=$?")
    prompt = terminal.until("the confirmation prompt", "Restore now? [y/N]")[-1]
    assert f"Restore into director plugr ({director.url})" in prompt
    assert f"from DirectorBackup {backup}" in prompt
    assert "The database of director plugr will be replaced by the backup's." in prompt
    terminal.type("n")
    assert "EXIT=1" in terminal.until("a refusal", "EXIT=")[-1]
    restores = harness.admin.get(f"/apis/bosh-backup.dev/v1alpha1/namespaces/{NS}/directorrestores")["items"]
    assert restores == []

    terminal.type(f"clear; kubectl bosh-backup restore plugr --from {backup}; echo EXIT=$?")
    terminal.until("the confirmation prompt", "Restore now? [y/N]")
    terminal.type("y")
    screens = terminal.until("the restore", "EXIT=", timeout=300)
    assert "EXIT=0" in screens[-1], screens[-1]
    assert any("RestoreDatabase" in s for s in screens[:-1]), "the restore's steps were not shown as it ran"
    assert "Restore plugr-restore-" in screens[-1] and " Succeeded in " in screens[-1]
    assert fresh.snapshot() == before
    wait_for("the restore recorded", lambda: harness.admin.get(
        f"/apis/bosh-backup.dev/v1alpha1/namespaces/{NS}/directorrestores")["items"], timeout=5)


def test_a_failed_backup_exits_non_zero_with_the_reason_and_what_to_do(
        harness: Any, ns: str, make_director: Any, terminal_env: dict[str, str]) -> None:
    director, _ = make_director()
    register(harness, ns, director, "plugdown")
    director.stop()   # the director is down at 3 a.m.
    done = subprocess.run(["kubectl", "bosh-backup", "backup", "plugdown", "--wait"],
                          env={**os.environ, **terminal_env}, capture_output=True, text=True, timeout=280)
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert " Failed at step Precheck (DirectorUnreachable)" in last, done.stdout
    assert "\x1b[" not in done.stdout   # no colours when not on a terminal
    missing = subprocess.run(["kubectl", "bosh-backup", "backup", "nobody"], env={**os.environ, **terminal_env},
                             capture_output=True, text=True)
    assert missing.returncode == 1 and f'Director "nobody" not found in namespace {NS}' in missing.stderr
