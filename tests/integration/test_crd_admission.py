"""Invalid specs are refused at `kubectl apply`, with a message that names the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

API = "bosh-backup.dev/v1alpha1"
NAMESPACE = "admission"

DIRECTOR = {"apiVersion": API, "kind": "Director", "metadata": {"name": "d"},
            "spec": {"url": "https://10.0.0.6:25555", "credentialsSecretRef": {"name": "creds"}}}
BACKUP = {"apiVersion": API, "kind": "DirectorBackup", "metadata": {"name": "b"},
          "spec": {"directorRef": {"name": "d"}}}
RESTORE = {"apiVersion": API, "kind": "DirectorRestore", "metadata": {"name": "r"},
           "spec": {"directorRef": {"name": "d"}, "source": {"backupRef": {"name": "b"}}}}
SCHEDULE = {"apiVersion": API, "kind": "DirectorBackupSchedule", "metadata": {"name": "s"},
            "spec": {"directorRef": {"name": "d"}, "schedule": "@daily"}}


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NAMESPACE))


def with_spec(base: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(base)
    manifest["metadata"] = {"name": name, "namespace": NAMESPACE}
    for path, value in changes.items():
        node = manifest["spec"]
        keys = path.split("__")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return manifest


def apply(harness: Any, manifest: dict[str, Any]) -> Any:
    return harness.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest), check=False)


def assert_rejected(harness: Any, manifest: dict[str, Any], *fragments: str) -> None:
    result = apply(harness, manifest)
    assert result.returncode != 0, f"accepted: {manifest}"
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_valid_objects_are_accepted_with_defaults(harness: Any, ns: str) -> None:
    for base in (DIRECTOR, BACKUP, RESTORE, SCHEDULE):
        manifest = with_spec(base, f"valid-{base['kind'].lower()}")
        assert apply(harness, manifest).returncode == 0
    director = harness.admin.get(f"/apis/{API}/namespaces/{ns}/directors/valid-director")
    assert director["spec"]["cli"] == "v2"
    backup = harness.admin.get(f"/apis/{API}/namespaces/{ns}/directorbackups/valid-directorbackup")
    assert backup["spec"]["method"] == "bbr"
    assert backup["spec"]["deletionPolicy"] == "Retain"
    assert backup["spec"]["timeout"] == "2h"
    schedule = harness.admin.get(
        f"/apis/{API}/namespaces/{ns}/directorbackupschedules/valid-directorbackupschedule")
    assert schedule["spec"]["concurrencyPolicy"] == "Forbid"
    assert schedule["spec"]["timeZone"] == "UTC"


CASES = {
    "director url must be https": (
        DIRECTOR, {"url": "http://10.0.0.6:25555"}, ["spec.url", "should match"]),
    "director needs credentials": (
        DIRECTOR, {"credentialsSecretRef": None}, ["spec.credentialsSecretRef", "Required value"]),
    "director cli is v1 or v2": (
        DIRECTOR, {"cli": "v3"}, ["spec.cli", 'Unsupported value: "v3"']),
    "director ca has one source": (
        DIRECTOR, {"caCert": {"secretKeyRef": {"name": "a"}, "configMapKeyRef": {"name": "b"}}},
        ["spec.caCert", "set exactly one of secretKeyRef or configMapKeyRef"]),
    "director ssh port in range": (
        DIRECTOR, {"ssh": {"port": 70000, "privateKeySecretRef": {"name": "k"}}},
        ["spec.ssh.port", "should be less than or equal to 65535"]),
    "storage is pvc or s3": (
        DIRECTOR, {"storage": {"pvc": {"claimName": "c"},
                               "s3": {"bucket": "bkt", "credentialsSecretRef": {"name": "s"}}}},
        ["spec.storage", "set exactly one of pvc or s3"]),
    "s3 bucket name": (
        DIRECTOR, {"storage": {"s3": {"bucket": "Bad_Bucket", "credentialsSecretRef": {"name": "s"}}}},
        ["spec.storage.s3.bucket", "should match"]),
    "unknown fields are refused": (
        DIRECTOR, {"passwrd": "x"}, ['unknown field "spec.passwrd"']),
    "backup method is bbr or v1": (
        BACKUP, {"method": "rsync"}, ["spec.method", 'Unsupported value: "rsync"']),
    "backup timeout is a duration": (
        BACKUP, {"timeout": "2 hours"}, ["spec.timeout", "should match"]),
    "backup timeout is positive": (
        BACKUP, {"timeout": "0s"}, ["spec.timeout", "timeout must be a positive duration"]),
    "backup needs a director": (
        BACKUP, {"directorRef": None}, ["spec.directorRef", "Required value"]),
    "restore has a source": (
        RESTORE, {"source": {}}, ["spec.source", "set exactly one of source.backupRef or source.path"]),
    "restore has only one source": (
        RESTORE, {"source": {"backupRef": {"name": "b"}, "path": "p/q"}},
        ["spec.source", "set exactly one of source.backupRef or source.path"]),
    "restore storage goes with path": (
        RESTORE, {"source": {"backupRef": {"name": "b"}, "storage": {"pvc": {"claimName": "c"}}}},
        ["spec.source", "source.storage goes with source.path"]),
    "restore cloud-check mode": (
        RESTORE, {"cloudCheck": "fix"}, ["spec.cloudCheck", 'Unsupported value: "fix"']),
    "restore source sha1": (
        RESTORE, {"reupload": {"sources": [{"kind": "Release", "name": "r", "version": "1",
                                            "url": "https://x/r.tgz", "sha1": "nothex"}]}},
        ["spec.reupload.sources[0].sha1", "should match"]),
    "schedule is cron": (
        SCHEDULE, {"schedule": "every day at noon"}, ["spec.schedule", "must be 5 cron fields"]),
    "schedule hour in range": (
        SCHEDULE, {"schedule": "0 24 * * *"}, ["spec.schedule", "hour 0-23"]),
    "schedule concurrency policy": (
        SCHEDULE, {"concurrencyPolicy": "Queue"}, ["spec.concurrencyPolicy", 'Unsupported value']),
    "schedule retention is not negative": (
        SCHEDULE, {"retention": {"keepDaily": -1}},
        ["spec.retention.keepDaily", "should be greater than or equal to 0"]),
    "schedule time zone": (
        SCHEDULE, {"timeZone": "Europe/Paris; rm"}, ["spec.timeZone", "should match"]),
    "schedule verify policy is cron": (
        SCHEDULE, {"verify": {"schedule": "weekly"}}, ["spec.verify.schedule", "must be 5 cron fields or a macro"]),
    "schedule verify policy names a time": (
        SCHEDULE, {"verify": {"maxAge": "8d"}}, ["spec.verify.schedule", "Required value"]),
    "schedule verify max age is a positive duration": (
        SCHEDULE, {"verify": {"schedule": "@weekly", "maxAge": "0d"}},
        ["spec.verify.maxAge", "maxAge must be a positive duration such as 8d or 36h"]),
    "schedule verify max age has a unit": (
        SCHEDULE, {"verify": {"schedule": "@weekly", "maxAge": "8"}}, ["spec.verify.maxAge", "should match"]),
    "encryption recipients are public keys": (   # a private key pasted by mistake never reaches etcd
        DIRECTOR, {"encryption": {"recipients": ["AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQ"]}},
        ["spec.encryption.recipients[0]", "should match"]),
    "encryption names a recipient": (
        BACKUP, {"encryption": {"recipients": []}},
        ["spec.encryption", "name at least one recipient, in recipients or recipientsFrom"]),
    "encryption recipients come from one kind of object each": (
        DIRECTOR, {"encryption": {"recipientsFrom": [{"secretKeyRef": {"name": "a"},
                                                      "configMapKeyRef": {"name": "b"}}]}},
        ["spec.encryption.recipientsFrom[0]", "set exactly one of secretKeyRef or configMapKeyRef"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_spec_is_rejected(harness: Any, ns: str, case: str) -> None:
    base, changes, fragments = CASES[case]
    assert_rejected(harness, with_spec(base, "bad", **changes), *fragments)


def test_restore_spec_cannot_change(harness: Any, ns: str) -> None:
    manifest = with_spec(RESTORE, "immutable-restore")
    assert apply(harness, manifest).returncode == 0
    changed = with_spec(RESTORE, "immutable-restore", force=True)
    assert_rejected(harness, changed, "spec", "is immutable once set")


@pytest.mark.parametrize("change", [
    {"directorRef": {"name": "other"}}, {"method": "v1"}, {"timeout": "5h"}, {"includeStateFile": False},
    # a field that was unset and is then added: what a field's own rule never sees
    {"storage": {"pvc": {"claimName": "elsewhere"}}},
    {"pod": {"nodeSelector": {"disk": "ssd"}}},
])
def test_a_backup_spec_is_fixed_but_for_cancel_and_deletion_policy(harness: Any, ns: str,
                                                                   change: dict[str, Any]) -> None:
    name = f"fixed-{next(iter(change)).lower()}"
    assert apply(harness, with_spec(BACKUP, name)).returncode == 0
    assert_rejected(harness, with_spec(BACKUP, name, **change), "spec",
                    "only spec.cancel and spec.deletionPolicy can change once a DirectorBackup exists")
    assert apply(harness, with_spec(BACKUP, name, deletionPolicy="Delete")).returncode == 0


def test_a_schedule_template_may_change(harness: Any, ns: str) -> None:
    """GitOps edits a schedule's template freely: only the backups it made are fixed."""
    template = {"spec": {"method": "bbr", "storage": {"pvc": {"claimName": "a"}}}}
    assert apply(harness, with_spec(SCHEDULE, "editable", backupTemplate=template)).returncode == 0
    template = {"spec": {"method": "v1", "storage": {"pvc": {"claimName": "b"}}}}
    assert apply(harness, with_spec(SCHEDULE, "editable", backupTemplate=template)).returncode == 0


