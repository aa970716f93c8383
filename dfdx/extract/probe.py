"""ffprobe → VideoInfo: one call per video gives the stream's facts and its exact frame grid.

The frame grid (every frame's presentation timestamp, and which frames are keyframes) is what makes
extraction exact: "the frame played at T" is read off it, for constant and variable frame rates
alike, and the grabber seeks to the keyframe it names. Reading packets only demuxes; it decodes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from dfdx.children import Children, exit_reason

# Only what parse_probe reads: ffprobe's cost is mostly its own start (Debian's build links 215 libraries),
# the rest is find_stream_info and one line per packet (measured in benchmarks/run.py, `probe_cpu_s`).
FFPROBE_ENTRIES = ":".join(
    [
        "stream=index,codec_type,codec_name,width,height,pix_fmt,color_space,color_range,"
        "avg_frame_rate,r_frame_rate,time_base,duration",
        "stream_disposition=attached_pic",
        "stream_side_data=rotation",
        "stream_tags=rotate",
        "format=start_time,duration",
        "packet=stream_index,pts,dts,duration,flags,pos,size",
    ]
)


# What ffmpeg's demuxers print when the file ends before the data its own index lists (mov: a sample
# past the end; matroska: a cluster cut off). Such a file is an incomplete download: its frames would sit
# at the wrong positions of the real video, so it fails with a reason instead.
TRUNCATION_SIGNS = (b"partial file", b"File ended prematurely")


class ProbeError(Exception):
    """The file is not a video we can read; the message is the reason a person understands."""


@dataclass(frozen=True, slots=True)
class FrameGrid:
    """Presentation timestamps (stream time base ticks) of every frame, sorted, and which are keyframes
    (indices into `pts`, ascending): where a decode can start."""

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]
    last_duration: int
    # Where each frame's packet lies in the file (byte offset, size), when the container says:
    # lets the grabber read a target's NAL header to learn whether it is a reference frame.
    packets: tuple[tuple[int, int] | None, ...] = ()

    def __len__(self) -> int:
        return len(self.pts)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    stream_index: int
    codec: str
    width: int  # as displayed: rotation applied
    height: int
    rotation: int
    pix_fmt: str
    color_space: str | None
    color_range: str | None
    fps: Fraction
    time_base: Fraction
    container_start_s: Fraction  # ffmpeg's -ss is relative to this
    header_duration_s: float | None
    grid: FrameGrid

    @property
    def start_s(self) -> Fraction:
        return self.time_base * self.grid.pts[0]

    @property
    def end_s(self) -> Fraction:
        return self.time_base * (self.grid.pts[-1] + self.grid.last_duration)

    @property
    def duration_s(self) -> Fraction:
        """The span the frames cover: it is what "a third of the video" means, and a header that lies
        about the duration (truncated or doctored files) cannot move the targets off the real frames."""
        return self.end_s - self.start_s


def ffprobe_argv(path: Path) -> list[str]:
    return [
        "ffprobe", "-v", "error", "-of", "json", "-select_streams", "v",
        "-show_entries", FFPROBE_ENTRIES, "-i", f"file:{path}",
    ]  # fmt: skip


async def probe(path: Path, children: Children, timeout_s: float) -> VideoInfo:
    result = await children.run(ffprobe_argv(path), timeout_s=timeout_s)
    try:
        doc = json.loads(result.stdout or b"{}")
    except json.JSONDecodeError:
        doc = {}
    if result.returncode < 0:  # a crash or an outside kill: what it printed before is not the reason
        raise ProbeError(f"ffprobe {exit_reason(result.returncode)} reading this file")
    if result.returncode != 0 and not doc.get("streams"):
        raise ProbeError(f"not a readable video: {result.error_line(path) or 'ffprobe failed'}")
    if any(sign in result.stderr for sign in TRUNCATION_SIGNS):
        raise ProbeError("truncated: the file ends before the data its header lists (an incomplete download?)")
    return parse_probe(doc, result.error_line(path))


def parse_probe(doc: dict[str, Any], error_line: str = "") -> VideoInfo:
    """Pure: ffprobe's JSON → VideoInfo (tested without ffprobe)."""
    streams = [s for s in doc.get("streams", []) if s.get("codec_type", "video") == "video"]
    real = [s for s in streams if not (s.get("disposition") or {}).get("attached_pic")]
    if not real:
        what = "only a cover picture" if streams else "no video stream"
        raise ProbeError(f"{what} in this file" + (f" ({error_line})" if error_line else ""))
    stream = real[0]
    index = int(stream["index"])
    tb = _fraction(stream.get("time_base")) or Fraction(1, 90000)
    pts_list: list[int] = []
    key_pts: set[int] = set()
    durations: dict[int, int] = {}
    where: dict[int, tuple[int, int]] = {}
    for pkt in doc.get("packets", []):
        if int(pkt.get("stream_index", -1)) != index:
            continue
        flags = pkt.get("flags", "")
        if "D" in flags:  # discarded by an edit list: never displayed
            continue
        ts = pkt.get("pts", pkt.get("dts"))
        if ts is None:
            continue
        ts = int(ts)
        pts_list.append(ts)
        durations[ts] = int(pkt.get("duration") or 0)
        if str(pkt.get("pos", "")).isdigit() and str(pkt.get("size", "")).isdigit():
            where[ts] = (int(pkt["pos"]), int(pkt["size"]))
        if "K" in flags:
            key_pts.add(ts)
    if not pts_list:
        raise ProbeError("no video frames in this file" + (f" ({error_line})" if error_line else ""))
    if not key_pts:
        raise ProbeError("no keyframe in this file: it cannot be decoded")
    pts_sorted = sorted(set(pts_list))
    fps = _fraction(stream.get("avg_frame_rate")) or _fraction(stream.get("r_frame_rate")) or Fraction(25)
    last = pts_sorted[-1]
    last_duration = durations.get(last) or (
        pts_sorted[-1] - pts_sorted[-2] if len(pts_sorted) > 1 else max(1, round(1 / (fps * tb)))
    )
    grid = FrameGrid(
        pts=tuple(pts_sorted),
        keyframes=tuple(i for i, p in enumerate(pts_sorted) if p in key_pts),
        last_duration=last_duration,
        packets=tuple(where.get(p) for p in pts_sorted),
    )
    rotation = _rotation(stream)
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width <= 0 or height <= 0:
        raise ProbeError("the video stream has no frame size")
    if rotation % 180 == 90:
        width, height = height, width
    fmt = doc.get("format", {})
    header = stream.get("duration") or fmt.get("duration")
    return VideoInfo(
        stream_index=index,
        codec=str(stream.get("codec_name", "unknown")),
        width=width,
        height=height,
        rotation=rotation,
        pix_fmt=str(stream.get("pix_fmt", "unknown")),
        color_space=stream.get("color_space"),
        color_range=stream.get("color_range"),
        fps=fps,
        time_base=tb,
        container_start_s=Fraction(fmt.get("start_time") or "0"),
        header_duration_s=float(header) if header not in (None, "N/A") else None,
        grid=grid,
    )


def _fraction(text: Any) -> Fraction | None:
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return round(float(side["rotation"])) % 360
    rotate = (stream.get("tags") or {}).get("rotate")
    return int(rotate) % 360 if rotate not in (None, "") else 0
