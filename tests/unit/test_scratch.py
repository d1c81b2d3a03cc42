"""The runner's scratch arithmetic: Kubernetes quantities, bbr's `du -h` sizes, and the room left."""

from __future__ import annotations

from pathlib import Path

import pytest

from bosh_backup_operator.runner import scratch


@pytest.mark.parametrize(("text", "size"), [
    ("64Mi", 64 << 20), ("1Gi", 1 << 30), ("1.5Gi", 3 << 29), ("500M", 500 * 10**6), ("2k", 2000), ("4096", 4096),
])
def test_quantities(text: str, size: int) -> None:
    assert scratch.quantity_bytes(text) == size


def test_a_quantity_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError):
        scratch.quantity_bytes("lots")


@pytest.mark.parametrize(("text", "size"), [
    ("0", 0), ("4.0K", 4096), ("193M", 193 << 20), ("1.2G", int(1.2 * (1 << 30))), ("2,5G", int(2.5 * (1 << 30))),
])
def test_bbr_sizes_as_du_prints_them(text: str, size: int) -> None:
    assert scratch.du_bytes(text) == size


def test_a_size_bbr_did_not_print_is_unknown() -> None:
    assert scratch.du_bytes("unknown") is None


def test_room_counts_what_the_volume_holds_against_its_limit(tmp_path: Path) -> None:
    (tmp_path / "held").write_bytes(b"x" * (3 << 20))
    space = scratch.room(tmp_path, "10Mi")
    assert space.limit == 10 << 20
    assert 3 << 20 <= space.used < 4 << 20
    assert space.free == (10 << 20) - space.used
    unlimited = scratch.room(tmp_path, "")
    assert unlimited.limit is None and unlimited.free == unlimited.disk_free


def test_the_shortfall_names_the_need_the_limit_and_what_to_set(tmp_path: Path) -> None:
    space = scratch.room(tmp_path, "64Mi")
    said = scratch.shortfall("bbr's copy (blobstore 193.0 MiB)", 200 << 20, space)
    assert "needs 200.0 MiB of scratch space" in said
    assert "limit is 64.0 MiB (spec.pod.scratch.sizeLimit)" in said
    assert "at least 220Mi" in said   # the need plus a tenth, in whole MiB