def test_backup_cancel_cannot_be_undone(harness: Any, ns: str) -> None:
    assert apply(harness, with_spec(BACKUP, "cancelled", cancel=True)).returncode == 0
    assert_rejected(harness, with_spec(BACKUP, "cancelled", cancel=False),
                    "spec.cancel", "cancel cannot be undone once set")
    # what may change does change
    assert apply(harness, with_spec(BACKUP, "cancelled", cancel=True,
                                    deletionPolicy="Delete")).returncode == 0


def test_kubectl_explain_teaches_the_api(harness: Any) -> None:
    result = harness.kubectl("explain", "directorrestore.spec.source")
    assert "set exactly one" not in result.stdout  # rules are not descriptions
    assert "backupRef" in result.stdout and "DirectorBackup" in result.stdout
    resources = harness.kubectl("api-resources", "--categories=bosh-backup", "-o", "name").stdout
    assert sorted(resources.split()) == sorted([
        "directorbackups.bosh-backup.dev", "directorbackupschedules.bosh-backup.dev",
        "directorrestores.bosh-backup.dev", "directors.bosh-backup.dev", "directorbackupcatalogs.bosh-backup.dev"])


def test_examples_are_valid(harness: Any) -> None:
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    # nothing else makes the examples' namespace: the first example does, as the README says
    assert harness.kubectl("apply", "-f", str(examples / "00-namespace.yaml"), check=False).returncode == 0
    for example in sorted(examples.glob("*.yaml"))[1:]:
        result = harness.kubectl("apply", "--dry-run=server", "-f", str(example), check=False)
        assert result.returncode == 0, f"{example.name}: {result.stderr}"


