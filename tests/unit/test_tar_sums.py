"""bbr's checksums taken from a tar's bytes fed in order: the same sums tarfile reads from
the file, however the bytes are cut, and a clear word when the tar is not whole."""

from __future__ import annotations

import hashlib
import io
import random
import subprocess
import tarfile
from pathlib import Path

import pytest

from bosh_backup_operator.bosh.artifact import TarSums, TarUnreadable, compare_tar, tar_checksums, tarfile_checksums

FILES = {
    "./director-db.json": b'{"tables": []}\n',
    "./empty": b"",
    "./one-block": bytes(range(256)) * 2,                      # exactly 512 bytes: no padding
    "./blobs/" + "a" * 60 + "/" + "b" * 70: b"a ustar name split into prefix and name\n",
    "./blobs/" + "long-" * 40 + "name": b"longer than a ustar header holds\n",
    "./blobs/caf\u00e9-\u00fcber": b"not ASCII\n",
    "./blobs/large": random.Random(7).randbytes(300_001),
}


def tar_bytes(tar_format: int, files: dict[str, bytes] = FILES) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tar_format) as archive:
        folder = tarfile.TarInfo("./blobs")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("./latest")
        link.type, link.linkname = tarfile.SYMTYPE, "./blobs/large"
        archive.addfile(link)
        hard = tarfile.TarInfo("./director-db.hardlink")
        hard.type, hard.linkname = tarfile.LNKTYPE, "./director-db.json"
        archive.addfile(hard)
    return out.getvalue()


def fed(data: bytes, cuts: list[int]) -> TarSums:
    sums = TarSums()
    position = 0
    for cut in cuts:
        sums.feed(data[position:position + cut])
        position += cut
    sums.feed(data[position:])
    return sums


def expected() -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}


@pytest.mark.parametrize("tar_format", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT],
                         ids=["ustar", "gnu", "pax"])
def test_every_file_is_summed_as_tarfile_sums_it_however_the_bytes_are_cut(tar_format: int,
                                                                            tmp_path: Path) -> None:
    files = dict(FILES)
    if tar_format == tarfile.USTAR_FORMAT:   # ustar cannot hold a name this long
        files = {name: data for name, data in files.items() if "long-" not in name}
    data = tar_bytes(tar_format, files)
    path = tmp_path / "job.tar"
    path.write_bytes(data)
    want = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    assert tarfile_checksums(path) == want
    assert tar_checksums(path) == want
    rng = random.Random(tar_format)
    for cuts in ([1] * 2000, [511, 1, 513], [rng.randrange(1, 5000) for _ in range(200)], [len(data)]):
        assert fed(data, cuts).result() == want


def test_a_pax_size_overrides_the_header_size(tmp_path: Path) -> None:
    """Past 8 GiB a size only fits in a pax record; the header's own field then says less."""
    content = b"x" * 1000
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("./blobstore-huge")
        info.size, info.pax_headers = len(content), {"size": str(len(content))}
        archive.addfile(info, io.BytesIO(content))
    data = bytearray(out.getvalue())
    header = data.index(b"./blobstore-huge") // 512 * 512   # the ustar header after the pax one
    data[header + 124:header + 136] = b"00000000000\0"
    data[header + 148:header + 156] = b" " * 8
    data[header + 148:header + 155] = b"%06o\0" % sum(data[header:header + 512])
    path = tmp_path / "huge.tar"
    path.write_bytes(bytes(data))
    want = {"./blobstore-huge": hashlib.sha256(content).hexdigest()}
    assert tarfile_checksums(path) == want
    assert fed(bytes(data), [700]).result() == want


def test_a_tar_cut_short_is_named_by_the_file_it_ends_in() -> None:
    data = tar_bytes(tarfile.GNU_FORMAT)
    cut = data.index(FILES["./blobs/large"][:64]) + 100
    with pytest.raises(TarUnreadable, match=r"ends at byte \d+, inside the data of './blobs/large'"):
        fed(data[:cut], [4096]).result()
    with pytest.raises(TarUnreadable, match="inside a header"):
        fed(data[:700], []).result()
    with pytest.raises(TarUnreadable, match="it is empty"):
        TarSums().result()


def test_a_damaged_header_is_named_by_where_it_is(tmp_path: Path) -> None:
    data = bytearray(tar_bytes(tarfile.GNU_FORMAT))
    second = 512   # the folder's header has no data: the next header follows it
    data[second + 10] ^= 0xFF
    with pytest.raises(TarUnreadable, match="the header at byte 512 cannot be read"):
        fed(bytes(data), [100]).result()
    path = tmp_path / "damaged.tar"
    path.write_bytes(bytes(data))
    problems, matching = compare_tar("bosh-0-director.tar", path, expected())
    assert matching == 0
    assert problems == ["bosh-0-director.tar cannot be read as a tar (the header at byte 512 cannot be read "
                        "(bad checksum))"]


def test_a_sparse_member_is_left_to_tarfile(tmp_path: Path) -> None:
    """GNU tar's sparse files (bbr never writes them) are read by tarfile instead."""
    sparse = tmp_path / "in" / "sparse"
    sparse.parent.mkdir()
    with sparse.open("wb") as handle:
        handle.seek(1 << 20)
        handle.write(b"end")
    want = {"./sparse": hashlib.sha256(sparse.read_bytes()).hexdigest()}
    for tar_format in ("gnu", "posix"):
        tar = tmp_path / f"{tar_format}.tar"
        subprocess.run(["tar", "--sparse", f"--format={tar_format}", "-cf", str(tar), "-C", str(sparse.parent),
                        "./sparse"], check=True)
        streamed = fed(tar.read_bytes(), [])
        assert streamed.unsupported
        assert tar_checksums(tar) == want
        assert compare_tar(tar.name, tar, want) == ([], 1)


def test_an_extended_header_of_absurd_size_is_refused_not_held_in_memory() -> None:
    header = tarfile.TarInfo("././@LongLink")
    header.type, header.size = tarfile.GNUTYPE_LONGNAME, 1 << 30
    data = header.tobuf(tarfile.GNU_FORMAT) + b"x" * 4096
    sums = fed(data, [])
    with pytest.raises(TarUnreadable, match="the header at byte 0 announces 1073741824 bytes of names or records"):
        sums.result()
