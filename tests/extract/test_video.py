"""The unit of work on its own, as any runner calls it: one video in, its ledger entry and frames out."""

from __future__ import annotations

from pathlib import Path

from dfdx.datasets.discover import Video
from dfdx.samples import read_index
from tests.conftest import REAL, extract_one_video


def _extract(video: Video, out: Path, previous=None, **overrides):
    return extract_one_video(video, out, video.path.parents[1], previous, **overrides)


def test_one_video_gives_its_entry_and_the_exact_frames(tmp_path, dataset, video_cache):
    root = dataset(f"{REAL}/01__a.mp4", video_cache("a.mp4", frames=90, size=(160, 96)))
    video = Video(path=root / REAL / "01__a.mp4", rel=f"{REAL}/01__a.mp4", category="real")
    entry = _extract(video, tmp_path / "out")
    assert entry.status == "ok" and entry.error is None and entry.params["positions"] == ["1/3", "1/2", "2/3"]
    shown = [read_index((tmp_path / "out" / f.path).read_bytes()) for f in entry.frames]
    assert shown == [30, 45, 60]  # the frames played at 1/3, 1/2, 2/3 of 90 frames at 25 fps
    assert [f.bytes for f in entry.frames] == [(tmp_path / "out" / f.path).stat().st_size for f in entry.frames]
    assert not (tmp_path / "out" / "ledger.jsonl").exists()  # appending is the runner's job


def test_a_bad_video_is_a_failed_entry_and_its_old_frames_go(tmp_path, dataset, video_cache):
    root = dataset(f"{REAL}/01__a.mp4", video_cache("a.mp4", frames=90, size=(160, 96)))
    video = Video(path=root / REAL / "01__a.mp4", rel=f"{REAL}/01__a.mp4", category="real")
    good = _extract(video, tmp_path / "out")
    video.path.write_bytes(b"not a video at all")
    bad = _extract(video, tmp_path / "out", previous=good)
    assert bad.status == "failed" and bad.frames == [] and "not a readable video" in (bad.error or "")
    assert not any((tmp_path / "out" / f.path).exists() for f in good.frames)


def test_probe_index_gives_the_same_entry_as_ffprobe(tmp_path, dataset, video_cache):
    """`extract.probe: index` reads the grid in process: same frames, same bytes, same ledger facts."""
    root = dataset(f"{REAL}/01__a.mp4", video_cache("bf.mp4", frames=61, gop=12, output_args=("-bf", "3")))
    video = Video(path=root / REAL / "01__a.mp4", rel=f"{REAL}/01__a.mp4", category="real")
    entries = {name: _extract(video, tmp_path / name, **{"extract.probe": name}) for name in ("ffprobe", "index")}
    first, second = entries["ffprobe"], entries["index"]
    assert first.params == second.params and first.status == second.status == "ok"
    assert (first.duration_s, first.width, first.height, first.fps) == (second.duration_s, second.width,
                                                                        second.height, second.fps)  # fmt: skip
    assert [(f.path, f.pts_s, f.bytes) for f in first.frames] == [(f.path, f.pts_s, f.bytes) for f in second.frames]
    for f in first.frames:
        assert (tmp_path / "ffprobe" / f.path).read_bytes() == (tmp_path / "index" / f.path).read_bytes()
