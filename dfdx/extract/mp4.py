"""The MP4/MOV box reader behind `probe: index`: a file's boxes → the sample tables of each track, and
the H.264 sequence parameter set of a video track. Pure reading, no interpretation.

Anything this reader does not expect (a box cut short, a fragmented file, a table whose counts
disagree) raises `Doubt`: the caller then asks ffprobe, which is always right. It never guesses.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

TOP_LEVEL = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide"}  # anything else (moof, sidx...): doubt
CONTAINERS = {b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}
MAX_MOOV_BYTES = 256 << 20


class Doubt(Exception):
    """The file is not one this reader models exactly; the message says why (for tests and logs)."""


@dataclass(slots=True)
class Track:
    handler: bytes = b""
    matrix: tuple[int, ...] = ()
    timescale: int = 0
    duration: int = 0
    sample_entry: bytes = b""  # the fourcc of the one stsd entry
    entry_width: int = 0
    entry_height: int = 0
    entry_boxes: dict[bytes, bytes] = field(default_factory=dict)  # avcC, colr, pasp... inside the entry
    stts: list[tuple[int, int]] = field(default_factory=list)  # (count, delta)
    ctts: list[tuple[int, int]] | None = None  # (count, offset), offsets signed
    stss: list[int] | None = None  # 1-based sample numbers
    sizes: list[int] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)  # chunk offsets
    stsc: list[tuple[int, int, int]] = field(default_factory=list)  # (first chunk, samples per chunk, entry)
    elst: list[tuple[int, int, int]] | None = None  # (segment duration, media time, rate × 65536)
    seen: set[bytes] = field(default_factory=set)  # every box type met inside the track


@dataclass(slots=True)
class Movie:
    timescale: int
    matrix: tuple[int, ...]
    tracks: list[Track]
    file_size: int
    has_cover: bool  # a covr item: ffmpeg makes a stream of it


def read_movie(path: Path) -> Movie:
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        moov = None
        pos, first = 0, True
        while pos < size:
            f.seek(pos)
            kind, start, end = _header(f.read(16), pos, size)
            if first and kind != b"ftyp":
                raise Doubt("does not start with an ftyp box")
            first = False
            if kind not in TOP_LEVEL:
                raise Doubt(f"top-level box {kind!r}")
            if kind == b"moov":
                if moov is not None or end - start > MAX_MOOV_BYTES:
                    raise Doubt("two moov boxes, or a huge one")
                f.seek(start)
                moov = f.read(end - start)
            pos = end
    if moov is None:
        raise Doubt("no moov box")
    return _movie(moov, size)


def _header(data: bytes, pos: int, limit: int) -> tuple[bytes, int, int]:
    """(type, payload start, end) of the box at pos; Doubt if it does not fit inside limit."""
    if len(data) < 8:
        raise Doubt("a box header is cut short")
    size, kind = struct.unpack(">I4s", data[:8])
    head = 8
    if size == 1:
        if len(data) < 16:
            raise Doubt("a box header is cut short")
        size, head = struct.unpack(">Q", data[8:16])[0], 16
    elif size == 0:
        size = limit - pos
    if size < head or pos + size > limit:
        raise Doubt(f"box {kind!r} runs past its parent (a truncated file?)")
    return kind, pos + head, pos + size


def _children(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    end = len(data) if end is None else end
    out, pos = [], start
    while pos < end:
        kind, s, e = _header(data[pos : pos + 16], pos, end)
        out.append((kind, s, e))
        pos = e
    return out


def _movie(moov: bytes, file_size: int) -> Movie:
    timescale, matrix, tracks, cover = 0, (), [], False
    for kind, s, e in _children(moov):
        if kind == b"mvhd":
            version = moov[s]
            at = s + (20 if version == 1 else 12)
            timescale = _u32(moov, at)
            matrix = struct.unpack_from(">9i", moov, at + (12 if version == 1 else 8) + 4 + 2 + 10)
        elif kind == b"trak":
            tracks.append(_track(moov, s, e))
        elif kind in (b"udta", b"meta"):
            cover = cover or b"covr" in moov[s:e]
        elif kind != b"iods":
            raise Doubt(f"moov holds {kind!r}")  # mvex: fragmented
    return Movie(timescale, matrix, tracks, file_size, cover)


def _track(data: bytes, start: int, end: int) -> Track:
    t = Track()
    stack = [(start, end)]
    while stack:
        s0, e0 = stack.pop()
        for kind, s, e in _children(data, s0, e0):
            if kind in t.seen and kind not in (b"udta", b"free", b"hdlr"):
                raise Doubt(f"two {kind!r} boxes in one track")
            t.seen.add(kind)
            if kind in CONTAINERS:
                stack.append((s, e))
            else:
                _leaf(t, kind, data, s, e)
    return t


def _leaf(t: Track, kind: bytes, d: bytes, s: int, e: int) -> None:
    version = d[s] if e > s else 0
    body = s + 4
    if kind == b"tkhd":
        at = body + (32 if version == 1 else 20) + 16
        t.matrix = struct.unpack_from(">9i", d, at)
    elif kind == b"mdhd":
        if version > 1:
            raise Doubt("an mdhd version FFmpeg refuses")
        if version == 1:
            t.timescale, t.duration = struct.unpack_from(">IQ", d, body + 16)
        else:
            t.timescale, t.duration = struct.unpack_from(">II", d, body + 8)
    elif kind == b"hdlr" and d[body : body + 4] != b"dhlr":  # QuickTime's data handler sits in minf
        if t.handler:
            raise Doubt("two media handlers in one track")
        t.handler = d[body + 4 : body + 8]
    elif kind == b"stsd":
        if _u32(d, body) != 1:
            raise Doubt("not exactly one sample description")
        kind2, s2, e2 = _header(d[body + 4 : body + 20], body + 4, e)
        t.sample_entry = kind2
        if t.handler == b"vide":  # VisualSampleEntry: 6+2 reserved/index, 16 pre-defined, then the size
            t.entry_width, t.entry_height = struct.unpack_from(">HH", d, s2 + 24)
            for kind3, s3, e3 in _children(d, s2 + 78, e2):
                t.entry_boxes[kind3] = d[s3:e3]
    elif kind == b"stts":
        t.stts = _pairs(d, body, e, signed=False)
    elif kind == b"ctts":
        t.ctts = _pairs(d, body, e, signed=True)
    elif kind == b"stss":
        t.stss = list(_table(d, body, e, ">I"))
    elif kind == b"stsz":
        fixed, count = struct.unpack_from(">II", d, body)
        t.sizes = [fixed] * count if fixed else list(_table(d, body + 4, e, ">I"))
    elif kind in (b"stco", b"co64"):
        t.chunks = list(_table(d, body, e, ">I" if kind == b"stco" else ">Q"))
    elif kind == b"stsc":
        t.stsc = [tuple(row) for row in _table(d, body, e, ">III")]  # type: ignore[misc]
    elif kind == b"elst":
        fmt = ">QqI" if version == 1 else ">IiI"
        t.elst = [tuple(row) for row in _table(d, body, e, fmt)]  # type: ignore[misc]
    elif kind == b"dref":
        for _, s2, _ in _children(d, body + 4, e):
            if d[s2 + 3] & 1 == 0:
                raise Doubt("media data in another file")


def _table(d: bytes, body: int, end: int, fmt: str) -> list:
    """A full box's table: a 32-bit entry count, then exactly that many entries of `fmt`."""
    count = _u32(d, body)
    row = struct.calcsize(fmt)
    if body + 4 + count * row > end:
        raise Doubt("a table runs past its box")
    if fmt in (">I", ">Q"):
        return list(struct.unpack_from(f">{count}{fmt[1]}", d, body + 4))
    return list(struct.iter_unpack(fmt, d[body + 4 : body + 4 + count * row]))


