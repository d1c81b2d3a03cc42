"""What a storage folder holds, and which artifacts a catalog imports (pure parts)."""

from __future__ import annotations

import threading
from typing import Any

from bosh_backup_operator.controllers.runs import Coalescing
from bosh_backup_operator.planning.catalog import (
    IMPORTED_LABEL,
    backups_to_read,
    decide_imports,
    imported_backup,
    imported_name,
)
from bosh_backup_operator.planning.schedule import SCHEDULE_LABEL
from bosh_backup_operator.runner.catalog_actions import bbr_time, name_time
from bosh_backup_operator.storage.catalog import find_artifacts

STORAGE = {"s3": {"bucket": "backups", "prefix": "bosh-backups", "credentialsSecretRef": {"name": "s3"}}}
FOLDER = "bosh-backups/ns/prod"


def test_each_form_is_found_and_a_half_upload_is_incomplete_with_its_reason() -> None:
    files = [
        ("nightly-1/manifest.json", 900), ("nightly-1/bbr/metadata", 300),
        ("nightly-1/bbr/bosh-0-director.tar", 5000), ("nightly-1/state.json", 100),
        ("nightly-2/bbr/metadata", 300), ("nightly-2/bbr/bosh-0-director.tar", 5000),   # manifest never written
        ("nightly-3.partial/bbr/metadata", 300),                                       # a claim folder mid-write
        ("10.0.0.6_20261129T051300Z/metadata", 300), ("10.0.0.6_20261129T051300Z/bosh-0-director.tar", 7000),
        ("10.0.0.6_20261128T051300Z.tar", 9000),
        ("notes/readme.txt", 5),
    ]
    found = {item.path: item for item in find_artifacts(files)}
    assert {path: item.form for path, item in found.items()} == {
        "nightly-1": "operator", "nightly-2": "incomplete", "nightly-3.partial": "incomplete",
        "10.0.0.6_20261129T051300Z": "bbr-folder", "10.0.0.6_20261128T051300Z.tar": "bbr-tar",
        "notes": "incomplete"}
    assert (found["nightly-1"].size, found["nightly-1"].files) == (6300, 4)
    assert "neither manifest.json" in found["nightly-2"].reason and "did not finish" in found["nightly-2"].reason
    assert "still being written" in found["nightly-3.partial"].reason
    assert "not a backup" in found["notes"].reason
    assert found["10.0.0.6_20261129T051300Z"].size == 7300


def test_bbr_times_from_metadata_and_folder_names() -> None:
    assert bbr_time("2026/11/29 05:13:00 UTC") == "2026-11-29T05:13:00Z"
    assert name_time("pipeline/10.0.0.6_20261128T051300Z.tar") == "2026-11-28T05:13:00Z"
    assert name_time("no-time-here") is None


def entry(path: str, **extra: Any) -> dict[str, Any]:
    return {"path": path, "form": "operator", "location": f"s3://backups/{FOLDER}/{path}",
            "storagePath": f"{FOLDER}/{path}", "size": 4096, **extra}


def catalog(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "prod-storage", "namespace": "ns"},
            "spec": {"directorRef": {"name": "prod"}, **spec}, "status": status or {}}


def backup(name: str, location: str | None = None, **labels: str) -> dict[str, Any]:
    status = {"artifact": {"location": location}} if location else {}
    return {"metadata": {"name": name, "labels": labels}, "status": status}


def test_a_lost_cluster_gets_every_complete_artifact_back_under_its_own_name() -> None:
    entries = [entry("nightly-1", backup="nightly-1", namespace="ns", method="bbr",
                     completionTime="2026-11-28T01:00:00Z", director={"name": "bosh", "uuid": "u-1"}),
               entry("10.0.0.6_20261129T051300Z", form="bbr-folder", method="bbr"),
               {"path": "half", "form": "incomplete", "reason": "no manifest", "location": "x", "storagePath": "y"}]
    decision = decide_imports(catalog(), entries, [], STORAGE, "2026-11-29T00:00:00Z")
    names = [body["metadata"]["name"] for body, _ in decision.imports]
    assert names == ["nightly-1", "imported-10.0.0.6-20261129t051300z"]
    body, status = decision.imports[0]
    assert body["spec"] == {"directorRef": {"name": "prod"}, "method": "bbr", "deletionPolicy": "Retain"}
    assert body["metadata"]["labels"][IMPORTED_LABEL] == "true" and SCHEDULE_LABEL not in body["metadata"]["labels"]
    assert status["phase"] == "Succeeded" and status["reason"] == "Imported"
    assert status["artifact"] == {"location": entries[0]["location"], "path": f"{FOLDER}/nightly-1",
                                  "storage": STORAGE, "totalSize": 4096, "size": "4.0 KiB"}
    assert status["completionTime"] == "2026-11-28T01:00:00Z" and status["director"]["uuid"] == "u-1"
    assert decision.held == [f"{FOLDER}/nightly-1", f"{FOLDER}/10.0.0.6_20261129T051300Z"]


