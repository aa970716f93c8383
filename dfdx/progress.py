"""Progress for people: a tqdm bar on a terminal, a plain line every few seconds in logs and CI."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from tqdm import tqdm


class Progress:
    def __init__(self, total: int, unit: str = "video", every_s: float = 10.0, enabled: bool = True) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.frames = 0
        self.every_s = every_s
        self.enabled = enabled
        self.started = time.monotonic()
        self._last_line = self.started
        self.bar: Any = None
        if enabled and sys.stderr.isatty():
            self.bar = tqdm(total=total, unit=unit, dynamic_ncols=True, file=sys.stderr)

    def update(self, ok: bool, frames: int) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        self.frames += frames
        rate = self.frames / max(time.monotonic() - self.started, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix(frames_s=f"{rate:.1f}", failed=self.failed, refresh=False)
            self.bar.update(1)
        elif self.enabled and (time.monotonic() - self._last_line >= self.every_s or self.done == self.total):
            self._last_line = time.monotonic()
            elapsed = time.monotonic() - self.started
            eta = (self.total - self.done) * elapsed / self.done if self.done else 0.0
            print(
                f"[dfdx] {self.done}/{self.total} videos, {self.failed} failed, {rate:.1f} frames/s, "
                f"ETA {eta:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class TqdmSafeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Console log lines that do not tear the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never raise; mirror logging.Handler.handleError
            self.handleError(record)
