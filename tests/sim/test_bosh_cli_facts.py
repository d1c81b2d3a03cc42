"""BOSH-FACTS.md section 3 (bosh CLI v2), one test per fact, through the real bosh CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from boshsim.fixtures import SimulatedDirector, bosh


def as_json(result: Any) -> dict[str, Any]:
    return dict(json.loads(result.stdout))


def table(result: Any, index: int = 0) -> dict[str, Any]:
    return dict(as_json(result)["Tables"][index])


def test_json_document_has_tables_blocks_lines_and_string_values(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    document = as_json(bosh(bin_dir, director, "stemcells", "--json", check=True))
    assert set(document) == {"Tables", "Blocks", "Lines"}
    assert document["Lines"][-1] == "Succeeded"
    for row in document["Tables"][0]["Rows"]:
        assert all(isinstance(value, str) for value in row.values())


def test_stemcells_keys_and_deployed_mark(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    stemcells = table(bosh(bin_dir, director, "stemcells", "--json", check=True))
    assert stemcells["Content"] == "stemcells"
    assert set(stemcells["Header"]) == {"name", "version", "os", "cpi", "cid"}  # keys sorted
    versions = [row["version"] for row in stemcells["Rows"]]
    assert versions == ["1.700*", "1.650"]  # newest first; * = deployed


def test_releases_keys(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    releases = table(bosh(bin_dir, director, "releases", "--json", check=True))
    assert set(releases["Header"]) == {"name", "version", "commit_hash"}
    redis = next(r for r in releases["Rows"] if r["name"] == "redis")
    assert redis["version"] == "7.2*"


def test_env_keys(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    env = table(bosh(bin_dir, director, "env", "--json", check=True))
    assert set(env["Header"]) == {"name", "uuid", "version", "director_stemcell", "cpi", "features", "user"}
    row = env["Rows"][0]
    assert (row["name"], row["uuid"], row["user"]) == ("sim-director", director.info()["uuid"], "admin")


def test_deployments_keys_fold_punctuation(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    deployments = table(bosh(bin_dir, director, "deployments", "--json", check=True))
    assert list(deployments["Header"]) == ["name", "release_s", "stemcell_s", "team_s"]
    assert [r["name"] for r in deployments["Rows"]] == ["cache", "db", "web"]


def test_instances_ps_keys(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    document = as_json(bosh(bin_dir, director, "instances", "--ps", "--json", check=True))
    assert len(document["Tables"]) == 3  # one table per deployment
    web = next(t for t in document["Tables"] if t["Rows"][0]["deployment"] == "web")
    assert set(web["Header"]) == {"instance", "process", "process_state", "az", "ips", "deployment"}
    processes = [r for r in web["Rows"] if r["process"]]
    assert {r["process_state"] for r in processes} == {"running"}


def test_environment_variables_carry_the_connection(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    result = bosh(bin_dir, director, "env", "--json")  # nothing on argv but the command
    assert result.returncode == 0, result.stdout


def test_default_port_is_25555(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    result = bosh(bin_dir, director, "stemcells", env={"BOSH_ENVIRONMENT": "127.0.0.1"})
    assert result.returncode == 1
    assert "127.0.0.1:25555" in result.stderr


def test_failures_end_with_exit_code_1(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    result = bosh(bin_dir, director, "stemcells", env={"BOSH_CLIENT_SECRET": "wrong"})
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("Exit code 1")
    assert "UAA responded with non-successful status code '401'" in result.stderr
    document = as_json(bosh(bin_dir, director, "stemcells", "--json", env={"BOSH_CLIENT_SECRET": "wrong"}))
    assert document["Lines"][-1] == "Exit code 1"


def test_wrong_ca_fails_verification(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    from harness.pki import CertificateAuthority

    director, _ = seeded
    other = CertificateAuthority(tmp_path / "other-ca")
    result = bosh(bin_dir, director, "env", env={"BOSH_CA_CERT": str(other.cert_path)})
    assert result.returncode == 1
    assert "x509: certificate signed by unknown authority" in result.stderr


def test_unreachable_director_is_connection_refused(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    director.stop()
    result = bosh(bin_dir, director, "env")
    assert result.returncode == 1
    assert f"dial tcp 127.0.0.1:{director.port}: connect: connection refused" in result.stderr


def test_upload_without_fix_of_a_known_row_skips_the_blob(seeded: Any, bin_dir: Path) -> None:
    director, sources = seeded
    director.lose_blobs()
    release = sources["releases"][0]
    result = bosh(bin_dir, director, "upload-release", release["url"], "--sha1", release["sha1"], check=True)
    # a URL without --name/--version: the CLI cannot tell, so the director's task says it
    assert f"Update release: Release '{release['name']}/{release['version']}' already exists" in result.stdout
    row = next(r for r in director.snapshot()["releases"] if r["name"] == release["name"])
    assert row["blob"] is None  # still missing: deploys would fail later


def test_upload_with_fix_uploads_the_blob_again(seeded: Any, bin_dir: Path) -> None:
    director, sources = seeded
    director.lose_blobs()
    stemcell = sources["stemcells"][0]
    bosh(bin_dir, director, "upload-stemcell", stemcell["url"], "--fix", "--sha1", stemcell["sha1"], check=True)
    row = next(r for r in director.snapshot()["stemcells"] if r["version"] == stemcell["version"])
    assert row["blob"] == stemcell["sha1"]


def test_upload_checks_the_sha1(seeded: Any, bin_dir: Path, artifacts: Any) -> None:
    director, _ = seeded
    url, _ = artifacts.release("extra", "1")
    result = bosh(bin_dir, director, "upload-release", url, "--sha1", "0" * 40)
    assert result.returncode == 1
    assert "Expected stream to have digest" in result.stdout
    assert "Expected task" in result.stderr and "to succeed but state is 'error'" in result.stderr


def test_upload_of_a_missing_url_fails_with_the_download_error(seeded: Any, bin_dir: Path, artifacts: Any) -> None:
    director, _ = seeded
    result = bosh(bin_dir, director, "upload-release", f"http://127.0.0.1:{artifacts.port}/nope.tgz")
    assert result.returncode == 1
    assert "Downloading remote release failed" in result.stdout


def test_cck_report_exits_1_with_problem_count(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    web = next(d for d in director.snapshot()["deployments"] if d["name"] == "web")
    director.break_vm(web["instances"][0]["vm_cid"])
    director.break_vm(web["instances"][1]["vm_cid"], missing=True)
    result = bosh(bin_dir, director, "-d", "web", "cloud-check", "--report", "--json")
    assert result.returncode == 1
    document = as_json(result)
    assert "2 problem(s) found" in document["Lines"]
    problems = document["Tables"][0]
    assert problems["Header"] == {"0": "#", "type": "Type", "description": "Description"}  # "#" is keyed "0"
    assert {r["type"] for r in problems["Rows"]} == {"unresponsive_agent", "missing_vm"}


def test_cck_auto_needs_non_interactive_with_json(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    web = next(d for d in director.snapshot()["deployments"] if d["name"] == "web")
    director.break_vm(web["instances"][0]["vm_cid"])
    refused = bosh(bin_dir, director, "-d", "web", "cck", "--auto", "--json")
    assert refused.returncode == 1  # the real CLI panics, with a stack trace on stderr
    assert "Panic: Cannot ask for confirmation in JSON UI" in refused.stderr
    resolved = bosh(bin_dir, director, "-d", "web", "cck", "--auto", "-n", "--json")
    assert resolved.returncode == 0, resolved.stdout
    after = bosh(bin_dir, director, "-d", "web", "cck", "--report", "--json")
    assert after.returncode == 0 and as_json(after)["Tables"][0]["Rows"] == []


def test_failing_task_fault(seeded: Any, bin_dir: Path, artifacts: Any) -> None:
    director, _ = seeded
    director.set_faults(fail_tasks={"create release": "Release upload blocked by test"})
    url, sha1 = artifacts.release("blocked", "1")
    result = bosh(bin_dir, director, "upload-release", url, "--sha1", sha1)
    assert result.returncode == 1
    assert "Release upload blocked by test" in result.stdout


def test_state_survives_a_restart(seeded: Any, bin_dir: Path) -> None:
    director, _ = seeded
    before = director.snapshot()
    director.restart()
    assert director.snapshot() == before


def test_fresh_director_is_empty(new_director: Any, bin_dir: Path) -> None:
    director: SimulatedDirector = new_director("fresh")
    snapshot = director.snapshot()
    assert (snapshot["stemcells"], snapshot["releases"], snapshot["deployments"]) == ([], [], [])


def test_what_a_person_runs_beside_a_restore(seeded: Any, bin_dir: Path, tmp_path: Path) -> None:
    """log-in, tasks --recent, task N (events, --result): the real CLI against the director."""
    director, sources = seeded
    home = {"HOME": str(tmp_path)}
    assert bosh(bin_dir, director, "-n", "log-in", env=home).returncode == 0
    recent = as_json(bosh(bin_dir, director, "tasks", "--recent", "--json", check=True, env=home))
    rows = recent["Tables"][0]["Rows"]
    assert len(rows) == len(sources["stemcells"]) + len(sources["releases"])
    assert [int(r["id"]) for r in rows] == sorted((int(r["id"]) for r in rows), reverse=True)  # newest first
    upload = next(r for r in rows if r["description"] == "create release")
    events = bosh(bin_dir, director, "task", upload["id"], env=home, check=True).stdout
    assert "Update release: Uploading release" in events
    result = bosh(bin_dir, director, "task", upload["id"], "--result", env=home, check=True).stdout
    assert "uploaded." in result
