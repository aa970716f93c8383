"""One video, end to end: probe → plan → decode → transform → encode → write, and its ledger entry.

`extract_video` is the unit of work every runner schedules (the local asyncio runner today; a
distributed runner calls the same function on its workers). A video's fault is data: it returns a
`failed` entry with a reason a person can act on. A fault of the system (disk full, the dataset gone)
is raised, and stops the run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from dfdx import plugins
from dfdx.children import Children, ChildTimeout
from dfdx.clock import utc_now
from dfdx.datasets.discover import Video
from dfdx.errors import SystemFault
from dfdx.extract.decoders import Decoder, open_decoder
from dfdx.extract.decoders.base import DecodeError
from dfdx.extract.encoders import Encoder, open_encoder
from dfdx.extract.frame import Frame
from dfdx.extract.plan import Target, frame_filename, make_plan
from dfdx.extract.probe import ProbeError, VideoInfo
from dfdx.extract.settings import ExtractSettings
from dfdx.extract.transforms import Transform, open_transform
from dfdx.extract.write import write_files
from dfdx.ledger import FrameEntry, LedgerEntry

log = logging.getLogger("dfdx")

# `extract.probe`: dfdx.extract.probe.probe (ffprobe) or dfdx.extract.probe_index.probe_index (the MP4's tables).
Probe = Callable[[Path, Children, float], Awaitable[VideoInfo]]


class NotAVideo(Exception):
    """A path that cannot be a video file (a FIFO, a device, a folder): failed without opening it."""


@dataclass(slots=True)
class Tools:
    """The parts one process uses for every video of a run: the bounded children, the probe, the decoder
    (which may keep workers alive), the transform and the encoder."""

    children: Children
    probe: Probe
    decoder: Decoder
    transform: Transform
    encoder: Encoder

    @classmethod
    def open(cls, settings: ExtractSettings, children: Children | None = None) -> Tools:
        x = settings.extract
        return cls(
            children=children or Children(settings.workers),
            probe=plugins.load("extract.probe", x.probe),
            decoder=open_decoder(x.grabber, settings.workers),
            transform=open_transform(x.crop, x),
            encoder=open_encoder(x.format, x.jpeg_quality),
        )

    async def close(self) -> None:
        await self.decoder.close(self.children)


async def extract_video(video: Video, settings: ExtractSettings, tools: Tools,
                        previous: LedgerEntry | None = None) -> LedgerEntry:
    """Extract one video and return its ledger entry (not yet appended). `previous`, the video's last
    entry, names frames an earlier run wrote that this one must not leave behind."""
    started_at, t0 = utc_now(), time.monotonic()
    base = dict(video=video.rel, category=video.category, params=settings.params[video.category],
                started_at=started_at, run_id=settings.run_id, video_id=video.video_id,
                versions=dict(settings.versions))  # fmt: skip
    try:
        facts, frames = await _extract(video, settings, tools)
        entry = LedgerEntry(status="ok", frames=frames, finished_at=utc_now(),
                            elapsed_s=round(time.monotonic() - t0, 3), **facts, **base)  # fmt: skip
        if previous is not None:
            _remove_stale(settings.output_dir, previous, keep={f.path for f in frames})
    except (ProbeError, DecodeError, ChildTimeout, NotAVideo) as exc:
        _check_dataset_still_there(settings.dataset_root, video)
        if previous is not None:  # its old frames would be orphans next to a failed entry
            _remove_stale(settings.output_dir, previous, keep=set())
        entry = LedgerEntry(status="failed", error=str(exc), finished_at=utc_now(),
                            elapsed_s=round(time.monotonic() - t0, 3), **base)  # fmt: skip
        log.warning("failed: %s: %s", video.rel, exc, extra={"video_failure": True})
    return entry


async def _extract(video: Video, settings: ExtractSettings, tools: Tools) -> tuple[dict[str, object], list[FrameEntry]]:
    x = settings.extract
    _require_regular_file(video.path)
    info = await tools.probe(video.path, tools.children, x.timeout_s)
    plan = make_plan(info, settings.positions[video.category], x.seek)
    decoded = await tools.decoder.decode(video.path, info, plan, tools.children, x.timeout_s, settings.threads,
                                         settings.keyframes_only)  # fmt: skip
    missing = [t for t in plan.targets if t.frame not in decoded]
    if missing:
        raise DecodeError(f"could not decode the frame at {float(missing[0].target_s):.3f} s (damaged file?)")
    folder = settings.output_dir / video.category
    encoder = tools.encoder
    files: list[tuple[Target, Path, Frame]] = []
    for target in plan.targets:
        for output in await tools.transform.apply(decoded[target.frame]):
            name = frame_filename(video.category, video.name, video.video_id, target.number, encoder.extension,
                                  output.suffix)  # fmt: skip
            files.append((target, folder / name, output.frame))
    sizes = await write_files([(dest, partial(encoder.encode, frame)) for _, dest, frame in files])
    frames = [
        FrameEntry(
            path=dest.relative_to(settings.output_dir).as_posix(),
            index=target.number,
            position=float(target.position),
            target_s=round(float(target.target_s), 6),
            pts_s=round(float(info.grid.pts[target.frame] * info.time_base), 6),
            bytes=size,
        )
        for (target, dest, _), size in zip(files, sizes, strict=True)
    ]
    facts = dict(duration_s=round(float(info.duration_s), 6), width=info.width, height=info.height,
                 codec=info.codec, fps=round(float(info.fps), 6))  # fmt: skip
    return facts, frames


def _remove_stale(out: Path, previous: LedgerEntry, keep: set[str]) -> None:
    """Frames an earlier run wrote under other params (e.g. more positions) that this run did not."""
    for frame in previous.frames:
        if frame.path not in keep:
            with contextlib.suppress(OSError):
                (out / frame.path).unlink()


def _check_dataset_still_there(root: Path, video: Video) -> None:
    if not root.is_dir() or not video.path.parent.is_dir():
        raise SystemFault(f"the dataset folder {str(root)!r} disappeared during the run")


def _require_regular_file(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise NotAVideo(f"cannot open: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise NotAVideo("not a regular file (a FIFO, device or folder named like a video)")
    if not os.access(path, os.R_OK):
        raise NotAVideo("cannot open: permission denied")
