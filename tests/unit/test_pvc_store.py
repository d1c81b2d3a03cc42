"""The claim store's promises: stage, verify by reading back, publish in one rename."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bosh_backup_operator.storage import ChecksumMismatch, StorageError
from bosh_backup_operator.storage.pvc import PvcStore


def source(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_publish_is_all_or_nothing(tmp_path: Path) -> None:
    root = tmp_path / "claim"
    root.mkdir()
    store = PvcStore("backups", "prefix/ns/d/b1", root=root)
    store.begin()
    data = b"x" * 3_000_000
    seen: list[int] = []
    stored = store.put("bbr/bosh-0-director.tar", source(tmp_path, "a", data), seen.append)
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert sum(seen) == len(data) and len(seen) > 1  # streamed in chunks
    store.verify(stored)
    assert not (root / "prefix/ns/d/b1").exists(), "nothing visible before publish"
    store.publish({"files": [stored.as_status()]})
    assert (root / "prefix/ns/d/b1/manifest.json").is_file()
    assert not (root / "prefix/ns/d/b1.partial").exists()
    assert store.read_manifest() == {"files": [stored.as_status()]}


def test_corruption_between_write_and_verify_is_caught(tmp_path: Path) -> None:
    store = PvcStore("backups", "p/b2", root=tmp_path)
    store.begin()
    stored = store.put("f", source(tmp_path, "f", b"hello world"))
    (tmp_path / "p/b2.partial/f").write_bytes(b"hellO world")
    with pytest.raises(ChecksumMismatch, match="corrupted in flight"):
        store.verify(stored)
    store.abort()
    assert not (tmp_path / "p/b2.partial").exists()


def test_a_retry_replaces_an_earlier_attempt(tmp_path: Path) -> None:
    for content in (b"first", b"second"):
        store = PvcStore("backups", "p/b3", root=tmp_path)
        store.begin()
        stored = store.put("f", source(tmp_path, "f", content))
        store.verify(stored)
        store.publish({"sha": stored.sha256})
    assert (tmp_path / "p/b3/f").read_bytes() == b"second"
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["b3"]


def test_unmounted_claim_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not mounted"):
        PvcStore("backups", "p/b4", root=tmp_path / "missing").begin()


@pytest.mark.parametrize("path", ["../var/lib/bosh-backup/work/esc", "prefix/../../escape", "..", ".",
                                  "prefix/ns/d/../../../../etc"])
def test_a_path_never_leaves_the_claim(tmp_path: Path, path: str) -> None:
    root = tmp_path / "claim"
    root.mkdir()
    with pytest.raises(StorageError) as raised:
        PvcStore("backups", path, root=root)
    assert raised.value.reason == "StoragePathInvalid" and "leaves the claim" in raised.value.message


def test_a_link_on_the_volume_does_not_lead_out(tmp_path: Path) -> None:
    root = tmp_path / "claim"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "prefix").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StorageError, match="leaves the claim"):
        PvcStore("backups", "prefix/ns/d/b1", root=root)
