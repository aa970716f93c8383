"""`probe: index`: the VideoInfo ffprobe would give, read in process from an MP4/MOV file's own sample tables.

An MP4's moov box lists every sample's decode time (stts), composition offset (ctts), keyframe flag
(stss), size and position (stsz, stco, stsc), and the edit list (elst) that places them on the timeline:
the exact frame grid, without a child process; of the media data only the NAL unit headers up to each
packet's first slice are read (ffprobe's keyframe flags are FFmpeg's h264 parser's, see
_parser_keyframe). The rules
below are those of FFmpeg 5.1's mov demuxer and ffprobe (mov_build_index, mov_fix_index, mov_read_packet,
compute_frame_duration, update_stream_timings), ported for the shapes encoders write, so both readings give
the same record, field for field (tests/extract/test_probe_index.py holds them to it).

Any file outside those shapes (another container, a fragmented MP4, several edits, HEVC, a colr box, a
table that disagrees with itself, samples past the end of the file) is handed to ffprobe: a fallback is
always right, a wrong grid never is. `read_index` says why it doubts, for tests and for the curious.
"""

from __future__ import annotations

import asyncio
import math
import struct
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from dfdx.children import Children
from dfdx.extract.h264 import (
    Pps,
    Sps,
    first_sps,
    parameter_sets,
    parse_pps,
    parse_sps,
    sei_has_recovery_point,
    slice_start,
)
from dfdx.extract.mp4 import Doubt, Movie, Track, read_movie
from dfdx.extract.probe import FrameGrid, VideoInfo, probe

IDENTITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
INT_MAX = 2**31 - 1
H264 = {b"avc1": "h264", b"avc3": "h264"}
COLOR_SPACES = {1: "bt709", 3: "reserved", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
                9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc",
                13: "chroma-derived-c", 14: "ictcp"}  # fmt: skip
PIX_FMTS = {(1, 8): "yuv420p", (2, 8): "yuv422p", (3, 8): "yuv444p",
            (1, 10): "yuv420p10le", (2, 10): "yuv422p10le", (3, 10): "yuv444p10le"}  # fmt: skip
TRACK_ONLY = {b"tkhd", b"mdhd", b"hdlr", b"stsd", b"stts", b"ctts", b"stss", b"stsz", b"stco", b"co64", b"stsc",
              b"elst", b"edts", b"mdia", b"minf", b"stbl", b"dinf", b"dref", b"vmhd", b"smhd", b"udta",
              b"free", b"sdtp", b"sgpd", b"sbgp", b"tref"}  # fmt: skip
Sample = tuple[int, int, bool, int, int]  # (dts, composition offset, keyframe, file offset, size)
Frame = tuple[int, int, bool, bool, int, int]  # (pts, packet duration, keyframe, discarded, file offset, size)
VIDEO_REFUSED = {b"stps", b"sgpd", b"sbgp", b"tref"}  # partial sync, open-GOP sync groups, references


async def probe_index(path: Path, children: Children, timeout_s: float) -> VideoInfo:
    """The in-process reading when it is sure, else ffprobe's (`probe`)."""
    try:
        return await asyncio.to_thread(read_index, path)
    except Doubt:
        return await probe(path, children, timeout_s)


def read_index(path: Path) -> VideoInfo:
    """VideoInfo from the sample tables; raises Doubt when ffprobe must decide (OSError counts too)."""
    try:
        return video_info(read_movie(path), path)
    except OSError as exc:
        raise Doubt(f"cannot read: {exc.strerror}") from None
    except (IndexError, ValueError, KeyError, ZeroDivisionError, struct.error) as exc:
        raise Doubt(f"malformed tables: {exc}") from None


