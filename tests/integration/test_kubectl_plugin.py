"""kubectl bosh-backup, driven as a person drives it: the real kubectl finds the plugin on
PATH, in a real terminal (tmux), against the harness's control plane, operator, real bbr
and a simulated director. The screen is read back with capture-pane."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from boshsim.k8s import API, get, register, wait_for_step
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
        """Screens seen until `text` shows, oldest first. A marker the shell prints starts a
        line ("\nEXIT="): the typed command, echoed on the screen, holds it mid-line."""
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
    screens = terminal.until("backup --wait", "\nEXIT=")
    final = screens[-1]
    assert "EXIT=0" in final, final
    name = next(word for line in final.splitlines() if "created" in line for word in line.split()
                if word.startswith("plug-backup-"))
    artifact = get(harness, "DirectorBackup", ns, name)["status"]["artifact"]
    assert f"Backup {name} Succeeded in " in final and artifact["location"] in final
    # while it ran, the bar moved through the steps
    running = screens[:-1]
    steps_seen = {found for s in running for found in re.findall(r"\b([1-5])/6 ([A-Za-z]+)", s)}
    assert steps_seen, "no step was shown while the backup ran:\n" + "\n----\n".join(running[-3:])
    assert any(re.search(r"━+\s+\d+%", s) for s in running)   # the bar and its percent

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
    assert "BACKUP=0" in terminal.until("a backup to restore", "\nBACKUP=")[-1]
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
    assert "EXIT=1" in terminal.until("a refusal", "\nEXIT=")[-1]
    restores = harness.admin.get(f"/apis/bosh-backup.dev/v1alpha1/namespaces/{NS}/directorrestores")["items"]
    assert restores == []

    terminal.type(f"clear; kubectl bosh-backup restore plugr --from {backup}; echo EXIT=$?")
    terminal.until("the confirmation prompt", "Restore now? [y/N]")
    terminal.type("y")
    screens = terminal.until("the restore", "\nEXIT=", timeout=300)
    assert "EXIT=0" in screens[-1], screens[-1]
    assert any(re.search(r"\b\d+/\d+ RestoreDatabase", s) for s in screens[:-1]), \
        "the restore's steps were not shown as it ran"
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
    assert " Failed at step DirectorInfo (DirectorUnreachable) in " in last, done.stdout
    assert "Check that the director's API (spec.url) answers from the cluster" in last   # what to do
    assert "\x1b[" not in done.stdout   # no colours when not on a terminal
    missing = subprocess.run(["kubectl", "bosh-backup", "backup", "nobody"], env={**os.environ, **terminal_env},
                             capture_output=True, text=True)
    assert missing.returncode == 1 and f'Director "nobody" not found in namespace {NS}' in missing.stderr


def plugin(env: dict[str, str], *args: str, timeout: float = 280) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "bosh-backup", *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=timeout)


def test_run_now_describe_logs_and_cancel(harness: Any, ns: str, make_director: Any,
                                          terminal_env: dict[str, str]) -> None:
    director, _ = make_director()
    register(harness, ns, director, "plugs")
    harness.apply({"apiVersion": API, "kind": "DirectorBackupSchedule", "metadata": {"name": "plugs", "namespace": NS},
                   "spec": {"directorRef": {"name": "plugs"}, "schedule": "@daily-random"}})
    done = plugin(terminal_env, "run-now", "plugs", "--wait", "-o", "yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    name = done.stdout.split(" created", 1)[0].split()[-1]
    assert name.startswith("plugs-now-")
    assert yaml.safe_load(done.stdout.split("\n", 2)[-1].split("Succeeded", 1)[1].split("\n", 1)[1])[
        "status"]["phase"] == "Succeeded"   # -o yaml: the finished object after the follow

    described = plugin(terminal_env, "describe", "backup", name)
    assert described.returncode == 0, described.stderr
    artifact = get(harness, "DirectorBackup", ns, name)["status"]["artifact"]
    lines = [" ".join(line.split()) for line in described.stdout.splitlines()]
    assert any(line.startswith("DirectorInfo Succeeded ") for line in lines), described.stdout
    assert any(line.startswith("Store Succeeded ") for line in lines)
    for entry in artifact["files"]:
        assert any(line.startswith(f"{entry['name']} ") and line.endswith(entry["sha256"]) for line in lines), entry

    # the harness's node agent serves no logs to the apiserver (the kubelet is simulated):
    # what can be checked is that the plugin asks the API for the runner's log of this run's
    # pod, and that a refusal is explained, not a traceback
    pod = harness.admin.get(f"/api/v1/namespaces/{NS}/pods",
                            labelSelector=f"job-name={get(harness, 'DirectorBackup', ns, name)['status']['jobName']}")
    [pod_name] = [item["metadata"]["name"] for item in pod["items"]]
    logs = plugin(terminal_env, "logs", "backup", name)
    assert logs.returncode == 1 and "Traceback" not in logs.stderr
    assert f"cannot read the log of pod {pod_name} (container runner): " in logs.stderr
    assert f"containerLogs/{NS}/{pod_name}/runner" in logs.stderr

    director.set_faults(slow_seconds=0.5)
    started = plugin(terminal_env, "backup", "plugs")
    slow = started.stdout.split()[1]
    wait_for_step(harness, "DirectorBackup", ns, slow, "Backup")
    cancelled = plugin(terminal_env, "cancel", slow)
    director.set_faults()
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert cancelled.stdout.splitlines()[0] == f"DirectorBackup {slow}: cancel requested"
    assert f"Backup {slow} Cancelled" in cancelled.stdout
    assert get(harness, "DirectorBackup", ns, slow)["status"]["phase"] == "Cancelled"
