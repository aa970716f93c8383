"""`dfdx verify`: check every frame the ledger names, and the disk against the ledger.

Extraction writes atomically, but disks fill, copies get cut short and people edit folders by hand;
a training run that trips over a truncated JPEG after six hours is the failure this prevents. Every
frame is decoded completely (libjpeg reads every entropy-coded byte even when it scales down, so a
truncated file is caught), in a thread pool (simplejpeg releases the GIL). Problems make the exit
code 1; suspicious content (black fades, frozen video) is only flagged, since it may be real footage.
`--fix` re-queues the videos with bad frames: their bad frames are removed and a `requeued` ledger
line makes the next `dfdx extract` redo them; orphans and temp files are removed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg

from dfdx.clock import utc_now
from dfdx.files import TEMP_PREFIX, write_text_atomic
from dfdx.layout import ASSETS_DIR, VERIFY_NAME
from dfdx.ledger import FrameEntry, LedgerEntry, append_entries, ledger_path, load_state, require_ledger
from dfdx.lock import OutputLock

EXAMPLES_PER_KIND = 5
# Problems of one frame file: the video is re-queued by --fix.
FRAME_PROBLEMS = ("missing", "unreadable", "empty", "not_jpeg", "truncated", "corrupt", "wrong_size", "changed")
DISK_PROBLEMS = ("orphan", "temp_file")
FLAGS = ("near_uniform", "duplicate", "near_duplicate")
NEAR_UNIFORM_STD = 4.0  # luma standard deviation (0-255) below which a frame is one flat colour
NEAR_DUPLICATE_MAD = 1.0  # mean absolute luma difference of 16x16 block means below which two frames look alike
SIGNATURE_GRID = 16
DECODE_MIN_SIDE = 64  # decode scaled down (DCT scaling) but never below this: fast, still reads every byte


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    path: str  # relative to the output dir, POSIX
    video: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class FrameCheck:
    """One frame file read back: its problem (if any) and what the content checks need."""

    frame: FrameEntry
    problem: Finding | None
    digest: str | None = None
    std: float | None = None
    signature: np.ndarray | None = None


@dataclass(slots=True)
class Verification:
    findings: list[Finding]
    videos: int
    frames: int
    bytes: int
    seconds: float
    by_category: dict[str, Counter[str]]
    requeued: list[str]
    ledger_warnings: list[str]
    fixed: dict[str, list[str]] | None = None

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.kind not in FLAGS]

    @property
    def clean(self) -> bool:
        """Nothing wrong and nothing pending: re-queued videos are missing until `dfdx extract` runs."""
        return not self.problems and not self.requeued

    @property
    def flags(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in FLAGS]


def expected_size(entry: LedgerEntry, frame: FrameEntry) -> tuple[int | None, int | None]:
    """The size the ledger says a frame's image has: a face crop's own, else the video's."""
    if frame.size_px is not None:
        return frame.size_px[0], frame.size_px[1]
    return entry.width, entry.height


def check_frame(out: Path, frame: FrameEntry, video: str, width: int | None, height: int | None) -> FrameCheck:
    """Read and fully decode one frame; the first thing wrong with it is its problem."""

    def bad(kind: str, detail: str) -> FrameCheck:
        return FrameCheck(frame, Finding(kind, frame.path, video, detail))

    try:
        data = (out / frame.path).read_bytes()
    except FileNotFoundError:
        return bad("missing", "named by the ledger, not on disk")
    except OSError as exc:
        return bad("unreadable", exc.strerror or str(exc))
    if not data:
        return bad("empty", "zero bytes")
    if not data.startswith(b"\xff\xd8"):
        return bad("not_jpeg", f"starts with {data[:4].hex()}, not the JPEG SOI marker ffd8")
    if not data.endswith(b"\xff\xd9"):
        return bad("truncated", f"{len(data)} bytes (the ledger says {frame.bytes}); no EOI marker at the end")
    try:
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
        if width and height and (w, h) != (width, height):
            what = "the ledger says" if frame.size_px is not None else "the video is"
            return bad("wrong_size", f"{w}x{h}, {what} {width}x{height}")
        luma = simplejpeg.decode_jpeg(data, colorspace="GRAY", fastdct=True, fastupsample=True,
                                      min_height=min(h, DECODE_MIN_SIDE), min_width=min(w, DECODE_MIN_SIDE))
    except ValueError as exc:
        kind = "truncated" if "premature end" in str(exc).lower() else "corrupt"
        return bad(kind, f"does not decode: {exc}")
    if len(data) != frame.bytes:
        return bad("changed", f"{len(data)} bytes, the ledger says {frame.bytes}: not the file dfdx wrote")
    plane = luma[..., 0].astype(np.float32)
    return FrameCheck(frame, None, digest=hashlib.blake2b(data, digest_size=16).hexdigest(),
                      std=float(plane.std()), signature=_signature(plane))  # fmt: skip


