"""The asyncio extraction loop: stream videos through probe → plan → grab → ledger, bounded and stoppable.

Videos stream through: a video gets a task only when a slot is free, so memory stays flat with the
size of the dataset. Children are bounded by `Children`'s semaphore (num_workers). A video's fault is
data (a failed ledger line); a system's fault (`SystemFault`) stops the run with one message. Ctrl-C
and SIGTERM stop new work, kill the children, remove temp files and flush the ledger; a second
Ctrl-C exits at once, still killing the children.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import platform
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dfdx import __version__
from dfdx.extract.balance import balance_note, positions_by_category
from dfdx.children import Children, ChildTimeout, require_tools
from dfdx.config import Config
from dfdx.datasets.discover import Video, discover, sample_per_category
from dfdx.errors import DiskFull, SystemFault, UsageError
from dfdx.files import TEMP_PREFIX
from dfdx.extract.decoders.ffmpeg import GrabError, decode_frames, write_frames
from dfdx.extract.decoders.pyav import PyAVGrabber
from dfdx.ledger import LEDGER_NAME, FrameEntry, LedgerEntry, LedgerWriter, fold, read_ledger
from dfdx.lock import OutputLock
from dfdx.extract.plan import fingerprint, frame_filename, make_plan
from dfdx.extract.probe import ProbeError, probe
from dfdx.progress import Progress, TqdmSafeHandler
from dfdx.inspect.report import summary_text, write_report

log = logging.getLogger("dfdx")
LOG_NAME = "extraction.log"
EXIT_FOR_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass(slots=True)
class RunStats:
    planned: int = 0
    skipped: int = 0
    ok: int = 0
    failed: int = 0
    frames: int = 0
    bytes: int = 0
    stopped_by: signal.Signals | None = None
    fault: str | None = None
    report: dict[str, Any] | None = None  # the report written at the end, for the summary


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def versions() -> dict[str, str]:
    try:
        first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, timeout=30).stdout
        ffmpeg_version = first.split()[2] if first.startswith("ffmpeg version") else "unknown"
    except (OSError, subprocess.SubprocessError):
        ffmpeg_version = "unknown"
    return {"dfdx": __version__, "ffmpeg": ffmpeg_version, "python": platform.python_version()}


def select_videos(cfg: Config) -> list[Video]:
    videos = discover(Path(cfg.dataset_path), cfg.discover)
    if not videos:
        folders = ", ".join(cfg.discover.categories)
        raise UsageError(
            f"no videos found under {cfg.dataset_path!r}: expected {'/'.join(cfg.discover.extensions)} "
            f"files inside folders named {folders} (config key discover.categories)"
        )
    return sample_per_category(videos, cfg.max_videos, cfg.seed)


def check_output_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_file = out / f"{TEMP_PREFIX}write-check-{os.getpid()}"
        probe_file.write_bytes(b"")
        probe_file.unlink()
    except OSError as exc:
        raise SystemFault(f"output folder {str(out)!r} is not writable: {exc.strerror or exc}") from None


def remove_temp_files(out: Path) -> int:
    """Temp frames of an interrupted run; they are never part of the dataset."""
    removed = 0
    for folder in [out, *(p for p in out.iterdir() if p.is_dir())] if out.is_dir() else []:
        for tmp in folder.glob(f"{TEMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
    return removed


def entry_is_done(entry: LedgerEntry | None, params: dict[str, object], out: Path, retry_failed: bool) -> bool:
    """Resume's rule: skip an `ok` video with the same params whose frames are all still on disk;
    skip a `failed` one unless asked to retry."""
    if entry is None:
        return False
    if entry.status == "failed":
        return not retry_failed
    if entry.status == "requeued":
        return False
    if entry.params != params or not entry.frames:
        return False
    for frame in entry.frames:
        try:
            if (out / frame.path).stat().st_size != frame.bytes:
                return False
        except OSError:
            return False
    return True


class Engine:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.out = Path(cfg.output_dir).absolute()
        self.root = Path(cfg.dataset_path).absolute()
        self.children = Children(cfg.workers)
        self.threads = max(1, (os.cpu_count() or 1) // cfg.workers)
        self.pyav = PyAVGrabber(cfg.workers) if cfg.extract.grabber == "pyav" else None
        self.stats = RunStats()
        self.run_id = uuid.uuid4().hex[:12]
        self.versions: dict[str, str] = {}
        self.ledger = LedgerWriter(self.out / LEDGER_NAME, sync_every_n=cfg.extract.batch_size)
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()
        self.progress: Progress | None = None
        self.positions: dict[str, tuple[Fraction, ...]] = {}  # per category; set once the videos are known

    def params_for(self, category: str) -> dict[str, object]:
        x = self.cfg.extract
        return fingerprint(self.positions[category], x.jpeg_quality, x.seek)

    async def run(self) -> RunStats:
        require_tools("ffmpeg", "ffprobe")
        videos = select_videos(self.cfg)
        per_category = Counter(v.category for v in videos)
        self.positions = positions_by_category(self.cfg.extract, per_category)
        if self.cfg.extract.balance and not self.cfg.quiet:
            print(f"[dfdx] {balance_note(self.positions, per_category)}", file=sys.stderr)
        check_output_dir(self.out)
        with OutputLock(self.out), file_logging(self.out):
            removed = remove_temp_files(self.out)
            if removed:
                log.warning("removed %d temp file(s) left by an interrupted run", removed)
            entries, problems = read_ledger(self.out / LEDGER_NAME)
            for problem in problems:
                log.warning("%s", problem)
            state = fold(entries) if self.cfg.extract.resume else {}
            todo = [
                v for v in videos
                if not entry_is_done(state.get(v.rel), self.params_for(v.category), self.out,
                                     self.cfg.extract.retry_failed)
            ]  # fmt: skip
            self.stats.planned = len(todo)
            self.stats.skipped = len(videos) - len(todo)
            log.info(
                "run %s: %d videos selected, %d already done, %d to do, %d workers",
                self.run_id, len(videos), self.stats.skipped, len(todo), self.cfg.workers,
            )  # fmt: skip
            if self.cfg.extract.balance:
                log.info("%s", balance_note(self.positions, per_category))
            self.versions = await asyncio.to_thread(versions)
            for category in {v.category for v in todo}:
                (self.out / category).mkdir(parents=True, exist_ok=True)
            await self.ledger.open()
            self.progress = Progress(len(todo), enabled=not self.cfg.quiet)
            try:
                await self._stream(iter(todo), state)
            finally:
                if self.pyav is not None:
                    await self.pyav.close(self.children)
                self.progress.close()
                await self.ledger.close()
                remove_temp_files(self.out)
            if self.stats.fault is None and self.stats.stopped_by is None:
                # In a thread, so that a signal is still heard while a big ledger is summarised (the loop
                # would only see it after returning, and lose it); each report is replaced atomically.
                self.stats.report = await asyncio.to_thread(self._write_reports)
        return self.stats

    def _write_reports(self) -> dict[str, Any]:
        report = write_report(self.out)
        if self.cfg.report.html:
            from dfdx.inspect.html import write_html_report

            write_html_report(self.out, report)
        return report

    async def _stream(self, todo: Iterator[Video], state: dict[str, LedgerEntry]) -> None:
        # Twice the workers in flight: the next videos' probes overlap the current grabs.
        slots = asyncio.Semaphore(self.cfg.workers * 2)
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
        free = shutil.disk_usage(self.out).free
        return (f" ({free / 1e6:.1f} MB free in {str(self.out)!r}; the {left} videos left need about "
                f"{left * per_video / 1e6:.0f} MB)")  # fmt: skip

    def stop(self, sig: signal.Signals | None = None) -> None:
        if sig is not None and self.stats.stopped_by is None:
            self.stats.stopped_by = sig
        self.stopping.set()
        for task in list(self.tasks):
            task.cancel()

    async def _one(self, video: Video, previous: LedgerEntry | None) -> None:
        started_at, t0 = now_iso(), time.monotonic()
        params = self.params_for(video.category)
        base = dict(video=video.rel, category=video.category, params=params, started_at=started_at,
                    run_id=self.run_id, video_id=video.video_id, versions=self.versions)  # fmt: skip
        try:
            facts, frames = await self._extract(video)
            entry = LedgerEntry(status="ok", frames=frames, finished_at=now_iso(),
                                elapsed_s=round(time.monotonic() - t0, 3), **facts, **base)  # fmt: skip
            if previous is not None:
                self._remove_stale(previous, {f.path for f in frames})
        except (ProbeError, GrabError, ChildTimeout, NotAVideo) as exc:
            self._check_dataset_still_there(video)
            if previous is not None:  # its old frames would be orphans next to a failed entry
                self._remove_stale(previous, keep=set())
            entry = LedgerEntry(status="failed", error=str(exc), finished_at=now_iso(),
                                elapsed_s=round(time.monotonic() - t0, 3), **base)  # fmt: skip
            log.warning("failed: %s: %s", video.rel, exc, extra={"video_failure": True})
        await self.ledger.append(entry)
        ok = entry.status == "ok"
        self.stats.ok += ok
        self.stats.failed += not ok
        self.stats.frames += len(entry.frames)
        self.stats.bytes += sum(f.bytes for f in entry.frames)
        if self.progress is not None:
            self.progress.update(ok, len(entry.frames))

    async def _extract(self, video: Video) -> tuple[dict[str, object], list[FrameEntry]]:
        x = self.cfg.extract
        _require_regular_file(video.path)
        info = await probe(video.path, self.children, x.timeout_s)
        plan = make_plan(info, self.positions[video.category], x.seek)
        decode = self.pyav.decode_frames if self.pyav is not None else decode_frames
        raw = await decode(video.path, info, plan, self.children, x.timeout_s, self.threads,
                           keyframes_only=x.seek == "keyframe")  # fmt: skip
        missing = [t for t in plan.targets if t.frame not in raw]
        if missing:
            raise GrabError(f"could not decode the frame at {float(missing[0].target_s):.3f} s (damaged file?)")
        folder = self.out / video.category
        dests = {
            t.number: folder / frame_filename(video.category, video.name, video.video_id, t.number)
            for t in plan.targets
        }
        written = await write_frames([(t.number, raw[t.frame]) for t in plan.targets], dests, info,
                                     x.jpeg_quality)  # fmt: skip
        sizes = {w.number: w.bytes for w in written}
        frames = [
            FrameEntry(
                path=dests[t.number].relative_to(self.out).as_posix(),
                index=t.number,
                position=float(t.position),
                target_s=round(float(t.target_s), 6),
                pts_s=round(float(info.grid.pts[t.frame] * info.time_base), 6),
                bytes=sizes[t.number],
            )
            for t in plan.targets
        ]
        facts = dict(duration_s=round(float(info.duration_s), 6), width=info.width, height=info.height,
                     codec=info.codec, fps=round(float(info.fps), 6))  # fmt: skip
        return facts, frames

    def _remove_stale(self, previous: LedgerEntry, keep: set[str]) -> None:
        """Frames an earlier run wrote under other params (e.g. more positions) that this run did not."""
        for frame in previous.frames:
            if frame.path not in keep:
                with contextlib.suppress(OSError):
                    (self.out / frame.path).unlink()

    def _check_dataset_still_there(self, video: Video) -> None:
        if not self.root.is_dir() or not video.path.parent.is_dir():
            raise SystemFault(f"the dataset folder {str(self.root)!r} disappeared during the run")


class NotAVideo(Exception):
    """A path that cannot be a video file (a FIFO, a device, a folder): failed without opening it."""


def _require_regular_file(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise NotAVideo(f"cannot open: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise NotAVideo("not a regular file (a FIFO, device or folder named like a video)")
    if not os.access(path, os.R_OK):
        raise NotAVideo("cannot open: permission denied")


def console_logging(verbose: bool, quiet: bool) -> logging.Handler:
    """--verbose mirrors the whole log to the console; by default only warnings and errors."""
    root = logging.getLogger("dfdx")
    root.setLevel(logging.INFO)
    console = TqdmSafeHandler()
    console.setLevel(logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING)
    console.setFormatter(logging.Formatter("[dfdx] %(levelname)s %(message)s"))
    console.addFilter(FailureCap())
    root.addHandler(console)
    return console


class FailureCap(logging.Filter):
    """The console shows the first failed videos, then one note; the log file and the report keep all
    (a dataset with a systematic problem would otherwise bury the progress under thousands of lines)."""

    def __init__(self, limit: int = 20) -> None:
        super().__init__()
        self.limit = limit
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "video_failure", False):
            return True
        self.count += 1
        if self.count == self.limit + 1:
            tqdm.write(f"[dfdx] WARNING more than {self.limit} videos failed: the rest are only in "
                       f"{LOG_NAME} and the report", file=sys.stderr)  # fmt: skip
        return self.count <= self.limit


@contextlib.contextmanager
def file_logging(out: Path) -> Iterator[None]:
    """Warnings and errors, each with its video, kept in OUTPUT/extraction.log (appended across runs)."""
    handler = logging.FileHandler(out / LOG_NAME, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("dfdx").addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger("dfdx").removeHandler(handler)
        handler.close()


def run_extract(cfg: Config) -> int:
    """`dfdx extract`: run the engine under signal handling; print the summary; return the exit code."""
    out = Path(cfg.output_dir)
    console = console_logging(cfg.verbose, cfg.quiet)
    t0 = time.monotonic()
    try:
        stats = asyncio.run(_run_with_signals(cfg))
    except (UsageError, SystemFault) as exc:
        print(f"dfdx: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    finally:
        logging.getLogger("dfdx").removeHandler(console)
    wall = time.monotonic() - t0
    if stats.fault is not None:
        print(f"dfdx: error: {stats.fault}", file=sys.stderr)
        print(_done_line(stats, wall), file=sys.stderr)
        print("dfdx: what was done is kept; fix the cause and run the same command again to resume.",
              file=sys.stderr)  # fmt: skip
        return 1
    if stats.stopped_by is not None:
        print(f"\ndfdx: stopped by {stats.stopped_by.name}. {_done_line(stats, wall)}", file=sys.stderr)
        print("dfdx: run the same command again to resume where it stopped.", file=sys.stderr)
        return EXIT_FOR_SIGNAL[stats.stopped_by]
    if not cfg.quiet:
        print(_done_line(stats, wall), file=sys.stderr)
        print(summary_text(out, stats.report), file=sys.stderr)
    return 0


def _done_line(stats: RunStats, wall: float) -> str:
    return (f"this run: {stats.ok} ok, {stats.failed} failed, {stats.skipped} already done, "
            f"{stats.frames} frames in {wall:.1f} s")  # fmt: skip


async def _run_with_signals(cfg: Config) -> RunStats:
    engine = Engine(cfg)
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if engine.stopping.is_set() and engine.stats.stopped_by is not None:
            engine.children.kill_all()  # second signal: leave nothing behind, exit now
            remove_temp_files(engine.out)
            os._exit(EXIT_FOR_SIGNAL[sig])
        engine.stop(sig)

    for sig in EXIT_FOR_SIGNAL:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await engine.run()
    finally:
        for sig in EXIT_FOR_SIGNAL:
            loop.remove_signal_handler(sig)

