"""`make bench`: dfdx against what a user could pick instead, side by side, in one run.

Every contender runs as its own process tree on the same corpus (benchmarks/make_corpus.py) with the
same cores, interleaved (A B C … A B C …, --rounds times); the figures are medians. Each contender's
JPEGs are read back (the index bar the corpus frames carry) and compared with the frames dfdx's plan
says are played at 1/3, 1/2 and 2/3: frame identity, not bytes. Then the decode-bound limit
(benchmarks/limit.py, CPU time on one core ÷ cores), the ratios, the overhead share of dfdx's wall
time, and the memory figure (peak RSS over a 10,000-entry dataset against a 100-entry one).
Results: benchmarks/results/<date>.json and latest.json (machine, versions, every round).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import io
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.make_corpus import BAR_HEIGHT, CORPUS, linked_copies, make_corpus  # noqa: E402
from dfdx.children import Children  # noqa: E402
from dfdx.config import DEFAULT_POSITIONS  # noqa: E402
from dfdx.extract.decoders.annexb import build_feed  # noqa: E402
from dfdx.extract.mp4 import Doubt  # noqa: E402
from dfdx.extract.plan import make_plan  # noqa: E402
from dfdx.extract.positions import evenly_spaced  # noqa: E402
from dfdx.extract.probe import VideoInfo, ffprobe_argv, probe  # noqa: E402
from dfdx.extract.probe_index import probe_index  # noqa: E402
from dfdx.extract.probe_index import read_index as read_tables  # noqa: E402
from dfdx.samples import make_video, read_index  # noqa: E402

PY = sys.executable
CORES = os.cpu_count() or 1
DENSE = 32  # DeepfakeBench's habit: 32 frames per video
SCALE = 4  # the at-scale rows: the two target paths on 4 links to each corpus file (48 videos)


@dataclass(slots=True)
class Contender:
    name: str
    kind: str  # "dfdx" (reads its ledger) or "baseline" ({video:03d}_{n}.jpg)
    argv: list[str]  # OUT and CONFIG are replaced per run
    needs: str | None = None  # a module that must be importable, else the contender is skipped
    seek: str = "exact"  # which frames it must write: dfdx's plan in this mode
    config: dict[str, object] = field(default_factory=dict)
    frames: int | None = None  # --frames N (dense targets at k/(N+1)) instead of 1/3, 1/2, 2/3
    copies: int = 1  # > 1: runs on that many links to each corpus file (make_corpus.linked_copies)


@dataclass(slots=True)
class Sample:
    wall_s: float
    cpu_s: float  # the whole tree: the process and every child it reaped
    root_cpu_s: float  # the top process alone (dfdx: encode, ledger, orchestration)
    peak_rss_mb: float  # of the whole tree at once


def contenders(videos: list[Path]) -> list[Contender]:
    files = [str(v) for v in videos]
    dfdx = [PY, "-m", "dfdx", "extract", "--config", "CONFIG", "-q"]
    base = HERE / "baselines"
    return [
        Contender("dfdx (ffmpeg grabber, default)", "dfdx", dfdx),
        Contender("dfdx (pyav grabber)", "dfdx", dfdx, needs="av", config={"extract": {"grabber": "pyav"}}),
        Contender("dfdx (ffmpeg grabber, probe: index)", "dfdx", dfdx, config={"extract": {"probe": "index"}}),
        Contender("dfdx (pyav grabber, probe: index)", "dfdx", dfdx, needs="av",
                  config={"extract": {"grabber": "pyav", "probe": "index"}}),
        Contender("OpenCV seek by index, 4 threads", "baseline",
                  [PY, str(base / "opencv_seek.py"), "--threads", "--jobs", "4", "--out", "OUT", *files],
                  needs="cv2"),
        Contender("PyAV seek + decode forward", "baseline",
                  [PY, str(base / "pyav_seek.py"), "--jobs", str(CORES), "--out", "OUT", *files], needs="av"),
        Contender("decord get_batch", "baseline",
                  [PY, str(base / "decord_frames.py"), "--jobs", str(CORES), "--out", "OUT", *files], needs="decord"),
        Contender("dfdx --seek keyframe (ffmpeg)", "dfdx", dfdx, seek="keyframe",
                  config={"extract": {"seek": "keyframe"}}),
        Contender("dfdx --seek keyframe (pyav)", "dfdx", dfdx, needs="av", seek="keyframe",
                  config={"extract": {"seek": "keyframe", "grabber": "pyav"}}),
        Contender(f"dfdx --frames {DENSE} (ffmpeg grabber, default)", "dfdx", dfdx, frames=DENSE,
                  config={"extract": {"frames": DENSE}}),
        Contender(f"dfdx --frames {DENSE} (pyav grabber, probe: index)", "dfdx", dfdx, needs="av", frames=DENSE,
                  config={"extract": {"frames": DENSE, "grabber": "pyav", "probe": "index"}}),
        Contender(f"dfdx x{SCALE} links (ffmpeg grabber, default)", "dfdx", dfdx, copies=SCALE),
        Contender(f"dfdx x{SCALE} links (pyav grabber, probe: index)", "dfdx", dfdx, needs="av", copies=SCALE,
                  config={"extract": {"grabber": "pyav", "probe": "index"}}),
    ]  # fmt: skip


def run_tree(argv: list[str], timeout_s: float = 600, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> Sample:
    """Run one process tree; wall time, CPU of the tree (rusage of the reaped tree), peak summed RSS."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    peak = [0]
    root_cpu = [0.0]
    done = threading.Event()

    def sample() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not done.is_set():
            try:
                times = root.cpu_times()
                root_cpu[0] = times.user + times.system
                total = root.memory_info().rss
                for child in root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        total += child.memory_info().rss
                peak[0] = max(peak[0], total)
            except psutil.Error:
                return
            done.wait(0.02)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        done.set()
        watcher.join()
    wall = time.monotonic() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[:4]} failed: {err[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, root_cpu[0], peak[0] / 2**20)


def read_frames(contender: Contender, out: Path, videos: list[Path], corpus: Path) -> dict[tuple[int, int], int]:
    """(video number, frame number) → the source frame index its JPEG shows; the video numbers of link k
    (`copies`) are k × the corpus's count on."""
    got = {}
    if contender.kind == "dfdx":
        number = {v.relative_to(corpus).as_posix(): i for i, v in enumerate(videos)}
        if contender.copies > 1:
            number = {f"copy{k}/{rel}": i + k * len(videos)
                      for k in range(contender.copies) for rel, i in number.items()}  # fmt: skip
        for line in (out / "extraction_ledger.jsonl").read_text().splitlines():
            entry = json.loads(line)
            for frame in entry["frames"]:
                jpeg = (out / frame["path"]).read_bytes()
                got[(number[entry["video"]], frame["index"])] = read_index(jpeg, BAR_HEIGHT)
    else:
        for jpeg in out.glob("*.jpg"):
            video, n = jpeg.stem.split("_")
            got[(int(video), int(n))] = read_index(jpeg.read_bytes(), BAR_HEIGHT)
    return got


async def expected_frames(videos: list[Path], seek: str, frames: int | None = None) -> dict[tuple[int, int], int]:
    """The frames played at each position (or the nearest keyframes), from dfdx's own plan (the frame grid
    ffprobe reads)."""
    children = Children(CORES)
    infos = await asyncio.gather(*(probe(v, children, 120) for v in videos))
    positions = evenly_spaced(frames) if frames else DEFAULT_POSITIONS
    return {
        (i, t.number): t.frame
        for i, info in enumerate(infos)
        for t in make_plan(info, positions, seek).targets
    }


def probe_cpu_s(videos: list[Path]) -> float:
    """CPU seconds dfdx's own ffprobe command needs for the whole corpus (dfdx probes each video once)."""
    before = os.times()
    for video in videos:
        subprocess.run(ffprobe_argv(video), check=True, capture_output=True)
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def probe_comparison(videos: list[Path], rounds: int = 5) -> dict[str, object]:
    """`probe: index` against the ffprobe child on the corpus: the same VideoInfo for every file (or a
    fallback, counted), then time per video — the index reading in this process (CPU and wall) against
    one ffprobe child each (its CPU, and wall to its answer), best of `rounds` sweeps."""

    async def by_ffprobe(video: Path) -> VideoInfo:
        return await probe(video, Children(1), 120)

    in_process = sum(1 for v in videos if _reads(v))
    same = sum(1 for v in videos if asyncio.run(by_ffprobe(v)) == asyncio.run(probe_index(v, Children(1), 120)))
    index_cpu, index_wall, child_cpu, child_wall = [], [], [], []
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        for video in videos:
            read_tables(video)
        index_cpu.append(time.process_time() - c0)
        index_wall.append(time.perf_counter() - w0)
        t0, w0 = os.times(), time.perf_counter()
        for video in videos:
            asyncio.run(by_ffprobe(video))
        t1 = os.times()
        child_cpu.append((t1.children_user - t0.children_user) + (t1.children_system - t0.children_system))
        child_wall.append(time.perf_counter() - w0)
    n = len(videos)
    result = {"videos": n, "read_in_process": in_process, "same_videoinfo": same,
              "index_cpu_ms": round(min(index_cpu) / n * 1000, 2),
              "index_wall_ms": round(min(index_wall) / n * 1000, 2),
              "ffprobe_cpu_ms": round(min(child_cpu) / n * 1000, 2),
              "ffprobe_wall_ms": round(min(child_wall) / n * 1000, 2)}  # fmt: skip
    result["speedup_cpu"] = round(result["ffprobe_cpu_ms"] / max(result["index_cpu_ms"], 1e-3), 1)
    result["speedup_wall"] = round(result["ffprobe_wall_ms"] / max(result["index_wall_ms"], 1e-3), 1)
    return result


def decoder_builds(videos: list[Path], rounds: int = 2) -> dict[str, float] | None:
    """The same H.264 packets — each video's feed for its 3 targets (its groups' IDRs, the reference frames
    after them, the targets: dfdx.extract.decoders.annexb) — decoded to nothing, one thread, by Debian's ffmpeg
    CLI (the default path's decoder; its CPU less one bare start a video) and by PyAV's FFmpeg build (the
    pyav path's, and the limit's); best of `rounds`. PyAV's figure includes its stream probing (a few ms a
    feed), so the ratio leans, if anything, in Debian's favour."""
    if importlib.util.find_spec("av") is None:
        return None
    import av

    feeds = []
    for video in videos:
        if not _reads(video):  # a file the in-process reading doubts: left out of this comparison
            continue
        info = read_tables(video)
        feed = build_feed(video, info, make_plan(info, DEFAULT_POSITIONS))
        if feed is not None:
            feeds.append(feed.stream)
    start = spawn_cpu_s(["ffmpeg", "-version"])
    argv = ["ffmpeg", "-v", "error", "-nostdin", "-f", "h264", "-threads", "1", "-i", "pipe:0", "-f", "null", "-"]
    cli, lib = [], []
    for _ in range(rounds):
        t0 = os.times()
        for stream in feeds:
            subprocess.run(argv, input=stream, check=True, capture_output=True)
        t1 = os.times()
        spent = (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
        cli.append(spent - start * len(feeds))
        c0 = time.process_time()
        for stream in feeds:
            with av.open(io.BytesIO(stream), format="h264") as container:
                decoded = container.streams.video[0]
                decoded.codec_context.thread_count = 1
                for _ in container.decode(decoded):
                    pass
        lib.append(time.process_time() - c0)
    return {"feeds": len(feeds), "ffmpeg_cli_cpu_s": round(min(cli), 3), "pyav_cpu_s": round(min(lib), 3),
            "ratio": round(min(cli) / min(lib), 3)}  # fmt: skip


def _reads(video: Path) -> bool:
    try:
        read_tables(video)
    except Doubt:
        return False
    return True


def spawn_cpu_s(argv: list[str], times: int = 5) -> float:
    """CPU seconds one start of `argv` costs (a child that starts and does next to nothing)."""
    before = os.times()
    for _ in range(times):
        subprocess.run(argv, check=True, capture_output=True)
    after = os.times()
    return ((after.children_user - before.children_user) + (after.children_system - before.children_system)) / times


def startup_cpu_s(work: Path) -> dict[str, float]:
    """dfdx's one-off CPU (interpreter, imports, version check, ledger and report, worker start): its own
    process tree over a dataset of one tiny video: an upper bound of the part that does not grow with videos."""
    tiny = make_video(work / "tiny" / "DFD_original_sequences" / "01__tiny.mp4", frames=10, size=(64, 36))
    found = {}
    for grabber in ("ffmpeg", "pyav"):
        if grabber == "pyav" and importlib.util.find_spec("av") is None:
            continue
        config = work / "tiny.json"
        out = work / f"tiny-{grabber}"
        config.write_text(json.dumps({"dataset_path": str(tiny.parent.parent), "output_dir": str(out),
                                      "extract": {"grabber": grabber}}))  # fmt: skip
        found[grabber] = round(run_tree([PY, "-m", "dfdx", "extract", "--config", str(config), "-q"]).cpu_s, 3)
    return found


def memory_figure(work: Path, seconds_big: float) -> dict[str, object]:
    """Peak RSS of dfdx over 100 entries (the whole run) and over 10,000 (links to 4 small files; the
    run is stopped with SIGINT after `seconds_big` s: 10,000 ffprobe spawns alone would take minutes)."""
    smalls = [make_video(work / f"small{i}.mp4", frames=20 + i, size=(64, 36)) for i in range(4)]
    result: dict[str, object] = {}
    for count in (100, 10_000):
        root = work / f"ds{count}"
        folder = root / "DFD_original_sequences"
        folder.mkdir(parents=True)
        for i in range(count):
            (folder / f"{i:05d}__link.mp4").symlink_to(smalls[i % 4])
        out = work / f"out{count}"
        argv = [PY, "-m", "dfdx", "extract", "--dataset-path", str(root), "--output-dir", str(out), "-q"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        root_proc = psutil.Process(proc.pid)
        peak_self = 0
        trace = []
        t0 = time.monotonic()
        stopped = False
        while proc.poll() is None:
            try:
                rss = root_proc.memory_info().rss
            except psutil.Error:
                break
            peak_self = max(peak_self, rss)
            elapsed = time.monotonic() - t0
            if not trace or elapsed - trace[-1][0] >= 1:
                trace.append((round(elapsed, 1), round(rss / 2**20, 1)))
            if count > 100 and elapsed > seconds_big and not stopped:
                proc.send_signal(signal.SIGINT)
                stopped = True
            time.sleep(0.02)
        proc.wait()
        ledger = out / "extraction_ledger.jsonl"
        done = len(ledger.read_text().splitlines()) if ledger.exists() else 0
        result[str(count)] = {"entries": count, "videos_done": done, "peak_rss_mb": round(peak_self / 2**20, 1),
                              "stopped_after_s": seconds_big if stopped else None, "rss_trace_mb": trace}
    return result


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split()
    found["ffmpeg"] = first[2] if len(first) > 2 else "unknown"
    for module in ("av", "cv2", "decord", "simplejpeg", "numpy", "torchcodec"):
        if importlib.util.find_spec(module) is not None:
            mod = __import__(module)
            found[module] = str(getattr(mod, "__version__", "unknown"))
    return found


def machine(load_at_start: tuple[float, float, float] | None = None) -> dict[str, object]:
    """The machine, and its load average when the run began (`load_at_start`, taken before any contender ran)."""
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cores": CORES, "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "os": platform.platform(), "load_avg_at_start": load_at_start or os.getloadavg()}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--memory-seconds", type=float, default=40, help="how long the 10,000-entry run goes on")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    load_at_start = os.getloadavg()  # before any contender runs (the report prints it beside the load at the end)
    videos = make_corpus(args.corpus)
    corpus = args.corpus.resolve()
    expected = {seek: asyncio.run(expected_frames(videos, seek)) for seek in ("exact", "keyframe")}
    expected["dense"] = asyncio.run(expected_frames(videos, "exact", DENSE))
    for video in videos:  # warm the page cache: every contender then reads from memory
        video.read_bytes()
    all_contenders = contenders(videos)
    skipped = {c.name: c.needs for c in all_contenders if c.needs and importlib.util.find_spec(c.needs) is None}
    active = [c for c in all_contenders if c.name not in skipped]
    samples: dict[str, list[Sample]] = {c.name: [] for c in active}
    limit_runs: list[dict[str, float]] = []
    identity: dict[str, dict[str, object]] = {}
    work = Path(tempfile.mkdtemp(prefix="dfdx-bench-"))
    linked = linked_copies(corpus, videos, SCALE, work / "linked")
    try:
        for rnd in range(1, args.rounds + 1):
            for contender in active:
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                config = work / "config.json"
                dataset = str(linked if contender.copies > 1 else corpus)
                config.write_text(json.dumps({"dataset_path": dataset, "output_dir": str(out), **contender.config}))
                argv = [str(out) if a == "OUT" else str(config) if a == "CONFIG" else a for a in contender.argv]
                sample = run_tree(argv)
                samples[contender.name].append(sample)
                print(f"[bench] round {rnd} {contender.name}: {sample.wall_s:.2f} s", file=sys.stderr, flush=True)
                if rnd == 1:
                    got = read_frames(contender, out, videos, corpus)
                    want = expected["dense" if contender.frames else contender.seek]
                    want = {(i + k * len(videos), n): f for k in range(contender.copies) for (i, n), f in want.items()}
                    wrong = sorted(k for k in want if got.get(k) != want[k])
                    identity[contender.name] = {"frames": len(want), "wrong": len(wrong), "seek": contender.seek,
                                                "examples": [(k, want[k], got.get(k)) for k in wrong[:5]]}
            limit_runs.append(json.loads(subprocess.run([PY, str(HERE / "limit.py"), *map(str, videos)], check=True,
                                                        capture_output=True, text=True).stdout))  # fmt: skip
            print(f"[bench] round {rnd} limit: {limit_runs[-1]['group_s']:.2f} CPU s", file=sys.stderr, flush=True)
        probe_s = probe_cpu_s(videos)
        probes = probe_comparison(videos)
        builds = decoder_builds(videos)
        startup = startup_cpu_s(work)
        spawn = {
            "ffmpeg": spawn_cpu_s(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "nullsrc=s=16x16", "-frames:v", "1",
                                   "-f", "null", "-"]) * len(videos),
            # what a PyAV worker imports before its first request (python -m runs the same module)
            "pyav": (spawn_cpu_s([PY, "-c", "import dfdx.extract.decoders.pyav_worker"]) * CORES
                     if importlib.util.find_spec("av") else 0.0),
        }  # fmt: skip
        memory = None if args.no_memory else memory_figure(work / "memory", args.memory_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n_videos, n_frames = len(videos), len(expected["exact"])
    rows = {}
    copies = {c.name: c.copies for c in active}
    for name, runs in samples.items():
        wall = statistics.median(s.wall_s for s in runs)
        rows[name] = {
            "wall_s": round(wall, 3),
            "wall_s_runs": [round(s.wall_s, 3) for s in runs],
            "videos": n_videos * copies[name],
            "videos_per_s": round(n_videos * copies[name] / wall, 3),
            "frames": identity[name]["frames"],
            "frames_per_s": round(identity[name]["frames"] / wall, 3),
            "cpu_s_per_video": round(statistics.median(s.cpu_s for s in runs) / (n_videos * copies[name]), 3),
            "root_cpu_s": round(statistics.median(s.root_cpu_s for s in runs), 3),
            "peak_rss_mb": round(max(s.peak_rss_mb for s in runs), 1),
            "wrong_frames": identity[name]["wrong"],
        }
    limit_group = statistics.median(r["group_s"] for r in limit_runs) / CORES
    limit_target = statistics.median(r["target_s"] for r in limit_runs) / CORES
    limit_dense = statistics.median(r["dense_s"] for r in limit_runs) / CORES
    encode_cpu = statistics.median(r["encode_s"] for r in limit_runs)  # CPU s of the corpus's JPEG encodes, in all
    result: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"), "machine": machine(load_at_start), "versions": versions(),
        "corpus": {"videos": n_videos, "frames": n_frames, "files": [v.relative_to(corpus).as_posix() for v in videos]},
        "rounds": args.rounds, "contenders": rows, "skipped": skipped, "identity": identity,
        "limit": {"group_s": round(limit_group, 3), "per_target_s": round(limit_target, 3),
                  "dense_s": round(limit_dense, 3), "encode_cpu_s": round(encode_cpu, 3), "runs": limit_runs},
        "probe_cpu_s": round(probe_s, 3), "probe_comparison": probes, "decoder_builds": builds,
        "spawn_cpu_s": {k: round(v, 3) for k, v in spawn.items()},
        "startup_cpu_s": startup,
        "memory": memory,
    }  # fmt: skip
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    text = report(result)
    print(text)
    result["table"] = text
    (HERE / "results").mkdir(exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    for name in (f"{stamp}.json", "latest.json"):
        (HERE / "results" / name).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def report(result: dict[str, Any]) -> str:
    rows: dict[str, dict[str, Any]] = result["contenders"]
    n_videos = result["corpus"]["videos"]
    n_frames = result["corpus"]["frames"]
    limit = result["limit"]["group_s"]
    load = [round(result["machine"][key][0], 1) for key in ("load_avg_at_start", "load_avg_at_end")]
    lines = [
        f"{n_videos} videos, {n_frames} frames, {result['machine']['cores']} cores, "
        f"median of {result['rounds']} interleaved rounds; load average {load[0]} at start, {load[1]} at end",
        "",
        "| contender | right frames | videos/s | frames/s | CPU s/video | peak RSS (tree) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        exact = f"{row['frames'] - row['wrong_frames']}/{row['frames']}"
        if result["identity"][name]["seek"] == "keyframe":
            exact += " nearest keyframes"
        lines.append(f"| {name} | {exact} | {row['videos_per_s']:.2f} | {row['frames_per_s']:.1f} | "
                     f"{row['cpu_s_per_video']:.2f} | {row['peak_rss_mb']:.0f} MB |")  # fmt: skip
    lines.append(f"| decode-bound limit (one pass per GOP, non-ref skipped, q95) | - | {n_videos / limit:.2f} | "
                 f"{n_frames / limit:.1f} | {limit * result['machine']['cores'] / n_videos:.2f} | - |")
    dense = result["limit"].get("dense_s")
    if dense:
        lines.append(f"| --frames {DENSE} reference (one full decode pass, every frame, + {DENSE} q95 encodes) | - | "
                     f"{n_videos / dense:.2f} | {DENSE * n_videos / dense:.1f} | "
                     f"{dense * result['machine']['cores'] / n_videos:.2f} | - |")
    for name, why in result["skipped"].items():
        lines.append(f"| {name} | not run: `{why}` is not installed | | | | |")
    lines += ["", "Ratios (videos/s; > 1 means dfdx is faster):"]
    dfdx_names = [n for n in rows if n.startswith("dfdx (")]
    dense_names = [n for n in rows if n.startswith("dfdx --frames")]
    peers = [n for n in rows if not n.startswith("dfdx")]
    for mine in dfdx_names:
        for peer in peers:
            lines.append(f"  {mine} / {peer}: {rows[mine]['videos_per_s'] / rows[peer]['videos_per_s']:.2f}")
        lines.append(f"  limit time / {mine} time: {limit / rows[mine]['wall_s']:.2f} "
                     f"(per-target limit: {result['limit']['per_target_s'] / rows[mine]['wall_s']:.2f}); "
                     f"in CPU seconds, which other load on the machine does not skew: "
                     f"{limit * result['machine']['cores'] / n_videos / rows[mine]['cpu_s_per_video']:.2f}")
    for mode in ("ffmpeg", "pyav"):
        key = f"dfdx --seek keyframe ({mode})"
        exact = "dfdx (ffmpeg grabber, default)" if mode == "ffmpeg" else "dfdx (pyav grabber)"
        if key in rows and exact in rows:
            lines.append(f"  --seek keyframe speed-up ({mode}): {rows[exact]['wall_s'] / rows[key]['wall_s']:.2f}x")
    targets = {"dfdx (ffmpeg grabber, default)": 0.75, "dfdx (pyav grabber, probe: index)": 0.9}
    for mine, want in targets.items():
        if mine in rows:
            lines.append(f"  target: limit time / {mine} time >= {want}: {limit / rows[mine]['wall_s']:.2f}")
    for mine in targets:
        big = mine.replace("dfdx (", f"dfdx x{SCALE} links (")
        if mine in rows and big in rows:
            wall, wall_big = rows[mine]["wall_s"], rows[big]["wall_s"]
            lines.append(f"  at scale, {big}: {rows[big]['videos']} videos, limit time / its time "
                         f"{limit * SCALE / wall_big:.2f}; each video past the first {n_videos} "
                         f"(({wall_big:.2f} - {wall:.2f}) s / {rows[big]['videos'] - n_videos}, no one-off costs): "
                         f"limit / that {limit * (SCALE - 1) / (wall_big - wall):.2f}")  # fmt: skip
    for mine in dense_names:
        lines.append(f"  {mine}: {rows[mine]['wall_s']:.2f} s wall = {rows[mine]['wall_s'] / dense:.2f} x the "
                     f"--frames {DENSE} reference ({dense:.2f} s; target <= 1.1)")
    probes = result.get("probe_comparison")
    if probes:
        lines += ["", f"Probe alone, per video (best of 5 sweeps of the corpus): probe: index "
                      f"{probes['index_cpu_ms']:.2f} ms CPU / {probes['index_wall_ms']:.2f} ms wall in process; the "
                      f"ffprobe child {probes['ffprobe_cpu_ms']:.1f} ms CPU / {probes['ffprobe_wall_ms']:.1f} ms wall: "
                      f"{probes['speedup_cpu']:.0f}x less CPU, {probes['speedup_wall']:.0f}x less wall "
                      f"(target >= 10x). "
                      f"Read in process: {probes['read_in_process']}/{probes['videos']}; the same VideoInfo as "
                      f"ffprobe's: {probes['same_videoinfo']}/{probes['videos']}."]  # fmt: skip
    builds = result.get("decoder_builds")
    if builds:
        lines += ["", f"Decoder builds, on the same packets ({builds['feeds']} feeds: each video's IDRs, reference "
                      f"frames and targets), one thread, decoded to nothing: Debian's ffmpeg CLI "
                      f"{builds['ffmpeg_cli_cpu_s']:.2f} CPU s (its starts taken out), PyAV's FFmpeg (the limit's) "
                      f"{builds['pyav_cpu_s']:.2f} CPU s: the default path's decoder needs {builds['ratio']:.2f}x the "
                      f"limit's for the same frames."]  # fmt: skip
    encode = result["limit"].get("encode_cpu_s", 0.0)
    lines += ["", "Overhead share of dfdx's wall time, outside decoding and encoding: (dfdx's own CPU [ledger, plan, "
                  "pipes, asyncio, imports, probe: index] - the JPEG encodes (limit.py's, the same libjpeg-turbo call) "
                  "+ ffprobe CPU + child starts) / (cores x wall):"]  # fmt: skip
    cores = result["machine"]["cores"]
    for mine in dfdx_names:
        spawn = result["spawn_cpu_s"]["pyav" if "pyav" in mine else "ffmpeg"]
        probe_s = 0.0 if "probe: index" in mine else result["probe_cpu_s"]  # in process: in dfdx's own CPU
        own = max(0.0, rows[mine]["root_cpu_s"] - encode)
        over = own + probe_s + spawn
        lines.append(f"  {mine}: ({rows[mine]['root_cpu_s']:.2f} - {encode:.2f} + {probe_s:.2f} + {spawn:.2f}) CPU s "
                     f"/ ({cores} x {rows[mine]['wall_s']:.2f} s) = {over / (cores * rows[mine]['wall_s']):.1%}")
        fixed = result["startup_cpu_s"].get("pyav" if "pyav" in mine else "ffmpeg")
        if fixed is not None:
            lines.append(f"    of which one-off (a 1-video run's tree: start, imports, report): {fixed:.2f} CPU s; "
                         f"without it: {max(0.0, over - fixed) / (cores * rows[mine]['wall_s']):.1%}")
    memory = result.get("memory")
    if memory:
        small, big = memory["100"], memory["10000"]
        lines += ["", f"Memory: peak RSS of dfdx {small['peak_rss_mb']} MB over 100 entries (all done); "
                      f"{big['peak_rss_mb']} MB over 10,000 entries ({big['videos_done']} done in "
                      f"{big['stopped_after_s']} s, then Ctrl-C)"]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
