"""The append-only JSONL ledger: one line per finished video; the single source of truth.

Resume, the report, verification and the training Dataset all read it, so it is written with care:
a line is appended only after its frames are renamed into place, flushed at once (users `tail -f` it)
and fsynced every few seconds and at exit. Reading tolerates anything a crash or a careless edit can
leave: a torn last line, garbage or duplicated lines — each is skipped with a warning naming its line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles

from dfdx.errors import DiskFull

LEDGER_NAME = "extraction_ledger.jsonl"
STATUSES = ("ok", "failed", "requeued")


@dataclass(frozen=True, slots=True)
class FrameEntry:
    path: str  # relative to the output dir, POSIX
    index: int  # 1-based
    position: float
    target_s: float
    pts_s: float
    bytes: int


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    video: str  # relative to the dataset root, POSIX
    category: str
    status: str  # "ok" | "failed" | "requeued" (verify --fix found bad frames: the next extract redoes it)
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

    def to_line(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, ensure_ascii=True) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LedgerEntry:
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in raw.items() if k in names}
        data["frames"] = [FrameEntry(**f) for f in raw.get("frames") or []]
        entry = cls(**data)
        if entry.status not in STATUSES or not isinstance(entry.video, str):
            raise ValueError(f"status {entry.status!r} / video {entry.video!r}")
        return entry


@dataclass(frozen=True, slots=True)
class LedgerProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"ledger line {self.line}: {self.reason}; it is ignored"


def read_ledger(path: Path) -> tuple[list[LedgerEntry], list[LedgerProblem]]:
    """Every valid entry in file order, and a problem per line that could not be trusted."""
    entries: list[LedgerEntry] = []
    problems: list[LedgerProblem] = []
    if not path.exists():
        return entries, problems
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            entries.append(LedgerEntry.from_dict(raw))
        except (ValueError, TypeError, KeyError) as exc:
            torn = not line.endswith("\n")
            reason = "torn line (the run was interrupted while writing it)" if torn else f"unreadable ({exc})"
            problems.append(LedgerProblem(number, reason[:200]))
    return entries, problems


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8", errors="surrogateescape", newline="\n") as f:
        yield from enumerate(f, start=1)


def fold(entries: Iterable[LedgerEntry]) -> dict[str, LedgerEntry]:
    """The state the ledger describes: each video's last entry wins."""
    state: dict[str, LedgerEntry] = {}
    for entry in entries:
        state[entry.video] = entry
    return state


class LedgerWriter:
    """Appends lines from one place in the engine; flushes each, fsyncs every `sync_every_s` or
    `sync_every_n` lines and at close."""

    def __init__(self, path: Path, sync_every_s: float = 2.0, sync_every_n: int = 16) -> None:
        self.path = path
        self.sync_every_s = sync_every_s
        self.sync_every_n = sync_every_n
        self._file: Any = None
        self._lock = asyncio.Lock()
        self._last_sync = time.monotonic()
        self._unsynced = 0

    async def open(self) -> None:
        needs_newline = False
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                needs_newline = f.read(1) != b"\n"
        self._file = await aiofiles.open(self.path, "a", encoding="utf-8", newline="\n")
        if needs_newline:  # end a torn line so the next entry starts clean
            await self._write("\n")

    async def append(self, entry: LedgerEntry) -> None:
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
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(f"disk full: cannot append to the ledger {self.path}") from None
            raise

    async def _sync(self) -> None:
        await asyncio.to_thread(os.fsync, self._file.fileno())
        self._last_sync = time.monotonic()
        self._unsynced = 0
