"""`probe: index` against ffprobe: the same VideoInfo, field for field, on every kind of file the suite makes
(or the same failure: a file the index reader doubts goes to ffprobe). Each case also says whether the
in-process reading was used, so that a reader that doubted everything could not pass."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfdx.children import Children
from dfdx.config import load_config
from dfdx.extract.mp4 import Doubt
from dfdx.extract.probe import ProbeError, probe
from dfdx.extract.probe_index import probe_index, read_index
from dfdx.extract.settings import resolve_settings
from dfdx.samples import make_video
from tests.test_reliability_inputs import DAMAGED, GOOD, HAVE, X265, remux

# The reliability suite's inputs the index reader must read itself (H.264 in a plain MP4); every other one
# (other codecs and containers, fragments, a cover picture, damage) must go to ffprobe.
READ_IN_PROCESS = {
    "h264_yuv420p.mp4", "h264_10bit.mp4", "h264_yuv444p.mp4", "h264_yuvj420p.mp4", "h264_odd_161x97.mp4",
    "bframes_negative_dts.mp4", "start_at_3s.mp4", "one_frame.mp4", "two_frames.mp4", "audio_longer.mp4",
    "two_video_streams.mp4", "moov_at_end.mp4", "faststart.mp4", "header_claims_13h.mp4", "sar_2_1.mp4",
    "rotate_270.mp4", "rotate_180.mp4", "bit_flipped_middle.mp4",
}  # fmt: skip


def both(path: Path) -> tuple[object, object, bool]:
    """(ffprobe's reading or its error, probe: index's reading or its error, whether the index was used)."""

    async def outcome(reader):
        try:
            return await reader(path, Children(1), 60)
        except ProbeError as exc:
            return f"ProbeError: {exc}"

    try:
        read_index(path)
        used = True
    except Doubt:
        used = False
    return asyncio.run(outcome(probe)), asyncio.run(outcome(probe_index)), used


def _masked(outcome: object) -> object:
    """ffprobe's messages name its own memory addresses (`[mov,mp4... @ 0x55d0...]`): not a difference."""
    return re.sub(r"0x[0-9a-f]+", "0x", outcome) if isinstance(outcome, str) else outcome


def assert_same(path: Path, in_process: bool | None = None) -> None:
    ref, got, used = both(path)
    ref, got = _masked(ref), _masked(got)
    if dataclasses.is_dataclass(ref) and dataclasses.is_dataclass(got):
        for field in dataclasses.fields(ref):  # field by field first: a failure names the field
            assert getattr(got, field.name) == getattr(ref, field.name), (path.name, field.name)
    assert got == ref, path.name
    if in_process is not None:
        assert used == in_process, (path.name, "read in process" if used else "fell back to ffprobe")


@pytest.mark.parametrize("name", [c.name for c in GOOD] + list(DAMAGED))
def test_reliability_inputs_read_the_same(reliability_inputs: tuple[dict[str, Path], dict[str, str]],
                                          name: str) -> None:  # fmt: skip
    made, _ = reliability_inputs
    if name not in made:
        pytest.skip("this ffmpeg lacks the encoder")
    assert_same(made[name], in_process=name in READ_IN_PROCESS)


def _colours(dest: Path) -> Path:
    return make_video(dest, frames=20, output_args=("-colorspace", "bt709", "-color_primaries", "bt709",
                                                    "-color_trc", "bt709", "-color_range", "tv"))  # fmt: skip


def _without_stss(dest: Path) -> Path:
    """No stss box (renamed free): the mov demuxer calls every sample a keyframe, but ffprobe prints the
    keyframe flags of FFmpeg's h264 parser, which reads the NAL units: the index reader must do the same."""
    data = bytearray(make_video(dest.with_name("stss-src.mp4"), frames=40, gop=10).read_bytes())
    at = data.index(b"stss")
    data[at : at + 4] = b"free"
    dest.write_bytes(bytes(data))
    return dest


