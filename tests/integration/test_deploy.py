"""`kubectl apply -k deploy/` as a user runs it: everything applies, the operator's pod
meets the restricted Pod Security standard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_applies_cleanly_server_side(harness: Any) -> None:
    rendered = harness.kubectl("kustomize", str(ROOT / "deploy")).stdout
    kinds = {line.split(":", 1)[1].strip() for line in rendered.splitlines() if line.startswith("kind:")}
    assert {"CustomResourceDefinition", "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
            "Deployment", "Service"} <= kinds
    result = harness.kubectl("apply", "--server-side", "--dry-run=server", "--force-conflicts", "-f", "-",
                             input=rendered, check=False)
    assert result.returncode == 0, result.stderr
    assert "would violate PodSecurity" not in result.stderr, result.stderr
    assert "deployment.apps/bosh-backup-operator serverside-applied (server dry run)" in result.stdout
