"""The order the scheduler works videos in: the largest files first, on real files and a real run."""

from __future__ import annotations

from pathlib import Path

from dfdx.clock import parse_utc
from dfdx.config import load_config
from dfdx.datasets.discover import Video
from dfdx.run.command import run_extract
from dfdx.run.scheduler import file_sizes, largest_files_first
from tests.conftest import REAL, ledger_lines


def test_file_sizes_reads_each_file_and_gives_0_for_one_that_is_gone(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x" * 7)
    (tmp_path / "b.mp4").write_bytes(b"")
    videos = [Video(tmp_path / name, name, "real") for name in ("a.mp4", "b.mp4", "gone.mp4")]
    assert file_sizes(videos) == {"a.mp4": 7, "b.mp4": 0, "gone.mp4": 0}


def test_largest_files_first_ties_by_path():
    videos = [Video(Path(f"/d/{rel}"), rel, "real") for rel in ("c.mp4", "a.mp4", "b.mp4", "d.mp4")]
    sizes = {"a.mp4": 5, "b.mp4": 9, "c.mp4": 5, "d.mp4": 1}
    assert [v.rel for v in largest_files_first(videos, sizes)] == ["b.mp4", "a.mp4", "c.mp4", "d.mp4"]


def test_a_run_starts_the_largest_videos_first(tmp_path, dataset, video_cache):
    """One worker, so two videos are in flight at first and the others start only once one has finished:
    those two are the largest files, though their names come last in the listing."""
    small, large = video_cache("small.mp4", frames=10, rate="25"), video_cache("large.mp4", frames=75, rate="25")
    assert small.stat().st_size < large.stat().st_size
    for i, source in enumerate((small, small, large, large)):
        root = dataset(f"{REAL}/0{i}__scene.mp4", source)
    out = tmp_path / "out"
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(out), "quiet": True, "num_workers": 1})
    assert run_extract(cfg) == 0
    entries = ledger_lines(out)
    assert len(entries) == 4 and all(e["status"] == "ok" for e in entries)
    first_finish = min(parse_utc(e["finished_at"]) for e in entries)
    started_first = {e["video"].rsplit("/", 1)[-1] for e in entries if parse_utc(e["started_at"]) < first_finish}
    assert started_first == {"02__scene.mp4", "03__scene.mp4"}