def video_info(movie: Movie, path: Path) -> VideoInfo:
    if movie.has_cover or movie.timescale <= 0 or movie.matrix != IDENTITY:
        raise Doubt("a cover picture, no movie timescale, or a movie matrix")
    videos = [i for i, t in enumerate(movie.tracks) if t.handler == b"vide"]
    if not videos:
        raise Doubt("no video track")
    index = videos[0]
    start_us, tables = [], {}
    for i, track in enumerate(movie.tracks):
        if track.handler not in (b"vide", b"soun") or not track.seen <= TRACK_ONLY:
            raise Doubt(f"track {i}: handler {track.handler!r} or boxes {sorted(track.seen - TRACK_ONLY)}")
        if track.sizes or track.chunks:
            tables[i] = _samples(track)
            _check_extents(tables[i], movie.file_size)
        if i != index:
            start_us.append(_start_us(_empty_edits(track, movie.timescale), track.timescale, track))
    v = movie.tracks[index]
    codec = H264.get(v.sample_entry)
    if codec is None or b"avcC" not in v.entry_boxes:
        raise Doubt(f"video {v.sample_entry!r}: only H.264 is read here")
    if v.seen & VIDEO_REFUSED:
        raise Doubt(f"video boxes {sorted(v.seen & VIDEO_REFUSED)}")
    sps_nal, pps_nal = parameter_sets(v.entry_boxes[b"avcC"])
    sps, pps = parse_sps(sps_nal), parse_pps(pps_nal)
    if pps.sps_id != sps.sps_id:
        raise Doubt("the PPS names another SPS")
    if sps.pic_struct_present or sps.timing is None:
        raise Doubt("pic_struct timing, or no timing: ffmpeg's parser then times frames its own way")
    color_range, matrix = _colours(sps, v.entry_boxes.get(b"colr"))
    pix_fmt = PIX_FMTS.get((sps.chroma_format_idc, sps.bit_depth))
    if pix_fmt is None or matrix in (0, 8):
        raise Doubt("a pixel format or matrix (RGB, YCgCo) this reader does not model")
    if color_range == "pc" and sps.bit_depth == 8:  # FFmpeg's h264 decoder: full-range 8-bit → the J formats
        pix_fmt = "yuvj" + pix_fmt[3:]
    if (sps.width, sps.height) != (v.entry_width, v.entry_height):
        raise Doubt("the sample entry and the SPS disagree on the size")
    rotation = _rotation(v.matrix)
    width, height = (sps.height, sps.width) if rotation % 180 == 90 else (sps.width, sps.height)

    tb = Fraction(1, v.timescale)
    if index not in tables:
        raise Doubt("a video track without samples")
    empty, st_duration, samples = _index(v, movie.timescale, tables[index])
    start_us.append(_start_us(empty, v.timescale, v))
    shown = [s for s in samples if not s[3]]
    if not shown:
        raise Doubt("no displayed frame")
    pts_sorted = sorted({s[0] for s in shown})
    if len(pts_sorted) != len(shown):
        raise Doubt("two frames at one time")
    with open(path, "rb", buffering=0) as f:
        keys = {s[0] for s in shown if _parser_keyframe(f, s[4], s[5], sps, pps)}
    if not keys:
        raise Doubt("no keyframe")
    last = next(s for s in shown if s[0] == pts_sorted[-1])
    last_duration = last[1] or (pts_sorted[-1] - pts_sorted[-2] if len(pts_sorted) > 1 else None)
    fps = _avg_frame_rate(v)
    if last_duration is None or fps is None:
        raise Doubt("a one-frame stream without a duration, or no frame rate")
    grid = FrameGrid(
        pts=tuple(pts_sorted),
        keyframes=tuple(i for i, p in enumerate(pts_sorted) if p in keys),
        last_duration=last_duration,
        packets=tuple((s[4], s[5]) for s in sorted(shown)),
    )
    return VideoInfo(
        stream_index=index, codec=codec, width=width, height=height, rotation=rotation, pix_fmt=pix_fmt,
        color_space=COLOR_SPACES.get(matrix) if matrix is not None else None, color_range=color_range,
        fps=fps, time_base=tb, container_start_s=Fraction(f"{min(start_us) * (1 / 1_000_000):f}"),
        header_duration_s=float(f"{st_duration * (1 / v.timescale):f}"), grid=grid,
    )  # fmt: skip


