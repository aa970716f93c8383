"""Reference frames read from NAL headers, and the skip they allow: same bytes, less decoding."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from fractions import Fraction

import numpy as np

from dfdx.children import Children
from dfdx.extract.decoders.ffmpeg import _decode, _decode_group, decode_frames
from dfdx.extract.decoders.nal import h264_reference, reference_frames
from dfdx.extract.plan import Plan, SeekGroup, Target, make_plan
from dfdx.extract.probe import VideoInfo, probe
from dfdx.samples import read_index_luma


def avcc(*nals: bytes) -> bytes:
    return b"".join(len(n).to_bytes(4, "big") + n for n in nals)


def test_parse_length_prefixed_and_start_coded_packets():
    sei, idr, ref_p, nonref_b = b"\x06\x05\x10" + b"x" * 40, b"\x65\x88\x80", b"\x41\x9a\x00", b"\x01\x9e\x00"
    assert h264_reference(avcc(sei, idr)) is True
    assert h264_reference(avcc(ref_p)) is True
    assert h264_reference(avcc(b"\x09\x10", nonref_b)) is False  # an access unit delimiter first
    assert h264_reference(b"\x00\x00\x00\x01\x09\x10\x00\x00\x01" + nonref_b) is False
    assert h264_reference(b"\x00\x00\x01" + ref_p) is True
    assert h264_reference(b"garbage without any structure") is None
    assert h264_reference(avcc(sei)) is None  # no slice: unknown, so never skipped


def test_x264_frames_and_the_skip_gives_the_same_bytes(video_cache):
    path = video_cache("nal.mp4", frames=60, size=(160, 96), gop=30)

    async def run() -> None:
        children = Children(2)
        info = await probe(path, children, 30)
        refs = reference_frames(path, info, tuple(range(len(info.grid))))
        assert 0 < len(refs) < 60  # x264 makes non-reference B-frames
        assert {0, 30} <= refs  # keyframes are references
        ref, nonref = max(f for f in refs if f < 30), max(f for f in range(1, 30) if f not in refs)
        for frame in (ref, nonref):
            group = SeekGroup(seek_s=0.0, frames=(frame,))
            full = await _decode(path, info, group, children, 30, 1, False)
            skipped = await _decode(path, info, replace(group, skip_nonref=True), children, 30, 1, False)
            if frame == ref:
                assert skipped == full and read_index_luma(_luma(full[0], info)) == frame
            else:
                assert skipped == []  # the decoder dropped the target itself: why such groups are not skipped
        # decode_frames picks the skip only where it is safe, and always returns the right frames.
        plan = make_plan(info, (Fraction(ref, 60), Fraction(nonref, 60) + Fraction(1, 1000)))
        assert [t.frame for t in plan.targets] == [ref, nonref]
        got = await decode_frames(path, info, plan, children, 30, 1, False)
        assert {f: read_index_luma(_luma(raw, info)) for f, raw in got.items()} == {ref: ref, nonref: nonref}
        # Even a wrong belief (a non-reference target marked skippable) ends with the right frame.
        wrong = Plan(targets=(Target(1, Fraction(1, 2), Fraction(0), nonref),),
                     groups=(SeekGroup(0.0, (nonref,), skip_nonref=True),))  # fmt: skip
        (raw,) = await _decode_group(path, info, wrong.groups[0], children, 30, 1, False)
        assert read_index_luma(_luma(raw, info)) == nonref

    asyncio.run(run())


def _luma(raw: bytes, info: VideoInfo) -> np.ndarray:
    return np.frombuffer(raw[: info.width * info.height], np.uint8).reshape(info.height, info.width)
