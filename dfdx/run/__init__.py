"""Runners: who drives the per-video unit of work (`dfdx.extract.video.extract_video`).

A runner is one module here with a class that meets `Runner`, registered in `dfdx.plugins.RUNNERS`
under the name `run.runner` takes. `dfdx.run.command.run_extract` picks it, wires the signals to it,
and turns its `RunStats` into the summary and the exit code; the runner prepares the run
(`dfdx.run.resume`), schedules the videos and writes the ledger and the reports.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any, Protocol

from dfdx.config import Config


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

    def add(self, summary: ShardSummary) -> None:
        """A shard's or a DFDC part's counts into the run's; its fault becomes the run's."""
        self.planned += summary.ok + summary.failed
        self.skipped += summary.skipped
        self.ok += summary.ok
        self.failed += summary.failed
        self.frames += summary.frames
        self.bytes += summary.bytes
        if summary.fault is not None and self.fault is None:
            self.fault = summary.fault


@dataclass(frozen=True, slots=True)
class ShardSummary:
    """What a shard (or a DFDC part) returns when it ends: counts, never frames."""

    shard: int
    host: str
    ok: int
    failed: int
    skipped: int  # recorded by an earlier attempt of this shard in this run (a retry)
    frames: int
    bytes: int
    fault: str | None  # a fault of the system that stopped the shard (disk full, ffmpeg missing)
    stopped: bool = False  # stopped from outside (Ctrl-C on the local runner) before every video was done


class Runner(Protocol):
    def __init__(self, cfg: Config) -> None: ...

    async def run(self) -> RunStats:
        """The whole extraction; a fault of the system ends it with `stats.fault` set (or raises
        UsageError/SystemFault before any work starts)."""
        ...

    async def run_parts(self, extract: bool = True) -> RunStats:
        """`dfdx run --profile dfdc`: DFDC part by part (`dfdx.run.parts`): download, extract and, with
        `download.delete_archive`, delete each part (`extract` False: download and unpack only)."""
        ...

    def stop(self, sig: signal.Signals | None = None) -> None:
        """First Ctrl-C/SIGTERM: start no new video, cancel the running ones, finish cleanly."""
        ...

    def abort(self) -> None:
        """Second signal: kill every child now and remove temp files (the process exits right after)."""
        ...
