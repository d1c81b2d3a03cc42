"""The operator runs under deploy/'s RBAC and reports on Directors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from harness.cluster import wait_for

API = "bosh-backup.dev/v1alpha1"
NS = "operator"
SECRET_VALUE = "do-not-leak-8f2c1e"


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NS))


def as_operator(harness: Any, *args: str) -> str:
    kubeconfig = harness.workdir / "operator.kubeconfig"
    return str(harness.kubectl(*args, kubeconfig=kubeconfig, check=False).stdout.strip())


def test_operator_acts_as_its_own_service_account(harness: Any) -> None:
    whoami = as_operator(harness, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert whoami == "system:serviceaccount:bosh-backup-system:bosh-backup-operator"


@pytest.mark.parametrize(("verb", "resource", "allowed"), [
    ("patch", "directors.bosh-backup.dev/status", "yes"),
    ("create", "jobs.batch", "yes"),
    ("create", "leases.coordination.k8s.io", "yes"),
    ("get", "secrets", "yes"),
    ("list", "secrets", "no"),
    ("create", "secrets", "no"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", "no"),
    ("delete", "namespaces", "no"),
    ("create", "pods", "no"),
])
def test_operator_permissions_are_least_privilege(harness: Any, verb: str, resource: str,
                                                  allowed: str) -> None:
    assert as_operator(harness, "auth", "can-i", verb, resource, "-A") == allowed


def director(name: str, secret: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Director", "metadata": {"name": name, "namespace": NS},
            "spec": {"url": "https://10.0.0.6:25555", "credentialsSecretRef": {"name": secret},
                     "ssh": {"privateKeySecretRef": {"name": f"{secret}-ssh"}}}}


def ready_condition(harness: Any, name: str) -> dict[str, Any] | None:
    body = harness.admin.get(f"/apis/{API}/namespaces/{NS}/directors/{name}")
    for cond in body.get("status", {}).get("conditions", []):
        if cond["type"] == "Ready":
            return {**cond, "generation": body["metadata"]["generation"],
                    "observed": body["status"].get("observedGeneration")}
    return None


def test_missing_secrets_make_the_director_not_ready_naming_the_fields(harness: Any, ns: str) -> None:
    harness.apply(director("lonely", "lonely-creds"))
    cond = wait_for("Ready condition", lambda: ready_condition(harness, "lonely"))
    assert cond["status"] == "False"
    assert cond["reason"] == "SecretNotFound"
    assert 'spec.credentialsSecretRef: Secret "lonely-creds" not found' in cond["message"]
    assert 'spec.ssh.privateKeySecretRef: Secret "lonely-creds-ssh" not found' in cond["message"]
    assert cond["observedGeneration"] == cond["generation"] == cond["observed"]
    events = json.loads(harness.kubectl("get", "events", "-n", ns, "-o", "json",
                                        "--field-selector", "involvedObject.name=lonely").stdout)
    assert any(e["reason"] == "SecretNotFound" and e["type"] == "Warning" for e in events["items"])


def test_director_becomes_ready_when_its_secrets_appear(harness: Any, ns: str) -> None:
    harness.apply(director("later", "later-creds"))
    first = wait_for("Ready=False", lambda: ready_condition(harness, "later"))
    assert first["status"] == "False"
    secrets_for(harness, ns, "later-creds")
    cond = wait_for("Ready=True", lambda: (c := ready_condition(harness, "later"))
                    and c["status"] == "True" and c, timeout=30)
    assert cond["reason"] == "ReferencesFound"
    assert cond["lastTransitionTime"] >= first["lastTransitionTime"]


def secrets_for(harness: Any, ns: str, secret: str) -> None:
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    harness.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret, "namespace": ns},
                   "data": {"client": base64.b64encode(b"admin").decode(), "clientSecret": encoded}})
    harness.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{secret}-ssh", "namespace": ns},
                   "data": {"ssh-privatekey": encoded}})


def test_a_ready_director_whose_secret_goes_turns_not_ready(harness: Any, ns: str) -> None:
    """A Ready Director's Secrets are read again less often than a waiting one's, but they are:
    the test's operator looks every 6 s once Ready (5 min by default)."""
    secrets_for(harness, ns, "fickle-creds")
    harness.apply(director("fickle", "fickle-creds"))
    wait_for("Ready=True", lambda: (c := ready_condition(harness, "fickle")) and c["status"] == "True")
    harness.kubectl("delete", "secret", "fickle-creds-ssh", "-n", ns)
    cond = wait_for("Ready=False", lambda: (c := ready_condition(harness, "fickle")) and c["status"] == "False"
                    and c, timeout=30)
    assert cond["reason"] == "SecretNotFound"
    assert 'spec.ssh.privateKeySecretRef: Secret "fickle-creds-ssh" not found' in cond["message"]


