"""DFDC's parts on Kaggle (`dfdx.datasets.parts`): which files are parts and which are chosen, one part
fetched by the real client from the fake Kaggle and unpacked, refused when damaged, and deleted again with
its metadata and records kept."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path

import pytest

from dfdx.datasets.kaggle import KaggleCompetition, RemoteFile, TransferSettings
from dfdx.datasets.parts import PartFetcher, RemotePart, choose_parts, delete_part, listed_parts, recorded_videos
from dfdx.datasets.unpack import ArchiveError
from dfdx.errors import UsageError
from tests.datasets import fake_kaggle
from tests.datasets.fake_kaggle import FakeKaggle

kaggle_server = fake_kaggle.kaggle_server
FAST = TransferSettings(backoff_s=0.01, backoff_max_s=0.05, read_timeout_s=2.0, chunk_bytes=64 * 1024)
COMPETITION = "deepfake-detection-challenge"
VIDEOS = (".mp4",)


def test_only_the_training_parts_are_parts_in_number_order():
    files = [RemoteFile("dfdc_train_part_10.zip", 10), RemoteFile("sample_submission.csv", 1),
             RemoteFile("dfdc_train_part_2.zip", 2), RemoteFile("test_videos.zip", 5),
             RemoteFile("DFDC_TRAIN_PART_3.ZIP", 3)]  # fmt: skip

    parts = listed_parts(files)

    assert [(p.number, p.file_name, p.size_bytes) for p in parts] == [
        (2, "dfdc_train_part_2.zip", 2), (3, "DFDC_TRAIN_PART_3.ZIP", 3),
        (10, "dfdc_train_part_10.zip", 10)]  # fmt: skip
    assert parts[0].stem == "dfdc_train_part_2"


def test_the_chosen_parts_are_the_listed_ones_named_and_a_missing_one_is_named():
    listed = [RemotePart(n, f"dfdc_train_part_{n}.zip", 1) for n in range(5)]

    assert choose_parts(listed, None, COMPETITION) == listed
    assert [p.number for p in choose_parts(listed, (3, 1, 3), COMPETITION)] == [1, 3]
    with pytest.raises(UsageError, match=r"part\(s\) 7, 9 are not among the training parts .* \(0-4\)"):
        choose_parts(listed, (1, 7, 9), COMPETITION)


def part_zip(n: int, members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(f"dfdc_train_part_{n}/{name}" if "/" not in name else name, data)
    return buf.getvalue()


MEMBERS = {"a.mp4": b"A" * 5000, "b.mp4": b"B" * 7000, "metadata.json": json.dumps({"a.mp4": {"label": "REAL"}}),
           "notes.txt.bin": b"x" * 100}  # fmt: skip


def fetcher(dest: Path, fake: FakeKaggle, n: int) -> PartFetcher:
    name = f"dfdc_train_part_{n}.zip"
    part = RemotePart(n, name, len(fake.competition_files[name]))
    return PartFetcher(dest, part, KaggleCompetition(COMPETITION, FAST), 2, FAST, VIDEOS, show_progress=False)


def test_a_part_is_fetched_unpacked_recorded_and_deleted_keeping_its_metadata(kaggle_server: FakeKaggle, tmp_path):
    kaggle_server.competition_files = {"dfdc_train_part_4.zip": part_zip(4, MEMBERS)}
    dest = tmp_path / "dl"
    one = fetcher(dest, kaggle_server, 4)
    assert recorded_videos(dest, one.part, VIDEOS) is None  # never unpacked

    folder = asyncio.run(one.fetch())

    assert folder == "dfdc_train_part_4"
    assert (dest / folder / "a.mp4").read_bytes() == MEMBERS["a.mp4"]
    assert not (dest / folder / "notes.txt.bin").exists()  # neither a video nor metadata
    assert recorded_videos(dest, one.part, VIDEOS) == ["dfdc_train_part_4/a.mp4", "dfdc_train_part_4/b.mp4"]

    kaggle_server.clear_hits()
    assert asyncio.run(one.fetch()) == folder  # all there: nothing is fetched again
    assert kaggle_server.gets() == []

    freed = delete_part(dest, one.part, ["dfdc_train_part_4/a.mp4", "dfdc_train_part_4/b.mp4"])

    assert freed == len(kaggle_server.competition_files["dfdc_train_part_4.zip"]) + 12000
    left = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert left == ["dfdc_train_part_4/metadata.json", "download_ledger.dfdc_train_part_4.jsonl"]
    assert recorded_videos(dest, one.part, VIDEOS) == ["dfdc_train_part_4/a.mp4", "dfdc_train_part_4/b.mp4"]

    asyncio.run(one.fetch())  # the videos are gone: the zip is fetched and unpacked again
    assert [h.name for h in kaggle_server.gets() if not h.hung_up] == ["dfdc_train_part_4.zip"]
    assert (dest / folder / "b.mp4").read_bytes() == MEMBERS["b.mp4"]


def test_a_zip_that_is_not_a_part_is_refused(kaggle_server: FakeKaggle, tmp_path):
    kaggle_server.competition_files = {"dfdc_train_part_0.zip": part_zip(0, {"elsewhere/a.mp4": b"A" * 100})}
    dest = tmp_path / "dl"

    with pytest.raises(ArchiveError, match="holds no video under dfdc_train_part_0/"):
        asyncio.run(fetcher(dest, kaggle_server, 0).fetch())

    assert recorded_videos(dest, RemotePart(0, "dfdc_train_part_0.zip", 1), VIDEOS) is None


def test_a_member_that_climbs_out_is_refused_and_nothing_is_unpacked(kaggle_server: FakeKaggle, tmp_path):
    kaggle_server.competition_files = {"dfdc_train_part_1.zip": part_zip(1, {**MEMBERS, "../evil.mp4": b"E"})}
    dest = tmp_path / "dl"

    with pytest.raises(ArchiveError, match=r"'\.\./evil\.mp4'"):
        asyncio.run(fetcher(dest, kaggle_server, 1).fetch())

    assert not (tmp_path / "evil.mp4").exists() and not (dest / "dfdc_train_part_1").exists()
