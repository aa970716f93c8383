"""`grabber: pyav`: the same `Decoder` contract as the ffmpeg decoder, served by long-lived PyAV worker
processes.

The ffmpeg CLI must decode every frame between a keyframe and the target; a decoder driven in-process
can skip the non-reference ones (see dfdx.extract.decoders.pyav_worker), about half of them in x264 files. The workers
live as long as the run (no spawn per video), at most num_workers of them, and a decoding worker holds
one of the `Children` slots, so busy children never exceed num_workers. A worker that overruns the
per-video timeout, or whose request is cancelled (Ctrl-C), is killed: its state is unknown. Workers
also die with dfdx itself (PR_SET_PDEATHSIG, and end of their stdin).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import struct
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import dfdx
from dfdx.children import Children, ChildTimeout, exit_reason
from dfdx.errors import SystemFault, UsageError
from dfdx.extract.decoders.base import DecodeError, source_matrix, source_range
from dfdx.extract.frame import Frame, frame_bytes
from dfdx.extract.plan import Plan, keyframe_before
from dfdx.extract.probe import VideoInfo

INSTALL = "pip install 'dfdx[pyav]'"
HEADER = struct.Struct(">I")  # the framing of pyav_worker (which imports av, so it is not imported here)
ENDING_S = 2.0  # how long a worker that closed its output may take to exit before it is killed


def require_pyav() -> None:
    if importlib.util.find_spec("av") is None:
        raise UsageError(f"config key 'extract.grabber': 'pyav' needs the PyAV package (av): {INSTALL}")


def worker_request(path: Path, info: VideoInfo, plan: Plan, threads: int, keyframes_only: bool) -> dict[str, Any]:
    """Pure: what a worker needs to decode a plan — keyframe and target pts, colours, rotation."""
    rng = source_range(info)
    if rng is None:  # untagged: what ffmpeg assumes
        rng = "pc" if info.pix_fmt.startswith("yuvj") else "tv"
    groups = []
    for group in plan.groups:
        key = keyframe_before(info, group.frames[0])
        groups.append({"key_pts": info.grid.pts[key], "frames": list(group.frames)})
    return {
        "path": str(path.absolute()),
        "stream_index": info.stream_index,
        "threads": threads,
        "keyframes_only": keyframes_only,
        "groups": groups,
        "pts": {str(i): info.grid.pts[i] for i in plan.frames},
        "matrix": source_matrix(info),
        "range": "JPEG" if rng == "pc" else "MPEG",
        # ffprobe's rotation is counter-clockwise; the CLI turns the picture back upright.
        "quarter_turns": (info.rotation // 90) % 4,
    }


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def hello(self) -> None:
        """The worker's first words, once PyAV is loaded. A worker that cannot load it, or dies before it says
        so (a PyAV whose libraries crash on this CPU, say), is a fault of this machine, not of any file: the
        run stops instead of failing every video."""
        try:
            answer = await self._header()
        except asyncio.IncompleteReadError:
            raise SystemFault(f"the PyAV worker {await self.ended()} while loading PyAV; reinstall it: {INSTALL}") \
                from None
        if "fatal" in answer:
            raise SystemFault(f"{answer['fatal']}; reinstall it: {INSTALL}")

    async def ask(self, req: dict[str, Any], frame_size: int) -> tuple[dict[str, Any], dict[int, bytes]]:
        """One request, one answer: the JSON header and the frames it announces."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        body = json.dumps(req).encode()
        try:
            self.proc.stdin.write(HEADER.pack(len(body)) + body)
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the worker is gone: what it wrote before it went is still to be read
        try:
            answer = await self._header()
            frames = {i: await self.proc.stdout.readexactly(frame_size) for i in answer.get("frames", [])}
        except asyncio.IncompleteReadError:
            raise _WorkerDied from None
        return answer, frames

    async def ended(self) -> str:
        """How a worker that stopped answering ended, once it has (it closed its output: it is exiting)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ENDING_S):
                return exit_reason(await self.proc.wait())
        return "stopped answering"

    async def _header(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        (size,) = HEADER.unpack(await self.proc.stdout.readexactly(HEADER.size))
        return json.loads(await self.proc.stdout.readexactly(size))


class _WorkerDied(Exception):
    pass


class PyAVDecoder:
    """The `Decoder` of `grabber: pyav`: a pool of at most `size` workers.

    The frame grid still comes from ffprobe, as for the ffmpeg grabber: a probe in the worker (no spawn,
    ~50 ms of CPU less per video) was tried, and FFmpeg 8's demuxer (PyAV's) reads another duration
    for the last frame of some files than ffprobe 5.1 does, which moves the targets: one source of
    truth for the grid keeps the two grabbers' frames identical."""

    def __init__(self, size: int) -> None:
        require_pyav()
        self.size = size
        self.idle: list[_Worker] = []
        self.count = 0

    async def decode(self, path: Path, info: VideoInfo, plan: Plan, children: Children, timeout_s: float,
                     threads: int, keyframes_only: bool) -> dict[int, Frame]:
        # One request per seek group, side by side: groups are independent (each seeks to its own
        # keyframe), and finer pieces keep every worker busy to the end of a run instead of one long
        # video finishing alone on one core.
        size = frame_bytes(info.width, info.height)
        requests = [worker_request(path, info, replace(plan, groups=(group,)), threads, keyframes_only)
                    for group in plan.groups]  # fmt: skip
        results = await asyncio.gather(*(self._ask(req, children, timeout_s, size) for req in requests),
                                       return_exceptions=True)  # fmt: skip
        frames: dict[int, Frame] = {}
        for result in results:
            if isinstance(result, BaseException):
                raise result
            answer, got = result
            if "error" in answer:
                raise DecodeError(f"could not decode the video: {answer['error']}")
            frames.update({i: Frame(info.width, info.height, data) for i, data in got.items()})
        return frames

    async def _ask(self, req: dict[str, Any], children: Children, timeout_s: float,
                   frame_size: int) -> tuple[dict[str, Any], dict[int, bytes]]:
        """A request in a `Children` slot; a worker that overruns, dies or is cancelled is killed."""
        async with children.semaphore:
            worker = self.idle.pop() if self.idle else await self._start(children, timeout_s)
            healthy = False
            try:
                async with asyncio.timeout(timeout_s):
                    answer = await worker.ask(req, frame_size)
                healthy = True
                return answer
            except TimeoutError:
                raise ChildTimeout(f"the PyAV decoder took longer than {timeout_s:g} s and was stopped") from None
            except _WorkerDied:
                raise DecodeError(f"the PyAV decoder {await worker.ended()} on this file") from None
            finally:
                if healthy:
                    self.idle.append(worker)
                else:
                    await self._kill(worker, children)

    async def _start(self, children: Children, timeout_s: float) -> _Worker:
        """A new worker, once it has loaded PyAV (within the per-video timeout: a worker that hangs there is
        a fault of this machine too)."""
        assert self.count < self.size, "more busy workers than slots"
        package_root = str(Path(dfdx.__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dfdx.extract.decoders.pyav_worker", str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True, env=env,
        )  # fmt: skip
        children.live.add(proc)  # so that a second Ctrl-C's kill_all reaches it
        self.count += 1
        worker = _Worker(proc)
        started = False
        try:
            async with asyncio.timeout(timeout_s):
                await worker.hello()
            started = True
        except TimeoutError:
            raise SystemFault(f"the PyAV worker did not load PyAV within {timeout_s:g} s (extract.timeout_s); "
                              f"reinstall it: {INSTALL}") from None
        finally:
            if not started:
                await self._kill(worker, children)
        return worker

    async def _kill(self, worker: _Worker, children: Children) -> None:
        self.count -= 1
        children.live.discard(worker.proc)
        if worker.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(worker.proc.wait())

    async def close(self, children: Children) -> None:
        """End of run: idle workers exit on end of input; any that lingers is killed."""
        workers, self.idle = self.idle, []
        for worker in workers:
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()
        for worker in workers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(worker.proc.wait()), 2)
            await self._kill(worker, children)