def _pairs(d: bytes, body: int, end: int, signed: bool) -> list[tuple[int, int]]:
    return [(c, v) for c, v in _table(d, body, end, ">Ii" if signed else ">II")]


def _u32(d: bytes, at: int) -> int:
    return int(struct.unpack_from(">I", d, at)[0])


# --- H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1 and E.1.1) --------------------------------------------

HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


@dataclass(frozen=True, slots=True)
class Sps:
    chroma_format_idc: int
    bit_depth: int
    width: int  # cropped, as decoded
    height: int
    full_range: bool | None  # None: no video_signal_type in the VUI
    matrix: int | None  # matrix_coefficients; None: no colour description
    timing: tuple[int, int] | None  # (num_units_in_tick, time_scale)
    pic_struct_present: bool
    num_reorder_frames: int | None = None  # bitstream_restriction: frames the decoder holds back at most
    max_ref_frames: int = 0
    sps_id: int = 0


@dataclass(frozen=True, slots=True)
class Pps:
    pps_id: int
    sps_id: int
    ref_l0: int  # num_ref_idx_l0_default_active


def parse_pps(nal: bytes) -> Pps:
    """The start of a picture parameter set: what FFmpeg's h264 parser reads to mark keyframes."""
    b = _Bits(nal)
    if b.u(8) & 0x1F != 8:
        raise Doubt("not a picture parameter set")
    pps_id, sps_id = b.ue(), b.ue()
    b.u(2)  # entropy_coding_mode, bottom_field_pic_order_in_frame_present
    if b.ue() != 0:
        raise Doubt("slice groups (FMO)")
    ref_l0 = b.ue() + 1
    if pps_id >= 256 or sps_id >= 32 or ref_l0 > 32 or b.ue() + 1 > 32:
        raise Doubt("a picture parameter set out of range")
    return Pps(pps_id, sps_id, ref_l0)


