"""`grabber: ffmpeg` (the default): ffmpeg CLI children decode the planned frames.

H.264 in MP4 (DFD, FF++, Celeb-DF, DFDC): one ffmpeg per video, fed on its stdin the packets the targets
need and nothing else (dfdx.extract.decoders.annexb): each group's IDR, the reference frames after it and
the targets; the targets are picked by their number out of the decoder. Anything else (or a file that
stream cannot carry): one ffmpeg per seek group, `-ss` to the keyframe before the group, decode forward,
and a `select` that passes exactly the planned frames by their presentation time. Both give raw
full-range BT.601 YUV on stdout (explicit matrices: see dfdx.extract.decoders.base), byte for byte the
same frames (tests/extract/decoders/test_annexb.py). Encoding is not the decoder's job: ffmpeg's own
`-q:v` is another quality scale, so dfdx.extract.encoders encodes what this hands over.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

import ffmpeg

from dfdx.children import Children, exit_reason, last_error_line, require_runs
from dfdx.extract.decoders.annexb import Feed, build_feed
from dfdx.extract.decoders.base import DecodeError, source_matrix, source_range
from dfdx.extract.decoders.nal import reference_frames
from dfdx.extract.frame import Frame, frame_bytes
from dfdx.extract.plan import Plan, SeekGroup, select_window
from dfdx.extract.probe import VideoInfo

_INPUT = "file:dfdx-input"  # stands for the video's path while ffmpeg-python builds the graph


def ffmpeg_argv(path: Path, info: VideoInfo, group: SeekGroup, threads: int, keyframes_only: bool = False) -> list[str]:
    """The argv of one grab: seek to the group's keyframe, pass the planned frames selected by time."""
    opts: dict[str, object] = {"threads": threads}
    if group.seek_s > 0:
        opts.update({"noaccurate_seek": None, "ss": f"{group.seek_s:.6f}"})
    if keyframes_only:
        opts["skip_frame"] = "nokey"
    elif group.skip_nonref:
        opts["skip_frame"] = "noref"  # see dfdx.extract.decoders.nal: the targets are references, so nothing changes
    stream = ffmpeg.input(_INPUT, **opts)[str(info.stream_index)]
    windows = [select_window(info, f) for f in group.frames]
    expr = "+".join(f"gte(t,{lo:.9f})*lt(t,{hi:.9f})" for lo, hi in windows)
    video = stream.filter("select", expr).filter("trim", end_frame=len(group.frames))
    out = video.filter("scale", **_scale_args(info)).filter("format", "yuv420p")
    argv = out.output("pipe:1", format="rawvideo", fps_mode="passthrough", **{"frames:v": len(group.frames)}).compile()
    # Global options go first: ffmpeg ignores trailing ones.
    globals_ = ["-hide_banner", "-nostdin", "-v", "error", "-copyts", "-filter_complex_threads", "1"]
    # The real name goes in last: ffmpeg-python hashes its arguments as UTF-8, and a name with bytes that
    # are not UTF-8 (kept by Python as surrogates) would make it raise instead of failing one video.
    return [argv[0], *globals_, *(f"file:{path}" if a == _INPUT else a for a in argv[1:])]


def _scale_args(info: VideoInfo) -> dict[str, object]:
    """The source's matrix and range said explicitly (dfdx.extract.decoders.base), out: full-range BT.601."""
    scale: dict[str, object] = {
        "w": info.width, "h": info.height,
        "in_color_matrix": source_matrix(info), "out_color_matrix": "bt601", "out_range": "pc",
    }  # fmt: skip
    rng = source_range(info)
    if rng is not None:
        scale["in_range"] = rng
    return scale