def _colours(sps: Sps, colr: bytes | None) -> tuple[str | None, int | None]:
    """(range, matrix): the decoder starts from the container's colr box and lets the SPS's VUI override it."""
    color_range, matrix = None, None
    if colr is not None and colr[:4] in (b"nclx", b"nclc"):
        if len(colr) < 10 + (colr[:4] == b"nclx"):
            raise Doubt("a colr box cut short")
        matrix = int.from_bytes(colr[8:10], "big")
        if colr[:4] == b"nclx":
            color_range = "pc" if colr[10] >> 7 else "tv"
    if sps.full_range is not None:
        color_range = "pc" if sps.full_range else "tv"
    if sps.matrix is not None:
        matrix = sps.matrix
    return color_range, matrix


def _parser_keyframe(f: BinaryIO, pos: int, size: int, sps: Sps, pps: Pps) -> bool:
    """The keyframe flag ffprobe prints for an H.264 packet in MP4: not stss's, but what FFmpeg's h264
    parser says, from the NAL units up to the packet's first slice: an IDR slice, a recovery point SEI
    before it, or an I slice when the stream uses one reference frame at most. Reads those NAL units only."""
    recovery, at = False, 0
    while at + 5 <= size:
        f.seek(pos + at)
        head = f.read(52)  # the NAL unit's length, and a slice header's first fields if it is a slice
        length = int.from_bytes(head[:4], "big")
        if len(head) < 5 or length == 0 or at + 4 + length > size:
            raise Doubt("a packet FFmpeg's parser would not split")
        kind = head[4] & 0x1F
        if kind in (1, 5):  # the parser sets the flag for these two before it looks at the slice's PPS
            if kind == 5 or recovery:
                return True
            if sps.max_ref_frames > 1 or pps.ref_l0 > 1:
                return False
            slice_type, pps_id = slice_start(head[4 : 4 + length])
            if pps_id != pps.pps_id:
                raise Doubt("a slice names another PPS")
            return slice_type % 5 == 2  # "heuristic to detect non marked keyframes"
        if kind == 6:
            recovery = sei_has_recovery_point(_nal(f, pos + at + 4, length)) or recovery
        elif kind in (7, 8, 13, 15):
            raise Doubt("parameter sets inside the stream")
        at += 4 + length
    raise Doubt("a packet without a slice")


def _nal(f: BinaryIO, at: int, length: int, limit: int = 1 << 20) -> bytes:
    f.seek(at)
    data = f.read(min(length, limit))
    if len(data) < min(length, limit):
        raise Doubt("a NAL unit past the end of the file")
    return data


def _samples(t: Track) -> list[Sample]:
    """mov_build_index: (dts, composition offset, keyframe, file offset, size) per sample, in decode order."""
    n = len(t.sizes)
    if not n or sum(c for c, _ in t.stts) != n or any(d >= INT_MAX or c == 0 for c, d in t.stts):
        raise Doubt("stts and stsz disagree, or odd deltas")
    if t.ctts is not None and (sum(c for c, _ in t.ctts) != n or any(c <= 0 or abs(o) >= 1 << 28 for c, o in t.ctts)):
        raise Doubt("ctts and stsz disagree, or an offset FFmpeg calls invalid")
    deltas = [d for c, d in t.stts for _ in range(c)]
    offsets = [o for c, o in t.ctts for _ in range(c)] if t.ctts else [0] * n
    if t.stss is None:
        keys = [True] * n
    elif not t.stss:
        keys = [i == 0 for i in range(n)]
    else:
        if t.stss != sorted(set(t.stss)) or t.stss[0] < 1 or t.stss[-1] > n:
            raise Doubt("stss out of order")
        wanted = set(t.stss)
        keys = [i + 1 in wanted for i in range(n)]
    if not t.stsc or t.stsc[0][0] != 1 or any(r[2] != 1 or r[1] < 1 for r in t.stsc) or \
            any(a[0] >= b[0] for a, b in zip(t.stsc, t.stsc[1:], strict=False)) or t.stsc[-1][0] > len(t.chunks):
        raise Doubt("stsc is not plain")  # fmt: skip
    where, sample, row = [], 0, 0
    for chunk, offset in enumerate(t.chunks, start=1):
        while row + 1 < len(t.stsc) and t.stsc[row + 1][0] == chunk:
            row += 1
        for _ in range(t.stsc[row][1]):
            if sample >= n:
                raise Doubt("stsc lists more samples than stsz")
            where.append((offset, t.sizes[sample]))
            offset += t.sizes[sample]
            sample += 1
    if sample != n:
        raise Doubt("stsc lists fewer samples than stsz")
    shift = max([0, *(-o for _, o in (t.ctts or [])[:-2])])  # mov_read_ctts ignores the last two entries
    dts, out = -shift, []
    for i in range(n):
        out.append((dts, offsets[i], keys[i], *where[i]))
        dts += deltas[i]
    return out


