"""Spec to plan to Job (pure): what runs, in which order, with which references."""

from __future__ import annotations

import json
from typing import Any

from bosh_backup_operator.api.runs import RunSettings, duration_seconds, resolve_run
from bosh_backup_operator.bosh.commands import Tools
from bosh_backup_operator.jobs import PLAN_ENV, SCRATCH_LIMIT_ENV, RunnerConfig, build_job, job_name
from bosh_backup_operator.outcome import job_outcome
from bosh_backup_operator.planning.backup import plan_backup
from bosh_backup_operator.planning.plan import Plan

DIRECTOR = {
    "url": "https://10.0.0.6:25555", "cli": "v2", "credentialsSecretRef": {"name": "creds"},
    "caCert": {"secretKeyRef": {"name": "ca"}},
    "ssh": {"username": "jumpbox", "port": 22, "privateKeySecretRef": {"name": "ssh"}},
    "stateFileSecretRef": {"name": "state"},
    "storage": {"pvc": {"claimName": "backups", "prefix": "bosh-backups"}},
}
KEYS = {("Secret", "creds"): {"client", "clientSecret"}, ("Secret", "ca"): {"ca.crt"},
        ("Secret", "ssh"): {"ssh-privatekey"}, ("Secret", "state"): {"state.json"},
        ("PersistentVolumeClaim", "backups"): set(), ("Secret", "s3"): {"accessKeyId", "secretAccessKey"}}
META = {"namespace": "bosh", "name": "nightly", "uid": "uid-1"}
TOOLS = Tools(bosh="/opt/bosh", bosh_v1="/opt/bosh1", bbr="/opt/bbr")


def settings(method: str = "bbr", director: dict[str, Any] | None = None, **kwargs: Any) -> RunSettings:
    resolved = resolve_run("prod", director or DIRECTOR, method, kwargs.get("storage"),
                           lambda kind, name: KEYS.get((kind, name)), want_state_file=True)
    assert isinstance(resolved, RunSettings), resolved
    return resolved


def test_bbr_plan_steps_and_commands() -> None:
    plan = plan_backup(META, {}, settings(), TOOLS)
    assert plan.step_names() == ["DirectorInfo", "Inventory", "PreBackupCheck", "Backup", "StateFile", "Store"]
    backup = plan.steps[3]
    assert backup.argv[:8] == ["/opt/bbr", "director", "--host", "10.0.0.6:22", "--username", "jumpbox",
                               "--private-key-path", "/bosh/ssh/private-key"]
    assert backup.argv[8:] == ["backup", "--artifact-path", "/var/lib/bosh-backup/work/artifact"]
    assert backup.cleanup[-1] == "backup-cleanup"
    assert plan.steps[0].commands == {"env": ["/opt/bosh", "-n", "--json", "env"]}
    assert plan.artifact_path == "bosh-backups/bosh/prod/nightly"
    assert sum(step.options["weight"] for step in plan.steps) == 100


def test_v1_plan_uses_the_v1_cli_and_no_ssh() -> None:
    director = {**DIRECTOR, "cli": "v1", "credentialsSecretRef": {"name": "basic"}}
    KEYS[("Secret", "basic")] = {"username", "password"}
    plan = plan_backup(META, {"includeStateFile": False}, settings("v1", director), TOOLS)
    assert plan.step_names() == ["DirectorInfo", "Inventory", "Backup", "Store"]
    assert plan.steps[0].commands["target"] == ["/opt/bosh1", "-n", "-c", "/var/lib/bosh-backup/work/.bosh_config",
                                                "target", "https://10.0.0.6:25555", "--ca-cert", "/bosh/ca/ca.crt"]
    assert plan.steps[2].argv[-2:] == ["backup", "/var/lib/bosh-backup/work/artifact"]


def test_plan_round_trips_through_json() -> None:
    plan = plan_backup(META, {}, settings(), TOOLS)
    assert Plan.from_json(plan.to_json()) == plan


