"""kopf handlers: thin adapters from events to the pure functions that decide."""

from __future__ import annotations

import os
from typing import Any

import kopf

from . import GROUP, VERSION, kube
from . import settings as operator_settings
from .api.director import director_references, find_problems, readiness
from .status import condition, conditions_changed, merge_conditions

DIRECTORS = (GROUP, VERSION, "directors")
RECHECK_SECONDS = float(os.environ.get("BOSH_BACKUP_RECHECK_SECONDS", "30"))


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    operator_settings.configure(settings)


def reconcile_director(body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
                       namespace: str, patch: kopf.Patch, logger: Any) -> None:
    problems = find_problems(director_references(dict(spec)),
                             lambda kind, name: kube.data_keys(namespace, kind, name))
    ready, reason, message = readiness(problems)
    generation = meta.get("generation")
    current = status.get("conditions") or []
    merged = merge_conditions(current, [condition("Ready", ready, reason, message,
                                                  generation=generation)])
    if conditions_changed(current, merged) or status.get("observedGeneration") != generation:
        patch.status["conditions"] = merged
        patch.status["observedGeneration"] = generation
        if not ready:
            kopf.warn(body, reason=reason, message=message)
        logger.info("Director %s: Ready=%s (%s)", meta.get("name"), ready, reason)


@kopf.on.resume(*DIRECTORS)
@kopf.on.create(*DIRECTORS)
@kopf.on.update(*DIRECTORS, field="spec")
def director_changed(**kwargs: Any) -> None:
    reconcile_director(kwargs["body"], kwargs["spec"], kwargs["meta"], kwargs["status"],
                       kwargs["namespace"], kwargs["patch"], kwargs["logger"])


@kopf.timer(*DIRECTORS, interval=RECHECK_SECONDS, initial_delay=RECHECK_SECONDS)
def director_recheck(**kwargs: Any) -> None:
    """Secrets can appear or change after the Director; look again now and then."""
    reconcile_director(kwargs["body"], kwargs["spec"], kwargs["meta"], kwargs["status"],
                       kwargs["namespace"], kwargs["patch"], kwargs["logger"])