def decode_order(t: Track) -> list[tuple[int, int]]:
    """(file offset, size) of every sample, in decode order (for dfdx.extract.decoders.annexb)."""
    return [(pos, size) for _, _, _, pos, size in _samples(t)]


def _check_extents(samples: list[Sample], file_size: int) -> None:
    """Every sample inside the file: a sample past the end is ffprobe's "partial file", its verdict to give."""
    if max(pos + size for _, _, _, pos, size in samples) > file_size:
        raise Doubt("a sample lies past the end of the file")


def _edits(t: Track, movie_timescale: int) -> tuple[int, list[tuple[int, int]]]:
    """(empty-edit duration, non-empty edits as (media time, duration)) in the track's timescale."""
    empty, edits = 0, []
    for duration, media_time, rate in t.elst or []:
        scaled = _rescale(duration, t.timescale, movie_timescale)
        if media_time == -1 and not edits:
            empty += scaled
        elif media_time >= 0 and rate == 0x10000:
            edits.append((media_time, scaled))
        else:
            raise Doubt("an edit list this reader does not model")
    return empty, edits


def _empty_edits(t: Track, movie_timescale: int) -> int | None:
    if not t.elst or not t.sizes:
        raise Doubt("a track without an edit list or samples")  # ffmpeg then times it from its packets
    return _edits(t, movie_timescale)[0]


def _start_us(start: int | None, timescale: int, t: Track) -> int:
    if start is None or timescale <= 0:
        raise Doubt("a track with no start")
    return _rescale(start, 1_000_000, timescale)


