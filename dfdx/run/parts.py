"""`dfdx run --profile dfdc`: DFDC part by part, on either runner.

A part is a unit of work as a shard is. On the machine that runs it (`PartRun`): fetched and unpacked
(`dfdx.datasets.parts`: the zip resumed, every member verified), its clips discovered (the dfdc profile on
that part's folder only), the resume rule applied to them, then the same `ShardRun` (the local `Scheduler`
and `extract_video`) into the part's own ledger, `extraction_ledger.shard-NNNN.jsonl` with NNNN the part's
number; and, with `download.delete_archive`, the zip and the part's videos deleted once every clip is
recorded, so that a machine needs disk for about one part. The local runner runs the parts one after
another (`LocalRunner.run_parts`), the Ray runner one task per part (`run_part`).

The driver (`plan_parts`) lists the competition's parts, keeps those `download.parts` names, and leaves out
every part that is finished: its download ledger names its videos (kept after they are deleted), and the
folded extraction ledgers hold a done entry for each under this run's settings. A finished part is never
downloaded again; one extracted with other settings is.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from dfdx.clock import utc_now
from dfdx.config import Config, parse_parts
from dfdx.datasets.kaggle import (
    DownloadError,
    KaggleCompetition,
    TransferSettings,
    client_environment,
    using_environment,
)
from dfdx.datasets.parts import PartFetcher, RemotePart, choose_parts, delete_part, list_parts, recorded_videos
from dfdx.datasets.profiles.dfdc import DfdcProfile
from dfdx.datasets.retry import Retrier
from dfdx.errors import ConfigError, SystemFault
from dfdx.extract.settings import ExtractSettings, resolve_settings, tool_versions
from dfdx.extract.video import Tools
from dfdx.layout import CATEGORIES
from dfdx.ledger import LedgerEntry
from dfdx.progress import Progress
from dfdx.run import ShardSummary
from dfdx.run.ray_task import ShardJob, ShardRun
from dfdx.run.resume import entry_is_done, pending, relabelled, unlabelled_lines

log = logging.getLogger("dfdx")


@dataclass(frozen=True, slots=True)
class PartJob:
    """Everything one part needs, pickled once by Ray."""

    part: RemotePart
    cfg: Config  # the run's config: the download keys, the dfdc profile's discovery keys
    previous: Mapping[str, LedgerEntry]  # the folded ledgers' last entries for this part's clips (none without resume)
    settings: ExtractSettings
    transfer: TransferSettings
    kaggle_env: Mapping[str, str]  # the driver's Kaggle credentials, endpoint and proxies (`client_environment`)
    show_progress: bool = False
    extract: bool = True  # False: `dfdx run --download-only`, the part is fetched and unpacked, nothing more


@dataclass(frozen=True, slots=True)
class PartsPlan:
    jobs: list[PartJob]
    parts: int  # the parts `download.parts` names
    finished_parts: int  # of those, the ones already extracted with these settings
    finished_videos: int


def run_part(job: PartJob) -> ShardSummary:
    """What a Ray task runs for one part."""
    return asyncio.run(PartRun(job).run())


class PartRun:
    """One part on this machine: fetch and unpack, extract, delete; stoppable at every step."""

    def __init__(self, job: PartJob, progress: Progress | None = None) -> None:
        self.job = job
        self.progress = progress
        self.shard: ShardRun | None = None
        self.fetching: asyncio.Task[str] | None = None
        self.stopping = False

    async def run(self) -> ShardSummary:
        job, cfg = self.job, self.job.cfg
        number, out = job.part.number, job.settings.output_dir
        root = job.settings.dataset_root
        with using_environment(dict(job.kaggle_env)):
            client = KaggleCompetition(cfg.download.competition, job.transfer)
            fetcher = PartFetcher(root, job.part, client, cfg.download.retries, job.transfer,
                                  cfg.discover.extensions, job.show_progress)  # fmt: skip
            self.fetching = asyncio.create_task(fetcher.fetch())
            try:
                folder = await self.fetching
            except asyncio.CancelledError:
                return _summary(number, stopped=True)
            except (SystemFault, OSError, RuntimeError) as exc:  # DownloadError is a RuntimeError
                return _summary(number, fault=f"{job.part.file_name}: {exc}")  # a UsageError (credentials) is raised
        if not job.extract:
            return _summary(number)
        catalog = await asyncio.to_thread(DfdcProfile(cfg).discover_part, root, folder)
        x, now = cfg.extract, utc_now()
        todo = pending(catalog.videos, job.previous, job.settings.params, out, x.retry_failed)
        todo_set = {v.rel for v in todo}
        notes = (*relabelled([v for v in catalog.videos if v.rel not in todo_set], job.previous, job.settings.run_id,
                             now),
                 *unlabelled_lines(catalog.unlabelled, job.previous, job.settings.run_id, now))  # fmt: skip
        for category in {v.category for v in todo}:
            (out / category).mkdir(parents=True, exist_ok=True)
        previous = {v.rel: job.previous[v.rel] for v in todo if v.rel in job.previous and job.previous[v.rel].frames}
        self.shard = ShardRun(ShardJob(number, tuple(todo), previous, job.settings, notes), self.progress)
        if self.stopping:
            return _summary(number, stopped=True)
        summary = await self.shard.run()
        if cfg.download.delete_archive and summary.fault is None and not summary.stopped:
            # Every clip of the part now has its line (ok or failed): nothing needs its video any more.
            videos = [v.rel for v in catalog.videos] + [u.rel for u in catalog.unlabelled]
            freed = await asyncio.to_thread(delete_part, root, job.part, videos)
            log.info("%s: deleted the zip and %d videos (%.1f GB)", job.part.file_name, len(videos), freed / 1e9)
        return summary

    def stop(self) -> None:
        self.stopping = True
        if self.fetching is not None and not self.fetching.done():
            self.fetching.cancel()  # the zip keeps its .part bytes; the next run resumes it
        if self.shard is not None:
            self.shard.stop()

    def abort(self) -> None:
        if self.shard is not None:
            self.shard.abort()


async def parts_settings(cfg: Config) -> ExtractSettings:
    """A part-by-part run's settings: both DFDC classes, the tools' versions, the extras checked up front (a
    missing one is a usage error here, not a failure in every part); the download folder is the dataset's."""
    settings = resolve_settings(cfg, dict.fromkeys(CATEGORIES, 1), versions=await asyncio.to_thread(tool_versions))
    await Tools.open(settings).close()
    try:
        settings.dataset_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SystemFault(f"cannot create the download folder {settings.dataset_root}: {exc.strerror or exc}") from None
    return settings


