"""The planned frames of an MP4's H.264 track as one Annex B stream, with the frames no target needs left out.

The ffmpeg command line cannot skip non-reference frames only until a target: `-skip_frame noref` holds
for the whole stream, so a group whose target is itself a non-reference frame was decoded in full, and
each seek group cost a child. Here dfdx reads the packets itself (the sample tables give their places)
and hands ffmpeg, on its stdin, exactly what the targets need: for each seek group its IDR keyframe and
every reference frame after it in decode order, plus the targets, up to the last target; the groups one
after the other, each behind the SPS/PPS. One child per video, one pass per GOP, non-reference frames
skipped: what benchmarks/limit.py counts as the floor.

A non-reference frame is read by no other frame, so leaving it out changes no pixel of the frames decoded
(`tests/extract/decoders/test_annexb.py` compares the bytes with the per-group path). The decoder emits
the frames it gets in presentation order (the SPS's num_reorder_frames says how many to hold, and an IDR
flushes the group before), so the k-th frame out is known in advance and is selected by number. Files
this does not fit (no IDR at a group's keyframe, no reorder count in the SPS, another NAL length size, a
colr box or a rotation, which the mp4 demuxer would apply and a raw stream cannot carry, a sample outside
the grid) return None: the per-group path serves them as before.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dfdx.extract.decoders.nal import h264_reference
from dfdx.extract.h264 import parameter_sets, parse_sps
from dfdx.extract.mp4 import Doubt, read_movie
from dfdx.extract.plan import Plan, keyframe_before
from dfdx.extract.probe import VideoInfo
from dfdx.extract.probe_index import decode_order

START = b"\x00\x00\x00\x01"
IDR = 5
MAX_FEED_BYTES = 256 << 20  # a stream held in memory; past this (hours of video, dense targets) the per-group path


@dataclass(frozen=True, slots=True)
class Feed:
    stream: bytes  # Annex B H.264: every group behind the parameter sets
    numbers: tuple[int, ...]  # which frames out of the decoder are targets (0-based, ascending)
    frames: tuple[int, ...]  # their grid indices, in the same order
    total: int  # frames the decoder must emit in all

    @property
    def picks(self) -> tuple[int, ...]:
        """The numbers to pick: the targets, and the last frame as a witness that none was dropped before
        it (a decoder that drops a damaged frame shifts every number after it, and then has no frame
        `total - 1` to give: the video goes down the per-group path, which picks frames by time)."""
        return self.numbers if self.numbers[-1] == self.total - 1 else (*self.numbers, self.total - 1)


def build_feed(path: Path, info: VideoInfo, plan: Plan) -> Feed | None:
    """The stream for `plan`'s frames, or None when the per-group path must serve this file (blocking I/O)."""
    if info.codec != "h264" or info.rotation or not info.grid.packets:
        return None
    try:
        movie = read_movie(path)
        track = movie.tracks[info.stream_index]
        avcc = track.entry_boxes.get(b"avcC")
        if track.sample_entry not in (b"avc1", b"avc3") or avcc is None or b"colr" in track.entry_boxes:
            return None
        sps, pps = parameter_sets(avcc)
        if parse_sps(sps).num_reorder_frames is None:
            return None
        order = decode_order(track)  # (file offset, size) per sample, in decode order
    except (Doubt, OSError, IndexError, ValueError, struct.error):
        return None
    at = {where: i for i, where in enumerate(info.grid.packets) if where is not None}
    by_sample = [at.get(where) for where in order]  # grid index of each sample in decode order
    try:
        return _feed(path, info, plan, order, by_sample, START + sps + START + pps)
    except (Doubt, OSError):
        return None


def _feed(path: Path, info: VideoInfo, plan: Plan, order: list[tuple[int, int]], by_sample: list[int | None],
          header: bytes) -> Feed | None:
    position = {g: i for i, g in enumerate(by_sample) if g is not None}
    chunks, numbers, frames, emitted = [], [], [], 0
    with open(path, "rb") as f:
        for group in plan.groups:
            key = keyframe_before(info, group.frames[0])
            first, last = position.get(key), max((position.get(g, -1) for g in group.frames), default=-1)
            if first is None or last < first or any(g not in position for g in group.frames):
                return None
            if any(by_sample[i] is None for i in range(first, last + 1)):
                return None  # a sample an edit list hides: it would come out of the decoder too
            sent = []
            if sum(order[i][1] for i in range(first, last + 1)) + sum(map(len, chunks)) > MAX_FEED_BYTES:
                return None
            for i in range(first, last + 1):
                data = _read(f, order[i])
                refs = h264_reference(data)
                if i == first and IDR not in _nal_types(data):
                    return None
                if i == first or refs is not False or by_sample[i] in group.frames:
                    sent.append(by_sample[i])
                    chunks.append((header if i == first else b"") + _annexb(data))
            pts = sorted(info.grid.pts[g] for g in sent)  # type: ignore[index]
            for g in group.frames:
                numbers.append(emitted + bisect.bisect_left(pts, info.grid.pts[g]))
                frames.append(g)
            emitted += len(sent)
    return Feed(b"".join(chunks), tuple(numbers), tuple(frames), emitted)


def _read(f: BinaryIO, where: tuple[int, int]) -> bytes:
    f.seek(where[0])
    data = f.read(where[1])
    if len(data) != where[1]:
        raise Doubt("a packet past the end of the file")
    return data


def _units(packet: bytes) -> list[bytes]:
    units, pos = [], 0
    while pos + 4 <= len(packet):
        size = int.from_bytes(packet[pos : pos + 4], "big")
        units.append(packet[pos + 4 : pos + 4 + size])
        pos += 4 + size
    if pos != len(packet):
        raise Doubt("a packet that is not a chain of 4-byte-length NAL units")
    return units


def _nal_types(packet: bytes) -> set[int]:
    return {unit[0] & 0x1F for unit in _units(packet) if unit}


def _annexb(packet: bytes) -> bytes:
    return b"".join(START + unit for unit in _units(packet))
