"""Progress for people: a tqdm bar on a terminal, a plain line every few seconds in logs and CI."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from tqdm import tqdm


class _Reporter:
    """What both bars share: tqdm on a terminal, else a plain line when `every_s` has passed."""

    def __init__(self, enabled: bool, every_s: float) -> None:
        self.enabled = enabled
        self.every_s = every_s
        self.started = time.monotonic()
        self._last_line = self.started
        self.bar: Any = None

    @property
    def on_terminal(self) -> bool:
        return self.enabled and sys.stderr.isatty()

    def line_due(self, final: bool = False) -> bool:
        """Whether a plain progress line should be printed now (never when a bar is shown)."""
        if not self.enabled or self.bar is not None:
            return False
        now = time.monotonic()
        if final or now - self._last_line >= self.every_s:
            self._last_line = now
            return True
        return False

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Progress(_Reporter):
    """Videos done, failures, frames/s and ETA of an extraction."""

    def __init__(self, total: int, unit: str = "video", every_s: float = 10.0, enabled: bool = True) -> None:
        super().__init__(enabled, every_s)
        self.total = total
        self.done = 0
        self.failed = 0
        self.frames = 0
        if self.on_terminal:
            self.bar = tqdm(total=total, unit=unit, dynamic_ncols=True, file=sys.stderr)

    def grow(self, videos: int) -> None:
        """More videos to do than the bar was started with (DFDC part by part: a part's clips are known
        only once it is unpacked)."""
        self.total += videos
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def describe(self, text: str) -> None:
        """What the bar is working on now (which DFDC part); a plain line says it at once."""
        if self.bar is not None:
            self.bar.set_description(text, refresh=True)
        elif self.enabled:
            print(f"[dfdx] {text}", file=sys.stderr, flush=True)

    def update(self, ok: bool, frames: int) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        self.frames += frames
        rate = self.frames / max(time.monotonic() - self.started, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix(frames_s=f"{rate:.1f}", failed=self.failed, refresh=False)
            self.bar.update(1)
        elif self.line_due(final=self.done == self.total):
            elapsed = time.monotonic() - self.started
            eta = (self.total - self.done) * elapsed / self.done if self.done else 0.0
            print(
                f"[dfdx] {self.done}/{self.total} videos, {self.failed} failed, {rate:.1f} frames/s, "
                f"ETA {eta:.0f} s",
                file=sys.stderr,
                flush=True,
            )


class TqdmSafeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Console log lines that do not tear the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never raise; mirror logging.Handler.handleError
            self.handleError(record)


class BytesProgress(_Reporter):
    """One tqdm bar for bytes (files in the postfix) on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, label: str, total_bytes: int, total_files: int, enabled: bool, every_s: float) -> None:
        super().__init__(enabled, every_s)
        self.label = label
        self.total_bytes = total_bytes
        self.total_files = total_files
        self._shown = 0
        if self.on_terminal:
            self.bar = tqdm(
                total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                dynamic_ncols=True, file=sys.stderr,
            )  # fmt: skip

    def show(self, done_bytes: int, done_files: int, final: bool = False) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            if self.bar.total != self.total_bytes:
                self.bar.total = self.total_bytes
            self.bar.update(done_bytes - self._shown)
            self._shown = done_bytes
            if self.total_files > 1:
                self.bar.set_postfix(files=f"{done_files}/{self.total_files}", refresh=False)
            return
        if self.line_due(final):
            now = time.monotonic()
            rate = (done_bytes - self._shown) / max(now - self.started, 1e-9) if final else None
            pct = 100 * done_bytes / self.total_bytes if self.total_bytes else 100.0
            files = f", {done_files}/{self.total_files} files" if self.total_files > 1 else ""
            speed = f", {fmt_bytes(rate)}/s" if rate is not None and rate > 0 else ""
            print(
                f"[dfdx] {self.label}: {fmt_bytes(done_bytes)} of {fmt_bytes(self.total_bytes)} ({pct:.0f}%){files}"
                f"{speed}",
                file=sys.stderr,
                flush=True,
            )


def fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - loop always returns
