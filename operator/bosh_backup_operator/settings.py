"""How kopf runs for this operator: our finalizer, annotation prefix and reporting name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import kopf

from . import GROUP

if TYPE_CHECKING:
    from .peering import Standing

FINALIZER = f"{GROUP}/finalizer"
KOPF_PREFIX = f"kopf.{GROUP}"
COMPONENT = "bosh-backup-operator"
watched_namespaces: list[str] = []  # set from the command line before kopf starts; empty: all
peering_lifetime = 60  # likewise: seconds before a silent replica's peering entry lapses
standing: Standing | None = None  # likewise, with --peering: whether this replica is the active one


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
    # A bound on kopf's per-object workers: under a fleet's fire, thousands of objects
    # change at once, and each worker holds its event's body. Safe because no handler waits
    # for other objects (the operator keeps its own inventory, not kopf's indexes, which
    # held every worker until all objects were indexed: a restart over more backups than
    # the bound deadlocked; tests/integration/test_operator.py).
    settings.queueing.worker_limit = 64
    settings.queueing.idle_timeout = 0.5
    settings.watching.server_timeout = 600
    settings.watching.client_timeout = 660
    settings.networking.error_backoffs = [1, 2, 5, 10, 30]
    settings.peering.lifetime = peering_lifetime
