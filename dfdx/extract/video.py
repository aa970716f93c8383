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
from dfdx.extract.misses import Placed, place_outputs
from dfdx.extract.plan import Plan, frame_filename, make_plan
from dfdx.extract.probe import ProbeError, VideoInfo
from dfdx.extract.settings import ExtractSettings
from dfdx.extract.transforms import Output, Transform, open_transform
from dfdx.extract.write import write_files
from dfdx.ledger import FrameEntry, LedgerEntry, MissEntry

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
            transform=open_transform(x.crop, x, settings.workers),
            encoder=open_encoder(x.format, x.jpeg_quality),
        )

    async def close(self) -> None:
        await self.decoder.close(self.children)
        await self.transform.close()


async def extract_video(video: Video, settings: ExtractSettings, tools: Tools,
                        previous: LedgerEntry | None = None) -> LedgerEntry:
    """Extract one video and return its ledger entry (not yet appended). `previous`, the video's last
    entry, names frames an earlier run wrote that this one must not leave behind."""
    started_at, t0 = utc_now(), time.monotonic()
    base = dict(video=video.rel, category=video.category, params=settings.params[video.category],
                started_at=started_at, run_id=settings.run_id, video_id=video.video_id,
                versions=dict(settings.versions), **video.labels.ledger_fields())  # fmt: skip
    try:
        facts, frames = await _extract(video, settings, tools)
        notes = [n for n in (base.pop("note"), facts.pop("note", None)) if n]  # the profile's, the crop's
        entry = LedgerEntry(status="ok", frames=frames, finished_at=utc_now(), note="; ".join(notes) or None,
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
    decoded = await _decode(video, settings, tools, info, plan)
    missing = [t for t in plan.targets if t.frame not in decoded]
    if missing:
        raise DecodeError(f"could not decode the frame at {float(missing[0].target_s):.3f} s (damaged file?)")
    placed = await place_outputs(tools.transform, info, plan, decoded, settings.keyframes_only,
                                 partial(_decode, video, settings, tools, info))  # fmt: skip
    folder = settings.output_dir / video.category
    encoder = tools.encoder
    files: list[tuple[Placed, Output, Path]] = []
    for p in placed:
        for output in p.outputs:
            name = frame_filename(video.category, video.name, video.video_id, p.target.number, encoder.extension,
                                  output.suffix)  # fmt: skip
            files.append((p, output, folder / name))
    sizes = await write_files([(dest, partial(encoder.encode, output.frame)) for _, output, dest in files])
    frames = [_frame_entry(settings.output_dir, info, p, output, dest, size)
              for (p, output, dest), size in zip(files, sizes, strict=True)]  # fmt: skip
    misses = [MissEntry(index=p.target.number, position=float(p.target.position),
                        target_s=round(float(p.target.target_s), 6), pts_s=_pts_s(info, p.target.frame),
                        reason=p.miss.reason, faces=p.miss.faces)
              for p in placed if not p.outputs and p.miss is not None]  # fmt: skip
    facts: dict[str, object] = dict(duration_s=round(float(info.duration_s), 6), width=info.width,
                                    height=info.height, codec=info.codec, fps=round(float(info.fps), 6))  # fmt: skip
    if misses:
        facts["misses"] = misses
    if not frames and misses:
        facts["note"] = f"no face in any of its {len(misses)} target frames: each is recorded as a miss"
    return facts, frames


async def _decode(video: Video, settings: ExtractSettings, tools: Tools, info: VideoInfo,
                  plan: Plan) -> dict[int, Frame]:
    return await tools.decoder.decode(video.path, info, plan, tools.children, settings.extract.timeout_s,
                                      settings.threads, settings.keyframes_only)  # fmt: skip


def _pts_s(info: VideoInfo, frame: int) -> float:
    return round(float(info.grid.pts[frame] * info.time_base), 6)


def _frame_entry(out: Path, info: VideoInfo, p: Placed, output: Output, dest: Path, size: int) -> FrameEntry:
    face = output.face
    return FrameEntry(
        path=dest.relative_to(out).as_posix(),
        index=p.target.number,
        position=float(p.target.position),
        target_s=round(float(p.target.target_s), 6),
        pts_s=_pts_s(info, p.frame),
        bytes=size,
        box=list(face.box) if face else None,
        score=face.score if face else None,
        faces=face.faces if face else None,
        crop=list(face.crop) if face else None,
        size_px=[output.frame.width, output.frame.height] if face else None,
        miss=p.miss.reason if p.miss else None,
        fallback=p.fallback,
    )


def _remove_stale(out: Path, previous: LedgerEntry, keep: set[str]) -> None:
    """Frames an earlier run wrote under other params (e.g. more positions) that this run did not."""
    for path in {f.path for f in previous.frames}:
        if path not in keep:
            with contextlib.suppress(OSError):
                (out / path).unlink()


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
