"""Storing bbr's tars while bbr writes them: each file is followed as it grows and is
stored whole, closed by bbr's own "Finished copying" line or by bbr's end."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

from bosh_backup_operator.runner.stream import BbrFollower
from bosh_backup_operator.storage.pvc import PvcStore

FINISHED = "Finished copying backup -- for job {job} on bosh/0a1b2c3d..."


def write_slowly(path: Path, data: bytes, pieces: int, then: threading.Event | None = None) -> threading.Thread:
    """What bbr does: creates the file, then appends to it over time, unevenly."""
    def run() -> None:
        with path.open("wb") as handle:
            step = len(data) // pieces + 7
            for start in range(0, len(data), step):
                handle.write(data[start:start + step])
                handle.flush()
                time.sleep(0.01)
        if then:
            then.set()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_each_tar_is_hashed_whole_while_it_grows(tmp_path: Path) -> None:
    store = PvcStore("backups", "ns/director/nightly", root=tmp_path / "claim")
    (tmp_path / "claim").mkdir()
    store.begin()
    run_folder = store.staging / "bbr-run"
    produced = run_folder / "10.0.0.6_20261129T000000Z"
    produced.mkdir(parents=True)
    follower = BbrFollower(run_folder, store.writer)
    follower.start()
    blobstore, database = os.urandom(3 << 20), os.urandom(300_000)
    blob_done = threading.Event()
    writers = [write_slowly(produced / "bosh-0-blobstore.tar", blobstore, 40, blob_done),
               write_slowly(produced / "bosh-0-director.tar", database, 5)]
    blob_done.wait(10)
    follower.saw(FINISHED.format(job="blobstore"))   # bbr closed this one; the director's ends with bbr
    for writer in writers:
        writer.join()
    stored = follower.stop()
    assert stored["bbr/bosh-0-blobstore.tar"].sha256 == hashlib.sha256(blobstore).hexdigest()
    assert stored["bbr/bosh-0-blobstore.tar"].size == len(blobstore)
    assert stored["bbr/bosh-0-director.tar"].sha256 == hashlib.sha256(database).hexdigest()
    # hashed from the claim itself: that reading is the proof, no second read is needed
    assert store.proven == {"bbr/bosh-0-blobstore.tar", "bbr/bosh-0-director.tar"}


def test_a_finished_line_seen_before_the_file_is_found_still_closes_it(tmp_path: Path) -> None:
    store = PvcStore("backups", "p", root=tmp_path)
    store.begin()
    produced = store.staging / "run" / "artifact"
    produced.mkdir(parents=True)
    data = os.urandom(100_000)
    (produced / "bosh-0-bbr-uaadb.tar").write_bytes(data)
    follower = BbrFollower(store.staging / "run", store.writer)
    follower.saw(FINISHED.format(job="bbr-uaadb"))
    follower.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(f.stored for f, _ in follower.files.values()):
        time.sleep(0.02)
    found = [f.stored for f, _ in follower.files.values()]
    assert found and found[0] is not None, "closed by the earlier line, before bbr ended"
    assert follower.stop()["bbr/bosh-0-bbr-uaadb.tar"].sha256 == hashlib.sha256(data).hexdigest()


def test_abandoning_stops_following_and_stores_nothing(tmp_path: Path) -> None:
    store = PvcStore("backups", "p", root=tmp_path)
    store.begin()
    produced = store.staging / "run" / "artifact"
    produced.mkdir(parents=True)
    (produced / "bosh-0-blobstore.tar").write_bytes(b"half a tar")
    follower = BbrFollower(store.staging / "run", store.writer)
    follower.start()
    time.sleep(0.2)
    follower.abandon()
    assert all(f.stored is None for f, _ in follower.files.values())
    assert store.proven == set()


def test_growing_tars_are_encrypted_on_their_way_and_no_plaintext_reaches_the_claim(tmp_path: Path) -> None:
    import pyrage

    from bosh_backup_operator.storage.encryption import SUFFIX, EncryptingWriter, decrypt_file

    identity = pyrage.x25519.Identity.generate()
    store = PvcStore("backups", "ns/director/nightly", root=tmp_path / "claim")
    (tmp_path / "claim").mkdir()
    store.begin()
    produced = tmp_path / "scratch" / "10.0.0.6_20261129T000000Z"   # bbr writes into the pod's scratch
    produced.mkdir(parents=True)
    follower = BbrFollower(tmp_path / "scratch", lambda name, _source: EncryptingWriter(
        store.writer(name + SUFFIX, None), [str(identity.to_public())], name))
    follower.start()
    blobstore = os.urandom(5 << 20)
    write_slowly(produced / "bosh-0-blobstore.tar", blobstore, 30).join()
    stored = follower.stop()["bbr/bosh-0-blobstore.tar"]
    assert stored.name == "bbr/bosh-0-blobstore.tar.age"
    assert stored.plaintext is not None and stored.plaintext.sha256 == hashlib.sha256(blobstore).hexdigest()
    on_claim = sorted(str(p.relative_to(store.staging)) for p in store.staging.rglob("*") if p.is_file())
    assert on_claim == ["bbr/bosh-0-blobstore.tar.age"]
    store.verify(stored)
    decrypt_file(store.staging / stored.name, tmp_path / "back.tar", [identity])
    assert (tmp_path / "back.tar").read_bytes() == blobstore