def test_backups_that_exist_are_held_and_deleted_ones_are_not_brought_back() -> None:
    entries = [entry("a", backup="a", namespace="ns"), entry("b", backup="b", namespace="ns"), entry("c")]
    existing = [backup("a", f"s3://backups/{FOLDER}/a"), backup("b")]   # b: still finishing, no artifact yet
    first = decide_imports(catalog(), entries, existing, STORAGE, "t")
    assert [b["metadata"]["name"] for b, _ in first.imports] == ["imported-c"]
    assert first.held == [f"{FOLDER}/a", f"{FOLDER}/b", f"{FOLDER}/c"]
    # later, a person (or retention) deleted a and the imported c: neither comes back
    later = decide_imports(catalog({"held": first.held}), entries, [backup("b", f"s3://backups/{FOLDER}/b")],
                           STORAGE, "t")
    assert later.imports == [] and later.released == [f"{FOLDER}/a", f"{FOLDER}/c"]
    # and b's object deleted too: the memory carries on from listing to listing
    last = decide_imports(catalog({"held": later.held, "released": later.released}), entries, [], STORAGE, "t")
    assert last.imports == [] and sorted(last.released) == [f"{FOLDER}/a", f"{FOLDER}/b", f"{FOLDER}/c"]


def test_a_listing_after_a_backup_reads_that_backup_not_the_namespace() -> None:
    entries = [entry("a", backup="a", namespace="ns"), entry("b", backup="b", namespace="ns")]
    seen = catalog({"held": [f"{FOLDER}/a"], "released": [f"{FOLDER}/b"]})
    # nothing new since the last listing: nothing to read, and the last judgement stands
    assert backups_to_read(seen, entries) == []
    same = decide_imports(seen, entries, [], STORAGE, "t", partial=True)
    assert (same.imports, same.held, same.released) == ([], [f"{FOLDER}/a"], [f"{FOLDER}/b"])
    # the newest backup's artifact: that backup alone is read, and it holds its artifact
    newer = [*entries, entry("c", backup="c", namespace="ns")]
    assert backups_to_read(seen, newer) == ["c"]
    held = decide_imports(seen, newer, [backup("c", f"s3://backups/{FOLDER}/c")], STORAGE, "t", partial=True)
    assert held.imports == [] and held.held == [f"{FOLDER}/a", f"{FOLDER}/c"]
    # an artifact from elsewhere (another namespace, or plain bbr): the whole namespace is read
    assert backups_to_read(seen, [*entries, entry("d", backup="d", namespace="other")]) is None
    assert backups_to_read(seen, [*entries, entry("10.0.0.6_20261129T051300Z", form="bbr-folder")]) is None
    # a half-written artifact is no reason to read anything
    half = {"path": "e", "form": "incomplete", "reason": "no manifest", "location": "x", "storagePath": "e"}
    assert backups_to_read(seen, [*entries, half]) == []


def test_a_name_in_use_by_another_backup_gets_a_new_one() -> None:
    taken = {"nightly-1", "nightly-1-imported-2"}
    assert imported_name(entry("nightly-1", backup="nightly-1"), taken) == "nightly-1-imported-3"
    assert imported_name(entry("x/10.0.0.6_20261128T051300Z.tar", form="bbr-tar"), set()) == \
        "imported-10.0.0.6-20261128t051300z"
    long = imported_name(entry("h" * 300, form="bbr-folder"), set())
    assert len(long) <= 253


def test_retention_applies_only_when_a_schedule_is_named() -> None:
    body, _ = imported_backup(catalog(retention={"scheduleRef": {"name": "nightly"}}), entry("a"), "a", STORAGE, "t")
    assert body["metadata"]["labels"][SCHEDULE_LABEL] == "nightly"
    assert body["metadata"]["annotations"]["bosh-backup.dev/schedule-name"] == "nightly"


def test_a_busy_catalog_never_holds_a_thread_and_loses_no_event() -> None:
    passes = Coalescing()
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def slow_pass() -> None:
        ran.append("a")
        started.set()
        release.wait(5)

    first = threading.Thread(target=passes.run, args=(("ns", "a"), slow_pass))
    first.start()
    assert started.wait(5)
    # events of the same catalog while it is read: they return at once, and leave one more pass
    assert passes.run(("ns", "a"), slow_pass) is False
    assert passes.run(("ns", "a"), slow_pass) is False
    # another catalog is not held up by it
    assert passes.run(("ns", "b"), lambda: ran.append("b")) is True
    release.set()
    first.join(5)
    assert ran == ["a", "b", "a"]
    # idle again: the next event runs at once
    assert passes.run(("ns", "a"), lambda: ran.append("a")) is True and ran[-1] == "a"
