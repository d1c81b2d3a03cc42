"""Starts the local environment for a person: `python -m harness up [--workdir DIR]`.

Prints the KUBECONFIG to use and runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .env import Harness, wait_forever, wipe


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m harness")
    parser.add_argument("command", choices=["up"], help="up: start and wait for Ctrl-C")
    parser.add_argument("--workdir", type=Path, help="where state and logs go (default: a temp dir)")
    parser.add_argument("--no-operator", action="store_true", help="start without the operator")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bosh-backup-harness-"))
    wipe(workdir)
    harness = Harness(workdir)
    try:
        harness.start(operator=not args.no_operator)
        harness.print_usage()
        print("Press Ctrl-C to stop.", flush=True)
        wait_forever(harness)
    finally:
        harness.stop()


if __name__ == "__main__":
    main()
