"""How kopf runs for this operator: our finalizer, annotation prefix and reporting name."""

from __future__ import annotations

import kopf

from . import GROUP

FINALIZER = f"{GROUP}/finalizer"
KOPF_PREFIX = f"kopf.{GROUP}"
COMPONENT = "bosh-backup-operator"
watched_namespaces: list[str] = []  # set from the command line before kopf starts; empty: all
peering_lifetime = 60  # likewise: seconds before a silent replica's peering entry lapses


def configure(settings: kopf.OperatorSettings) -> None:
    settings.persistence.finalizer = FINALIZER
    # kopf's bookkeeping goes to annotations under a prefix of its own, never into status
    # (whose schema is ours and pruned by the apiserver). Not bosh-backup.dev/ itself: kopf
    # ignores changes to annotations under its prefix, and bosh-backup.dev/run-now is a user's.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration")
    settings.posting.reporting_component = COMPONENT
    settings.posting.level = 30  # only warnings become Events by themselves; the rest we post
    settings.execution.max_workers = 16
    # No bound on kopf's per-object workers (queueing.worker_limit), whatever memory it would
    # save under a fleet's load: kopf runs no handler until every object of an indexed kind
    # is indexed, and a restart over more DirectorBackups than the bound left every worker
    # waiting for objects that could never get one; the operator answered its liveness probe
    # and did nothing (tests/integration/test_operator.py). A worker leaves soon after its
    # last event, so idle objects cost no worker.
    settings.queueing.idle_timeout = 0.5
    settings.watching.server_timeout = 600
    settings.watching.client_timeout = 660
    settings.networking.error_backoffs = [1, 2, 5, 10, 30]
    settings.peering.lifetime = peering_lifetime
