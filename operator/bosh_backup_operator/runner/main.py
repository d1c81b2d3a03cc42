"""`bosh-backup-runner`: executes a plan inside the pod (the backup and restore runs).

Plans arrive with the DirectorBackup and DirectorRestore work; until then this
entry point only reports its version, so the image and console script can be
checked end to end.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bosh-backup-runner",
                                     description="Runs a backup or restore plan in its pod.")
    parser.add_argument("--version", action="version", version=__version__)
    parser.parse_args(argv)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