MORE = {
    # name: (build(tmp) → path, read in process?)
    "vfr.mp4": (lambda d: make_video(d, frames=40, pts_expr="if(lt(N,20),N*0.04,0.8+(N-20)*0.1)/TB",
                                     output_args=("-video_track_timescale", "1000")), True),
    "vfr_90k.mp4": (lambda d: make_video(d, frames=30, pts_expr="(N*N)/TB/100"), True),
    "bframes_open.mp4": (lambda d: make_video(d, frames=50, gop=12, output_args=("-bf", "4", "-b-pyramid", "strict")),
                         True),
    "no_bframes.mp4": (lambda d: make_video(d, frames=33, output_args=("-bf", "0")), True),
    "rate_30000_1001.mp4": (lambda d: make_video(d, frames=31, rate="30000/1001"), True),
    "rate_24.mp4": (lambda d: make_video(d, frames=26, rate="24"), True),
    "yuv422p.mp4": (lambda d: make_video(d, frames=12, pix_fmt="yuv422p"), True),
    "tagged_bt709.mp4": (_colours, True),
    "timescale_600.mp4": (lambda d: make_video(d, frames=20, output_args=("-video_track_timescale", "600")), True),
    "no_edit_list.mp4": (lambda d: make_video(d, frames=25, output_args=("-use_editlist", "0", "-bf", "2")), True),
    "audio_first.mp4": (lambda d: remux(make_video(d.with_name("af-src.mp4"), frames=30, audio_s=2.0), d,
                                        "-map", "0:a", "-map", "0:v", "-c", "copy"), True),
    "rotate_90.mp4": (lambda d: remux(make_video(d.with_name("r90-src.mp4"), frames=20), d, "-c", "copy",
                                      "-metadata:s:v", "rotate=90"), True),
    "offset_faststart.mp4": (lambda d: remux(make_video(d.with_name("of-src.mp4"), frames=20, audio_s=1.0), d,
                                             "-c", "copy", "-output_ts_offset", "7.3", "-movflags", "+faststart"),
                             True),
    "mov_container.mov": (lambda d: make_video(d, frames=20), True),
    "no_stss.mp4": (_without_stss, True),
    "open_gop.mp4": (lambda d: make_video(d, frames=80, output_args=(
        "-x264-params", "open-gop=1:keyint=20:min-keyint=5")), True),
    "intra_refresh.mp4": (lambda d: make_video(d, frames=80, output_args=(
        "-x264-params", "intra-refresh=1:keyint=20")), True),
    "one_reference_frame.mp4": (lambda d: make_video(d, frames=60, gop=20, output_args=(
        "-x264-params", "ref=1", "-bf", "0")), True),
    "fragmented_dash.mp4": (lambda d: make_video(d, frames=30, gop=10, output_args=(
        "-movflags", "frag_keyframe+empty_moov+default_base_moof")), False),
    "hevc.mp4": (lambda d: make_video(d, frames=20, codec="libx265", output_args=X265), False),
    "mkv.mkv": (lambda d: make_video(d, frames=20), False),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MORE))
def test_more_kinds_read_the_same(tmp_path: Path, name: str) -> None:
    build, in_process = MORE[name]
    if name.startswith("hevc") and "libx265" not in HAVE:
        pytest.skip("no libx265")
    assert_same(build(tmp_path / name), in_process)


def test_cut_anywhere_gives_the_same_answer_or_the_same_failure(tmp_path: Path) -> None:
    """A download cut at any point: the index reader never answers what ffprobe would not."""
    for faststart in (False, True):
        src = make_video(tmp_path / f"src{faststart}.mp4", frames=40, gop=8, audio_s=1.6,
                         output_args=("-movflags", "+faststart") if faststart else ())  # fmt: skip
        data = src.read_bytes()
        for fraction in (0.02, 0.3, 0.7, 0.97, 0.999):
            cut = tmp_path / f"cut{faststart}{fraction}.mp4"
            cut.write_bytes(data[: int(len(data) * fraction)])
            assert_same(cut, in_process=False)


def test_damaged_moov_gives_the_same_answer_or_the_same_failure(tmp_path: Path) -> None:
    """Bytes of the moov box changed at random (seeded): the reader doubts whatever it does not model
    exactly (FFmpeg's own rejections and repairs included), so the answer is always ffprobe's."""
    src = make_video(tmp_path / "src.mp4", frames=30, gop=8, audio_s=1.2,
                     output_args=("-movflags", "+faststart", "-bf", "2"))  # fmt: skip
    data = src.read_bytes()
    start = data.index(b"moov") - 4
    size = int.from_bytes(data[start : start + 4], "big")
    rng = random.Random(20261202)
    for case in range(40):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            damaged[start + rng.randrange(size)] = rng.randrange(256)
        path = tmp_path / f"damaged{case}.mp4"
        path.write_bytes(bytes(damaged))
        assert_same(path)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    frames=st.integers(1, 40),
    rate=st.sampled_from(["25", "24", "30000/1001", "60", "12.5"]),
    gop=st.integers(1, 30),
    bframes=st.integers(0, 4),
    faststart=st.booleans(),
    audio=st.booleans(),
    offset=st.sampled_from([None, "0.5", "3", "11.04"]),
    timescale=st.sampled_from([None, "1000", "90000"]),
)
def test_generated_files_read_the_same(tmp_path_factory, frames, rate, gop, bframes, faststart, audio, offset,
                                       timescale):  # fmt: skip
    folder = tmp_path_factory.mktemp("gen")
    args = ["-bf", str(bframes), *(["-movflags", "+faststart"] if faststart else [])]
    args += ["-video_track_timescale", timescale] if timescale else []
    src = make_video(folder / "v.mp4", frames=frames, rate=rate, gop=gop, audio_s=1.3 if audio else None,
                     output_args=tuple(args))  # fmt: skip
    if offset is not None:
        src = remux(src, folder / "shifted.mp4", "-c", "copy", "-output_ts_offset", offset)
    assert_same(src, in_process=True)


def test_benchmark_like_file_reads_the_same(tmp_path: Path) -> None:
    """The benchmark corpus's recipe at a small size (the corpus itself is checked by `make bench`)."""
    src = make_video(tmp_path / "b.mp4", frames=60, size=(320, 180), rate="30000/1001", audio_s=2.0,
                     output_args=("-crf", "23", "-movflags", "+faststart"))  # fmt: skip
    assert_same(src, in_process=True)


def test_the_probe_choice_leaves_the_fingerprint_alone() -> None:
    """Both probes give the same grid, hence the same frames: switching must not redo a finished dataset."""
    params = [resolve_settings(load_config(None, {"extract.probe": name}), Counter(["real"]),
                               versions={"dfdx": "t"}).params for name in ("ffprobe", "index")]  # fmt: skip
    assert params[0] == params[1]
