"""DirectorRestore end to end: back up, lose the director, deploy a fresh one, restore,
and compare the two directors' state field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from boshsim.fixtures import SimulatedDirector
from boshsim.k8s import API, backup, get, register, run_jobs, wait_for_step, wait_phase
from harness.argocd import health

NS = "restores"


@pytest.fixture(scope="module")
def ns(harness: Any) -> str:
    return str(harness.create_namespace(NS))


def restore(name: str, director: str, source: dict[str, Any], artifacts: Any, **spec: Any) -> dict[str, Any]:
    base = f"http://127.0.0.1:{artifacts.port}"
    reupload = {"stemcellUrlPattern": f"{base}/{{name}}-{{version}}.tgz",
                "releaseUrlPattern": f"{base}/{{name}}-{{version}}.tgz"}
    return {"apiVersion": API, "kind": "DirectorRestore", "metadata": {"name": name, "namespace": NS},
            "spec": {"directorRef": {"name": director}, "source": source, "reupload": reupload, **spec}}


def backed_up(harness: Any, make_director: Any, name: str, mode: str = "uaa",
              **backup_spec: Any) -> tuple[SimulatedDirector, dict[str, Any]]:
    director, _ = make_director(mode=mode)
    register(harness, NS, director, name, ssh=mode == "uaa")
    harness.apply(backup(f"{name}-1", NS, name, **backup_spec))
    status = wait_phase(harness, "DirectorBackup", NS, f"{name}-1")["status"]
    assert status["phase"] == "Succeeded", status
    return director, director.snapshot()


def disaster(director: SimulatedDirector, harness: Any) -> SimulatedDirector:
    """The director and its disk are gone; a fresh one is deployed at the same address."""
    director.destroy()
    fresh = director.replacement(harness.workdir / "sim" / f"fresh-{director.port}").start()
    assert fresh.snapshot()["deployments"] == []
    return fresh


def restored(harness: Any, name: str) -> dict[str, Any]:
    status = wait_phase(harness, "DirectorRestore", NS, name, timeout=240)["status"]
    return dict(status)


def test_bbr_restore_loses_nothing(harness: Any, ns: str, make_director: Any, artifacts: Any) -> None:
    director, before = backed_up(harness, make_director, "alpha")
    fresh = disaster(director, harness)
    try:
        harness.apply(restore("alpha-r1", "alpha", {"backupRef": {"name": "alpha-1"}}, artifacts))
        status = restored(harness, "alpha-r1")
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        assert [(s["name"], s["state"]) for s in status["steps"]] == [
            ("Precheck", "Succeeded"), ("VerifyArtifact", "Succeeded"), ("RestoreDatabase", "Succeeded"),
            ("ListExpected", "Succeeded"), ("UploadStemcells", "Succeeded"), ("UploadReleases", "Succeeded"),
            ("CloudCheck", "Succeeded"), ("VerifyInstances", "Succeeded")]
        assert fresh.snapshot() == before  # the database, every blob, credhub and uaa
        assert status["summary"]["processesRunning"] == 12 and status["summary"]["processesFailing"] == 0
        # bbr brought the blobstore back: sources were given, yet nothing needed uploading
        assert "stemcellsUploaded" not in status["summary"] and status["summary"]["uploadsNotNeeded"] == 6
        assert status["source"]["backup"] == "alpha-1" and status["source"]["method"] == "bbr"
        assert status["reason"] == "Restored"
        assert health(get(harness, "DirectorRestore", ns, "alpha-r1"))[0] == "Healthy"  # what Argo CD shows
        uploads = next(s for s in status["steps"] if s["name"] == "UploadReleases")
        assert uploads["message"] == ("none of 4 releases uploaded: the director lacks none (bbr restored the "
                                      "blobstore with the database); spec.reupload.when: Always uploads them anyway")
        expected = next(s for s in status["steps"] if s["name"] == "ListExpected")
        assert "it lacks none of their blobs: bbr restored the blobstore" in expected["message"]
    finally:
        fresh.stop()


def test_v1_restore_needs_and_does_the_reupload(harness: Any, ns: str, make_director: Any, artifacts: Any) -> None:
    director, before = backed_up(harness, make_director, "legacy", mode="basic", method="v1")
    fresh = disaster(director, harness)
    try:
        harness.apply(restore("legacy-r1", "legacy", {"backupRef": {"name": "legacy-1"}}, artifacts))
        status = restored(harness, "legacy-r1")
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        after = fresh.snapshot()
        # every blob came back through `bosh upload ... --fix`: the v1 backup had none
        assert all(row["blob"] == row["sha1"] for row in after["stemcells"] + after["releases"])
        assert {k: v for k, v in after.items() if k not in ("credhub", "uaa")} == \
            {k: v for k, v in before.items() if k not in ("credhub", "uaa")}
        assert len(status["uploaded"]) == 6
    finally:
        fresh.stop()


def test_a_v1_restore_without_sources_names_what_to_provide(harness: Any, ns: str, make_director: Any,
                                                              artifacts: Any) -> None:
    """The database alone came back: the director lacks every blob, and no source is known."""
    director, _ = backed_up(harness, make_director, "omicron", mode="basic", method="v1")
    fresh = disaster(director, harness)
    try:
        body = restore("omicron-r1", "omicron", {"backupRef": {"name": "omicron-1"}}, artifacts)
        del body["spec"]["reupload"]
        harness.apply(body)
        status = failed_restore(harness, "omicron-r1")
        assert status["reason"] == "UploadFailed"
        assert len(status["failing"]) == 6
        assert all("the director lacks it and no source is known; add it to spec.reupload.sources" in line
                   for line in status["failing"]), status["failing"]
        expected = next(s for s in status["steps"] if s["name"] == "ListExpected")
        assert "it lacks every one of their blobs: the v1 backup holds the director database only" in \
            expected["message"] and "no source known for 6 it lacks" in expected["message"]
    finally:
        fresh.stop()


def test_cluster_lost_too_restore_from_storage_and_path(harness: Any, ns: str, make_director: Any,
                                                        artifacts: Any) -> None:
    director, before = backed_up(harness, make_director, "beta")
    path = get(harness, "DirectorBackup", NS, "beta-1")["status"]["artifact"]["path"]
    harness.kubectl("delete", "dbk", "beta-1", "-n", NS)  # Retain: the artifact stays
    fresh = disaster(director, harness)
    try:
        harness.apply(restore("beta-r1", "beta", {"path": path, "storage": {"pvc": {"claimName": "backups"}}},
                              artifacts))
        status = restored(harness, "beta-r1")
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        assert fresh.snapshot() == before
        assert status["source"]["method"] == "bbr" and "backup" not in status["source"]
    finally:
        fresh.stop()


def failed_restore(harness: Any, name: str) -> dict[str, Any]:
    status = restored(harness, name)
    assert status["phase"] == "Failed", json.dumps(status, indent=1)
    return status


def test_a_backup_that_did_not_succeed_cannot_be_restored(harness: Any, ns: str, artifacts: Any) -> None:
    harness.apply(backup("never-1", NS, "nobody"))
    wait_phase(harness, "DirectorBackup", NS, "never-1")
    harness.apply(restore("never-r1", "nobody", {"backupRef": {"name": "never-1"}}, artifacts))
    status = failed_restore(harness, "never-r1")
    assert status["reason"] == "BackupNotSucceeded"
    assert 'spec.source.backupRef: DirectorBackup "never-1" is Failed, not Succeeded' in status["message"]


def test_tampered_artifact_fails_before_touching_the_director(harness: Any, ns: str, make_director: Any,
                                                                artifacts: Any) -> None:
    director, _ = backed_up(harness, make_director, "gamma")
    artifact = get(harness, "DirectorBackup", NS, "gamma-1")["status"]["artifact"]
    tar = Path(harness.node_root) / "pvcs" / NS / "backups" / artifact["path"] / "bbr" / "bosh-0-director.tar"
    data = bytearray(tar.read_bytes())
    data[700] ^= 0xFF
    tar.write_bytes(bytes(data))
    fresh = disaster(director, harness)
    try:
        untouched = fresh.snapshot()
        harness.apply(restore("gamma-r1", "gamma", {"backupRef": {"name": "gamma-1"}}, artifacts))
        status = failed_restore(harness, "gamma-r1")
        assert status["reason"] == "ChecksumMismatch"
        failed_step = next(s for s in status["steps"] if s["state"] == "Failed")
        assert failed_step["name"] == "VerifyArtifact"
        assert "bbr/bosh-0-director.tar" in failed_step["message"] and "not touched" in failed_step["message"]
        assert fresh.snapshot() == untouched
    finally:
        fresh.stop()


def test_a_director_with_deployments_is_refused_without_force(harness: Any, ns: str, make_director: Any,
                                                               artifacts: Any) -> None:
    """Another director's database may only replace this one's with force; the same one's
    (a second try) goes on without it, see test_a_failed_upload_says_why."""
    backed_up(harness, make_director, "delta")
    other, _ = make_director()  # its own database: another UUID, three deployments
    register(harness, NS, other, "delta-other")
    before = other.snapshot()
    harness.apply(restore("delta-r1", "delta-other", {"backupRef": {"name": "delta-1"}}, artifacts))
    status = failed_restore(harness, "delta-r1")
    assert status["reason"] == "DirectorNotEmpty"
    assert "already has 3 deployments" in status["message"] and "spec.force" in status["message"]
    assert 'Director "delta-other"' in status["message"]  # the resource the user made, not only BOSH's own name
    assert other.snapshot() == before


def test_cloud_check_problems_are_listed_in_report_mode(harness: Any, ns: str, make_director: Any,
                                                         artifacts: Any) -> None:
    director, before = backed_up(harness, make_director, "eps")
    web = next(d for d in before["deployments"] if d["name"] == "web")
    fresh = disaster(director, harness)
    fresh.break_vm(web["instances"][0]["vm_cid"], missing=True)  # the IaaS lost a VM meanwhile
    try:
        harness.apply(restore("eps-r1", "eps", {"backupRef": {"name": "eps-1"}}, artifacts))
        status = failed_restore(harness, "eps-r1")
        assert status["reason"] == "CloudCheckProblemsFound"
        assert status["summary"]["problemsFound"] == 1
        assert status["problems"] == [f"web: VM for 'web/{web['instances'][0]['id']} (0)' with cloud ID "
                                      f"'{web['instances'][0]['vm_cid']}' missing."]
        steps = {s["name"]: s["state"] for s in status["steps"]}
        assert steps["CloudCheck"] == "Failed" and steps["VerifyInstances"] in ("Succeeded", "Failed")
        assert "spec.cloudCheck: auto" in status["message"]
    finally:
        fresh.stop()


def test_restore_spec_is_immutable_and_a_finished_restore_never_runs_again(harness: Any, ns: str) -> None:
    body = get(harness, "DirectorRestore", NS, "never-r1")
    jobs_before = run_jobs(harness, NS, "never-r1")
    harness.apply(body | {"metadata": {"name": "never-r1", "namespace": NS}})  # GitOps re-applies it
    again = get(harness, "DirectorRestore", NS, "never-r1")
    assert again["status"]["phase"] == "Failed"
    assert run_jobs(harness, NS, "never-r1") == jobs_before


def wait_until(harness: Any, name: str, check: Any, what: str) -> dict[str, Any]:
    from harness.cluster import wait_for

    found: dict[str, Any] = wait_for(what, lambda: (s := get(harness, "DirectorRestore", NS, name).get(
        "status") or {}) and check(s) and s, timeout=120, interval=0.1)
    return found


def upload_tasks(director: SimulatedDirector) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in director.state.read_tasks()["tasks"]:
        if task["description"] in ("create release", "create stemcell from remote url") and task["state"] == "done":
            counts[task["result"]] = counts.get(task["result"], 0) + 1
    return counts


def test_a_pod_killed_during_uploads_resumes_without_uploading_twice(harness: Any, ns: str, make_director: Any,
                                                                       artifacts: Any) -> None:
    director, _ = backed_up(harness, make_director, "zeta", mode="basic", method="v1")
    fresh = disaster(director, harness)
    try:
        fresh.set_faults(slow_seconds=0.15)
        harness.apply(restore("zeta-r1", "zeta", {"backupRef": {"name": "zeta-1"}}, artifacts))
        wait_until(harness, "zeta-r1", lambda s: any(
            step["name"] == "UploadReleases" and step.get("itemsDone", 0) >= 1 for step in s.get("steps", [])),
            "the first release to be uploaded")
        pod = json.loads(harness.kubectl("get", "pods", "-n", NS, "-l", "bosh-backup.dev/name=zeta-r1", "-o",
                                         "json").stdout)["items"][0]["metadata"]["name"]
        harness.kubectl("delete", "pod", pod, "-n", NS, "--wait=true", "--timeout=60s")
        recorded = list(get(harness, "DirectorRestore", NS, "zeta-r1")["status"]["uploaded"])
        assert any(item.startswith("release:") for item in recorded)
        fresh.set_faults()
        status = restored(harness, "zeta-r1")
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        releases = next(s for s in status["steps"] if s["name"] == "UploadReleases")
        assert releases["attempts"] == 2
        stemcells = next(s for s in status["steps"] if s["name"] == "UploadStemcells")
        assert stemcells["attempts"] == 1, "a step that had succeeded is not run again"
        counts = upload_tasks(fresh)
        for item in recorded:  # recorded as uploaded before the kill: never again
            kind, _, name_version = item.partition(":")
            assert counts[f"/{kind}s/{name_version}"] == 1, counts
        assert all(count <= 2 for count in counts.values())  # at most the one cut mid-way, again
        after = fresh.snapshot()
        assert all(row["blob"] == row["sha1"] for row in after["releases"] + after["stemcells"])
    finally:
        fresh.stop()


def test_operator_restart_mid_restore(harness: Any, ns: str, make_director: Any, artifacts: Any) -> None:
    director, before = backed_up(harness, make_director, "eta")
    fresh = disaster(director, harness)
    try:
        fresh.set_faults(slow_seconds=0.1)
        body = restore("eta-r1", "eta", {"backupRef": {"name": "eta-1"}}, artifacts)
        body["spec"]["reupload"]["when"] = "Always"   # uploads to be in, though bbr restored the blobs
        harness.apply(body)
        wait_for_step(harness, "DirectorRestore", NS, "eta-r1", "UploadStemcells", timeout=120)
        harness.stop_operator()
        fresh.set_faults()
        harness.start_operator()
        status = restored(harness, "eta-r1")
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        assert fresh.snapshot() == before
        assert len(run_jobs(harness, NS, "eta-r1")) == 1
    finally:
        fresh.stop()


def test_restore_and_backup_share_the_director_lock(harness: Any, ns: str, make_director: Any,
                                                     artifacts: Any) -> None:
    director, _ = backed_up(harness, make_director, "theta")
    fresh = disaster(director, harness)
    try:
        fresh.set_faults(slow_seconds=0.1)
        harness.apply(restore("theta-r1", "theta", {"backupRef": {"name": "theta-1"}}, artifacts))
        wait_until(harness, "theta-r1", lambda s: s.get("phase") == "Running", "the restore to run")
        harness.apply(backup("theta-2", NS, "theta"))
        waiting = wait_phase(harness, "DirectorBackup", NS, "theta-2", ("Pending",))["status"]
        assert f"DirectorRestore {NS}/theta-r1" in waiting["message"]
        fresh.set_faults()
        assert restored(harness, "theta-r1")["phase"] == "Succeeded"
        assert wait_phase(harness, "DirectorBackup", NS, "theta-2", timeout=120)["status"]["phase"] == "Succeeded"
    finally:
        fresh.stop()


def test_a_failed_upload_says_why(harness: Any, ns: str, make_director: Any, artifacts: Any) -> None:
    """The director's task knows why an upload failed (its error event); the status says it,
    not only that a task was expected to succeed."""
    from harness.cluster import free_port

    director, before = backed_up(harness, make_director, "kappa")
    fresh = disaster(director, harness)
    try:
        body = restore("kappa-r1", "kappa", {"backupRef": {"name": "kappa-1"}}, artifacts)
        body["spec"]["reupload"]["when"] = "Always"
        body["spec"]["reupload"]["releaseUrlPattern"] = f"http://127.0.0.1:{free_port()}/{{name}}-{{version}}.tgz"
        harness.apply(body)
        status = failed_restore(harness, "kappa-r1")
        assert status["reason"] == "UploadFailed"
        assert len(status["failing"]) == 4
        for line in status["failing"]:
            assert "Downloading remote release failed" in line and "Connection refused" in line, line
            assert "Expected task" not in line
        # follow the advice: a new DirectorRestore with the sources fixed, and no force
        assert "Fix their sources in a new DirectorRestore of the same backup" in status["message"]
        second_body = restore("kappa-r2", "kappa", {"backupRef": {"name": "kappa-1"}}, artifacts)
        second_body["spec"]["reupload"]["when"] = "Always"
        harness.apply(second_body)
        second = restored(harness, "kappa-r2")
        assert second["phase"] == "Succeeded", json.dumps(second, indent=1)
        assert second["databaseInPlace"] is True
        database = next(s for s in second["steps"] if s["name"] == "RestoreDatabase")
        assert database["state"] == "Succeeded" and database["message"].startswith("skipped: the director already")
        assert second["summary"]["releasesUploaded"] == 4
        assert fresh.snapshot() == before
    finally:
        fresh.stop()


def test_a_tar_damaged_before_the_manifest_was_written_is_caught_by_bbrs_checksums(
        harness: Any, ns: str, make_director: Any, artifacts: Any) -> None:
    """manifest.json's sums agree with the damaged tar (it was damaged before they were taken);
    bbr's own metadata does not: bbr refuses it before it reaches the director, and
    RestoreDatabase says which file."""
    import hashlib

    from boshsim.capture import flip_data_byte

    director, _ = backed_up(harness, make_director, "lambda")
    artifact = get(harness, "DirectorBackup", NS, "lambda-1")["status"]["artifact"]
    folder = Path(harness.node_root) / "pvcs" / NS / "backups" / artifact["path"]
    tar = folder / "bbr" / "bosh-0-director.tar"
    flip_data_byte(tar)
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["name"] == "bbr/bosh-0-director.tar")
    entry["sha256"] = hashlib.sha256(tar.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    fresh = disaster(director, harness)
    try:
        untouched = fresh.snapshot()
        body = restore("lambda-r1", "lambda", {"path": artifact["path"], "storage": artifact["storage"]}, artifacts)
        harness.apply(body)
        status = failed_restore(harness, "lambda-r1")
        assert status["reason"] == "ArtifactCorrupted"
        states = {s["name"]: s["state"] for s in status["steps"]}
        assert (states["VerifyArtifact"], states["RestoreDatabase"]) == ("Succeeded", "Failed")
        failed_step = next(s for s in status["steps"] if s["name"] == "RestoreDatabase")
        assert "bosh-0-director.tar: ./director-db.json has sha256" in failed_step["message"]
        assert "The director was not touched" in failed_step["message"]
        assert fresh.snapshot() == untouched
    finally:
        fresh.stop()


def test_a_manifest_without_method_is_refused_by_name_and_status_stays_current(
        harness: Any, ns: str, make_director: Any, artifacts: Any) -> None:
    director, _ = backed_up(harness, make_director, "mu")
    artifact = get(harness, "DirectorBackup", NS, "mu-1")["status"]["artifact"]
    manifest_file = Path(harness.node_root) / "pvcs" / NS / "backups" / artifact["path"] / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    del manifest["method"]
    manifest_file.write_text(json.dumps(manifest))
    fresh = disaster(director, harness)
    try:
        untouched = fresh.snapshot()
        harness.apply(restore("mu-r1", "mu", {"path": artifact["path"], "storage": artifact["storage"]}, artifacts))
        status = failed_restore(harness, "mu-r1")
        assert status["reason"] == "ArtifactInvalid"
        assert "method is None, not bbr or v1" in status["message"] and "not touched" in status["message"]
        precheck = next(s for s in status["steps"] if s["name"] == "Precheck")
        assert precheck["state"] == "Failed"  # not left "Running" by refused status updates
        assert status["source"]["location"] == artifact["location"]
        assert fresh.snapshot() == untouched
    finally:
        fresh.stop()


def test_an_air_gapped_bbr_restore_needs_no_source(harness: Any, ns: str, make_director: Any,
                                                   artifacts: Any) -> None:
    """No reupload sources at all, and no internet: bbr brought the blobstore back, and the
    bosh.io URLs the backup could only guess are never tried."""
    director, before = backed_up(harness, make_director, "nu")
    fresh = disaster(director, harness)
    try:
        body = restore("nu-r1", "nu", {"backupRef": {"name": "nu-1"}}, artifacts)
        del body["spec"]["reupload"]
        harness.apply(body)
        status = restored(harness, "nu-r1")
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        stemcells = next(s for s in status["steps"] if s["name"] == "UploadStemcells")
        assert stemcells["message"].startswith("none of 2 stemcells uploaded: the director lacks none")
        assert not status.get("failing")
        assert fresh.snapshot() == before
    finally:
        fresh.stop()


def test_plain_bbr_artifacts_restore_as_a_folder_and_as_a_tar(harness: Any, ns: str, make_director: Any,
                                                              artifacts: Any, sim_bin: Path) -> None:
    """What people already have: `bbr director backup` run by hand, its folder (or a tar of it)
    put in storage. No manifest.json: bbr's own metadata is what is checked."""
    import shutil
    import subprocess

    from boshsim.capture import flip_data_byte
    from boshsim.fixtures import bbr

    director, _ = make_director()
    register(harness, NS, director, "xi")
    before = director.snapshot()
    made = harness.workdir / "sim" / "plain-bbr"
    made.mkdir(parents=True)
    result = bbr(sim_bin, director, "backup", "--artifact-path", str(made), cwd=made)
    assert result.returncode == 0, result.stderr
    folder = next(p for p in made.iterdir() if p.is_dir())
    claim = Path(harness.node_root) / "pvcs" / NS / "backups"
    shutil.copytree(folder, claim / "by-hand" / folder.name)
    subprocess.run(["tar", "-C", str(made), "-cf", str(claim / "by-hand" / "pipeline.tar"), folder.name], check=True)
    shutil.copytree(folder, claim / "by-hand" / "flipped")
    flip_data_byte(claim / "by-hand" / "flipped" / "bosh-0-director.tar")
    subprocess.run(["chmod", "-R", "a+rX", str(claim / "by-hand")], check=True)  # as a copy onto a volume leaves it
    storage = {"pvc": {"claimName": "backups"}}
    for number, path in enumerate((f"by-hand/{folder.name}", "by-hand/pipeline.tar")):
        director = disaster(director, harness)
        name = f"xi-plain-{number}"
        harness.apply(restore(name, "xi", {"path": path, "storage": storage}, artifacts))
        status = restored(harness, name)
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        verify = next(s for s in status["steps"] if s["name"] == "VerifyArtifact")
        form = "folder" if number == 0 else "tar"
        assert verify["message"].startswith(f"a plain bbr artifact ({form}, no manifest.json): no stored checksums")
        assert "bbr's metadata matches all" in verify["message"]
        assert director.snapshot() == before
    director = disaster(director, harness)
    try:
        untouched = director.snapshot()
        harness.apply(restore("xi-flipped", "xi", {"path": "by-hand/flipped", "storage": storage}, artifacts))
        status = failed_restore(harness, "xi-flipped")
        assert status["reason"] == "ArtifactCorrupted"
        assert "bosh-0-director.tar: ./director-db.json has sha256" in status["message"]
        assert director.snapshot() == untouched
    finally:
        director.stop()


