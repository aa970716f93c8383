"""The worker side of `run.runner: ray`: one shard of videos through the same unit of work, on one node.

`run_shard` is what a plain Ray task runs (the driver, `dfdx.run.ray`, wraps it with `ray.remote`; this
module does not import Ray, so it is tested like any function). Inside, it is the local runner's
`Scheduler` under `asyncio.run` (Ray runs no `async def` task): `extract_video` on each video, bounded
children (`cpus_per_task` of them), and each entry appended to the shard's own ledger,
`OUTPUT/extraction_ledger.shard-NNNN.jsonl`, only after its frames are in place. A retried shard (its worker
died) first reads that file and skips every video this run already recorded there, so a retry resumes
instead of redoing. It returns a small summary, never frames.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dfdx.datasets.discover import Video
from dfdx.extract.settings import ExtractSettings
from dfdx.extract.video import Tools
from dfdx.layout import CLUSTER_MARKER_NAME, SHARD_LOG_NAME
from dfdx.ledger import LedgerEntry, LedgerWriter, read_ledger, shard_ledger_path
from dfdx.run import RunStats
from dfdx.run.console import file_logging
from dfdx.run.local import Scheduler


@dataclass(frozen=True, slots=True)
class ShardJob:
    """Everything a task needs, pickled once by Ray: the videos, their last entries where a previous run
    left frames (so stale ones are removed), and the run's settings as the driver resolved them."""

    shard: int
    videos: tuple[Video, ...]
    previous: Mapping[str, LedgerEntry]
    settings: ExtractSettings


@dataclass(frozen=True, slots=True)
class ShardSummary:
    shard: int
    host: str
    ok: int
    failed: int
    skipped: int  # recorded by an earlier attempt of this shard in this run (a retry)
    frames: int
    bytes: int
    fault: str | None  # a fault of the system that stopped the shard (disk full, ffmpeg missing)


def run_shard(job: ShardJob) -> ShardSummary:
    return asyncio.run(_run_shard(job))


async def _run_shard(job: ShardJob) -> ShardSummary:
    settings = job.settings
    out = settings.output_dir
    path = shard_ledger_path(out, job.shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    recorded, _ = read_ledger(path)
    done = {e.video for e in recorded if e.run_id == settings.run_id}
    todo = [v for v in job.videos if v.rel not in done]
    stats = RunStats(planned=len(todo), skipped=len(job.videos) - len(todo))
    tools = Tools.open(settings)
    ledger = LedgerWriter(path, sync_every_n=settings.extract.batch_size)
    with file_logging(out, path.with_name(SHARD_LOG_NAME.format(job.shard))):
        await ledger.open()
        try:
            await Scheduler(settings, tools, ledger, stats).run(todo, job.previous)
        finally:
            await tools.close()
            await ledger.close()
    return ShardSummary(shard=job.shard, host=socket.gethostname(), ok=stats.ok, failed=stats.failed,
                        skipped=stats.skipped, frames=stats.frames, bytes=stats.bytes, fault=stats.fault)  # fmt: skip


def node_sees(out: str, dataset_root: str) -> tuple[str | None, bool]:
    """The shared-folder check, run once on each node: what this node reads in the driver's marker
    (None when it sees no such file: another folder, or none), and whether it sees the dataset folder."""
    try:
        text: str | None = (Path(out) / CLUSTER_MARKER_NAME).read_text(encoding="utf-8")
    except OSError:
        text = None
    return text, Path(dataset_root).is_dir()
