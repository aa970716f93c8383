"""The MP4/MOV box reader behind `probe: index`: a file's boxes → the sample tables of each track (and
the boxes inside a video track's sample entry: avcC, colr; dfdx.extract.h264 reads the avcC). Pure
reading, no interpretation.

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
