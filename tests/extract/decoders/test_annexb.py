"""The ffmpeg decoder's one-child path (dfdx.extract.decoders.annexb): the same bytes as the per-group path.

Every frame it hands over must be byte-identical to what the ffmpeg decoder gave before it existed (one
child per seek group, `-ss` and a select by time): same decoder, same scale, only the frames no target
needs are left out of the stream."""

from __future__ import annotations

import asyncio
import dataclasses
from fractions import Fraction

import pytest

import dfdx.extract.decoders.ffmpeg as ffmpeg_decoder
from dfdx.children import Children
from dfdx.config import DEFAULT_POSITIONS
from dfdx.extract.decoders.annexb import build_feed
from dfdx.extract.decoders.nal import reference_frames
from dfdx.extract.plan import make_plan
from dfdx.extract.positions import evenly_spaced
from dfdx.extract.probe import probe
from tests.conftest import remux

KINDS = {
    "bframes_pyramid": dict(frames=90, gop=25, output_args=("-bf", "3", "-b-pyramid", "normal")),
    "no_bframes": dict(frames=40, gop=12, output_args=("-bf", "0")),
    "yuvj420p": dict(frames=40, pix_fmt="yuvj420p"),
    "10bit_444": dict(frames=40, gop=10, pix_fmt="yuv444p10le"),
    "audio_faststart": dict(frames=60, gop=20, audio_s=3.0, output_args=("-movflags", "+faststart")),
    "vfr": dict(frames=40, gop=9, pts_expr="if(lt(N,20),N*0.04,0.8+(N-20)*0.1)/TB"),
}
PLANS = {
    "thirds": DEFAULT_POSITIONS,
    "dense32": evenly_spaced(32),
    "ends": (Fraction(1, 1000), Fraction(999, 1000)),
}


def decode_both(path, positions):
    async def go():
        info = await probe(path, Children(2), 60)
        plan = make_plan(info, positions)
        feed = build_feed(path, info, plan)
        assert feed is not None, "the one-child path must serve this file"
        one = await ffmpeg_decoder._decode_feed(path, info, feed, Children(2), 60, 1)
        original = ffmpeg_decoder.build_feed
        ffmpeg_decoder.build_feed = lambda *_: None  # the per-group path, as before the feed existed
        try:
            per_group = await ffmpeg_decoder.decode_frames(path, info, plan, Children(2), 60, 1, False)
        finally:
            ffmpeg_decoder.build_feed = original
        return info, plan, feed, one, per_group

    return asyncio.run(go())


@pytest.mark.parametrize("plan_name", list(PLANS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_one_child_gives_the_per_group_bytes(video_cache, kind, plan_name):
    path = video_cache(f"annexb-{kind}.mp4", **KINDS[kind])
    _info, plan, feed, one, per_group = decode_both(path, PLANS[plan_name])
    assert len(one) == len(feed.frames) == len(plan.frames)
    assert dict(zip(feed.frames, one, strict=True)) == per_group


def test_non_reference_frames_that_no_target_needs_are_left_out(video_cache):
    path = video_cache("annexb-bframes_pyramid.mp4", **KINDS["bframes_pyramid"])
    info, plan, feed, _one, _per_group = decode_both(path, DEFAULT_POSITIONS)
    every = set(range(len(info.grid)))
    non_ref = every - reference_frames(path, info, tuple(sorted(every)))
    assert non_ref and set(plan.frames) & non_ref  # a non-reference target: the old path decoded its GOP whole
    # fewer frames come out of the decoder than lie between the first keyframe and the last target
    assert feed.numbers[-1] + 1 < plan.frames[-1] - info.grid.keyframes[0] + 1


def test_files_the_raw_stream_cannot_carry_keep_the_per_group_path(tmp_path, video_cache):
    src = video_cache("annexb-plain.mp4", frames=30)
    rotated = remux(src, tmp_path / "rot.mp4", "-metadata:s:v", "rotate=90")
    tagged = remux(src, tmp_path / "colr.mp4", "-color_range", "pc", "-movflags", "write_colr")

    async def feed_of(path):
        info = await probe(path, Children(1), 60)
        return build_feed(path, info, make_plan(info, DEFAULT_POSITIONS))

    assert asyncio.run(feed_of(src)) is not None
    assert asyncio.run(feed_of(rotated)) is None
    assert asyncio.run(feed_of(tagged)) is None


def test_a_stream_too_big_to_hold_keeps_the_per_group_path(video_cache, monkeypatch):
    import dfdx.extract.decoders.annexb as annexb

    path = video_cache("annexb-plain.mp4", frames=30)

    async def feed_of():
        info = await probe(path, Children(1), 60)
        return build_feed(path, info, make_plan(info, DEFAULT_POSITIONS))

    assert asyncio.run(feed_of()) is not None
    monkeypatch.setattr(annexb, "MAX_FEED_BYTES", 1000)
    assert asyncio.run(feed_of()) is None


@pytest.mark.parametrize("miscount", [-1, 1])
def test_a_decoder_that_emits_another_count_sends_the_video_down_the_per_group_path(video_cache, miscount):
    """If the decoder dropped a damaged frame (or emitted one more), every number after it would name
    another frame: the witness frames (the last one, and one past it) catch it, and nothing is picked."""
    path = video_cache("annexb-bframes_pyramid.mp4", **KINDS["bframes_pyramid"])

    async def go():
        info = await probe(path, Children(1), 60)
        feed = build_feed(path, info, make_plan(info, DEFAULT_POSITIONS))
        assert feed is not None
        right = await ffmpeg_decoder._decode_feed(path, info, feed, Children(1), 60, 1)
        wrong = dataclasses.replace(feed, total=feed.total + miscount)
        return right, await ffmpeg_decoder._decode_feed(path, info, wrong, Children(1), 60, 1)

    right, wrong = asyncio.run(go())
    assert len(right) == 3 and wrong == []
