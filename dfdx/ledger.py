"""The append-only JSONL ledgers: one record per line, the single source of truth of what is done.

Two ledgers share this module: the extraction ledger (`LedgerEntry`, one line per finished video, which
resume, the report, verification and the training Dataset all read) and the download ledger (one line
per finished file, `dfdx.datasets.download`). Both are written with care: a line is appended only after
what it describes is in place, flushed at once (users `tail -f` it) and fsynced every few seconds and at
exit. Reading tolerates anything a crash or a careless edit can leave: a torn last line, garbage or
duplicated lines — each is skipped with a problem naming its line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiofiles

from dfdx.clock import parse_utc
from dfdx.errors import DiskFull, UsageError
from dfdx.layout import LEDGER_NAME, SHARD_LEDGER_GLOB, SHARD_LEDGER_NAME

STATUSES = ("ok", "failed", "requeued", "unlabelled")
R = TypeVar("R")


def to_line(record: Any) -> str:
    """A record (a dataclass) as one ledger line: sorted keys, ASCII only, so a line is never torn by
    an encoding and diffs stay stable."""
    return json.dumps(dataclasses.asdict(record), sort_keys=True, ensure_ascii=True) + "\n"


@dataclass(frozen=True, slots=True)
class FrameEntry:
    path: str  # relative to the output dir, POSIX
    index: int  # 1-based
    position: float
    target_s: float
    pts_s: float  # of the frame the image shows (with `fallback: nearest`, not the target's)
    bytes: int
    # `crop: face` (None otherwise), in source pixels of the displayed frame (after rotation):
    box: list[int] | None = None  # the face box [x, y, w, h], margin-free
    score: float | None = None  # the detector's confidence, 0..1
    faces: int | None = None  # faces found in that frame
    crop: list[int] | None = None  # the region the image shows [x, y, w, h], before resizing
    size_px: list[int] | None = None  # the image's [width, height] when it is not the whole frame
    miss: str | None = None  # why the target frame gave no face, when this image is a fallback
    fallback: str | None = None  # "full": the whole target frame; "nearest": the nearest frame with a face


@dataclass(frozen=True, slots=True)
class MissEntry:
    """A target frame that gave no image (`crop: face`, `on_missing: skip`, or nothing near it either)."""

    index: int  # 1-based, as in the frame's name
    position: float
    target_s: float
    pts_s: float
    reason: str  # "no face" | "face too small"
    faces: int  # faces found (all rejected)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    video: str  # relative to the dataset root, POSIX
    category: str
    # "ok" | "failed" | "requeued" (verify --fix found bad frames: the next extract redoes it) | "unlabelled"
    # (the profile found the file but no label for it: not extracted)
    status: str
    params: dict[str, Any]
    finished_at: str
    started_at: str
    elapsed_s: float
    run_id: str
    frames: list[FrameEntry] = field(default_factory=list)
    error: str | None = None
    video_id: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    fps: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    # What the dataset profile says (dfdx.datasets.discover.Labels); absent from older ledgers.
    method: str | None = None
    compression: str | None = None
    group: list[str] = field(default_factory=list)
    official_split: str | None = None
    original: list[str] = field(default_factory=list)
    part: int | None = None
    misses: list[MissEntry] = field(default_factory=list)  # crop: face, target frames with no face written
    note: str | None = None  # for the report: the profile's remark, or why an ok video has no frames

    def to_line(self) -> str:
        return to_line(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LedgerEntry:
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in raw.items() if k in names}
        data["frames"] = [FrameEntry(**f) for f in raw.get("frames") or []]
        data["misses"] = [MissEntry(**m) for m in raw.get("misses") or []]
        entry = cls(**data)
        if entry.status not in STATUSES or not isinstance(entry.video, str):
            raise ValueError(f"status {entry.status!r} / video {entry.video!r}")
        return entry


@dataclass(frozen=True, slots=True)
class LedgerProblem:
    line: int
    reason: str
    torn: bool = False  # the line lacks its newline: a crash while writing it, not a bad edit
    source: str = ""  # a shard ledger's path in the output folder; empty for the main ledger

    def __str__(self) -> str:
        return f"{self.source or 'ledger'} line {self.line}: {self.reason}; it is ignored"


def read_records(path: Path, parse: Callable[[dict[str, Any]], R]) -> tuple[list[R], list[LedgerProblem]]:
    """Every valid record in file order, and a problem per line that could not be trusted. `parse`
    turns a line's object into a record and raises ValueError, TypeError or KeyError when it cannot."""
    records: list[R] = []
    problems: list[LedgerProblem] = []
    if not path.exists():
        return records, problems
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            records.append(parse(raw))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            torn = not line.endswith("\n")
            reason = "torn line (the run was interrupted while writing it)" if torn else f"unreadable ({exc})"
            problems.append(LedgerProblem(number, reason[:200], torn))
    return records, problems


def read_ledger(path: Path) -> tuple[list[LedgerEntry], list[LedgerProblem]]:
    """The extraction ledger's entries in file order, and its untrusted lines."""
    return read_records(path, LedgerEntry.from_dict)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8", errors="surrogateescape", newline="\n") as f:
        yield from enumerate(f, start=1)


def fold(entries: Iterable[LedgerEntry]) -> dict[str, LedgerEntry]:
    """The state the ledger describes: each video's last entry wins."""
    state: dict[str, LedgerEntry] = {}
    for entry in entries:
        state[entry.video] = entry
    return state


@dataclass(frozen=True, slots=True)
class LedgerState:
    """What an output folder's ledger says: every entry in order, the lines it could not trust, and
    each video's state (its last entry)."""

    entries: list[LedgerEntry]
    problems: list[LedgerProblem]
    videos: dict[str, LedgerEntry]

    @property
    def exists(self) -> bool:
        return bool(self.entries or self.problems)