def test_a_release_upload_cut_half_way_is_named_and_a_second_restore_finishes(
        harness: Any, ns: str, make_director: Any, artifacts: Any) -> None:
    """The mirror drops the connection half-way through one release: the restore names
    exactly that one as left, and a second DirectorRestore with the source fixed finishes."""
    import http.server
    import threading

    director, before = backed_up(harness, make_director, "pi")
    fresh = disaster(director, harness)
    tarball = artifacts.folder / "postgres-48.tgz"

    class HalfServer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:   # promises the whole file, sends half, hangs up
            data = tarball.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.close_connection = True

        def log_message(self, *args: Any) -> None:
            pass

    half = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HalfServer)
    threading.Thread(target=half.serve_forever, daemon=True).start()
    cut = {"kind": "Release", "name": "postgres", "version": "48",
           "url": f"http://127.0.0.1:{half.server_address[1]}/postgres-48.tgz"}
    try:
        body = restore("pi-r1", "pi", {"backupRef": {"name": "pi-1"}}, artifacts)
        body["spec"]["reupload"].update(when="Always", sources=[cut])
        harness.apply(body)
        status = failed_restore(harness, "pi-r1")
        assert status["reason"] == "UploadFailed"
        assert len(status["failing"]) == 1 and status["failing"][0].startswith(
            f"release postgres/48 from {cut['url']} (spec.reupload.sources)"), status["failing"]
        assert sorted(status["uploaded"]) == sorted(
            [f"stemcell:{s['name']}/{s['version']}" for s in before["stemcells"]]
            + [f"release:{r['name']}/{r['version']}" for r in before["releases"] if r["name"] != "postgres"])
        second = restore("pi-r2", "pi", {"backupRef": {"name": "pi-1"}}, artifacts)
        second["spec"]["reupload"]["when"] = "Always"
        harness.apply(second)
        done = restored(harness, "pi-r2")
        assert done["phase"] == "Succeeded", json.dumps(done, indent=1)
        assert done["databaseInPlace"] is True
        assert fresh.snapshot() == before
    finally:
        half.shutdown()
        fresh.stop()
