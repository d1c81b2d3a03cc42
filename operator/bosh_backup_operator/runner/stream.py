"""Storing bbr's tars while bbr still writes them.

bbr copies every job's tar from the director at once, each into its own file, and logs
"Finished copying backup -- for job J on I/ID" once a file is closed. Each tar is read
as it grows, hashed, and handed to its store's writer: on S3 the parts go as soon as
they are whole, on a claim (where bbr writes straight into the staging folder) only the
hash is left to take. So by the time bbr ends, most of the artifact is already stored,
and the backup costs little more than bbr itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..bosh.parsers import BBR_COPY_DONE
from ..storage import CHUNK, FileWriter, StoredFile

log = logging.getLogger("runner")
POLL_SECONDS = 0.05


def stored_name(tar: Path) -> str:
    return f"bbr/{tar.name}"


class GrowingFile(threading.Thread):
    """Feeds a file's bytes to a writer as they appear, until the file is closed."""

    def __init__(self, path: Path, writer: Any, closed: threading.Event):
        super().__init__(daemon=True, name=f"follow-{path.name}")
        self.path, self.writer, self.closed = path, writer, closed
        self.stored: StoredFile | None = None
        self.error: BaseException | None = None
        self.cancelled = threading.Event()

    def run(self) -> None:
        try:
            with self.path.open("rb") as handle:
                closing = False
                while not self.cancelled.is_set():
                    data = handle.read(CHUNK)
                    if data:
                        self.writer.feed(data)
                        continue
                    if closing:
                        break
                    if self.closed.is_set():   # closed: one more pass reaches its true end
                        closing = True
                        continue
                    time.sleep(POLL_SECONDS)
            if self.cancelled.is_set():
                self.writer.abandon()
                return
            self.stored = self.writer.finish()
        except BaseException as error:  # the Store step sends this file again, with its own retries
            log.warning("streaming %s failed, the Store step sends it again: %s", self.path.name, error)
            self.error = error
            self.writer.abandon()


class BbrFollower(threading.Thread):
    """Watches bbr's artifact folder and follows each tar that appears there."""

    def __init__(self, folder: Path, writer_for: Callable[[str, Path], FileWriter]):
        super().__init__(daemon=True, name="bbr-follower")
        self.folder, self.writer_for = folder, writer_for
        self.files: dict[str, tuple[GrowingFile, threading.Event]] = {}   # tar name -> follower, closed
        self.finished: list[tuple[str, str]] = []                         # (job, instance) bbr has closed
        self.ended = threading.Event()
        self.lock = threading.Lock()

    def saw(self, message: str) -> None:
        """One of bbr's log messages; a finished copy closes its file."""
        match = BBR_COPY_DONE.match(message)
        if match:
            with self.lock:
                self.finished.append((match["job"], match["instance"]))
                for name, (_, closed) in self.files.items():
                    if self._closes(name, match["job"], match["instance"]):
                        closed.set()

    @staticmethod
    def _closes(tar: str, job: str, instance: str) -> bool:
        # bbr names a job's file <instance>-<index>-<job>.tar, or <job>.tar for a custom artifact name
        return tar == f"{job}.tar" or (tar.startswith(f"{instance}-") and tar.endswith(f"-{job}.tar"))

    def run(self) -> None:
        while True:
            ended = self.ended.is_set()
            for path in sorted(self.folder.glob("*/*.tar")):
                with self.lock:
                    if path.name in self.files:
                        continue
                    closed = threading.Event()
                    if any(self._closes(path.name, job, instance) for job, instance in self.finished):
                        closed.set()
                    follower = GrowingFile(path, self.writer_for(stored_name(path), path), closed)
                    self.files[path.name] = (follower, closed)
                follower.start()
            if ended:
                return
            self.ended.wait(POLL_SECONDS)

    def stop(self) -> dict[str, StoredFile]:
        """bbr has ended: every file it wrote is whole. Returns what was stored, by the name
        its file has in the artifact (bbr/<tar>, whatever it is stored as)."""
        self.ended.set()
        self.join()
        stored = {}
        for follower, closed in self.files.values():
            closed.set()
            follower.join()
            if follower.stored is not None:
                stored[stored_name(follower.path)] = follower.stored
        return stored

    def abandon(self) -> None:
        """bbr failed: stop following and drop what was being sent."""
        self.ended.set()
        self.join()
        for follower, _ in self.files.values():
            follower.cancelled.set()
            follower.join()
