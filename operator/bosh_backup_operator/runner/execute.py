"""Runs one tool command, streaming its lines, stoppable by SIGTERM.

A tool's whole output is kept, in spool files rather than memory while it runs: a
director with hundreds of releases and thousands of instances prints megabytes of
JSON, and no parse may see only the end of it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

log = logging.getLogger("runner")


@dataclass
class Completed:
    argv: list[str]
    code: int
    stdout: str
    stderr: str


def _spool() -> IO[str]:
    return tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")


class Stopped(Exception):
    """The pod is being stopped (deletion, cancel, deadline)."""


class Executor:
    def __init__(self, cwd: str, env: dict[str, str] | None = None):
        self.cwd = cwd
        self.env = env or dict(os.environ)
        self.stopping = threading.Event()
        self.current: subprocess.Popen[str] | None = None

    def stop(self) -> None:
        """From the SIGTERM handler: pass the signal on to the running tool."""
        self.stopping.set()
        self.interrupt()

    def interrupt(self) -> None:
        """Stops the running tool (SIGTERM) without stopping the run: its step decides what follows."""
        process = self.current
        if process and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)

    def run(self, argv: list[str], on_line: Callable[[str, str], None] | None = None,
            check_stop: bool = True) -> Completed:
        if check_stop and self.stopping.is_set():
            raise Stopped()
        log.info("running %s", argv[0] if not argv else " ".join(argv[:3]) + (" ..." if len(argv) > 3 else ""))
        try:
            process = subprocess.Popen(argv, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                       errors="replace", start_new_session=True)
        except FileNotFoundError:
            return Completed(argv, 127, "", f"{argv[0]}: command not found in the runner image")
        except OSError as error:
            return Completed(argv, 126, "", f"{argv[0]}: cannot be executed: {error.strerror}")
        self.current = process
        spools = {"stdout": _spool(), "stderr": _spool()}

        def pump(name: str) -> None:
            stream = process.stdout if name == "stdout" else process.stderr
            assert stream is not None
            for line in stream:
                spools[name].write(line)
                print(line, end="", flush=True)  # the pod's log keeps the tool's own words
                if on_line:
                    try:
                        on_line(name, line.rstrip("\n"))
                    except Exception as error:
                        log.warning("progress parsing failed: %s", error)
        threads = [threading.Thread(target=pump, args=(n,), daemon=True) for n in spools]
        for thread in threads:
            thread.start()
        code = process.wait()
        for thread in threads:
            thread.join()
        self.current = None
        outputs = {}
        for name, spool in spools.items():
            spool.seek(0)
            outputs[name] = spool.read()
            spool.close()
        if check_stop and self.stopping.is_set():
            raise Stopped()
        return Completed(argv, code, outputs["stdout"], outputs["stderr"])
