"""The bbr scripts of the simulated director VM's jobs.

Real bbr finds `/var/vcap/jobs/<job>/bin/bbr/<script>` over SSH and runs each through
`sudo` with `BBR_ARTIFACT_DIRECTORY` (and friends) in the environment; each of those
files is a two-line shell script that lands here:

    python -m boshsim.vmjobs --state DIR JOB SCRIPT

The scripts work on the director's real state (its database, blobstore, credhub and
uaa databases); the lock scripts stop and start the director's task workers. Faults
that a test switched on (faults.py) make a script fail the way a real job's would.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .faults import Faults
from .state import DirectorState

# job -> the scripts it has; the director job locks, the others only back up and restore
JOB_SCRIPTS = {
    "director": ("metadata", "pre-backup-lock", "backup", "post-backup-unlock",
                 "pre-restore-lock", "restore", "post-restore-unlock"),
    "blobstore": ("backup", "restore"),
    "bbr-credhubdb": ("backup", "restore"),
    "bbr-uaadb": ("backup", "restore"),
}
DATABASES = {"director": "db.json", "bbr-credhubdb": "credhub.json", "bbr-uaadb": "uaa.json"}
DUMPS = {"director": "director-db.json", "bbr-credhubdb": "credhub-db.json", "bbr-uaadb": "uaa-db.json"}


class ScriptFailed(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def artifact_directory(state: DirectorState) -> Path:
    """BBR_ARTIFACT_DIRECTORY, reached through the director's own folder: /var/vcap is a
    bind mount in the VM, and link(2) never crosses a mount, even on one disk."""
    value = os.environ.get("BBR_ARTIFACT_DIRECTORY")
    if not value:
        raise ScriptFailed("BBR_ARTIFACT_DIRECTORY is not set")
    path = Path(value)
    if path.is_relative_to("/var/vcap"):
        return state.vm / path.relative_to("/")
    return path


def backup(state: DirectorState, faults: Faults, job: str) -> None:
    if faults.get("bbr_backup_error") == job:
        raise ScriptFailed("/var/vcap/jobs/database-backup-restorer/bin/restore: not found", 127)
    time.sleep(float(faults.get("slow_seconds", 0)))
    target = artifact_directory(state)
    if job == "director":  # a long backup, as a large database makes one (bbr waits for every job)
        long_backup(float(faults.get("bbr_backup_seconds", 0)), target.parent)
    target.mkdir(parents=True, exist_ok=True)
    if job == "blobstore":
        blobs = target / "blobs"
        blobs.mkdir(exist_ok=True)
        for blob in sorted(state.blobs.iterdir()):
            if blob.is_file():
                # the artifact folder and the store share a disk: link, as a snapshot would
                os.link(blob, blobs / blob.name)
        return
    if job == "director":
        with state.lock:
            db = state.db()
        (target / DUMPS[job]).write_text(json.dumps(db, indent=2, sort_keys=True))
        if faults.get("bbr_cleanup_error"):
            # a file bbr's `rm -rf` cannot remove: cleanup fails as on a real busy disk
            subprocess.run(["chattr", "+i", str(target / DUMPS[job])], check=True)
        return
    shutil.copyfile(state.path / DATABASES[job], target / DUMPS[job])


def long_backup(seconds: float, bbr_folder: Path) -> None:
    """Takes `seconds`, unless bbr's folder goes first (a cancelled run cleaned up): then the
    script stops, as a dump would fail, rather than write into the next run's folder."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not bbr_folder.exists():
            raise ScriptFailed("the backup folder was removed while the dump ran")
        time.sleep(0.5)


def restore(state: DirectorState, faults: Faults, job: str) -> None:
    if faults.get("bbr_restore_error") == job:
        raise ScriptFailed(f"restoring {job} failed: ERROR: relation \"schema_migrations\" does not exist")
    time.sleep(float(faults.get("slow_seconds", 0)))
    source = artifact_directory(state)
    if job == "blobstore":
        blobs = source / "blobs"
        with state.lock:
            for old in state.blobs.iterdir():
                old.unlink()
            for blob in sorted(blobs.iterdir()) if blobs.is_dir() else []:
                shutil.copyfile(blob, state.blobs / blob.name)
        return
    dump = source / DUMPS[job]
    if not dump.is_file():
        raise ScriptFailed(f"{DUMPS[job]} is missing from the {job} artifact")
    data = json.loads(dump.read_text())
    if job != "director":
        state.write(DATABASES[job], data)
        return
    with state.lock:  # (the task history is not in the database: it survives a restore)
        state.save(data)


def lock(state: DirectorState, faults: Faults, why: str) -> None:
    if why == "backup" and faults.get("bbr_lock_error"):
        raise ScriptFailed("director workers did not stop in time")
    state.stop_workers(why)


def unlock(state: DirectorState, faults: Faults, why: str) -> None:
    if why == "backup" and faults.get("bbr_unlock_error"):
        raise ScriptFailed("monit start director_sync failed: Connection refused")
    state.start_workers()


def run(state_dir: Path, job: str, script: str) -> None:
    state = DirectorState(state_dir)
    faults = Faults(state_dir)
    if script == "metadata":
        print("---\nbackup_should_be_locked_before: []\nrestore_should_be_locked_before: []")
    elif script == "backup":
        backup(state, faults, job)
    elif script == "restore":
        restore(state, faults, job)
    elif script in ("pre-backup-lock", "pre-restore-lock"):
        lock(state, faults, script.split("-")[1])
    elif script in ("post-backup-unlock", "post-restore-unlock"):
        unlock(state, faults, script.split("-")[1])
    else:
        raise ScriptFailed(f"no script {script} for job {job}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m boshsim.vmjobs")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("job", choices=sorted(JOB_SCRIPTS))
    parser.add_argument("script")
    args = parser.parse_args()
    try:
        run(args.state, args.job, args.script)
    except ScriptFailed as error:
        print(error, file=sys.stderr)
        sys.exit(error.code)


if __name__ == "__main__":
    main()
