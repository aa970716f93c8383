"""The ffmpeg decoder's argv; which frame it grabs is proven end to end in tests/run/test_local.py."""

from __future__ import annotations

import asyncio
import os
from fractions import Fraction
from pathlib import Path

import pytest

from dfdx.children import Children
from dfdx.errors import SystemFault
from dfdx.extract.decoders.ffmpeg import decode_frames, ffmpeg_argv
from dfdx.extract.plan import make_plan
from dfdx.extract.probe import probe
from tests.conftest import broken_tool
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


def test_an_ffmpeg_that_cannot_run_is_a_fault_of_the_system(video_cache, tmp_path, monkeypatch):
    """Exit 127 (the loader could not load a library) is not the video's fault: `SystemFault`, which stops
    the run, not `DecodeError`, which would mark the video failed."""
    path = video_cache("runs.mp4", frames=30)
    info = asyncio.run(probe(path, Children(1), 60))
    broken_tool(tmp_path / "bin", "ffmpeg")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(SystemFault, match=r"ffmpeg cannot run on this machine .*libavdevice"):
        asyncio.run(decode_frames(path, info, make_plan(info, (Fraction(1, 2),)), Children(1), 60, 1, False))
