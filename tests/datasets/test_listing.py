"""The pure helpers over Kaggle's listing: names that may be written, where they land, what is sampled."""

from __future__ import annotations

from pathlib import Path

from dfdx.config import load_config
from dfdx.datasets.kaggle import RemoteFile
from dfdx.datasets.listing import (
    is_metadata_name,
    listed_folders,
    local_path,
    marker_path,
    part_path,
    select_files,
    summarize_listing,
    unsafe_reason,
    wanted_member,
)

REAL = "DFD_original_sequences"
FAKE = "DFD_manipulated_sequences"


def test_paths_under_the_download_folder(tmp_path: Path) -> None:
    assert local_path(tmp_path, "a\\b/./c.mp4") == tmp_path / "a" / "b" / "c.mp4"
    part = part_path(tmp_path, "a/c.mp4")
    assert part == tmp_path / "a" / "c.mp4.part"
    assert marker_path(part) == tmp_path / "a" / "c.mp4.part.kaggle-partial"
    assert unsafe_reason("a\0b.mp4") == "contains a NUL byte"


def test_which_members_are_unpacked() -> None:
    assert is_metadata_name("meta/LIST.CSV") and not is_metadata_name("a.mp4")
    assert wanted_member(f"{REAL}/a.mp4", [".mp4"], unpack_all=False)
    assert wanted_member("readme.txt", [".mp4"], unpack_all=False)
    assert not wanted_member("tools/x.exe", [".mp4"], unpack_all=False)
    assert wanted_member("tools/x.exe", [".mp4"], unpack_all=True)


def test_selection_and_table_skip_unsafe_and_uncategorised_names(tmp_path: Path) -> None:
    cfg = load_config(None, {"download.download_dir": str(tmp_path), "max_videos": 1, "seed": 3})
    files = [
        RemoteFile(f"{REAL}/01.mp4", 10),
        RemoteFile(f"{REAL}/02.mp4", 20),
        RemoteFile(f"{FAKE}/01_02.mp4", 30),
        RemoteFile(f"{REAL}/../escape.mp4", 40),
        RemoteFile("other/x.mp4", 50),
        RemoteFile("list.csv", 1),
    ]
    chosen = select_files(files, cfg)
    assert len(chosen) == 2 and {f.name.split("/")[0] for f in chosen} == {REAL, FAKE}
    table = summarize_listing(files, cfg)
    assert "6 files" in table and "max 1 per category" in table
    assert table.splitlines()[-1].split()[:3] == ["other", "files", "3"]  # unsafe, uncategorised, metadata
    assert listed_folders(files) == [FAKE, REAL, f"{REAL}/..", "other"]
