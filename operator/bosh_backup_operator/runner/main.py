"""`bosh-backup-runner`: executes the plan it is given, inside the run's pod.

    bosh-backup-runner run      the plan from $BOSH_BACKUP_PLAN, status written to the resource
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import __version__
from ..jobs import PLAN_ENV
from ..planning.plan import Plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bosh-backup-runner",
                                     description="Runs a backup or restore plan in its pod.")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("command", choices=["run"], help="run: execute the plan in $" + PLAN_ENV)
    parser.add_argument("--no-status", action="store_true",
                        help="do not write status to the resource (for running by hand)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s runner %(levelname)s %(message)s")
    if PLAN_ENV not in os.environ:
        print(f"bosh-backup-runner: ${PLAN_ENV} is not set; the operator gives every run pod its plan",
              file=sys.stderr)
        return 2
    plan = Plan.from_json(os.environ[PLAN_ENV])
    from .actions import ACTIONS
    from .catalog_actions import ACTIONS as CATALOG_ACTIONS
    from .reporter import Reporter, connect
    from .restore_actions import ACTIONS as RESTORE_ACTIONS
    from .run import Runner
    from .verify_actions import ACTIONS as VERIFY_ACTIONS

    api = None if args.no_status or plan.options.get("noStatus") else connect()
    return Runner(plan, Reporter(plan, api), {**ACTIONS, **RESTORE_ACTIONS, **CATALOG_ACTIONS, **VERIFY_ACTIONS}).run()


if __name__ == "__main__":
    sys.exit(main())