async def decode_frames(path: Path, info: VideoInfo, plan: Plan, children: Children, timeout_s: float,
                        threads: int, keyframes_only: bool) -> dict[int, bytes]:
    """Raw YUV of each planned frame, keyed by grid index. Retries once from the start if a seek
    missed (a container whose index put the seek after the target): slower, still exact."""
    # H.264 in MP4: one child fed only what the targets need (dfdx.extract.decoders.annexb).
    if not keyframes_only and info.codec == "h264":
        feed = await asyncio.to_thread(build_feed, path, info, plan)
        if feed is not None:
            got = await _decode_feed(path, info, feed, children, timeout_s, threads)
            if len(got) == len(feed.frames):
                return dict(zip(feed.frames, got, strict=True))
    # Otherwise one child per seek group, side by side in the Children slots: given several inputs, ffmpeg
    # 5.1 decodes them all past the frames they serve (measured: 1.27 CPU s for one 3-frame grab with 2
    # inputs, 0.75 s as 2 children), and finer pieces keep every core busy to the end of a run.
    groups = plan.groups
    if not keyframes_only and info.codec == "h264":
        refs = await asyncio.to_thread(reference_frames, path, info, plan.frames)
        groups = tuple(replace(g, skip_nonref=set(g.frames) <= refs) for g in groups)
    results = await asyncio.gather(
        *(_decode_group(path, info, group, children, timeout_s, threads, keyframes_only) for group in groups),
        return_exceptions=True,
    )
    got: list[bytes] = []
    for group, result in zip(groups, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        got += result if len(result) == len(group.frames) else []
    if len(got) < len(plan.frames):
        once = SeekGroup(seek_s=0.0, frames=plan.frames)
        got = await _decode(path, info, once, children, timeout_s, threads, keyframes_only)
    return dict(zip(plan.frames, got, strict=False))


def feed_argv(info: VideoInfo, feed: Feed, threads: int) -> list[str]:
    """The argv of the one-child path: an Annex B stream on stdin, the targets picked by their number."""
    stream = ffmpeg.input("pipe:0", format="h264", threads=threads)["0"]
    # frame `total` must not exist: if it comes out, the count was wrong and the video takes the other path
    expr = "+".join(f"eq(n,{n})" for n in (*feed.picks, feed.total))
    video = stream.filter("select", expr)
    out = video.filter("scale", **_scale_args(info)).filter("format", "yuv420p")
    argv = out.output("pipe:1", format="rawvideo", fps_mode="passthrough").compile()
    return [argv[0], "-hide_banner", "-nostdin", "-v", "error", "-filter_complex_threads", "1", *argv[1:]]


async def _decode_feed(path: Path, info: VideoInfo, feed: Feed, children: Children, timeout_s: float,
                       threads: int) -> list[bytes]:
    """The planned frames through one child fed on stdin. Any other count than the picks (the decoder
    dropped, refused or added something) sends the video down the per-group path."""
    size = frame_bytes(info.width, info.height)
    frames: list[bytes] = []
    async with children.spawn(feed_argv(info, feed, threads), timeout_s, stdin=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

        async def write() -> None:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(feed.stream)
                await proc.stdin.drain()
                proc.stdin.close()

        writer = asyncio.ensure_future(write())
        stderr_task = asyncio.ensure_future(proc.stderr.read())
        try:
            while len(frames) <= len(feed.picks):
                try:
                    frames.append(await proc.stdout.readexactly(size))
                except asyncio.IncompleteReadError:
                    break
            await proc.stdout.read()
            await writer
            await proc.wait()
        finally:
            for task in (writer, stderr_task):
                if not task.done():
                    task.cancel()
    if proc.returncode != 0 or len(frames) != len(feed.picks):
        return []
    return frames[: len(feed.numbers)]


async def _decode_group(path: Path, info: VideoInfo, group: SeekGroup, children: Children, timeout_s: float,
                        threads: int, keyframes_only: bool) -> list[bytes]:
    frames = await _decode(path, info, group, children, timeout_s, threads, keyframes_only)
    if len(frames) < len(group.frames) and group.skip_nonref:  # a target was not a reference after all
        frames = await _decode(path, info, replace(group, skip_nonref=False), children, timeout_s, threads,
                               keyframes_only)  # fmt: skip
    return frames


async def _decode(path: Path, info: VideoInfo, group: SeekGroup, children: Children, timeout_s: float,
                  threads: int, keyframes_only: bool) -> list[bytes]:
    argv = ffmpeg_argv(path, info, group, threads, keyframes_only)
    size = frame_bytes(info.width, info.height)
    want = len(group.frames)
    frames: list[bytes] = []
    async with children.spawn(argv, timeout_s) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        stderr_task = asyncio.ensure_future(proc.stderr.read())
        try:
            while len(frames) < want:
                try:
                    frames.append(await proc.stdout.readexactly(size))
                except asyncio.IncompleteReadError:
                    break
            await proc.stdout.read()
            await proc.wait()
        finally:
            if not stderr_task.done():
                stderr_task.cancel()
        err = stderr_task.result() if stderr_task.done() and not stderr_task.cancelled() else b""
    require_runs(argv[0], proc.returncode, err)
    if proc.returncode != 0 and len(frames) < want:
        if proc.returncode < 0:  # a crash or an outside kill: what it printed before is not the reason
            raise DecodeError(f"ffmpeg {exit_reason(proc.returncode)} decoding this file")
        reason = last_error_line(err, path) or f"exit code {proc.returncode}"
        raise DecodeError(f"ffmpeg could not decode the video: {reason}")
    return frames


class FfmpegDecoder:
    """The `Decoder` of `grabber: ffmpeg`: nothing to keep between videos (a child per seek group)."""

    def __init__(self, workers: int) -> None:
        del workers  # the Children slots bound the ffmpeg children

    async def decode(self, path: Path, info: VideoInfo, plan: Plan, children: Children, timeout_s: float,
                     threads: int, keyframes_only: bool) -> dict[int, Frame]:
        raw = await decode_frames(path, info, plan, children, timeout_s, threads, keyframes_only)
        return {index: Frame(info.width, info.height, data) for index, data in raw.items()}

    async def close(self, children: Children) -> None:
        return None
