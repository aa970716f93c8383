"""What a run tells people: the console log (warnings, capped failures), the log file in the output
folder, and the closing lines."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from dfdx.layout import LOG_NAME
from dfdx.progress import TqdmSafeHandler
from dfdx.run import RunStats


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
def file_logging(out: Path, path: Path | None = None) -> Iterator[None]:
    """Warnings and errors, each with its video, kept in OUTPUT/extraction.log (appended across runs), or
    in `path` (a Ray shard task's own log: one writer per file on a shared folder)."""
    root = logging.getLogger("dfdx")
    root.setLevel(logging.INFO)
    handler = logging.FileHandler(path or out / LOG_NAME, encoding="utf-8", delay=path is not None)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("dfdx").addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger("dfdx").removeHandler(handler)
        handler.close()


def done_line(stats: RunStats, wall: float) -> str:
    return (f"this run: {stats.ok} ok, {stats.failed} failed, {stats.skipped} already done, "
            f"{stats.frames} frames in {wall:.1f} s")  # fmt: skip
