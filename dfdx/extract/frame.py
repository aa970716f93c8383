"""A decoded frame as it travels from a decoder through the transforms to an encoder.

Every decoder delivers the same thing: the frame's pixels as displayed (rotation applied), converted
with explicit matrices to full-range BT.601 YUV 4:2:0 (what a JFIF JPEG stores), planes packed one
after another. So a transform or an encoder never needs to know which decoder ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def frame_bytes(width: int, height: int) -> int:
    """Size of one packed yuv420p frame: full-size luma, two chroma planes of half size rounded up."""
    return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)


@dataclass(frozen=True, slots=True)
class Frame:
    width: int
    height: int
    data: bytes  # packed yuv420p, full range, BT.601

    def planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Y, U, V as 2-D uint8 arrays (views of `data`, no copy)."""
        w, h = self.width, self.height
        cw, ch = (w + 1) // 2, (h + 1) // 2
        buf = np.frombuffer(self.data, dtype=np.uint8)
        y = buf[: w * h].reshape(h, w)
        u = buf[w * h : w * h + cw * ch].reshape(ch, cw)
        v = buf[w * h + cw * ch :].reshape(ch, cw)
        return y, u, v


def shrink(frame: Frame, factor: int) -> Frame:
    """The frame `factor` times smaller on each side (block means, even size): a cheap preview."""
    if factor <= 1:
        return frame
    w, h = max(2, frame.width // (2 * factor) * 2), max(2, frame.height // (2 * factor) * 2)
    if frame.width < w * factor or frame.height < h * factor:
        return frame
    planes = []
    for plane, (pw, ph) in zip(frame.planes(), [(w, h), (w // 2, h // 2), (w // 2, h // 2)], strict=True):
        block = plane[: ph * factor, : pw * factor].reshape(ph, factor, pw, factor)
        planes.append(block.mean(axis=(1, 3)).round().astype(np.uint8).tobytes())
    return Frame(w, h, b"".join(planes))