def slice_start(nal: bytes) -> tuple[int, int]:
    """(slice_type, pic_parameter_set_id) of a coded slice NAL unit."""
    b = _Bits(nal)
    b.u(8)
    b.ue()  # first_mb_in_slice
    return b.ue(), b.ue()


def sei_has_recovery_point(nal: bytes) -> bool:
    """Whether a SEI NAL unit carries a recovery point (payload type 6): FFmpeg's h264 parser then marks
    the packet a keyframe. A message list that does not parse cleanly is a doubt."""
    rbsp = _Bits.rbsp(nal)
    at, found = 1, False
    while at < len(rbsp) - 1 or (at == len(rbsp) - 1 and rbsp[at] != 0x80):
        kind = size = 0
        for value in ("kind", "size"):
            total = 0
            while at < len(rbsp) and rbsp[at] == 0xFF:
                total, at = total + 255, at + 1
            if at >= len(rbsp):
                raise Doubt("a cut SEI message")
            total, at = total + rbsp[at], at + 1
            kind, size = (total, size) if value == "kind" else (kind, total)
        if at + size > len(rbsp):
            raise Doubt("a SEI message past its NAL unit")
        if kind == 6:
            if _Bits(b"\x00" + rbsp[at : at + size]).skip(8).ue() > 256:
                raise Doubt("a recovery point FFmpeg refuses")
            found = True
        elif kind == 5 and rbsp[at + 16 : at + 28] == b"x264 - core ":
            build = rbsp[at + 28 : at + 36].split(b" ")[0]
            if not build.isdigit() or int(build) < 44:  # FFmpeg then doubles the SPS frame rate's time scale
                raise Doubt("an x264 build older than 44")
        at += size
    return found


def parameter_sets(avcc: bytes) -> tuple[bytes, bytes]:
    """The one SPS and the one PPS of an avcC whose NAL units carry 4-byte lengths (what FFmpeg's h264
    parser then reads the packets with); anything else is a doubt."""
    if len(avcc) < 7 or avcc[0] != 1 or avcc[4] & 3 != 3 or avcc[5] & 0x1F != 1:
        raise Doubt("an avcC with other NAL lengths, or not exactly one SPS")
    sps_size = int.from_bytes(avcc[6:8], "big")
    at = 8 + sps_size
    if at + 3 > len(avcc) or avcc[at] != 1:
        raise Doubt("an avcC without exactly one PPS")
    pps_size = int.from_bytes(avcc[at + 1 : at + 3], "big")
    if at + 3 + pps_size > len(avcc):
        raise Doubt("a cut parameter set")
    return avcc[8:at], avcc[at + 3 : at + 3 + pps_size]


def first_sps(avcc: bytes) -> bytes:
    return parameter_sets(avcc)[0]


