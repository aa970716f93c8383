"""ffprobe → VideoInfo, on real files and on the JSON shapes odd files produce."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from dfdx.children import Children
from dfdx.extract.probe import ProbeError, parse_probe, probe
from tests.conftest import remux


def stream(**kw):
    return {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 64, "height": 48,
            "time_base": "1/1000", "avg_frame_rate": "25/1", "pix_fmt": "yuv420p", **kw}  # fmt: skip


def packets(pts, keys=(0,), index=0, flags_extra=""):
    return [{"stream_index": index, "pts": p, "dts": p - 80, "duration": 40,
             "flags": ("K" if i in keys else "_") + flags_extra} for i, p in enumerate(pts)]  # fmt: skip


def test_grid_is_sorted_and_skips_discarded_packets():
    pkts = [*packets([0, 80, 40, 120]), {"stream_index": 0, "pts": -40, "dts": -120, "duration": 40, "flags": "_D"}]
    info = parse_probe({"streams": [stream()], "packets": pkts, "format": {"start_time": "0"}})
    assert info.grid.pts == (0, 40, 80, 120)
    assert info.grid.keyframes == (0,)
    assert info.duration_s == Fraction(160, 1000) and info.start_s == 0


def test_cover_art_is_not_the_video():
    cover = stream(index=0, codec_name="mjpeg", disposition={"attached_pic": 1})
    real = stream(index=1)
    info = parse_probe({"streams": [cover, real], "packets": packets([0, 40], index=1)})
    assert info.stream_index == 1 and info.codec == "h264"
    with pytest.raises(ProbeError, match="only a cover picture"):
        parse_probe({"streams": [cover], "packets": []})


@pytest.mark.parametrize(
    ("doc", "message"),
    [({"streams": []}, "no video stream"), ({"streams": [stream()], "packets": []}, "no video frames"),
     ({"streams": [stream()], "packets": packets([0, 40], keys=())}, "no keyframe"),
     ({"streams": [stream(width=0)], "packets": packets([0])}, "no frame size")],
)  # fmt: skip
def test_unusable_streams_say_why(doc, message):
    with pytest.raises(ProbeError, match=message):
        parse_probe(doc)


def test_rotation_swaps_the_displayed_size():
    info = parse_probe({"streams": [stream(side_data_list=[{"rotation": -90}])], "packets": packets([0])})
    assert (info.width, info.height, info.rotation) == (48, 64, 270)


def test_real_file_with_a_start_offset_and_audio(tmp_path, video_cache):
    src = video_cache("p.mp4", frames=50, audio_s=3.0)
    shifted = remux(src, tmp_path / "shifted.mp4", "-output_ts_offset", "10")
    info = asyncio.run(probe(shifted, Children(1), timeout_s=30))
    assert info.start_s == pytest.approx(10) and info.duration_s == pytest.approx(2.0)
    assert info.container_start_s <= info.start_s and info.container_start_s == pytest.approx(10, abs=0.05)
    assert len(info.grid) == 50 and info.fps == 25 and (info.width, info.height) == (160, 96)
    assert info.header_duration_s is not None


def test_unreadable_file(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(ProbeError, match="not a readable video") as err:
        asyncio.run(probe(bad, Children(1), timeout_s=30))
    assert str(bad) not in str(err.value)
