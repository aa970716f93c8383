"""`run.runner: local`: the asyncio runner — streams videos through the unit of work on this machine,
bounded and stoppable.

The runner knows nothing of how a video is extracted (`dfdx.extract.video`): it prepares the run (lock,
log file, temp cleanup, resume), streams the videos through `dfdx.run.scheduler.Scheduler` (a bound on
children, each entry appended to the ledger), counts, and writes the reports. A video's fault is data (a
failed ledger line); a system's fault (`SystemFault`) stops the run with one message. `stop` (Ctrl-C,
SIGTERM) starts no new video and cancels the running ones. `run_parts` is DFDC part by part
(`dfdx.run.parts`), one part after another.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dfdx.children import require_tools
from dfdx.config import Config
from dfdx.datasets.profiles import select_videos
from dfdx.extract.positions import balance_note
from dfdx.extract.settings import resolve_settings, tool_versions_soon
from dfdx.extract.video import Tools
from dfdx.files import check_writable, remove_temp_files
from dfdx.ledger import LedgerWriter, ledger_path, load_state
from dfdx.lock import OutputLock
from dfdx.progress import Progress
from dfdx.run import RunStats
from dfdx.run.console import file_logging
from dfdx.run.resume import fold_ledgers, prepare
from dfdx.run.scheduler import Scheduler

if TYPE_CHECKING:
    from dfdx.run.parts import PartRun

log = logging.getLogger("dfdx")


class LocalRunner:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.out = Path(cfg.output_dir).absolute()
        self.stats = RunStats()
        self.tools: Tools | None = None
        self.scheduler: Scheduler | None = None
        self.part: PartRun | None = None
        self.stopping = False

    async def run(self) -> RunStats:
        cfg = self.cfg
        require_tools("ffmpeg", "ffprobe")
        versions = tool_versions_soon()
        catalog = select_videos(cfg, announce=not cfg.quiet)
        videos = catalog.videos
        per_category = Counter(v.category for v in videos)
        settings = resolve_settings(cfg, per_category, versions=await versions)
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
                    await self.scheduler.run(todo, state)
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

    async def run_parts(self, extract: bool = True) -> RunStats:
        """DFDC part by part (`dfdx.run.parts`), one part after another on this machine."""
        from dfdx.run.parts import PartRun, parts_settings, plan_parts  # the Kaggle client: only for DFDC

        cfg = self.cfg
        require_tools("ffmpeg", "ffprobe")
        settings = await parts_settings(cfg)
        check_writable(self.out)
        with OutputLock(self.out), file_logging(self.out):
            state = fold_ledgers(self.out) if cfg.extract.resume else {}
            plan = await plan_parts(cfg, settings, state, extract=extract)
            self.stats.skipped = plan.finished_videos
            log.info("run %s: %d DFDC parts, %d already extracted, %d to do, %d workers", settings.run_id,
                     plan.parts, plan.finished_parts, len(plan.jobs), cfg.workers)  # fmt: skip
            progress = Progress(0, enabled=not cfg.quiet)
            try:
                for n, job in enumerate(plan.jobs, start=1):
                    if self.stopping:
                        break
                    progress.describe(f"{job.part.stem} ({n}/{len(plan.jobs)})")
                    self.part = PartRun(job, progress)
                    self.stats.add(await self.part.run())
                    if self.stats.fault is not None:
                        break
            finally:
                progress.close()
                remove_temp_files(self.out)
            if self.stats.fault is None and self.stats.stopped_by is None and extract:
                self.stats.report = await asyncio.to_thread(write_reports, self.out, cfg.report.html,
                                                            settings.dataset_root)  # fmt: skip
        return self.stats

    def stop(self, sig: signal.Signals | None = None) -> None:
        if sig is not None and self.stats.stopped_by is None:
            self.stats.stopped_by = sig
        self.stopping = True
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.part is not None:
            self.part.stop()

    def abort(self) -> None:
        if self.tools is not None:
            self.tools.children.kill_all()
        if self.part is not None:
            self.part.abort()
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