def ledger_path(out: Path) -> Path:
    return out / LEDGER_NAME


def shard_ledger_path(out: Path, shard: int) -> Path:
    """The ledger a Ray shard task appends to (one writer per file, so nodes never contend for a lock)."""
    return out / SHARD_LEDGER_NAME.format(shard)


def ledger_paths(out: Path) -> list[Path]:
    """Every extraction ledger of an output folder that exists: the main one, then the shards' by number."""
    shards = sorted(out.glob(SHARD_LEDGER_GLOB)) if out.is_dir() else []
    return [p for p in [ledger_path(out), *shards] if p.is_file()]


def has_ledger(out: Path) -> bool:
    return bool(ledger_paths(out))


def require_ledger(out: Path, why: str = "") -> None:
    """Commands that read an output folder say how to make one when it has no ledger."""
    if not has_ledger(out):
        raise UsageError(f"no ledger in {str(out)!r}: {why}run `dfdx extract --output-dir {out}` first")


def load_state(out: Path) -> LedgerState:
    """Read every ledger of an output folder (the main one and the Ray shards') and fold them: the one
    read-and-fold every reader uses.

    A video's last entry wins. Within one file "last" is the file's order: one writer appends it, so
    its order is the order things happened, even across a clock step. Across files only time relates
    entries, so the files' last entries for a video are compared by `finished_at`; on an exact tie the
    later file wins (main ledger first, then shards by number), so the answer never depends on the
    order files are listed in. A video is in two files only when different runs did it (a run gives
    each video to one shard), minutes or days apart, far more than the clock skew of NTP-synced nodes.
    """
    files = ledger_paths(out)
    entries: list[LedgerEntry] = []
    problems: list[LedgerProblem] = []
    last: dict[str, tuple[float, int, LedgerEntry]] = {}
    for rank, path in enumerate(files):
        file_entries, file_problems = read_ledger(path)
        source = "" if path == ledger_path(out) else path.relative_to(out).as_posix()
        problems += [dataclasses.replace(p, source=source) for p in file_problems]
        entries += file_entries
        for video, entry in fold(file_entries).items():
            key = (_finished_s(entry), rank)
            if video not in last or key >= last[video][:2]:
                last[video] = (*key, entry)
    if len(files) > 1:  # one timeline for the report (wall time, latest run); stable, so ties keep file order
        entries.sort(key=_finished_s)
    return LedgerState(entries=entries, problems=problems, videos={v: e for v, (_, _, e) in last.items()})


def _finished_s(entry: LedgerEntry) -> float:
    try:
        return parse_utc(entry.finished_at)
    except (ValueError, TypeError):
        return float("-inf")


def _needs_newline(path: Path) -> bool:
    """A file whose last line is torn: the next line must start on a line of its own."""
    if not path.exists() or not path.stat().st_size:
        return False
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def _write_error(exc: OSError, path: Path) -> OSError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"disk full: cannot append to the ledger {path}")
    return exc


class LedgerWriter:
    """Appends records (anything with `to_line()`) from the event loop, with aiofiles; flushes each,
    fsyncs every `sync_every_s` or `sync_every_n` lines and at close."""

    def __init__(self, path: Path, sync_every_s: float = 2.0, sync_every_n: int = 16) -> None:
        self.path = path
        self.sync_every_s = sync_every_s
        self.sync_every_n = sync_every_n
        self._file: Any = None
        self._lock = asyncio.Lock()
        self._last_sync = time.monotonic()
        self._unsynced = 0

    async def open(self) -> None:
        needs_newline = _needs_newline(self.path)
        self._file = await aiofiles.open(self.path, "a", encoding="utf-8", newline="\n")
        if needs_newline:  # end a torn line so the next entry starts clean
            await self._write("\n")

    async def append(self, entry: Any) -> None:
        async with self._lock:
            await self._write(entry.to_line())
            self._unsynced += 1
            if self._unsynced >= self.sync_every_n or time.monotonic() - self._last_sync >= self.sync_every_s:
                await self._sync()

    async def close(self) -> None:
        if self._file is None:
            return
        async with self._lock:
            with contextlib.suppress(OSError):
                await self._sync()
            await self._file.close()
            self._file = None

    async def _write(self, text: str) -> None:
        try:
            await self._file.write(text)
            await self._file.flush()
        except OSError as exc:
            raise _write_error(exc, self.path) from None

    async def _sync(self) -> None:
        await asyncio.to_thread(os.fsync, self._file.fileno())
        self._last_sync = time.monotonic()
        self._unsynced = 0


async def append_entries(path: Path, entries: Iterable[Any]) -> None:
    """Append a few records to a ledger in one go, outside a run's own writer (verify --fix, a driver's
    notes): opened, appended, fsynced, closed."""
    writer = LedgerWriter(path)
    await writer.open()
    try:
        for entry in entries:
            await writer.append(entry)
    finally:
        await writer.close()


class SyncLedgerWriter:
    """The same discipline for code that appends from threads (the downloader's workers): each line
    flushed at once under a lock, fsynced at close."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: Any = None

    def append(self, record: Any) -> None:
        with self._lock:
            try:
                if self._file is None:
                    torn = _needs_newline(self.path)
                    self._file = open(self.path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115 - kept open
                    if torn:
                        self._file.write("\n")
                self._file.write(record.to_line())
                self._file.flush()
            except OSError as exc:
                raise _write_error(exc, self.path) from None

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    os.fsync(self._file.fileno())
                self._file.close()
                self._file = None
