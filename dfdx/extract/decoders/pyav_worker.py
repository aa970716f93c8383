"""The `grabber: pyav` worker process: decodes planned frames with FFmpeg's libraries through PyAV.

Why a worker and not the ffmpeg CLI: in-process, the decoder can skip the non-reference frames that
lie between a keyframe and the target (`skip_frame = NONREF`, switched off for the target's own
packet), which the CLI can only set for a whole stream. That halves the decoding a target costs.
Why a long-lived process and not a thread: decoding holds the GIL for the Python glue, and a process
can be killed when a file hangs the decoder.

Protocol on stdin/stdout: once PyAV is loaded, the worker says `{"ready": true}` (or `{"fatal": "..."}` when
PyAV cannot be imported, and exits: that is no file's fault; so is a worker that dies before either). Then a
request is a 4-byte big-endian length and a JSON object (see `dfdx.extract.decoders.pyav.worker_request`); the
answer is a length-prefixed JSON header (`{"frames": [grid indices]}` or `{"error": "..."}`), then each
frame's raw yuv420p full-range BT.601 bytes, in order. All headers are framed alike (`write_message`).
The worker exits on end of input and dies with its parent (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import struct
import sys
from collections.abc import Sequence
from typing import Any, BinaryIO

try:
    import av
except ImportError as exc:  # a PyAV that cannot load (a library missing): told to dfdx, which stops the run
    av = None
    CANNOT_IMPORT = f"PyAV cannot be imported in its worker: {exc}"

# swscale's matrix names (dfdx.extract.decoders.ffmpeg.source_matrix) → PyAV's.
COLORSPACE = {"bt709": "ITU709", "bt601": "ITU601", "fcc": "FCC", "smpte240m": "SMPTE240M", "bt2020": "BT2020"}
# Codecs whose NONREF skipping drops only frames nothing else refers to (checked on the NAL's ref flag).
SKIPPABLE = {"h264", "hevc"}
# Opening a file, FFmpeg decodes its first frames to guess what the stream headers already say (pixel format,
# reorder delay): ~6 ms a 1080p H.264 file, each request. Keyframes only for that guess: 0.8 ms, and the
# decoder that then runs is a fresh one (PyAV's codec context), so the frames are the same bytes.
OPEN_OPTIONS = {"skip_frame": "nonkey"}
HEADER = struct.Struct(">I")


def die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel kills this worker when dfdx dies, even by SIGKILL; elsewhere, end of stdin does."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def decode_request(req: dict[str, Any]) -> dict[int, bytes]:
    """Seek to each group's keyframe and decode forward once, skipping what the targets do not need.

    A group whose seek did not land on its keyframe (a container index that lies) is left to a last
    pass from the start, so the frames are still the planned ones."""
    pts_of = {int(k): v for k, v in req["pts"].items()}
    out: dict[int, bytes] = {}
    with av.open(req["path"], metadata_errors="ignore", options=OPEN_OPTIONS) as container:
        stream = container.streams[req["stream_index"]]
        ctx = stream.codec_context
        ctx.thread_count = req["threads"]
        skip = "NONKEY" if req["keyframes_only"] else "NONREF" if ctx.name in SKIPPABLE else "DEFAULT"
        for group in req["groups"]:
            # By presentation time: FFmpeg's mp4 demuxer indexes seek points so, and a decode time (earlier)
            # would land on the keyframe before, a whole GOP more to decode.
            container.seek(group["key_pts"], stream=stream, backward=True, any_frame=False)
            pending = {pts_of[i]: i for i in group["frames"]}
            _decode_pending(container, stream, pending, skip, group["key_pts"], req, out)
        missing = {pts_of[i]: i for i in pts_of if i not in out}
        if missing:
            container.seek(0, stream=stream, backward=True, any_frame=False)
            _decode_pending(container, stream, missing, skip, None, req, out)
    return out


def _decode_pending(container: Any, stream: Any, pending: dict[int, int], skip: str, key_pts: int | None,
                    req: dict[str, Any], out: dict[int, bytes]) -> None:
    ctx = stream.codec_context
    landed = key_pts is None
    for packet in container.demux(stream):
        ctx.skip_frame = "DEFAULT" if packet.pts in pending else skip
        for frame in ctx.decode(packet):
            if frame.pts is None:
                continue
            if not landed and frame.pts >= key_pts:
                if frame.pts != key_pts:
                    return  # the seek overshot the keyframe: leave these frames to the pass from the start
                landed = True
            index = pending.pop(frame.pts, None)
            if index is not None:
                out[index] = to_planes(frame, req)
        if not pending:
            return


def to_planes(frame: Any, req: dict[str, Any]) -> bytes:
    """Full-range BT.601 yuv420p (what JFIF stores), from the source's matrix and range said explicitly,
    then turned upright as the ffmpeg CLI does (its autorotate) — plane by plane, exact."""
    yuv = frame.reformat(
        format="yuv420p",
        src_colorspace=COLORSPACE.get(req["matrix"], "ITU601"),
        dst_colorspace="ITU601",
        src_color_range=req["range"],
        dst_color_range="JPEG",
        interpolation="BICUBIC",
        threads=1,
    )
    if req["quarter_turns"]:
        return _turned(yuv.planes, req["quarter_turns"])
    return b"".join(_rows(plane) for plane in yuv.planes)


def _rows(plane: Any) -> bytes:
    """A plane's pixels, without the padding that ends each line (none where a line is a multiple of the
    alignment, as in 1920-wide video)."""
    data, width, stride = memoryview(plane), plane.width, plane.line_size
    if stride == width:
        return bytes(data[: width * plane.height])
    return b"".join(data[y * stride : y * stride + width] for y in range(plane.height))


def _turned(planes: Sequence[Any], quarter_turns: int) -> bytes:
    """Each plane turned by quarter turns counter-clockwise (a rotated video, rare: numpy is imported only
    for it, so that a worker starts without it)."""
    import numpy as np

    turned = []
    for plane in planes:
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)[: plane.height, : plane.width]
        turned.append(np.ascontiguousarray(np.rot90(rows, k=quarter_turns)).tobytes())
    return b"".join(turned)


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    body = stream.read(size)
    return json.loads(body) if len(body) == size else None


def write_message(stream: BinaryIO, doc: dict[str, Any], payload: Sequence[bytes] = ()) -> None:
    body = json.dumps(doc).encode()
    stream.write(HEADER.pack(len(body)) + body)
    for chunk in payload:
        stream.write(chunk)
    stream.flush()


def _reason(exc: Exception, path: str) -> str:
    """PyAV's message without the file's name (the ledger names the video already)."""
    text = str(exc).replace(f"'{path}'", "").replace(path, "").strip(" :;")
    return text[:300] or type(exc).__name__


def serve(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # dfdx decides when a worker stops
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    if av is None:
        write_message(out, {"fatal": CANNOT_IMPORT})
        return
    av.logging.set_level(None)
    write_message(out, {"ready": True})
    while (req := read_message(inp)) is not None:
        try:
            frames = decode_request(req)
        except (av.FFmpegError, OSError, ValueError) as exc:
            write_message(out, {"error": _reason(exc, req["path"])})
            continue
        order = sorted(frames)
        write_message(out, {"frames": order}, [frames[i] for i in order])


if __name__ == "__main__":
    serve(int(sys.argv[1]))
