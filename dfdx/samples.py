"""Small generated videos whose frames carry their own index, for the demo, the tests and benchmarks.

Each frame has a bar of 16 black/white cells along its top: cell b is white when bit b of the frame's
decode index is set. The bar survives H.264 and JPEG, so reading a JPEG back proves which frame it is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import simplejpeg

BITS = 16


def index_bar_graph(width: int, height: int, rate: str, content: str = "testsrc2") -> str:
    """A lavfi graph: `content` (testsrc2 looks and costs like real footage) with the index bar on top."""
    bar_h = max(8, height // 4)
    bar = (
        f"color=c=black:size={width}x{bar_h}:rate={rate},format=gray,"
        f"geq=lum='if(bitand(N\\,pow(2\\,floor(X*{BITS}/W)))\\,255\\,0)'"
    )
    return f"{content}=size={width}x{height}:rate={rate}[bg];{bar}[bar];[bg][bar]overlay=0:0:shortest=1"


def make_video(
    path: Path,
    *,
    frames: int = 50,
    rate: str = "25",
    size: tuple[int, int] = (160, 96),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
    pts_expr: str | None = None,
    audio_s: float | None = None,
    input_args: tuple[str, ...] = (),
    output_args: tuple[str, ...] = (),
) -> Path:
    """Write an indexed test video with ffmpeg (argv list, no shell). `pts_expr` makes it VFR."""
    w, h = size
    graph = index_bar_graph(w, h, rate)
    vf = f"setpts='{pts_expr}'" if pts_expr else "null"
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *input_args,
            "-f", "lavfi", "-i", graph]  # fmt: skip
    if audio_s is not None:
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={audio_s}"]
    argv += ["-map", "0:v"] + (["-map", "1:a", "-c:a", "aac"] if audio_s is not None else [])
    argv += ["-vf", vf, "-frames:v", str(frames), "-c:v", codec, "-pix_fmt", pix_fmt]
    if pts_expr:
        argv += ["-fps_mode", "vfr"]
    if gop is not None:
        argv += ["-g", str(gop)]
    if codec == "libx264":
        argv += ["-preset", "veryfast"]
    argv += [*output_args, f"file:{path}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(argv, check=True, capture_output=True)
    return path


def read_index(jpeg: bytes, bar_height: int | None = None) -> int:
    """The frame index a JPEG of an indexed video shows (read from the bar's cells)."""
    return read_index_luma(decode_luma(jpeg), bar_height)


def decode_luma(jpeg: bytes) -> np.ndarray:
    image = np.asarray(simplejpeg.decode_jpeg(jpeg, colorspace="GRAY"))
    return image[..., 0] if image.ndim == 3 else image


def read_index_luma(luma: np.ndarray, bar_height: int | None = None) -> int:
    h, w = luma.shape
    row = (bar_height or max(8, h // 4)) // 2
    value = 0
    for bit in range(BITS):
        x = int((bit + 0.5) * w / BITS)
        if luma[row, x] > 128:
            value |= 1 << bit
    return value
