"""A manifest that cannot be used is refused by name, and a status the API refuses never
leaves a run's steps stale."""

from __future__ import annotations

from typing import Any

import pytest

from bosh_backup_operator.bosh.artifact import blobs_restored, manifest_problems
from bosh_backup_operator.planning.plan import Plan, Step
from bosh_backup_operator.runner.reporter import Reporter

GOOD = {"method": "bbr", "files": [{"name": "bbr/metadata", "size": 10, "sha256": "a" * 64}]}


@pytest.mark.parametrize(("manifest", "problem"), [
    ([], "manifest.json is not a JSON object"),
    ({**GOOD, "method": ""}, "method is '', not bbr or v1"),
    ({k: v for k, v in GOOD.items() if k != "method"}, "method is None, not bbr or v1"),
    ({**GOOD, "files": []}, "files lists no files"),
    ({**GOOD, "files": [{"name": "x", "size": -1, "sha256": "a" * 64}]}, "files[0] (x) has no size"),
    ({**GOOD, "files": [{"name": "../../etc/x", "size": 1, "sha256": "a" * 64}]},
     "files[0] (../../etc/x) is not a path inside the artifact"),
    ({**GOOD, "files": [{"name": "x.age", "size": 1, "sha256": "a" * 64,
                         "plaintext": {"name": "x", "size": 1, "sha256": "b" * 64}}]},
     "files[0] (x.age) has a plaintext but the manifest no encryption"),
    ({**GOOD, "encryption": {"format": "age-encryption.org/v1", "recipients": ["age1..."]},
      "files": [{"name": "x.age", "size": 1, "sha256": "a" * 64,
                 "plaintext": {"name": "/var/vcap/x", "size": 1, "sha256": "b" * 64}}]},
     "files[0].plaintext (x.age) needs a name inside the artifact, a size and a sha256"),
    ({**GOOD, "files": [{"name": "x", "size": 1, "sha256": "ZZ"}]}, "files[0] (x) has no sha256"),
])
def test_an_unusable_manifest_names_its_field(manifest: Any, problem: str) -> None:
    assert problem in manifest_problems(manifest)


def test_a_usable_manifest_passes() -> None:
    assert manifest_problems(GOOD) == []


class RefusingApi:
    """The apiserver refusing any status that carries more than steps and progress (422)."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []

    def patch_namespaced_custom_object_status(self, *args: Any) -> None:
        patch = args[-1]
        if set(patch["status"]) - {"steps", "progress"}:
            error = RuntimeError('status.source.method: Unsupported value: ""')
            error.status = 422  # type: ignore[attr-defined]
            raise error
        self.accepted.append(patch)


def test_a_refused_status_still_updates_steps_and_progress() -> None:
    plan = Plan(kind="DirectorRestore", namespace="ns", name="r", uid="u", director="d", method="bbr",
                dialect="v2", steps=[Step("Precheck", "precheck", "check")], storage={}, artifact_path="p")
    api = RefusingApi()
    reporter = Reporter(plan, api, min_interval=0)
    reporter.extra["source"] = {"method": ""}
    reporter.start("Precheck", 1)
    reporter.finish("Precheck", "Failed", "Precheck failed: the manifest.json cannot be used")
    assert api.accepted, "steps and progress were written despite the refusal"
    last = api.accepted[-1]["status"]["steps"][0]
    assert (last["state"], last["message"]) == ("Failed", "Precheck failed: the manifest.json cannot be used")


def test_a_plain_tar_is_extracted_only_inside_its_folder(tmp_path: Any) -> None:
    import io
    import tarfile

    from bosh_backup_operator.runner.restore_actions import extract_plainly

    def tar_with(*members: tarfile.TarInfo) -> Any:
        path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.tar"
        with tarfile.open(path, "w") as archive:
            for member in members:
                archive.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
        return path

    good = tarfile.TarInfo("10.0.0.6_20260101T000000Z/metadata")
    good.size = 1
    extract_plainly(tar_with(good), tmp_path / "ok")
    assert (tmp_path / "ok" / "10.0.0.6_20260101T000000Z" / "metadata").read_bytes() == b"x"
    climbing = tarfile.TarInfo("../../etc/evil")
    climbing.size = 1
    with pytest.raises(ValueError, match="outside the artifact's folder"):
        extract_plainly(tar_with(climbing), tmp_path / "climb")
    link = tarfile.TarInfo("a/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(ValueError, match="neither a file nor a folder"):
        extract_plainly(tar_with(link), tmp_path / "link")


def test_what_the_restored_director_lacks_follows_what_the_backup_held() -> None:
    def metadata(*jobs: str) -> dict[str, object]:
        return {"instances": [{"name": "bosh", "index": "0", "artifacts": [{"name": job} for job in jobs]}]}
    assert blobs_restored("v1", None) == (False, "the v1 backup holds the director database only, so every "
                                                 "stemcell and release blob it lists is missing")
    assert blobs_restored("bbr", metadata("director", "blobstore")) == (
        True, "bbr restored the blobstore with the database")
    restored, why = blobs_restored("bbr", metadata("director", "bbr-credhubdb"))
    assert restored and "external blobstore" in why
    assert blobs_restored("bbr", None)[0] is True   # no metadata at hand: bbr's usual director
