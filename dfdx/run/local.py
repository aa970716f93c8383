"""`run.runner: local`: the asyncio runner — streams videos through the unit of work on this machine,
bounded and stoppable.

Videos stream through: a video gets a task only when a slot is free, so memory stays flat with the
size of the dataset; children are bounded by `Children`'s semaphore (num_workers). The runner knows
nothing of how a video is extracted (`dfdx.extract.video`): it prepares the run (lock, log file, temp
cleanup, resume), schedules, appends each entry to the ledger, counts, and writes the reports. A
video's fault is data (a failed ledger line); a system's fault (`SystemFault`) stops the run with one
message. `stop` (Ctrl-C, SIGTERM) starts no new video and cancels the running ones.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dfdx.children import require_tools
from dfdx.config import Config
from dfdx.datasets.discover import Video
from dfdx.datasets.profiles import select_videos
from dfdx.errors import DiskFull, SystemFault
from dfdx.extract.positions import balance_note
from dfdx.extract.settings import ExtractSettings, resolve_settings, tool_versions
from dfdx.extract.video import Tools, extract_video
from dfdx.files import check_writable, remove_temp_files
from dfdx.ledger import LedgerEntry, LedgerWriter, ledger_path, load_state
from dfdx.lock import OutputLock
from dfdx.progress import Progress
from dfdx.run import RunStats
from dfdx.run.console import file_logging
from dfdx.run.resume import prepare

log = logging.getLogger("dfdx")


class Scheduler:
    """Streams videos through `extract_video` with at most twice the workers in flight (the next
    videos' probes overlap the current decodes), appending each entry to the ledger as it finishes."""

    def __init__(self, settings: ExtractSettings, tools: Tools, ledger: LedgerWriter, stats: RunStats,
                 progress: Progress | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.tools = tools
        self.ledger = ledger
        self.stats = stats
        self.progress = progress
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()

    async def run(self, todo: Iterable[Video], state: Mapping[str, LedgerEntry]) -> None:
        slots = asyncio.Semaphore(self.settings.workers * 2)
        for video in todo:
            await slots.acquire()
            if self.stopping.is_set():
                slots.release()
                break
            task = asyncio.create_task(self._one(video, state.get(video.rel)))
            self.tasks.add(task)
            task.add_done_callback(lambda t: (self.tasks.discard(t), slots.release(), self._reap(t)))
        while self.tasks:
            await asyncio.wait(set(self.tasks))

    async def _one(self, video: Video, previous: LedgerEntry | None) -> None:
        entry = await extract_video(video, self.settings, self.tools, previous)
        await self.ledger.append(entry)
        ok = entry.status == "ok"
        self.stats.ok += ok
        self.stats.failed += not ok
        self.stats.frames += len(entry.frames)
        self.stats.bytes += sum(f.bytes for f in entry.frames)
        if self.progress is not None:
            self.progress.update(ok, len(entry.frames))

    def _reap(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if self.stats.fault is None:
            self.stats.fault = str(exc) if isinstance(exc, SystemFault) else f"internal error: {exc!r}"
            if isinstance(exc, DiskFull):
                self.stats.fault += self._space_needed()
            if not isinstance(exc, SystemFault):
                log.error("internal error", exc_info=exc)
        self.stop()

    def _space_needed(self) -> str:
        left = self.stats.planned - self.stats.ok - self.stats.failed
        per_video = self.stats.bytes / self.stats.ok if self.stats.ok else 1.5e6
        out = self.settings.output_dir
        free = shutil.disk_usage(out).free
        return (f" ({free / 1e6:.1f} MB free in {str(out)!r}; the {left} videos left need about "
                f"{left * per_video / 1e6:.0f} MB)")  # fmt: skip

    def stop(self) -> None:
        self.stopping.set()
        for task in list(self.tasks):
            task.cancel()


class LocalRunner:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.out = Path(cfg.output_dir).absolute()
        self.stats = RunStats()
        self.tools: Tools | None = None
        self.scheduler: Scheduler | None = None
        self.stopping = False

    async def run(self) -> RunStats:
        cfg = self.cfg
        require_tools("ffmpeg", "ffprobe")
        catalog = select_videos(cfg, announce=not cfg.quiet)
        videos = catalog.videos
        per_category = Counter(v.category for v in videos)
        settings = resolve_settings(cfg, per_category, versions=await asyncio.to_thread(tool_versions))
        self.tools = Tools.open(settings)  # before anything is written: a missing extra is a usage error
        if cfg.extract.balance and not cfg.quiet:
            print(f"[dfdx] {balance_note(settings.positions, per_category)}", file=sys.stderr)
        check_writable(self.out)
        with OutputLock(self.out), file_logging(self.out):
            prep = prepare(self.out, catalog, settings.params, cfg.extract, settings.run_id)
            state, todo = prep.state, prep.todo
            self.stats.planned = len(todo)
            self.stats.skipped = len(videos) - len(todo)
            log.info(
                "run %s: %d videos selected, %d already done, %d to do, %d workers",
                settings.run_id, len(videos), self.stats.skipped, len(todo), cfg.workers,
            )  # fmt: skip
            if cfg.extract.balance:
                log.info("%s", balance_note(settings.positions, per_category))
            for category in {v.category for v in todo}:
                (self.out / category).mkdir(parents=True, exist_ok=True)
            ledger = LedgerWriter(ledger_path(self.out), sync_every_n=cfg.extract.batch_size)
            await ledger.open()
            for line in prep.notes:
                await ledger.append(line)
            progress = Progress(len(todo), enabled=not cfg.quiet)
            self.scheduler = Scheduler(settings, self.tools, ledger, self.stats, progress)
            try:
                if not self.stopping:
                    await self.scheduler.run(iter(todo), state)
            finally:
                await self.tools.close()
                progress.close()
                await ledger.close()
                remove_temp_files(self.out)
            if self.stats.fault is None and self.stats.stopped_by is None:
                # In a thread, so that a signal is still heard while a big ledger is summarised (the loop
                # would only see it after returning, and lose it); each report is replaced atomically.
                self.stats.report = await asyncio.to_thread(write_reports, self.out, cfg.report.html,
                                                            settings.dataset_root)  # fmt: skip
        return self.stats

    def stop(self, sig: signal.Signals | None = None) -> None:
        if sig is not None and self.stats.stopped_by is None:
            self.stats.stopped_by = sig
        self.stopping = True
        if self.scheduler is not None:
            self.scheduler.stop()

    def abort(self) -> None:
        if self.tools is not None:
            self.tools.children.kill_all()
        remove_temp_files(self.out)


def write_reports(out: Path, html: bool, dataset_root: Path | None = None) -> dict[str, Any]:
    """What is built from the ledger at the end of a run: extraction_report.json, metadata.jsonl (the
    labels beside the frames, for image-folder loaders) and report.html."""
    from dfdx.inspect.report import write_report
    from dfdx.train.metadata import write_metadata

    ledger = load_state(out)
    report = write_report(out, ledger)
    write_metadata(out, ledger.videos)
    if html:
        from dfdx.inspect.html import write_html_report

        write_html_report(out, report, ledger, dataset_root)
    return report
