"""Alerts and dashboards query only metrics the operator exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import bosh_backup_operator.metrics  # noqa: F401  (registers the metrics)

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created", "")


def exported() -> set[str]:
    names = {metric.name for metric in REGISTRY.collect() if metric.name.startswith("bosh_backup_")}
    return {name + suffix for name in names for suffix in SUFFIXES}


def queried(text: str) -> set[str]:
    return set(re.findall(r"\bbosh_backup_[a-z_]+", text))


def test_alert_rules_use_exported_metrics() -> None:
    rules = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    expressions = [rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]]
    names = {alert["alert"] for group in rules["spec"]["groups"] for alert in group["rules"]}
    assert {"BoshDirectorBackupMissing", "BoshDirectorBackupFailed", "BoshDirectorRestoreFailed",
            "BoshBackupOperatorDown", "BoshDirectorBackupVerificationFailed", "BoshDirectorBackupUnverified"} <= names
    used = set().union(*(queried(e) for e in expressions))
    assert used and used <= exported(), used - exported()


def test_dashboard_uses_exported_metrics() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    used = set().union(*(queried(t["expr"]) for p in dashboard["panels"] for t in p["targets"]))
    assert used and used <= exported(), used - exported()
    assert {p["title"] for p in dashboard["panels"]} >= {"Age of the last successful backup", "Failures",
                                                         "Artifact size", "Backup duration (p90)"}
