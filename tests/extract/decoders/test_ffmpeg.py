"""The ffmpeg decoder's argv; which frame it grabs is proven end to end in tests/run/test_local.py."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from dfdx.extract.decoders.ffmpeg import ffmpeg_argv
from dfdx.extract.plan import make_plan
from tests.extract.test_plan import cfr


def test_argv_treats_the_name_as_a_file_and_selects_by_time():
    info = cfr(100, gop=25)
    plan = make_plan(info, (Fraction(1, 3),))
    path = Path("/data/-rf %d concat:x.mp4")
    argv = ffmpeg_argv(path, info, plan.groups[0], threads=1)
    assert argv[0] == "ffmpeg" and argv[argv.index("-i") + 1] == f"file:{path}"
    assert argv.index("-copyts") < argv.index("-i")  # global options first: ffmpeg ignores trailing ones
    assert argv[argv.index("-ss") + 1] == "1.000000"  # the keyframe (frame 25 at 40 ms) before frame 33
    graph = argv[argv.index("-filter_complex") + 1]
    assert "select=gte(t\\,1.300000000)*lt(t\\,1.340000000)" in graph
    assert "out_color_matrix=bt601" in graph and "out_range=pc" in graph
    assert argv[-1] == "pipe:1"