def _signature(plane: np.ndarray) -> np.ndarray:
    """Block means on a small grid: equal for the same picture re-encoded, far apart for different ones."""
    grid = min(SIGNATURE_GRID, *plane.shape)
    h, w = plane.shape[0] // grid * grid, plane.shape[1] // grid * grid
    return plane[:h, :w].reshape(grid, h // grid, grid, w // grid).mean(axis=(1, 3))


def content_flags(video: str, checks: list[FrameCheck]) -> list[Finding]:
    """Flags within one video: flat frames, and frames that repeat an earlier one exactly or nearly."""
    flags = []
    good = [c for c in checks if c.problem is None]
    for check in good:
        if check.std is not None and check.std < NEAR_UNIFORM_STD:
            flags.append(Finding("near_uniform", check.frame.path, video,
                                 f"luma standard deviation {check.std:.2f} (black fade? flat card?)"))  # fmt: skip
    first_with_digest: dict[str, FrameCheck] = {}
    # Mean absolute difference of every pair's signatures at once (frames of one video share a size).
    sigs = [c.signature for c in good]
    same_shape = bool(sigs) and all(sig is not None and sig.shape == sigs[0].shape for sig in sigs)
    mad = np.abs(np.stack(sigs)[:, None] - np.stack(sigs)[None, :]).mean(axis=(2, 3)) if same_shape else None
    for i, later in enumerate(good):
        earlier = first_with_digest.setdefault(later.digest, later)
        if earlier is not later:
            flags.append(Finding("duplicate", later.frame.path, video, f"same bytes as {earlier.frame.path}"))
            continue
        close = [j for j in range(i) if mad is not None and mad[i, j] < NEAR_DUPLICATE_MAD]
        if close:
            j = close[0]
            flags.append(Finding("near_duplicate", later.frame.path, video,
                                 f"looks like {good[j].frame.path} (mean difference {mad[i, j]:.2f})"))  # fmt: skip
    return flags


def scan_disk(out: Path, known: set[str]) -> list[Finding]:
    """Files the ledger does not know: temp files anywhere, and any other file in a frame folder."""
    findings = []
    for tmp in sorted(out.glob(f"{TEMP_PREFIX}*")):
        findings.append(Finding("temp_file", tmp.name, None, "left by an interrupted run"))
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and p.name != ASSETS_DIR):
        for path in _files_under(folder):
            rel = path.relative_to(out).as_posix()
            if path.name.startswith(TEMP_PREFIX):
                findings.append(Finding("temp_file", rel, None, "left by an interrupted run"))
            elif rel not in known:
                findings.append(Finding("orphan", rel, None, "unknown to the ledger (a loader would train on it)"))
    return findings


def _files_under(folder: Path) -> Iterator[Path]:
    for dirpath, _, names in os.walk(folder):
        for name in sorted(names):
            yield Path(dirpath) / name


def verify(out: Path, fix: bool = False, workers: int | None = None) -> Verification:
    """Check the output folder (under its lock, so no extraction changes it meanwhile)."""
    t0 = time.monotonic()
    with OutputLock(out):
        ledger = load_state(out)
        problems, state = ledger.problems, ledger.videos
        done = [e for e in state.values() if e.status == "ok"]
        known = {f.path for e in state.values() if e.status in ("ok", "requeued") for f in e.frames}
        jobs = [(e, f) for e in done for f in e.frames]
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            checks = list(pool.map(lambda job: check_frame(out, job[1], job[0].video, *expected_size(*job)),
                                   jobs, chunksize=16))  # fmt: skip
        by_video: dict[str, list[FrameCheck]] = defaultdict(list)
        for (entry, _), check in zip(jobs, checks, strict=True):
            by_video[entry.video].append(check)
        findings = [c.problem for c in checks if c.problem is not None]
        for video, video_checks in by_video.items():
            findings.extend(content_flags(video, video_checks))
        findings.extend(scan_disk(out, known))
        by_category: dict[str, Counter[str]] = defaultdict(Counter)
        category_of = {e.video: e.category for e in done}
        for entry in done:
            by_category[entry.category]["videos"] += 1
            by_category[entry.category]["frames"] += len(entry.frames)
        for finding in findings:
            if finding.video is not None:
                by_category[category_of[finding.video]]["flags" if finding.kind in FLAGS else "problems"] += 1
        result = Verification(
            findings=findings,
            videos=len(done),
            frames=len(jobs),
            bytes=sum(f.bytes for _, f in jobs),
            seconds=time.monotonic() - t0,
            by_category=dict(by_category),
            requeued=sorted(e.video for e in state.values() if e.status == "requeued"),
            ledger_warnings=[str(p) for p in problems],
        )
        if fix:
            result.fixed = apply_fix(out, state, findings)
        write_verification(out, result)
    return result