def test_resolution_problems_name_the_fields() -> None:
    v2_only = resolve_run("prod", {**DIRECTOR, "ssh": None}, "v1", None, lambda k, n: KEYS.get((k, n)))
    assert isinstance(v2_only, list)
    assert [p.reason for p in v2_only] == ["MethodNotSupported"]
    no_ssh = resolve_run("prod", {k: v for k, v in DIRECTOR.items() if k != "ssh"}, "bbr", None,
                         lambda k, n: KEYS.get((k, n)))
    assert isinstance(no_ssh, list) and no_ssh[0].reason == "SshNotConfigured"
    assert "spec.ssh.privateKeySecretRef" in no_ssh[0].message
    missing = resolve_run("prod", DIRECTOR, "bbr", {"s3": {"bucket": "bkt", "credentialsSecretRef": {"name": "x"}}},
                          lambda k, n: KEYS.get((k, n)))
    assert isinstance(missing, list)
    assert missing[0].message == 'spec.storage.s3.credentialsSecretRef: Secret "x" not found'
    assert resolve_run("gone", None, "bbr", None, lambda k, n: None)[0].reason == "DirectorNotFound"  # type: ignore[index]


def test_job_carries_secrets_only_as_references() -> None:
    plan = plan_backup(META, {}, settings(), TOOLS)
    job = build_job(plan, settings(), {"apiVersion": "bosh-backup.dev/v1alpha1", "kind": "DirectorBackup",
                                       "name": "nightly", "uid": "uid-1"},
                    timeout_seconds=7200, pod={"nodeSelector": {"pool": "ops"}}, config=RunnerConfig())
    assert job["metadata"]["name"] == "nightly-backup"
    assert job["metadata"]["ownerReferences"][0]["controller"] is True
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == 7200
    assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [1]
    pod = spec["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "ops"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["BOSH_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "creds", "key": "clientSecret"}
    assert "value" not in env["BOSH_CLIENT_SECRET"]
    assert env["BOSH_CA_CERT"]["value"] == "/bosh/ca/ca.crt"
    assert Plan.from_json(env[PLAN_ENV]["value"]) == plan
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["ssh-key"]["secret"]["items"] == [{"key": "ssh-privatekey", "path": "private-key"}]
    assert volumes["storage"]["persistentVolumeClaim"]["claimName"] == "backups"


def test_job_names_fit_and_stay_deterministic() -> None:
    long_name = "x" * 250
    assert len(job_name("DirectorBackup", long_name)) <= 63
    assert job_name("DirectorBackup", long_name) == job_name("DirectorBackup", long_name)
    assert job_name("DirectorRestore", "r") == "r-restore"


def test_durations() -> None:
    assert duration_seconds("2h") == 7200
    assert duration_seconds("1h30m15s") == 5415


def pod(result: dict[str, Any] | None, phase: str = "Succeeded",
        created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    state = {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1,
                            **({"message": json.dumps(result)} if result else {})}}
    return {"metadata": {"name": "p", "creationTimestamp": created},
            "status": {"phase": phase, "containerStatuses": [{"name": "runner", "state": state}]}}


def job(condition: str | None, reason: str = "") -> dict[str, Any]:
    conditions = [{"type": condition, "status": "True", "reason": reason}] if condition else []
    return {"status": {"conditions": conditions}}


def test_outcomes() -> None:
    stored = {"result": "Succeeded", "artifact": {"location": "pvc://x/y", "files": []}}
    assert job_outcome(job("Complete"), [pod(stored)], "2h", require_artifact=True).state == "Succeeded"
    no_artifact = job_outcome(job("Complete"), [pod({"result": "Succeeded"})], "2h", require_artifact=True)
    assert (no_artifact.state, no_artifact.reason) == ("Failed", "NoResult")
    failure = {"result": "Failed", "step": "Backup", "reason": "BbrLockFailed", "message": "Backup failed: x"}
    failed = job_outcome(job("Failed", "PodFailurePolicy"), [pod(failure, "Failed")], "2h", require_artifact=True)
    assert (failed.state, failed.reason, failed.message) == ("Failed", "BbrLockFailed", "Backup failed: x")
    deadline = job_outcome(job("Failed", "DeadlineExceeded"), [pod(failure, "Failed")], "90m", require_artifact=True)
    assert deadline.reason == "DeadlineExceeded" and "spec.timeout (90m)" in deadline.message
    running = job_outcome(job(None), [pod(None, "Running")], "2h", require_artifact=True)
    assert (running.state, running.pods_active) == ("Running", 1)
    # the pod's own success decides, before the Job controller's batched Complete
    early = job_outcome(job(None), [pod(stored)], "2h", require_artifact=True)
    assert (early.state, early.result) == ("Succeeded", stored)
    # a failed pod waits for the Job's verdict: the Job may retry it
    assert job_outcome(job(None), [pod(failure, "Failed")], "2h", require_artifact=True).state == "Running"