def test_secret_values_never_reach_status_events_or_logs(harness: Any, ns: str) -> None:
    wait_for("Ready=True", lambda: (c := ready_condition(harness, "later")) and c["status"] == "True")
    everything = harness.kubectl("get", "directors,events", "-n", ns, "-o", "yaml").stdout
    assert "later" in everything
    assert SECRET_VALUE not in everything
    assert base64.b64encode(SECRET_VALUE.encode()).decode() not in everything
    assert SECRET_VALUE not in (harness.plane.logs / "operator.log").read_text()


def test_printer_columns_show_readiness(harness: Any, ns: str) -> None:
    wait_for("Ready=True", lambda: (c := ready_condition(harness, "later")) and c["status"] == "True")
    table = harness.kubectl("get", "bdir", "-n", ns).stdout.splitlines()
    header = table[0].split()
    assert header[:4] == ["NAME", "URL", "CLI", "READY"]
    row = next(line.split() for line in table if line.startswith("later "))
    assert row[1:4] == ["https://10.0.0.6:25555", "v2", "True"]


def test_storage_over_plain_http_is_called_out(harness: Any, ns: str) -> None:
    body = director("cleartext", "cleartext-creds")
    body["spec"]["storage"] = {"s3": {"bucket": "bkt", "endpoint": "http://minio.example:9000",
                                      "credentialsSecretRef": {"name": "s3-keys"}}}
    harness.apply(body)

    def transport() -> dict[str, Any] | None:
        found = harness.admin.get(f"/apis/{API}/namespaces/{NS}/directors/cleartext")
        return next((c for c in found.get("status", {}).get("conditions", []) if c["type"] == "SecureTransport"),
                    None)
    cond = wait_for("SecureTransport condition", transport)
    assert (cond["status"], cond["reason"]) == ("False", "PlainHttpStorage")
    assert "spec.storage.s3.endpoint http://minio.example:9000 is plain HTTP" in cond["message"]
    reasons = wait_for("the warning Event", lambda: [
        e for e in harness.admin.get(f"/api/v1/namespaces/{NS}/events")["items"]
        if e["involvedObject"].get("name") == "cleartext" and e["reason"] == "PlainHttpStorage"])
    assert reasons[0]["type"] == "Warning"


def test_a_restarted_operator_with_more_backups_than_kopf_workers_still_acts(harness: Any, ns: str) -> None:
    """kopf waits until every object of an indexed kind is indexed before any handler runs.
    With its per-object workers bounded, a restart over more DirectorBackups than the bound
    once left every worker waiting for objects that could never get a worker: the operator
    answered its liveness probe and did nothing, for ever."""
    from boshsim.k8s import backup, wait_phase

    many = 80
    listing = {"apiVersion": "v1", "kind": "List",
               "items": [backup(f"crowd-{number:03d}", ns, "nobody") for number in range(many)]}
    harness.apply(listing)
    wait_for("every crowd backup to fail", lambda: sum(
        1 for item in json.loads(harness.kubectl("get", "dbk", "-n", ns, "-o", "json").stdout)["items"]
        if item["metadata"]["name"].startswith("crowd-") and (item.get("status") or {}).get("phase") == "Failed"
    ) == many, timeout=120)
    harness.kill_operator()
    harness.start_operator()
    harness.apply(backup("after-restart", ns, "nobody"))
    status = wait_phase(harness, "DirectorBackup", ns, "after-restart", timeout=60)["status"]
    assert status["phase"] == "Failed" and status["reason"] == "DirectorNotFound", status
