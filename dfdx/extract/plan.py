"""VideoInfo + positions → which frames to write, where to seek, and what to name them. Pure: no I/O.

"The frame at position p" is the frame played at T = start + p × duration: the frame whose interval
[pts, next pts) contains T (torchcodec's `get_frame_played_at`); before the first frame, the first;
past the end, the last. All arithmetic is exact (fractions of the stream time base), so a target that
falls exactly on a frame boundary picks the frame that starts there, never its neighbour by rounding.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dfdx.extract.probe import VideoInfo


@dataclass(frozen=True, slots=True)
class Target:
    number: int  # 1-based frame number in the output name
    position: Fraction
    target_s: Fraction
    frame: int  # index into the frame grid (presentation order)


@dataclass(frozen=True, slots=True)
class SeekGroup:
    """Frames served by one seek + one forward decode: they share the keyframe before them."""

    seek_s: float  # for ffmpeg's -ss: relative to the container start, the keyframe's pts (µs, rounded up)
    frames: tuple[int, ...]  # grid indices, ascending
    skip_nonref: bool = False  # every frame is a reference frame: the decoder may skip the others


@dataclass(frozen=True, slots=True)
class Plan:
    targets: tuple[Target, ...]
    groups: tuple[SeekGroup, ...]

    @property
    def frames(self) -> tuple[int, ...]:
        """Distinct frames to decode, in the order the grabber emits them."""
        return tuple(f for g in self.groups for f in g.frames)


def frame_played_at(info: VideoInfo, t: Fraction) -> int:
    """Index of the frame whose presentation interval contains t (clamped to the stream)."""
    tick = t / info.time_base
    return max(0, bisect.bisect_right(info.grid.pts, tick) - 1)


def keyframe_before(info: VideoInfo, frame: int) -> int:
    """The last keyframe at or before `frame` in presentation order (the first keyframe if none)."""
    keys = info.grid.keyframes
    pos = bisect.bisect_right(keys, frame) - 1
    return keys[max(pos, 0)]


def nearest_keyframe(info: VideoInfo, t: Fraction) -> int:
    tick = t / info.time_base
    return min(info.grid.keyframes, key=lambda i: (abs(info.grid.pts[i] - tick), i))


def make_plan(info: VideoInfo, positions: tuple[Fraction, ...], seek: str = "exact") -> Plan:
    targets = []
    for number, p in enumerate(positions, start=1):
        t = info.start_s + p * info.duration_s
        frame = nearest_keyframe(info, t) if seek == "keyframe" else frame_played_at(info, t)
        targets.append(Target(number=number, position=p, target_s=t, frame=frame))
    return Plan(targets=tuple(targets), groups=seek_groups(info, [t.frame for t in targets]))


def seek_groups(info: VideoInfo, frames: list[int]) -> tuple[SeekGroup, ...]:
    """The frames grouped by the keyframe before them: one seek and one forward decode per group."""
    by_key: dict[int, set[int]] = {}
    for frame in frames:
        by_key.setdefault(keyframe_before(info, frame), set()).add(frame)
    groups = []
    for key in sorted(by_key):
        # At the keyframe's presentation time, rounded up to ffmpeg's microsecond: ffmpeg 5.1 seeks mp4 by
        # presentation time, and anything earlier (its decode time, or a hair before) lands on the keyframe
        # before, i.e. a whole GOP more to decode (measured: seeking at the decode time of x264's keyframes
        # decoded every target from the start of the file).
        seek_s = info.time_base * info.grid.pts[key] - info.container_start_s
        seek_us = max(0, math.ceil(seek_s * 1_000_000))
        groups.append(SeekGroup(seek_s=seek_us / 1_000_000, frames=tuple(sorted(by_key[key]))))
    return tuple(groups)


def frames_near(info: VideoInfo, frame: int, window_s: Fraction, keyframes_only: bool = False) -> list[int]:
    """Other frames whose pts lie within window_s of `frame`'s, nearest first (ties: the earlier);
    only keyframes when the run seeks to keyframes. What `on_missing: nearest` tries, in order."""
    pts = info.grid.pts
    reach = window_s / info.time_base
    lo = bisect.bisect_left(pts, pts[frame] - reach)
    hi = bisect.bisect_right(pts, pts[frame] + reach)
    keys = set(info.grid.keyframes)
    near = [i for i in range(lo, hi) if i != frame and (not keyframes_only or i in keys)]
    return sorted(near, key=lambda i: (abs(pts[i] - pts[frame]), pts[i]))


def select_window(info: VideoInfo, frame: int) -> tuple[float, float]:
    """[lo, hi) in seconds around frame's pts, halfway to its neighbours: matches it and nothing else."""
    pts = info.grid.pts
    tb = info.time_base
    half = Fraction(info.grid.last_duration, 2)
    lo = Fraction(pts[frame - 1] + pts[frame], 2) if frame > 0 else pts[frame] - half
    hi = Fraction(pts[frame] + pts[frame + 1], 2) if frame + 1 < len(pts) else pts[frame] + half
    return float(lo * tb), float(hi * tb)


def frame_filename(category: str, name: str, video_id: str, number: int, extension: str, suffix: str = "") -> str:
    """`{category}_{name}_{video_id}_frame_{NN}{suffix}{extension}`; the extension is the encoder's."""
    return f"{category}_{name}_{video_id}_frame_{number:02d}{suffix}{extension}"


def fingerprint(positions: tuple[Fraction, ...], jpeg_quality: int, seek: str, format_id: str,
                transform: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that changes a video's frames; a video whose ledger entry has another is redone.
    The identity transform adds nothing, so ledgers written before transforms existed stay valid."""
    params: dict[str, Any] = {
        "positions": [str(p) for p in positions],
        "jpeg_quality": jpeg_quality,
        "seek": seek,
        "format": format_id,
    }
    if transform:
        params["transform"] = transform
    return params
