"""Pure planning: which frame is played at T, seek groups, names and fingerprints (no ffmpeg)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from dfdx.extract.encoders.jpeg import FORMAT_ID
from dfdx.extract.plan import fingerprint, frame_filename, frame_played_at, make_plan, select_window
from dfdx.extract.probe import FrameGrid, VideoInfo


def info_for(pts: list[int], keys: set[int], tb: Fraction = Fraction(1, 1000), last: int = 40,
             container_start: Fraction = Fraction(0)) -> VideoInfo:
    grid = FrameGrid(pts=tuple(pts), keyframes=tuple(sorted(keys)),
                     last_duration=last)  # fmt: skip
    return VideoInfo(stream_index=0, codec="h264", width=16, height=16, rotation=0, pix_fmt="yuv420p",
                     color_space=None, color_range=None, fps=Fraction(25), time_base=tb,
                     container_start_s=container_start, header_duration_s=None, grid=grid)  # fmt: skip


def cfr(n: int, step: int = 40, start: int = 0, gop: int = 10) -> VideoInfo:
    return info_for([start + i * step for i in range(n)], {i for i in range(0, n, gop)}, last=step)


def test_frame_played_at_is_the_interval_containing_t():
    info = cfr(10)  # frames at 0, 40, ..., 360 ms; ends at 400 ms
    assert frame_played_at(info, Fraction(0)) == 0
    assert frame_played_at(info, Fraction(39, 1000)) == 0
    assert frame_played_at(info, Fraction(40, 1000)) == 1  # a boundary belongs to the frame starting there
    assert frame_played_at(info, Fraction(79, 1000)) == 1
    assert frame_played_at(info, Fraction(-1)) == 0  # before the stream: the first frame
    assert frame_played_at(info, Fraction(5)) == 9  # after it: the last


@pytest.mark.parametrize("n", [1, 2, 3, 7, 30, 75, 100, 723, 1620])
def test_cfr_matches_floor_p_times_n(n):
    """What the OpenCV scripts people migrate from computed, exactly, with no float boundary slips."""
    info = cfr(n, step=1001, gop=250)
    plan = make_plan(info, (Fraction(1, 3), Fraction(1, 2), Fraction(2, 3)))
    assert [t.frame for t in plan.targets] == [n // 3, n // 2, 2 * n // 3]


def test_start_offset_and_vfr():
    info = info_for([5000, 5040, 5080, 5200, 5600], {0, 3}, last=400)  # starts at 5 s, ends at 6 s
    plan = make_plan(info, (Fraction(1, 4), Fraction(1, 2), Fraction(9, 10)))
    assert [t.target_s for t in plan.targets] == [Fraction(21, 4), Fraction(11, 2), Fraction(59, 10)]
    assert [t.frame for t in plan.targets] == [3, 3, 4]
    assert plan.frames == (3, 4)  # one decode serves two targets


def test_seek_groups_share_a_keyframe_and_seek_before_it():
    info = cfr(100, gop=25, start=0)
    plan = make_plan(info, (Fraction(1, 10), Fraction(1, 5), Fraction(3, 5)))  # frames 10, 20, 60
    assert [g.frames for g in plan.groups] == [(10, 20), (60,)]
    assert plan.groups[1].seek_s == 50 * 0.04  # the keyframe's pts: ffmpeg 5.1 seeks mp4 by pts


def test_seek_is_relative_to_the_container_start():
    info = info_for([10_000 + 40 * i for i in range(50)], {0, 25}, container_start=Fraction(10))
    plan = make_plan(info, (Fraction(3, 5),))
    assert plan.groups[0].seek_s == 25 * 40 / 1000


def test_keyframe_mode_takes_the_nearest_keyframe():
    info = cfr(100, gop=10)
    plan = make_plan(info, (Fraction(1, 3), Fraction(1, 2), Fraction(0.66)), seek="keyframe")
    assert [t.frame for t in plan.targets] == [30, 50, 70]


def test_select_window_isolates_one_frame():
    info = cfr(5)
    assert select_window(info, 0) == pytest.approx((-0.02, 0.02))
    assert select_window(info, 2) == pytest.approx((0.06, 0.10))
    assert select_window(info, 4) == pytest.approx((0.14, 0.18))


def test_names_and_fingerprints():
    assert frame_filename("ai", "x", "0123abcd", 3, ".jpg") == "ai_x_0123abcd_frame_03.jpg"
    a = fingerprint((Fraction(1, 3),), 95, "exact", FORMAT_ID)
    assert a == {"positions": ["1/3"], "jpeg_quality": 95, "seek": "exact", "format": a["format"]}
    assert a != fingerprint((Fraction(1, 3),), 95, "keyframe", FORMAT_ID)


def test_frames_near_are_within_the_window_nearest_first():
    from dfdx.extract.plan import frames_near, seek_groups

    info = cfr(50, gop=10)  # 25 fps
    assert frames_near(info, 20, Fraction(1, 10)) == [19, 21, 18, 22]  # 0.1 s = 2.5 frames, ties: earlier first
    assert frames_near(info, 0, Fraction(1, 10)) == [1, 2]
    assert frames_near(info, 20, Fraction(1, 2), keyframes_only=True) == [10, 30]
    assert [g.frames for g in seek_groups(info, [22, 9, 19, 11])] == [(9,), (11, 19), (22,)]
