"""Unpacking without a server: members refused by name, written atomically, CRC checked, recorded once;
and the download ledger read and written through `dfdx.ledger`."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from dfdx.datasets.download_ledger import DownloadLedger
from dfdx.datasets.kaggle import TransferSettings
from dfdx.datasets.unpack import (
    TEMP_SUFFIX,
    ArchiveError,
    DiskSpaceError,
    Unpacker,
    check_space,
    unpacked_before,
)
from dfdx.layout import DOWNLOAD_LEDGER_NAME

VIDEO = "DFD_original_sequences/01.mp4"


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def unpacker(dest: Path, ledger: DownloadLedger) -> Unpacker:
    return Unpacker(dest, ledger, TransferSettings(), lambda name: name.endswith((".mp4", ".csv")), False)


def test_unpacks_wanted_members_once(tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    dest.mkdir()
    archive = make_zip(dest / "ds.zip", {VIDEO: b"v" * 1000, "list.csv": b"a,b\n", "tool.exe": b"x"})
    ledger = DownloadLedger(dest / DOWNLOAD_LEDGER_NAME)
    assert unpacker(dest, ledger).unpack(archive) == (2, 0, 1)
    assert (dest / VIDEO).read_bytes() == b"v" * 1000 and not (dest / "tool.exe").exists()
    record = ledger.get("member", VIDEO)
    assert record is not None and record.size_bytes == 1000 and record.crc32 == zipfile.crc32(b"v" * 1000)
    assert unpacker(dest, ledger).unpack(archive) == (0, 2, 1)
    ledger.add("unpacked", archive.name, archive.stat().st_size)
    assert unpacked_before(ledger, dest, archive)
    (dest / VIDEO).unlink()
    assert not unpacked_before(ledger, dest, archive)
    ledger.close()


def test_an_escaping_member_refuses_the_whole_archive(tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    dest.mkdir()
    archive = make_zip(tmp_path / "ds.zip", {VIDEO: b"v", "../evil.mp4": b"e"})
    with pytest.raises(ArchiveError, match="climbs out"):
        unpacker(dest, DownloadLedger(dest / DOWNLOAD_LEDGER_NAME)).unpack(archive)
    assert list(dest.iterdir()) == [] and not (tmp_path / "evil.mp4").exists()


def test_a_damaged_member_leaves_no_file(tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    dest.mkdir()
    data = b"0123456789" * 100
    archive = make_zip(tmp_path / "ds.zip", {VIDEO: data})
    raw = archive.read_bytes()
    at = raw.index(data) + 500
    archive.write_bytes(raw[:at] + b"X" + raw[at + 1 :])  # same size, wrong CRC
    ledger = DownloadLedger(dest / DOWNLOAD_LEDGER_NAME)
    with pytest.raises(ArchiveError, match="is damaged"):
        unpacker(dest, ledger).unpack(archive)
    assert not (dest / VIDEO).exists() and not (dest / (VIDEO + TEMP_SUFFIX)).exists()
    assert ledger.get("member", VIDEO) is None


def test_check_space_says_what_is_needed(tmp_path: Path) -> None:
    check_space(tmp_path, 0, "nothing")
    with pytest.raises(DiskSpaceError, match=r"not enough free space .* for the moon: needs"):
        check_space(tmp_path, 1 << 60, "the moon")
