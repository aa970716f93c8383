"""The worker side of the Ray runner, without Ray: a shard goes through the same unit of work into its
own ledger, and a retried shard (its worker was killed) skips what this run already recorded there."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from dfdx.config import load_config
from dfdx.datasets.profiles import select_videos
from dfdx.extract.settings import resolve_settings
from dfdx.ledger import load_state, read_ledger, shard_ledger_path
from dfdx.run.ray_task import ShardJob, node_sees, run_shard
from tests.conftest import dataset_files, frame_indices


def job_for(dataset: Path, out: Path, run_id: str = "run1") -> ShardJob:
    cfg = load_config(overrides={"dataset_path": str(dataset), "output_dir": str(out)})
    videos = select_videos(cfg).videos
    settings = resolve_settings(cfg, Counter(v.category for v in videos), run_id=run_id)
    settings = dataclasses.replace(settings, workers=1, threads=1)
    for category in settings.params:
        (out / category).mkdir(parents=True, exist_ok=True)
    return ShardJob(shard=5, videos=tuple(videos), previous={}, settings=settings)


def test_a_retried_shard_resumes_from_its_own_ledger(indexed_dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    job = job_for(indexed_dataset, out)
    first = run_shard(job)
    assert (first.ok, first.failed, first.skipped, first.fault) == (8, 0, 0, None)
    path = shard_ledger_path(out, 5)
    assert path == out / "extraction_ledger.shard-0005.jsonl"
    entries, _ = read_ledger(path)
    assert len(entries) == 8 and all(e.run_id == "run1" for e in entries)
    for e in entries:  # the exact frames: index floor(p × N) of each video (N = 40 + 7i frames)
        n = 40 + 7 * int(Path(e.video).name[1])
        assert frame_indices(out, dataclasses.asdict(e)) == [n // 3, n // 2, 2 * n // 3]
    want = dataset_files(out)

    # The worker died after three lines and in the middle of the fourth; the retry redoes the rest only.
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3]) + lines[3][:40])
    retry = run_shard(job)
    assert (retry.ok, retry.skipped) == (5, 3)
    again, problems = read_ledger(path)
    assert sorted(e.video for e in again) == sorted(e.video for e in entries)  # each video once in this run
    assert len(problems) == 1  # the torn line, ended by the writer, then ignored
    assert dataset_files(out) == want
    assert {v: e.status for v, e in load_state(out).videos.items()} == {e.video: "ok" for e in entries}

    # Another run (a new run id) does not skip: the driver decides what is left, not the shard.
    other = run_shard(dataclasses.replace(job, settings=dataclasses.replace(job.settings, run_id="run2")))
    assert (other.ok, other.skipped) == (8, 0)
    assert dataset_files(out) == want


def test_node_sees(tmp_path: Path):
    (tmp_path / ".dfdx-cluster-check").write_text("token")
    assert node_sees(str(tmp_path), str(tmp_path)) == ("token", True)
    assert node_sees(str(tmp_path / "elsewhere"), str(tmp_path / "nope")) == (None, False)