def apply_fix(out: Path, state: dict[str, LedgerEntry], findings: list[Finding]) -> dict[str, list[str]]:
    """Remove bad frames, orphans and temp files; append a `requeued` line for each affected video."""
    bad: dict[str, list[Finding]] = defaultdict(list)
    removed = []
    for finding in findings:
        if finding.kind in FRAME_PROBLEMS and finding.video is not None:
            bad[finding.video].append(finding)
        if finding.kind in FRAME_PROBLEMS + DISK_PROBLEMS and _unlink(out / finding.path):
            removed.append(finding.path)
    now = utc_now()
    run_id = f"verify-{uuid.uuid4().hex[:8]}"
    lines = []
    for video, video_findings in sorted(bad.items()):
        kinds = ", ".join(sorted({f.kind for f in video_findings}))
        lines.append(dataclasses.replace(state[video], status="requeued", error=f"verify: {kinds}",
                                         started_at=now, finished_at=now, elapsed_s=0.0, run_id=run_id))  # fmt: skip
    if lines:
        asyncio.run(append_entries(ledger_path(out), lines))
    return {"requeued": sorted(bad), "removed": removed}




def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def to_json(out: Path, v: Verification) -> dict[str, Any]:
    def grouped(kinds: tuple[str, ...]) -> dict[str, Any]:
        groups: dict[str, list[Finding]] = defaultdict(list)
        for finding in v.findings:
            if finding.kind in kinds:
                groups[finding.kind].append(finding)
        return {
            kind: {"count": len(items), "examples": [dataclasses.asdict(f) for f in items[:EXAMPLES_PER_KIND]]}
            for kind, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        }

    return {
        "generated_at": utc_now("seconds"),
        "output_dir": os.path.abspath(out),
        "clean": v.clean,
        "checked": {
            "videos": v.videos,
            "frames": v.frames,
            "bytes": v.bytes,
            "seconds": round(v.seconds, 3),
            "frames_per_s": round(v.frames / v.seconds, 1) if v.seconds else None,
        },
        "categories": {
            cat: {k: c[k] for k in ("videos", "frames", "problems", "flags")}
            for cat, c in sorted(v.by_category.items())
        },
        "problems": grouped(FRAME_PROBLEMS + DISK_PROBLEMS),
        "flags": grouped(FLAGS),
        "findings": [dataclasses.asdict(f) for f in v.findings],
        "requeued": v.requeued,
        "ledger_warnings": v.ledger_warnings,
        "fixed": v.fixed,
    }


def write_verification(out: Path, v: Verification) -> None:
    write_text_atomic(out / VERIFY_NAME, json.dumps(to_json(out, v), indent=2) + "\n")


def summary_text(out: Path, v: Verification) -> str:
    rate = f"{v.frames / v.seconds:.0f}" if v.seconds else "n/a"
    lines = [f"dfdx verify: {v.frames} frames of {v.videos} videos in {out} checked in {v.seconds:.2f} s "
             f"({rate} frames/s)"]  # fmt: skip
    for cat, c in sorted(v.by_category.items()):
        lines.append(f"  {cat:>6}: {c['videos']} videos, {c['frames']} frames, {c['problems']} problems, "
                     f"{c['flags']} flags")  # fmt: skip
    for title, kinds in (("problems", FRAME_PROBLEMS + DISK_PROBLEMS), ("flags (suspicious, kept)", FLAGS)):
        counts = Counter(f.kind for f in v.findings if f.kind in kinds)
        if counts:
            lines.append(f"  {title}:")
        for kind, n in counts.most_common():
            example = next(f for f in v.findings if f.kind == kind)
            lines.append(f"    {kind} x{n}: e.g. {example.path} ({example.detail})")
    if v.requeued:
        lines.append(f"  {len(v.requeued)} video(s) re-queued, frames incomplete until `dfdx extract` redoes them")
    for warning in v.ledger_warnings[:5]:
        lines.append(f"  {warning}")
    if v.fixed is not None:
        lines.append(f"  fixed: {len(v.fixed['requeued'])} video(s) re-queued, {len(v.fixed['removed'])} file(s) "
                     "removed; run `dfdx extract` with the same config to repair them")  # fmt: skip
    elif v.problems:
        lines.append("  nothing was changed; `dfdx verify --fix` re-queues the bad videos, then `dfdx extract`")
    result = "clean" if v.clean else f"{len(v.problems)} problem(s), {len(v.requeued)} video(s) re-queued"
    lines.append(f"  result: {result}; report: {out / VERIFY_NAME}")
    return "\n".join(lines)


def run_verify(out: Path, fix: bool = False, workers: int | None = None, quiet: bool = False) -> int:
    """The command: 0 clean, 1 problems found (fixed or not) or videos awaiting re-extraction."""
    require_ledger(out, "nothing to verify; ")
    result = verify(out, fix=fix, workers=workers)
    if not quiet or not result.clean:
        print(summary_text(out, result))
    return 0 if result.clean else 1