def _rescale(a: int, b: int, c: int) -> int:
    """av_rescale (round to nearest, halves away from zero): a × b / c."""
    q = (abs(a) * b + c // 2) // c
    return q if a >= 0 else -q


def _index(t: Track, movie_timescale: int, samples: list[Sample]) -> tuple[int | None, int, list[Frame]]:
    """mov_fix_index for empty edits then one edit: (start time, stream duration, frames as
    (pts, packet duration, keyframe, discarded, file offset, size))."""
    shift = -samples[0][0]
    total = sum(c * d for c, d in t.stts)
    st_duration = min(t.duration, total) if total else t.duration
    if t.elst is None:  # no edit list: decode times as stored, the start is the first sample's pts
        frames = [(d + shift + o, d, k, False, p, s) for d, o, k, p, s in samples]
        start = frames[0][0]
        return start, st_duration, _durations(frames, samples, st_duration, t)
    empty, edits = _edits(t, movie_timescale)
    if len(edits) != 1:
        raise Doubt(f"{len(edits)} non-empty edits")
    media_time, duration = edits[0]
    end = media_time + duration
    cts = [d + shift + o for d, o, _, _, _ in samples]
    # find_prev_closest_index: the last keyframe whose pts <= media time (searched from the last sample
    # with dts <= media time - shift, going back), else the first sample.
    target = media_time - shift
    first = max((i for i, s in enumerate(samples) if s[0] <= target), default=-1)
    while first >= 0 and not (samples[first][0] + samples[first][1] <= target and samples[first][2]):
        first -= 1
    if first < 0 or (t.ctts is None and not samples[first][2]):
        raise Doubt("no keyframe before the edit's start")
    frames, counter, started, min_pts, pending = [], empty - shift, False, None, []
    found_key_after = False
    for i in range(first, len(samples)):
        d, o, key, pos, size = samples[i]
        frame_duration = samples[i + 1][0] - d if i + 1 < len(samples) else duration
        outside = cts[i] < media_time or cts[i] >= end
        if not outside:
            min_pts = counter + o + shift if min_pts is None else min(min_pts, counter + o + shift)
            if not started:
                started = True
                for j in range(len(pending)):  # fix_index_entry_timestamps: back from the first kept frame
                    frames[j][0] = counter - sum(pending[j:])
        elif not started:
            pending.append(frame_duration)
        frames.append([counter, o, key, outside, pos, size])
        if started:
            counter += frame_duration
        if cts[i] + frame_duration >= end and key:
            if t.ctts is not None and not found_key_after:
                found_key_after = True
                continue
            break
    if min_pts is None:
        raise Doubt("the edit shows no frame")
    min_pts -= empty
    offset = min_pts if min_pts > 0 else 0
    st_duration = min(st_duration, duration + empty)
    index = [(dts - offset, o, k, disc, p, s) for dts, o, k, disc, p, s in frames]
    shown = [(dts + shift + o, dts, k, disc, p, s) for dts, o, k, disc, p, s in index]
    return empty, st_duration, _durations(shown, index, st_duration, t)


def _durations(frames: list, index: list, st_duration: int, t: Track) -> list[tuple[int, int, bool, bool, int, int]]:
    """Packet durations as ffprobe prints them: the next decode time (or the stream's duration) without
    ctts; with ctts, compute_frame_duration from the SPS frame rate (the h264 parser's)."""
    out = []
    for i, (pts, dts, key, discarded, pos, size) in enumerate(frames):
        if t.ctts is None:
            nxt = index[i + 1][0] if i + 1 < len(index) else st_duration
            dur = nxt - dts if nxt >= dts else 0
        else:
            dur = 0
        out.append((pts, dur, key, discarded, pos, size))
    if t.ctts is not None or any(f[1] <= 0 for f in out):
        frame = _codec_frame_duration(t)
        out = [(p, d if d > 0 else frame, k, x, o, s) for p, d, k, x, o, s in out]
    return out


def _codec_frame_duration(t: Track) -> int:
    """compute_frame_duration for H.264 with its parser: from the time base when it is coarser than 1 ms,
    else from the SPS timing (framerate = time_scale / (2 × num_units_in_tick), one frame per packet)."""
    if t.timescale < 1000:
        return 1
    sps = parse_sps(first_sps(t.entry_boxes[b"avcC"]))
    assert sps.timing is not None
    units, scale = sps.timing
    rate = Fraction(scale, units * 2)
    if rate.numerator >= 1 << 30 or rate.denominator >= 1 << 30 or not rate.denominator * 1000 > rate.numerator:
        raise Doubt("an SPS frame rate ffmpeg would round")
    return math.floor(Fraction(rate.denominator * t.timescale, rate.numerator))


def _avg_frame_rate(t: Track) -> Fraction | None:
    total = sum(c * d for c, d in t.stts)
    count = sum(c for c, _ in t.stts)
    if total <= 0:
        return None
    rate = Fraction(t.timescale * count, total)
    if rate.numerator > INT_MAX or rate.denominator > INT_MAX:
        raise Doubt("a frame rate av_reduce would approximate")
    return rate


def _rotation(matrix: tuple[int, ...]) -> int:
    """ffprobe's side data: av_display_rotation_get, printed as an integer (truncated), read back mod 360."""
    a, b, _, c, d, _, _, _, w = matrix
    if w != 0x40000000 or {abs(a), abs(b), abs(c), abs(d)} - {0, 0x10000} or (a * d - b * c) != 0x10000 * 0x10000:
        raise Doubt("a display matrix that is not a plain rotation")
    if matrix == IDENTITY:
        return 0
    scale0, scale1 = math.hypot(a / 65536, c / 65536), math.hypot(b / 65536, d / 65536)
    return round(int(-(math.atan2(b / 65536 / scale1, a / 65536 / scale0) * 180 / math.pi))) % 360