def test_scratch_limit_reaches_the_volume_and_the_runner() -> None:
    plan = plan_backup(META, {}, settings(), TOOLS)
    owner = {"apiVersion": "bosh-backup.dev/v1alpha1", "kind": "DirectorBackup", "name": "nightly", "uid": "uid-1"}
    limited = build_job(plan, settings(), owner, timeout_seconds=60, pod={"scratch": {"sizeLimit": "20Gi"}},
                        config=RunnerConfig())["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in limited["volumes"]}
    assert volumes["work"]["emptyDir"] == {"sizeLimit": "20Gi"}
    assert {"name": SCRATCH_LIMIT_ENV, "value": "20Gi"} in limited["containers"][0]["env"]
    plain = build_job(plan, settings(), owner, timeout_seconds=60, pod=None, config=RunnerConfig())
    pod_spec = plain["spec"]["template"]["spec"]
    assert {v["name"]: v for v in pod_spec["volumes"]}["work"]["emptyDir"] == {}
    assert SCRATCH_LIMIT_ENV not in {e["name"] for e in pod_spec["containers"][0]["env"]}


def test_an_evicted_pod_says_what_the_node_said_and_what_to_set() -> None:
    evicted = pod({"result": "Failed", "reason": "Stopped", "message": "stopped"}, "Failed")
    evicted["status"].update(reason="Evicted", message='Usage of EmptyDir volume "work" exceeds the limit "64Mi". ')
    outcome = job_outcome(job("Failed", "BackoffLimitExceeded"), [evicted], "2h", require_artifact=True)
    assert outcome.reason == "Evicted"
    assert 'EmptyDir volume "work" exceeds the limit "64Mi"' in outcome.message
    assert "spec.pod.scratch.sizeLimit" in outcome.message and "backup-cleanup" in outcome.message
    # the runner's own verdict wins when it stopped in time
    own = pod({"result": "Failed", "reason": "ScratchSpaceExhausted", "message": "needs 200 MiB"}, "Failed")
    own["status"].update(reason="Evicted", message="late")
    assert job_outcome(job("Failed"), [own], "2h", require_artifact=True).reason == "ScratchSpaceExhausted"


def test_a_pod_that_left_no_result_is_described_in_the_kubelets_words() -> None:
    killed = pod(None, "Failed")
    killed["metadata"]["name"] = "verify-x-abcde"
    killed["status"]["containerStatuses"][0]["state"]["terminated"].update(exitCode=137, reason="OOMKilled")
    lost = pod(None, "Failed", created="2026-01-01T00:01:00Z")
    lost["metadata"]["name"] = "verify-x-fghij"
    lost["status"].update(reason="NodeLost", message="the node stopped reporting")
    failed = job("Failed", "BackoffLimitExceeded")
    failed["status"]["conditions"][0]["message"] = "Job has reached the specified backoff limit"
    outcome = job_outcome(failed, [killed], "2h", require_artifact=False)
    assert outcome.reason == "BackoffLimitExceeded"
    assert outcome.message == ("Job has reached the specified backoff limit; the runner left no result: "
                               "pod verify-x-abcde, container runner exited with code 137 (OOMKilled)")
    # the newest pod is the one described
    newest = job_outcome(failed, [killed, lost], "2h", require_artifact=False).message
    assert "pod verify-x-fghij, NodeLost: the node stopped reporting" in newest and "OOMKilled" not in newest


AGE_KEY = "age1" + "qpzry9x8gf2tvdw0s3jn54khce6mua7l" + "qpzry9x8gf2tvdw0s3jn54khce"


def test_encryption_reaches_the_runner_as_public_keys_and_mounted_files() -> None:
    director = {**DIRECTOR, "encryption": {"recipients": [AGE_KEY], "recipientsFrom": [
        {"secretKeyRef": {"name": "ops-keys"}}, {"configMapKeyRef": {"name": "team-keys", "key": "age"}}]}}
    keys = {**KEYS, ("Secret", "ops-keys"): {"recipients"}, ("ConfigMap", "team-keys"): {"age"}}
    resolved = resolve_run("prod", director, "bbr", None, lambda kind, name: keys.get((kind, name)),
                           want_encryption=True)
    assert isinstance(resolved, RunSettings)
    plan = plan_backup(META, {}, resolved, TOOLS)
    assert plan.options["encryption"] == {"recipients": [AGE_KEY], "files": [
        ['spec.encryption.recipientsFrom[0] (Secret "ops-keys", key "recipients")', "/bosh/recipients/0/recipients"],
        ['spec.encryption.recipientsFrom[1] (ConfigMap "team-keys", key "age")', "/bosh/recipients/1/recipients"]]}
    job = build_job(plan, resolved, {"apiVersion": "bosh-backup.dev/v1alpha1", "kind": "DirectorBackup",
                                     "name": "nightly", "uid": "uid-1"}, timeout_seconds=60, pod=None,
                    config=RunnerConfig())
    pod = job["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["recipients-0"]["secret"] == {"secretName": "ops-keys", "defaultMode": 0o440,
                                                 "items": [{"key": "recipients", "path": "recipients"}]}
    assert volumes["recipients-1"]["configMap"]["items"] == [{"key": "age", "path": "recipients"}]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["recipients-1"] == {"name": "recipients-1", "mountPath": "/bosh/recipients/1", "readOnly": True}

    # a backup's own encryption replaces the Director's, whose Secrets it then does not need
    own = {"recipients": [AGE_KEY]}
    replaced = resolve_run("prod", director, "bbr", None, lambda kind, name: KEYS.get((kind, name)),
                           encryption=own, want_encryption=True)
    assert isinstance(replaced, RunSettings) and replaced.encryption == own
    # and a restore needs none of it
    restore = resolve_run("prod", director, "bbr", None, lambda kind, name: KEYS.get((kind, name)))
    assert isinstance(restore, RunSettings) and restore.encryption is None


def test_missing_recipients_or_identity_secrets_name_their_fields() -> None:
    director = {**DIRECTOR, "encryption": {"recipientsFrom": [{"secretKeyRef": {"name": "ops-keys"}}]}}
    problems = resolve_run("prod", director, "bbr", None, lambda kind, name: KEYS.get((kind, name)),
                           want_encryption=True)
    assert isinstance(problems, list)
    assert [p.message for p in problems] == [
        'Director "prod": spec.encryption.recipientsFrom[0].secretKeyRef: Secret "ops-keys" not found']
    wrong_key = resolve_run("prod", DIRECTOR, "bbr", None,
                            lambda kind, name: {**KEYS, ("Secret", "age"): {"key.txt"}}.get((kind, name)),
                            identity={"name": "age"})
    assert isinstance(wrong_key, list)
    assert [p.message for p in wrong_key] == ['spec.identitySecretRef: Secret "age" lacks key identity']


def test_a_restore_mounts_its_identity_and_the_plan_holds_only_where_it_is() -> None:
    from bosh_backup_operator.planning.restore import plan_restore

    resolved = resolve_run("prod", DIRECTOR, "bbr", None,
                           lambda kind, name: {**KEYS, ("Secret", "age"): {"key.txt"}}.get((kind, name)),
                           identity={"name": "age", "key": "key.txt"})
    assert isinstance(resolved, RunSettings)
    plan = plan_restore(META, {}, resolved, TOOLS, {"path": "bosh-backups/bosh/prod/b1",
                                                     "storage": DIRECTOR["storage"], "backup": None, "method": None})
    assert plan.options["identity"] == {"path": "/bosh/identity/identity",
                                        "from": 'spec.identitySecretRef (Secret "age", key "key.txt")'}
    job = build_job(plan, resolved, {"apiVersion": "bosh-backup.dev/v1alpha1", "kind": "DirectorRestore",
                                     "name": "r", "uid": "uid-2"}, timeout_seconds=60, pod=None, config=RunnerConfig())
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["identity"]["secret"] == {"secretName": "age", "defaultMode": 0o440,
                                             "items": [{"key": "key.txt", "path": "identity"}]}
