"""`bosh-backup-operator`: runs the kopf operator with this project's settings."""

from __future__ import annotations

import argparse
import logging

import kopf

from . import __version__


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bosh-backup-operator",
                                     description="Backs up and restores BOSH directors.")
    parser.add_argument("--namespace", "-n", action="append", default=[],
                        help="watch this namespace (repeatable); default: all namespaces")
    parser.add_argument("--liveness", default="http://0.0.0.0:8080/healthz",
                        help="liveness endpoint URL for the kubelet probe ('' to disable)")
    parser.add_argument("--peering", default="",
                        help="kopf peering name for running several replicas; default: standalone")
    parser.add_argument("--priority", type=int, default=None,
                        help="peering priority (the highest live replica is active); "
                             "default: derived from the pod name, distinct per replica")
    parser.add_argument("--peering-lifetime", type=int, default=60,
                        help="seconds a replica's peering entry lives without renewal: how long "
                             "a standby waits after the active replica stops")
    parser.add_argument("--metrics-port", type=int, default=8081,
                        help="port of the Prometheus /metrics endpoint (0 disables it)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=__version__)
    return parser.parse_args(argv)


def quiet_timers(record: logging.LogRecord) -> bool:
    """Drops kopf's line for every timer tick that went well: with a Director's timers that
    is lines per second doing nothing but cost CPU and bury what matters. Failures stay."""
    message = record.getMessage()
    return not (record.levelno == logging.INFO and message.startswith("Timer '")
                and message.endswith("' succeeded."))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    if not args.verbose:
        logging.getLogger("kopf.objects").addFilter(quiet_timers)
    from . import main as handlers  # registers the handlers with kopf
    from . import metrics, settings, watch_trim

    watch_trim.install()

    settings.watched_namespaces = list(args.namespace)
    settings.peering_lifetime = args.peering_lifetime
    del handlers
    priority = None
    if args.peering:
        from . import kube, peering

        peering.ensure_peering_objects(kube.api(), args.peering, args.namespace)
        priority = args.priority if args.priority is not None else peering.priority_for(peering.replica_identity())
        logging.getLogger("bosh-backup").info("peering %s with priority %d", args.peering, priority)
        settings.standing = peering.Standing(kube.api(), args.peering, args.namespace, priority)
    metrics.serve(args.metrics_port)
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness or None,
        standalone=not args.peering,
        peering_name=args.peering or None,
        priority=priority,
    )
