"""A simulated director's durable state, in a folder.

    <state>/db.json        the director database: identity, stemcells, releases,
                           deployments with instances and processes
    <state>/tasks.json     the director's tasks and their events
    <state>/blobs/<id>     the blobstore: stemcell and release tarballs
    <state>/credhub.json   the credhub database (bbr backs it up as bbr-credhubdb)
    <state>/uaa.json       the uaa database (bbr-uaadb)
    <state>/faults.json    faults a test asked for (see faults.py)
    <state>/workers-stopped  present while a bbr lock script has stopped the task workers
    <state>/vm/var/vcap    the director VM's /var/vcap: jobs' bbr scripts, store/bbr-backup

The IaaS (which VMs and disks exist) is a separate file shared by every director of
a test, as a cloud outlives the director that manages it.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import io
import json
import os
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

DB_VERSION = 1
BBR_LOCK_DIR = "var/vcap/store/bbr-backup"


class StateLock:
    """One writer of the director's files at a time: threads of the API server, and the
    bbr scripts that run as other processes on the VM. Re-entrant within a thread."""

    def __init__(self, path: Path):
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._handle: Any = None

    def __enter__(self) -> StateLock:
        self._thread_lock.acquire()
        if self._depth == 0:
            self._handle = self.path.open("a")
            fcntl.flock(self._handle, fcntl.LOCK_EX)
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
        self._thread_lock.release()


def empty_db(name: str) -> dict[str, Any]:
    return {
        "schema": DB_VERSION,
        "name": name, "uuid": str(uuid.uuid4()), "version": "282.0.3 (00000000)",
        "cpi": "warden_cpi", "stemcell_os": "ubuntu-jammy", "stemcell_version": "1.700",
        "stemcells": [], "releases": [], "deployments": [],
    }


def sha1_file(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


class DirectorState:
    def __init__(self, path: Path, name: str = "sim-director"):
        self.path = path
        self.blobs = path / "blobs"
        self.vm = path / "vm"
        for folder in (path, self.blobs, self.vm / "var" / "vcap"):
            folder.mkdir(parents=True, exist_ok=True)
        self.lock = StateLock(path / "state.lock")
        if not (path / "db.json").exists():
            write_json_atomic(path / "db.json", empty_db(name))
            write_json_atomic(path / "credhub.json", {"credentials": {}})
            write_json_atomic(path / "uaa.json", {"clients": {}})

    # -- database -------------------------------------------------------------

    def db(self) -> dict[str, Any]:
        return dict(json.loads((self.path / "db.json").read_text()))

    def save(self, db: dict[str, Any]) -> None:
        write_json_atomic(self.path / "db.json", db)

    def read_tasks(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.path / "tasks.json").read_text()))
        except FileNotFoundError:
            return {"tasks": [], "next_task_id": 1}

    def save_tasks(self, tasks: dict[str, Any]) -> None:
        write_json_atomic(self.path / "tasks.json", tasks)

    def read(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    def write(self, name: str, data: Any) -> None:
        write_json_atomic(self.path / name, data)

    # -- blobstore ------------------------------------------------------------

    def put_blob(self, source: Path) -> str:
        blob_id = str(uuid.uuid4())
        target = self.blobs / blob_id
        with source.open("rb") as src, target.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        return blob_id

    def blob_present(self, blob_id: str | None) -> bool:
        return bool(blob_id) and (self.blobs / str(blob_id)).is_file()

    # -- the task workers, which bbr's lock scripts stop during a backup or restore --

    @property
    def _workers_flag(self) -> Path:
        return self.path / "workers-stopped"

    def stop_workers(self, why: str) -> None:
        self._workers_flag.write_text(why)

    def start_workers(self) -> None:
        self._workers_flag.unlink(missing_ok=True)

    def workers_stopped(self) -> bool:
        return self._workers_flag.exists()

    # -- the bbr lock left on the director VM -----------------------------------

    @property
    def bbr_lock(self) -> Path:
        return self.vm / BBR_LOCK_DIR

    # -- what a test compares -----------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything a restore must bring back, in a comparable form."""
        db = self.db()

        def artifact(row: dict[str, Any], kind: str) -> dict[str, Any]:
            present = self.blob_present(row.get("blob_id"))
            return {"kind": kind, "name": row["name"], "version": row["version"],
                    "sha1": row["sha1"], "blob": sha1_file(self.blobs / row["blob_id"]) if present else None,
                    **({"cid": row["cid"]} if kind == "stemcell" else {})}
        return {
            "name": db["name"], "uuid": db["uuid"],
            "stemcells": sorted((artifact(s, "stemcell") for s in db["stemcells"]),
                                key=lambda r: (r["name"], r["version"])),
            "releases": sorted((artifact(r, "release") for r in db["releases"]),
                               key=lambda r: (r["name"], r["version"])),
            "deployments": sorted(copy.deepcopy(db["deployments"]), key=lambda d: d["name"]),
            "credhub": self.read("credhub.json"),
            "uaa": self.read("uaa.json"),
        }


class Iaas:
    """The cloud: VMs (with whether their agent answers) and disks, shared by directors."""

    def __init__(self, path: Path):
        self.path = path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, {"vms": {}, "disks": []})

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        with (self.path.with_suffix(".lock")).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = json.loads(self.path.read_text())
            yield data
            write_json_atomic(self.path, data)

    def read(self) -> dict[str, Any]:
        return dict(json.loads(self.path.read_text()))


# -- stemcell and release tarballs, as bosh.io serves them -------------------------

def _tgz_with_manifest(target: Path, manifest_name: str, manifest: dict[str, Any],
                       payload_size: int) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as archive:
        for name, data in ((manifest_name, yaml.safe_dump(manifest).encode()),
                           ("image" if manifest_name == "stemcell.MF" else "jobs.tgz",
                            os.urandom(payload_size))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return target


def make_stemcell(folder: Path, name: str, version: str, os_name: str = "ubuntu-jammy",
                  size: int = 4096) -> Path:
    manifest = {"name": name, "version": version, "operating_system": os_name,
                "stemcell_formats": ["warden-tgz"], "cloud_properties": {}}
    return _tgz_with_manifest(folder / f"{name}-{version}.tgz", "stemcell.MF", manifest, size)


def make_release(folder: Path, name: str, version: str, size: int = 4096) -> Path:
    manifest = {"name": name, "version": version, "commit_hash": hashlib.sha1(
        f"{name}{version}".encode()).hexdigest()[:8], "uncommitted_changes": False,
                "jobs": [{"name": f"{name}-server"}]}
    return _tgz_with_manifest(folder / f"{name}-{version}.tgz", "release.MF", manifest, size)


def read_manifest(tarball: Path) -> tuple[str, dict[str, Any]]:
    """('stemcell'|'release', manifest) of an uploaded tarball."""
    with tarfile.open(tarball, "r:*") as archive:
        for member, kind in (("stemcell.MF", "stemcell"), ("release.MF", "release"),
                             ("./stemcell.MF", "stemcell"), ("./release.MF", "release")):
            try:
                extracted = archive.extractfile(member)
            except KeyError:
                continue
            if extracted:
                return kind, dict(yaml.safe_load(extracted.read()))
    raise ValueError("neither stemcell.MF nor release.MF found in the tarball")
