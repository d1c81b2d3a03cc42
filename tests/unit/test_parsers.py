"""bosh, bosh v1 and bbr output to typed results, on hand-written outputs; what the real
tools print is in test_real_output.py."""

from __future__ import annotations

import json

import pytest

from bosh_backup_operator.bosh import parsers
from bosh_backup_operator.bosh.diagnose import diagnose_bbr, diagnose_bosh


def document(content: str, header: list[str], rows: list[dict[str, str]], lines: list[str] | None = None) -> str:
    return json.dumps({"Tables": [{"Content": content, "Header": {h: h for h in header}, "Rows": rows,
                                   "Notes": None}], "Blocks": None, "Lines": lines or ["Succeeded"]})


def test_env() -> None:
    out = document("", ["name", "uuid", "version", "cpi", "user"],
                   [{"name": "bosh", "uuid": "u-1", "version": "282.0.3", "cpi": "aws_cpi", "user": "admin"}])
    info = parsers.parse_env(out)
    assert info.as_status() == {"name": "bosh", "uuid": "u-1", "version": "282.0.3", "cpi": "aws_cpi"}
    assert info.logged_in
    anonymous = parsers.parse_env(document("", ["user"], [{"user": "(not logged in)"}]))
    assert not anonymous.logged_in


def test_stemcells_and_releases_strip_marks() -> None:
    stemcells = parsers.parse_stemcells(document("stemcells", ["name", "version", "os", "cpi", "cid"], [
        {"name": "s", "version": "621.90*", "os": "ubuntu-jammy", "cpi": "", "cid": "ami-1"},
        {"name": "s", "version": "621.80", "os": "ubuntu-jammy", "cpi": "", "cid": "ami-0"}]))
    assert [(s["version"], s["deployed"]) for s in stemcells] == [("621.90", True), ("621.80", False)]
    releases = parsers.parse_releases(document("releases", ["name", "version", "commit_hash"], [
        {"name": "r", "version": "1.2*", "commit_hash": "abc+"}]))
    assert releases == [{"name": "r", "version": "1.2", "deployed": True, "commitHash": "abc"}]


def test_deployments_split_multiline_cells() -> None:
    deployments = parsers.parse_deployments(document("deployments", ["name", "release_s", "stemcell_s", "team_s"], [
        {"name": "cf", "release_s": "capi/1.2\ndiego/2.3", "stemcell_s": "bosh-aws/621.90", "team_s": ""}]))
    assert deployments == [{"name": "cf", "releases": [{"name": "capi", "version": "1.2"},
                                                       {"name": "diego", "version": "2.3"}],
                            "stemcells": [{"name": "bosh-aws", "version": "621.90"}]}]


def test_not_json_is_a_clear_error() -> None:
    with pytest.raises(parsers.OutputError, match="no JSON"):
        parsers.parse_env("Using environment ...\nName bosh")


def test_error_line_is_the_innermost_cause() -> None:
    text = ("Using environment '10.0.0.6' as client 'admin'\n\nFinding stemcells:\n"
            "  Performing request GET 'https://10.0.0.6:25555/stemcells':\n"
            "    Performing GET request:\n      Retry: Get \"https://10.0.0.6:25555/stemcells\": dial tcp "
            "10.0.0.6:25555: connect: connection refused\n\nExit code 1")
    assert parsers.error_line(text).endswith("connect: connection refused")
    diagnosis = diagnose_bosh(json.dumps({"Tables": None, "Blocks": None, "Lines": text.splitlines()}), "",
                              json_output=True)
    assert diagnosis.reason == "DirectorUnreachable"
    assert diagnosis.message("Inventory").startswith("Inventory failed: Retry: Get")


V1_BOXES = """
+---------------+--------------+---------+------+
| Name          | OS           | Version | CID  |
+---------------+--------------+---------+------+
| bosh-warden   | ubuntu-jammy | 1.700*  | sc-1 |
| bosh-warden   | ubuntu-jammy | 1.650   | sc-0 |
+---------------+--------------+---------+------+

(*) Currently in-use

Stemcells total: 2
"""


def test_v1_box_tables() -> None:
    stemcells = parsers.parse_v1_stemcells(V1_BOXES)
    assert [(s["version"], s["deployed"], s["cid"]) for s in stemcells] == [("1.700", True, "sc-1"),
                                                                           ("1.650", False, "sc-0")]


