"""The decode-bound limit: the least work an exact extractor must do, measured on one core.

For each seek group of dfdx's plan (the targets that share a keyframe): seek to the keyframe, decode
forward up to the last target, skipping every non-reference frame that is not a target (an exact
decoder may skip those, nothing else), then encode each target at IJG q95 from its YUV planes. The
summed time, divided by the cores, is what no exact extractor can beat on this machine. The per-target
variant (a seek and a decode per target, as the issue first states it) is reported beside it.

The dense reference (`dense_s`) is what the issue measures `--frames 32` against: one full decode pass through
each video (every frame, from the first, on one core) plus the JPEG encodes of its 32 targets.

`encode_s` is the part of `group_s` spent in the JPEG encodes (the same libjpeg-turbo call at q95 that dfdx's encoder
makes): the overhead share of `run.py` leaves it out of dfdx's own CPU, since the issue counts overhead outside
decoding and encoding.

Usage: python benchmarks/limit.py VIDEO... → one JSON line
{"group_s": .., "target_s": .., "dense_s": .., "encode_s": .., "frames": ..}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import av
import numpy as np
import simplejpeg

from dfdx.children import Children
from dfdx.config import DEFAULT_POSITIONS
from dfdx.extract.plan import Plan, keyframe_before, make_plan
from dfdx.extract.positions import evenly_spaced
from dfdx.extract.probe import VideoInfo, probe

DENSE = 32


def decode_and_encode(container: av.container.InputContainer, info: VideoInfo, key: int,
                      frames: list[int]) -> tuple[float, float]:  # fmt: skip
    """CPU seconds to seek to `key`, decode up to every frame in `frames` (skipping the rest of the
    non-reference frames) and JPEG-encode each one; and how many of them the encodes took."""
    stream = container.streams[info.stream_index]
    ctx = stream.codec_context
    wanted = {info.grid.pts[f] for f in frames}
    encode_s = 0.0
    t0 = time.process_time()  # CPU time: what one core needs, whatever else runs
    container.seek(info.grid.pts[key], stream=stream, backward=True)
    for packet in container.demux(stream):
        ctx.skip_frame = "DEFAULT" if packet.pts in wanted else "NONREF"
        for frame in ctx.decode(packet):
            if frame.pts in wanted:
                wanted.discard(frame.pts)
                y, u, v = (np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[: p.height, : p.width]
                           for p in frame.planes)  # fmt: skip
                e0 = time.process_time()
                simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality=95)
                encode_s += time.process_time() - e0
        if not wanted:
            break
    return time.process_time() - t0, encode_s


def full_pass_and_encode(path: Path, info: VideoInfo, frames: list[int]) -> float:
    """CPU seconds to decode every frame of the video once, in order, and JPEG-encode `frames`."""
    wanted = {info.grid.pts[f] for f in frames}
    t0 = time.process_time()
    with av.open(str(path)) as container:
        stream = container.streams[info.stream_index]
        stream.codec_context.thread_count = 1
        for frame in container.decode(stream):
            if frame.pts in wanted:
                y, u, v = (np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[: p.height, : p.width]
                           for p in frame.planes)  # fmt: skip
                simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality=95)
    return time.process_time() - t0


async def plans(videos: list[Path]) -> list[tuple[Path, VideoInfo, Plan]]:
    children = Children(2)
    infos = await asyncio.gather(*(probe(v, children, 60) for v in videos))
    return [(v, info, make_plan(info, DEFAULT_POSITIONS)) for v, info in zip(videos, infos, strict=True)]


def main(videos: list[Path]) -> dict[str, float]:
    group_s = target_s = dense_s = encode_s = 0.0
    frames = 0
    for path, info, plan in asyncio.run(plans(videos)):
        dense_s += full_pass_and_encode(path, info, [t.frame for t in make_plan(info, evenly_spaced(DENSE)).targets])
        with av.open(str(path)) as container:
            container.streams[info.stream_index].codec_context.thread_count = 1
            for group in plan.groups:
                key = keyframe_before(info, group.frames[0])
                total, encodes = decode_and_encode(container, info, key, list(group.frames))
                group_s += total
                encode_s += encodes
            for target in plan.targets:
                target_s += decode_and_encode(container, info, keyframe_before(info, target.frame), [target.frame])[0]
        frames += len(plan.targets)
    return {"group_s": group_s, "target_s": target_s, "dense_s": dense_s, "encode_s": encode_s, "frames": frames}


if __name__ == "__main__":
    print(json.dumps(main([Path(a).absolute() for a in sys.argv[1:]])))