def _summary(number: int, fault: str | None = None, stopped: bool = False) -> ShardSummary:
    return ShardSummary(shard=number, host=os.uname().nodename, ok=0, failed=0, skipped=0, frames=0, bytes=0,
                        fault=fault, stopped=stopped)  # fmt: skip


async def plan_parts(cfg: Config, settings: ExtractSettings, state: Mapping[str, LedgerEntry], *,
                     extract: bool = True, transfer: TransferSettings | None = None) -> PartsPlan:  # fmt: skip
    """The driver's half: authenticate, list the parts, keep those `download.parts` names and not finished."""
    if cfg.extract.balance:
        raise ConfigError("config key 'extract.balance': DFDC part by part extracts each part before the next "
                          "one is listed, so class sizes are not known up front; give each class its frames "
                          "instead, e.g. extract.frames: {ai: 3, real: 15}")  # fmt: skip
    if cfg.max_videos is not None:
        raise ConfigError("config key 'max_videos': DFDC part by part cannot sample before a part is downloaded; "
                          "take fewer parts instead (--parts, e.g. 0-1)")  # fmt: skip
    transfer = transfer or TransferSettings()
    root = settings.dataset_root
    client = KaggleCompetition(cfg.download.competition, transfer)
    retrying = Retrier(cfg.download.retries, transfer, client.rejected_message, root)
    try:
        await retrying("checking Kaggle credentials", client.authenticate)
        listed = await list_parts(client, retrying)
    except DownloadError as exc:  # retries ran out: Kaggle cannot be reached from here now
        raise SystemFault(str(exc)) from None
    wanted = parse_parts(cfg.download.parts, "download.parts") if cfg.download.parts else None
    chosen = choose_parts(listed, wanted, client.name)
    by_folder: dict[str, dict[str, LedgerEntry]] = {}
    for rel, entry in state.items():
        by_folder.setdefault(PurePosixPath(rel).parts[0].lower(), {})[rel] = entry
    jobs, finished_videos = [], 0
    env = client_environment()
    for part in chosen:
        mine = by_folder.get(part.stem.lower(), {})
        videos = recorded_videos(root, part, cfg.discover.extensions)
        if videos is not None and extract and all(finished(mine.get(v), settings) for v in videos):
            finished_videos += len(videos)
            if cfg.download.delete_archive:  # a run stopped between the part's last line and its deletion
                await asyncio.to_thread(delete_part, root, part, videos)
            continue
        jobs.append(PartJob(part, cfg, mine, settings, transfer, env, show_progress=not cfg.quiet, extract=extract))
    return PartsPlan(jobs, len(chosen), len(chosen) - len(jobs), finished_videos)


def finished(entry: LedgerEntry | None, settings: ExtractSettings) -> bool:
    """A clip needs nothing more: done under this run's settings, or a file its part's metadata does not label."""
    if entry is None:
        return False
    if entry.status == "unlabelled":
        return True
    params = settings.params.get(entry.category)
    return params is not None and entry_is_done(entry, params, settings.output_dir, settings.extract.retry_failed)