@pytest.mark.parametrize(("base", "field", "value", "named"), [
    (DIRECTOR, "storage", {"pvc": {"claimName": "c", "prefix": "../var/lib/bosh-backup/work/esc"}},
     "spec.storage.pvc.prefix"),
    (DIRECTOR, "storage", {"pvc": {"claimName": "c", "prefix": "a/../../b"}}, "spec.storage.pvc.prefix"),
    (BACKUP, "storage", {"s3": {"bucket": "bkt", "prefix": "../up",
                                "credentialsSecretRef": {"name": "s3"}}}, "spec.storage.s3.prefix"),
    (RESTORE, "source", {"path": "bosh-backups/ns/d/../../../elsewhere"}, "spec.source.path"),
    (RESTORE, "source", {"path": "./b"}, "spec.source.path"),
])
def test_no_path_climbs_out_of_its_storage(harness: Any, ns: str, base: dict[str, Any], field: str,
                                           value: dict[str, Any], named: str) -> None:
    manifest = with_spec(base, f"climb-{abs(hash(str(value))) % 10**6}", **{field: value})
    if base is RESTORE:
        manifest["spec"]["source"].setdefault("storage", {"pvc": {"claimName": "c"}})
    assert_rejected(harness, manifest, named, "must not contain '.' or '..' segments")


def test_dots_inside_a_name_are_still_fine(harness: Any, ns: str) -> None:
    manifest = with_spec(DIRECTOR, "dotted", storage={"pvc": {"claimName": "c", "prefix": "backups/v1.2/..x"}})
    assert apply(harness, manifest).returncode == 0


@pytest.mark.parametrize("url", ["https://10.0.0.6:0", "https://10.0.0.6:70000"])
def test_a_director_port_must_be_one_a_server_can_use(harness: Any, ns: str, url: str) -> None:
    assert_rejected(harness, with_spec(DIRECTOR, f"port-{url.rsplit(':', 1)[1]}", url=url),
                    "spec.url", "the port must be between 1 and 65535")


def test_a_ca_for_plain_http_storage_is_refused(harness: Any, ns: str) -> None:
    storage = {"s3": {"bucket": "bkt", "endpoint": "http://minio.example:9000", "credentialsSecretRef": {"name": "s3"},
                      "caCert": {"configMapKeyRef": {"name": "ca"}}}}
    assert_rejected(harness, with_spec(DIRECTOR, "http-ca", storage=storage), "spec.storage.s3.caCert",
                    "caCert goes with an https:// endpoint")


def test_a_schedule_deadline_too_short_to_ever_fire_is_refused(harness: Any, ns: str) -> None:
    assert_rejected(harness, with_spec(SCHEDULE, "deadline-0", startingDeadlineSeconds=0),
                    "spec.startingDeadlineSeconds", "should be greater than or equal to 10")
