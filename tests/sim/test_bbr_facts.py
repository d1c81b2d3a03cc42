"""BOSH-FACTS.md section 2 (bbr director), one test per fact, through the installed bbr."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import yaml

from boshsim.capture import flip_data_byte
from boshsim.fixtures import SimulatedDirector, bbr

LOG_LINE = re.compile(r"^\[bbr\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} INFO - .+$")


def backup(bin_dir: Path, director: SimulatedDirector, tmp_path: Path) -> tuple[Any, Path | None]:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    result = bbr(bin_dir, director, "backup", "--artifact-path", str(artifacts), cwd=tmp_path)
    folders = sorted(artifacts.iterdir())
    return result, (folders[-1] if folders else None)


def test_version(bin_dir: Path) -> None:
    result = subprocess.run([str(bin_dir / "bbr"), "version"], capture_output=True, text=True)
    assert re.fullmatch(r"bbr version \d+\.\d+\.\d+\n", result.stdout)


def test_backup_log_lines_and_progress(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    director, _ = seeded
    result, _ = backup(bin_dir, director, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(LOG_LINE.match(line) for line in lines)
    messages = [line.split(" INFO - ", 1)[1] for line in lines]
    assert any(re.fullmatch(r"Copying backup -- \S+ uncompressed -- for job director on bosh/0\.\.\.", m)
               for m in messages)
    percents = [int(m.rsplit("-- ", 1)[1].split("%")[0]) for m in messages
                if m.startswith("Copying backup for job director") and m.endswith("% complete")]
    # bbr 1.9.81 reports on a timer, not in 5% steps: a small job may print one
    # percentage, or none, before "Finished copying"
    assert percents == sorted(percents) and all(0 < p <= 100 for p in percents)
    assert "Finished copying backup -- for job director on bosh/0..." in messages
    assert "Starting validity checks -- for job director on bosh/0..." in messages
    assert messages[-2].startswith("Backup created of 127.0.0.1 on ") and messages[-1] == "Cleaning up..."


def test_artifact_folder_name_mode_and_layout(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    director, _ = seeded
    _, folder = backup(bin_dir, director, tmp_path)
    assert folder is not None
    assert re.fullmatch(r"127\.0\.0\.1_\d{8}T\d{6}Z", folder.name)  # host without port
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == [
        "bosh-0-bbr-credhubdb.tar", "bosh-0-bbr-uaadb.tar", "bosh-0-blobstore.tar", "bosh-0-director.tar",
        "metadata"]


def test_metadata_has_sha256_per_file_and_times(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    import hashlib
    import tarfile

    director, _ = seeded
    _, folder = backup(bin_dir, director, tmp_path)
    assert folder is not None
    metadata = yaml.safe_load((folder / "metadata").read_text())
    instance = metadata["instances"][0]
    assert (instance["name"], instance["index"]) == ("bosh", "0")
    director_artifact = next(a for a in instance["artifacts"] if a["name"] == "director")
    with tarfile.open(folder / "bosh-0-director.tar") as archive:
        names = archive.getnames()
        assert names[0] == "."  # `tar -C DIR -c .` on the VM: the folder itself first
        member = next(m for m in archive.getmembers() if m.isfile())
        assert member.name.startswith("./")
        data = archive.extractfile(member).read()  # type: ignore[union-attr]
    assert director_artifact["checksums"] == {member.name: hashlib.sha256(data).hexdigest()}
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} UTC", metadata["backup_activity"]["start_time"])


def test_pre_backup_check(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    ok = bbr(bin_dir, director, "pre-backup-check")
    assert ok.returncode == 0 and "Director can be backed up." in ok.stdout
    director.leave_stale_bbr_lock()
    blocked = bbr(bin_dir, director, "pre-backup-check")
    assert blocked.returncode == 1 and "Director cannot be backed up." in blocked.stdout


def test_stale_lock_fails_backup_until_backup_cleanup(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    director, _ = seeded
    director.leave_stale_bbr_lock()
    result, _ = backup(bin_dir, director, tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("1 error occurred:\nerror 1:\n")
    assert "Directory /var/vcap/store/bbr-backup already exists on instance bosh/0" in result.stderr
    assert "It is recommended that you run `bbr backup-cleanup`" in result.stderr  # not `bbr director ...`
    assert list(tmp_path.glob("bbr-*.err.log")), "bbr writes its stack trace in the working directory"
    again, _ = backup(bin_dir, director, tmp_path)
    assert again.returncode == 1
    cleanup = bbr(bin_dir, director, "backup-cleanup")
    assert cleanup.returncode == 0
    after, _ = backup(bin_dir, director, tmp_path)
    assert after.returncode == 0, after.stderr


def test_lock_error_exits_4(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    director, _ = seeded
    director.set_faults(bbr_lock_error=True)
    result, folder = backup(bin_dir, director, tmp_path)
    assert result.returncode == 4
    assert "pre-backup-lock" in result.stderr
    # bbr writes metadata when it creates the folder, even when the backup then fails:
    # only the missing tars say that nothing usable is there
    assert folder is not None and (folder / "metadata").exists()
    assert not list(folder.glob("*.tar"))


def test_backup_and_cleanup_errors_combine_to_17(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    director, _ = seeded
    director.set_faults(bbr_backup_error="blobstore", bbr_cleanup_error=True)
    result, _ = backup(bin_dir, director, tmp_path)
    assert result.returncode == 17
    assert result.stderr.startswith("2 errors occurred:\n")


def test_unlock_error_exits_8_but_keeps_the_artifact(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    director, _ = seeded
    director.set_faults(bbr_unlock_error=True)
    result, folder = backup(bin_dir, director, tmp_path)
    assert result.returncode == 8
    assert folder is not None and (folder / "metadata").exists()


def test_ssh_failures(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    director, _ = seeded
    bad_key = tmp_path / "bad-key"
    bad_key.write_text("not a key")
    assert "ssh.NewConnection.ParsePrivateKey failed" in bbr(bin_dir, director, "pre-backup-check",
                                                             key=bad_key).stderr
    wrong_user = bbr(bin_dir, director, "pre-backup-check", user="root")
    assert wrong_user.returncode == 1 and "unable to authenticate" in wrong_user.stderr
    refused = bbr(bin_dir, director, "pre-backup-check", host="127.0.0.1")
    assert "dial tcp 127.0.0.1:22" in refused.stderr  # port defaults to 22


def test_restore_verifies_checksums_before_touching_the_director(seeded: Any, bin_dir: Path, tmp_path: Path,
                                                                 new_director: Any) -> None:
    director, _ = seeded
    _, folder = backup(bin_dir, director, tmp_path)
    assert folder is not None
    flip_data_byte(folder / "bosh-0-director.tar")
    fresh = new_director("fresh", credentials=director.credentials)
    before = fresh.snapshot()
    result = bbr(bin_dir, fresh, "restore", "--artifact-path", str(folder))
    assert result.returncode == 1
    assert "Backup is corrupted" in result.stderr
    assert fresh.snapshot() == before


def test_restore_requires_artifact_path(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    result = bbr(bin_dir, director, "restore")
    assert result.returncode == 1 and "--artifact-path" in result.stderr


def test_sigterm_leaves_the_lock_behind(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    import signal
    import time

    director, _ = seeded
    director.set_faults(slow_seconds=0.3)
    (tmp_path / "a").mkdir()
    process = subprocess.Popen([str(bin_dir / "bbr"), "director", "--host", director.ssh_host, "--username",
                                director.credentials.ssh_user, "--private-key-path", str(director.ssh_key_file),
                                "backup", "--artifact-path", str(tmp_path / "a")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # SIGTERM once bbr holds the lock (a fixed sleep raced a slow SSH connect on a loaded machine)
    deadline = time.monotonic() + 60
    while not director.state.bbr_lock.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert director.state.bbr_lock.exists(), "bbr never took the lock"
    time.sleep(0.5)   # into its slowed copying
    os.kill(process.pid, signal.SIGTERM)
    process.wait(10)
    director.set_faults()
    assert director.state.bbr_lock.exists()
    assert bbr(bin_dir, director, "pre-backup-check").returncode == 1