def test_v1_status_and_backup_path() -> None:
    status = "Config\n  /x\n\nDirector\n  Name       bosh\n  URL        https://d\n  Version    1.3262.0\n" \
             "  User       admin\n  UUID       u-9\n  CPI        vsphere_cpi\n"
    info = parsers.parse_v1_status(status)
    assert (info.name, info.uuid, info.cpi, info.logged_in) == ("bosh", "u-9", "vsphere_cpi", True)
    assert parsers.parse_v1_backup_path("Backup of BOSH director was put in '/w/bosh_backup_b_1.tgz'.") == \
        "/w/bosh_backup_b_1.tgz"


def test_v1_instances_with_processes() -> None:
    out = """
Deployment 'web'

+-------------------+---------+----+---------+-----------+
| Instance          | State   | AZ | VM Type | IPs       |
+-------------------+---------+----+---------+-----------+
| web/0 (abc)       | running | z1 | default | 10.0.0.10 |
|   nginx           | running |    |         |           |
|   app             | failing |    |         |           |
+-------------------+---------+----+---------+-----------+
"""
    [instance] = parsers.parse_v1_instances(out)
    assert (instance.deployment, instance.instance, instance.failing_processes) == ("web", "web/0 (abc)", ["app"])


BBR_STDOUT = [
    "[bbr] 2026/01/02 15:04:05 INFO - Copying backup -- 4.0K uncompressed -- for job director on bosh/0...",
    "[bbr] 2026/01/02 15:04:05 INFO - Copying backup for job director on bosh/0 -- 50% complete",
    "[bbr] 2026/01/02 15:04:06 INFO - Finished copying backup -- for job director on bosh/0.",
    "[bbr] 2026/01/02 15:04:06 INFO - Copying backup for job blobstore on bosh/0 -- 50% complete",
]


def test_bbr_progress_over_all_jobs() -> None:
    progress = parsers.BbrProgress(jobs=["director", "blobstore"])
    percents = [progress.feed(line) for line in BBR_STDOUT]
    assert percents == [0, 25, 50, 75]
    assert progress.feed("not a bbr line") is None


@pytest.mark.parametrize(("code", "usable", "meaning"), [
    (0, True, []), (1, False, ["the backup or restore failed"]), (4, False, ["the pre-backup lock failed"]),
    (8, True, ["the post-backup unlock failed: the director may still be locked"]),
    (17, False, ["the backup or restore failed", "cleanup on the director failed"]),
    (143, False, ["bbr was killed by signal 15"]), (-15, False, ["bbr was killed by signal 15"]),
])
def test_bbr_exit_bitmask(code: int, usable: bool, meaning: list[str]) -> None:
    assert parsers.bbr_artifact_usable(code) is usable
    assert parsers.bbr_exit_meaning(code) == meaning


def test_bbr_error_block_and_diagnosis() -> None:
    stderr = ("1 error occurred:\nerror 1:\nDirectory /var/vcap/store/bbr-backup already exists on instance bosh/0\n"
              "It is recommended that you run `bbr director backup-cleanup` to ensure ...\n")
    assert parsers.bbr_error(stderr) == "Directory /var/vcap/store/bbr-backup already exists on instance bosh/0"
    diagnosis = diagnose_bbr(1, stderr, ["bbr", "director", "backup-cleanup"], None)
    assert diagnosis.reason == "BackupAlreadyInProgress"
    assert "run `bbr director backup-cleanup`" in diagnosis.next_action
    lock = diagnose_bbr(4, "1 error occurred:\nerror 1:\npre-backup-lock failed\n", None, True)
    assert lock.reason == "BbrLockFailed" and "The runner ran" in lock.next_action
    ssh = diagnose_bbr(1, "1 error occurred:\nerror 1:\nssh.NewConnection.ParsePrivateKey failed: ssh: no key found\n",
                       None, None)
    assert ssh.reason == "SshKeyInvalid"


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "it is not JSON"),
    ("[]", "it is not a JSON object"),
    ('{"disks": [], "stemcells": []}', "director_id is missing"),
    ('{"director_id": "d", "stemcells": []}', "the disks section is missing"),
    ('{"director_id": "d", "disks": [{"id": "1"}], "stemcells": []}', "a disk has no cid"),
    ('{"director_id": "d", "disks": [], "stemcells": [], "current_disk_id": "x"}', "current_disk_id 'x' is not"),
])
def test_a_broken_state_file_says_what_is_wrong(text: str, problem: str) -> None:
    assert any(p.startswith(problem) for p in parsers.state_file_problems(text))


def test_a_create_env_state_file_passes() -> None:
    from boshsim.k8s import STATE_FILE

    assert parsers.state_file_problems(json.dumps(STATE_FILE, indent=4)) == []