class _Bits:
    def __init__(self, nal: bytes) -> None:
        rbsp = self.rbsp(nal)
        self.value, self.left = int.from_bytes(rbsp, "big"), len(rbsp) * 8

    @staticmethod
    def rbsp(nal: bytes) -> bytes:
        return nal.replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention

    def skip(self, n: int) -> _Bits:
        self.u(n)
        return self

    def trailing(self) -> bool:
        """Only rbsp_trailing_bits left: a one, then zeros to the byte's end."""
        return self.left >= 1 and self.value & ((1 << self.left) - 1) == 1 << (self.left - 1)

    def u(self, n: int) -> int:
        if n > self.left:
            raise Doubt("the sequence parameter set ends early")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        rest = self.value & ((1 << self.left) - 1)
        zeros = self.left - rest.bit_length()  # leading zero bits, then a one
        if not rest or zeros > 31:
            raise Doubt("a broken Exp-Golomb code")
        self.left -= zeros + 1
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def parse_sps(nal: bytes) -> Sps:
    b = _Bits(nal)
    if b.u(8) & 0x1F != 7:
        raise Doubt("not a sequence parameter set")
    profile = b.u(8)
    b.u(16)  # constraint flags, level
    sps_id = b.ue()
    chroma, depth = 1, 8
    if profile in HIGH_PROFILES:
        chroma = b.ue()
        if chroma == 3 and b.u(1):
            raise Doubt("separate colour planes")
        depth = b.ue() + 8
        if b.ue() + 8 != depth:
            raise Doubt("chroma and luma bit depths differ")
        b.u(1)  # qpprime_y_zero_transform_bypass
        if b.u(1):  # scaling matrices
            for i in range(8 if chroma != 3 else 12):
                if b.u(1):
                    last = nxt = 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt:
                            nxt = (last + b.se()) % 256
                        last = nxt or last
    if sps_id >= 32 or depth > 14 or chroma > 3 or b.ue() > 12:  # log2_max_frame_num_minus4
        raise Doubt("a sequence parameter set out of range")
    poc = b.ue()
    if poc > 2:
        raise Doubt("a picture order count type out of range")
    if poc == 0 and b.ue() > 12:
        raise Doubt("a picture order count length out of range")
    elif poc == 1:
        b.u(1), b.se(), b.se()
        for _ in range(b.ue()):
            b.se()
    max_ref_frames = b.ue()
    b.u(1)  # gaps_in_frame_num_allowed
    if max_ref_frames > 16:
        raise Doubt("too many reference frames")
    mbs_w, map_h = b.ue() + 1, b.ue() + 1
    if not b.u(1):
        raise Doubt("interlaced coding (fields)")
    b.u(1)  # direct_8x8_inference
    crop = [b.ue() for _ in range(4)] if b.u(1) else [0, 0, 0, 0]
    if crop[0] or crop[2]:
        raise Doubt("left or top cropping")  # ffmpeg may round those for alignment
    sub_w, sub_h = {1: (2, 2), 2: (2, 1), 3: (1, 1)}.get(chroma, (0, 0))
    if not sub_w:
        raise Doubt("monochrome video")
    width, height = 16 * mbs_w - sub_w * crop[1], 16 * map_h - sub_h * crop[3]
    full_range = matrix = timing = reorder = None
    pic_struct = False
    if b.u(1):  # vui_parameters_present_flag
        if b.u(1) and b.u(8) == 255:  # aspect_ratio_info, Extended_SAR
            b.u(32)
        if b.u(1):
            b.u(1)  # overscan
        if b.u(1):  # video_signal_type
            b.u(3)
            full_range = bool(b.u(1))
            if b.u(1):
                b.u(16)  # primaries, transfer
                matrix = b.u(8)
        if b.u(1):
            b.ue(), b.ue()  # chroma location
        if b.u(1):
            timing = (b.u(32), b.u(32))
            b.u(1)  # fixed_frame_rate
        hrd = [b.u(1) and _hrd(b) for _ in range(2)]
        if any(hrd):
            b.u(1)  # low_delay_hrd
        pic_struct = bool(b.u(1))
        if b.u(1):  # bitstream_restriction
            b.u(1), b.ue(), b.ue(), b.ue(), b.ue()  # mv over boundaries, bytes/bits denominators, mv lengths
            reorder = b.ue()
            b.ue()  # max_dec_frame_buffering
    if not b.trailing() or width > 16384 or height > 16384:
        raise Doubt("a sequence parameter set that does not end where it should")
    return Sps(chroma, depth, width, height, full_range, matrix, timing, pic_struct, reorder, max_ref_frames, sps_id)


def _hrd(b: _Bits) -> bool:
    count = b.ue() + 1
    b.u(8)  # bit_rate_scale, cpb_size_scale
    for _ in range(count):
        b.ue(), b.ue(), b.u(1)
    b.u(20)  # four 5-bit lengths
    return True
