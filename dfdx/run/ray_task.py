"""The worker side of `run.runner: ray`: one shard of videos through the same unit of work, on one node.

`run_shard` is what a plain Ray task runs (the driver, `dfdx.run.ray`, wraps it with `ray.remote`; this
module does not import Ray, so it is tested like any function). Inside, it is the runners' `Scheduler`
(`dfdx.run.scheduler`) under `asyncio.run` (Ray runs no `async def` task): `extract_video` on each video, bounded
children (`cpus_per_task` of them), and each entry appended to the shard's own ledger,
`OUTPUT/extraction_ledger.shard-NNNN.jsonl`, only after its frames are in place. A retried shard (its worker
died) first reads that file and skips every video this run already recorded there, so a retry resumes
instead of redoing. It returns a small summary, never frames. `ShardRun` is the same, stoppable: a DFDC
part runs through it (`dfdx.run.parts`), on the local runner too.
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
from dfdx.progress import Progress
from dfdx.run import RunStats, ShardSummary
from dfdx.run.console import file_logging
from dfdx.run.scheduler import Scheduler


@dataclass(frozen=True, slots=True)
class ShardJob:
    """Everything a task needs, pickled once by Ray: the videos, their last entries where a previous run
    left frames (so stale ones are removed), and the run's settings as the driver resolved them; `notes`
    are lines for the shard's ledger before any work (a DFDC part's unlabelled and relabelled clips)."""

    shard: int
    videos: tuple[Video, ...]
    previous: Mapping[str, LedgerEntry]
    settings: ExtractSettings
    notes: tuple[LedgerEntry, ...] = ()


def run_shard(job: ShardJob) -> ShardSummary:
    return asyncio.run(ShardRun(job).run())


class ShardRun:
    """One shard on this machine, stoppable (the local runner runs DFDC parts this way, one after another)."""

    def __init__(self, job: ShardJob, progress: Progress | None = None) -> None:
        self.job = job
        self.progress = progress
        self.stats = RunStats()
        self.scheduler: Scheduler | None = None
        self.tools: Tools | None = None
        self.stopping = False

    async def run(self) -> ShardSummary:
        job, settings = self.job, self.job.settings
        out = settings.output_dir
        path = shard_ledger_path(out, job.shard)
        path.parent.mkdir(parents=True, exist_ok=True)
        recorded, _ = read_ledger(path)
        done = {e.video for e in recorded if e.run_id == settings.run_id}
        todo = [v for v in job.videos if v.rel not in done]
        stats = self.stats
        stats.planned, stats.skipped = len(todo), len(job.videos) - len(todo)
        if self.progress is not None:
            self.progress.grow(len(todo))
        tools = self.tools = Tools.open(settings)
        ledger = LedgerWriter(path, sync_every_n=settings.extract.batch_size)
        with file_logging(out, path.with_name(SHARD_LOG_NAME.format(job.shard))):
            await ledger.open()
            try:
                for note in job.notes:
                    await ledger.append(note)
                self.scheduler = Scheduler(settings, tools, ledger, stats, self.progress)
                if not self.stopping:
                    await self.scheduler.run(todo, job.previous)
            finally:
                await tools.close()
                await ledger.close()
        return ShardSummary(shard=job.shard, host=socket.gethostname(), ok=stats.ok, failed=stats.failed,
                            skipped=stats.skipped, frames=stats.frames, bytes=stats.bytes, fault=stats.fault,
                            stopped=stats.ok + stats.failed < stats.planned)  # fmt: skip

    def stop(self) -> None:
        self.stopping = True
        if self.scheduler is not None:
            self.scheduler.stop()

    def abort(self) -> None:
        if self.tools is not None:
            self.tools.children.kill_all()


def node_sees(out: str, dataset_root: str) -> tuple[str | None, bool]:
    """The shared-folder check, run once on each node: what this node reads in the driver's marker
    (None when it sees no such file: another folder, or none), and whether it sees the dataset folder."""
    try:
        text: str | None = (Path(out) / CLUSTER_MARKER_NAME).read_text(encoding="utf-8")
    except OSError:
        text = None
    return text, Path(dataset_root).is_dir()
