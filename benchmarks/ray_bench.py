"""`make bench`, second part: what the Ray runner costs against the local runner, on the benchmark corpus,
on the same cores, in one run.

Three contenders, interleaved (A B C … A B C …, --rounds times), medians:
- `--runner local` (default workers = cores);
- `--runner ray --ray-address ADDR` on a one-node cluster of `cores` CPUs started once before the rounds:
  the overhead ratio is this wall over local's (target: ≤ 1.15). What it pays: importing Ray, joining,
  the shared-folder check, a Python worker per task slot (Ray starts workers per job), the shard
  ledgers, the report;
- `--runner ray` with no address: Ray started and stopped by the run itself, as on a laptop.
Cluster start cost: the wall time to start that one-node cluster here (`ray.cluster_utils`, which is
what `ray start --head` runs), and the self-started run's extra wall over the joined one's.
The frames of the first round are compared byte for byte between local and Ray.
Results: benchmarks/results/ray-<date>.json and ray-latest.json (`ray-x4-…` with --copies 4).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.make_corpus import CORPUS, linked_copies, make_corpus  # noqa: E402
from benchmarks.run import CORES, PY, machine, run_tree, versions  # noqa: E402

TARGET_RATIO = 1.15
STORE_BYTES = 128 * 1024 * 1024


def frames_of(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.glob("*/*.jpg"))
            if p.parent.name != "report_assets"}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--copies", type=int, default=1,
                        help="run on N links to each corpus file (the fixed cost of Ray over more work)")
    args = parser.parse_args()
    from ray.cluster_utils import Cluster

    started = dt.datetime.now(dt.UTC)
    load_at_start = os.getloadavg()
    corpus = args.corpus.resolve()
    videos = make_corpus(corpus)
    for video in videos:  # warm the page cache: every contender then reads from memory
        video.read_bytes()
    work = Path(tempfile.mkdtemp(prefix="dfdx-ray-bench-"))
    dataset = linked_copies(corpus, videos, args.copies, work / "dataset") if args.copies > 1 else corpus
    t0 = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args=dict(num_cpus=CORES, object_store_memory=STORE_BYTES,
                                                                include_dashboard=False))  # fmt: skip
    cluster.wait_for_nodes()
    cluster_start_s = time.monotonic() - t0
    base = [PY, "-m", "dfdx", "extract", "--dataset-path", str(dataset), "-q"]
    contenders = {
        "local": ["--runner", "local"],
        "ray, cluster up": ["--runner", "ray", "--ray-address", str(cluster.address)],
        "ray, started by the run": ["--runner", "ray"],
    }
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # the Cluster sets it; the runs choose
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    same_frames = None
    try:
        for rnd in range(1, args.rounds + 1):
            outs = {}
            for name, extra in contenders.items():
                out = outs[name] = work / name.replace(" ", "_").replace(",", "")
                shutil.rmtree(out, ignore_errors=True)
                sample = run_tree([*base, "--output-dir", str(out), *extra], env=env)
                walls[name].append(sample.wall_s)
                print(f"[bench] round {rnd} {name}: {sample.wall_s:.2f} s", file=sys.stderr, flush=True)
            if rnd == 1:
                local = frames_of(outs["local"])
                same_frames = len(local) > 0 and all(frames_of(o) == local for o in outs.values())
    finally:
        cluster.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    median = {name: statistics.median(w) for name, w in walls.items()}
    result: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"), "machine": machine(load_at_start), "versions": versions(),
        "videos": len(videos) * args.copies, "rounds": args.rounds, "cores": CORES,
        "wall_s": {n: round(m, 3) for n, m in median.items()},
        "wall_s_runs": {n: [round(x, 3) for x in w] for n, w in walls.items()},
        "overhead_ratio": round(median["ray, cluster up"] / median["local"], 3),
        "cluster_start_s": round(cluster_start_s, 3),
        "self_start_extra_s": round(median["ray, started by the run"] - median["ray, cluster up"], 3),
        "byte_identical_frames": same_frames,
    }  # fmt: skip
    text = report(result)
    print(text)
    result["table"] = text
    (HERE / "results").mkdir(exist_ok=True)
    stem = "ray" if args.copies == 1 else f"ray-x{args.copies}"
    for name in (f"{stem}-{started.strftime('%Y%m%dT%H%M%SZ')}.json", f"{stem}-latest.json"):
        (HERE / "results" / name).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def report(result: dict[str, Any]) -> str:
    n = result["videos"]
    lines = [f"Ray runner vs local: {n} videos, {result['cores']} cores, median of {result['rounds']} interleaved "
             "rounds", "", "| runner | wall s | videos/s |", "|---|---|---|"]  # fmt: skip
    for name, wall in result["wall_s"].items():
        lines.append(f"| {name} | {wall:.2f} | {n / wall:.2f} |")
    ratio = result["overhead_ratio"]
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    lines += ["", f"Overhead ratio (Ray wall, cluster up / local wall): {ratio:.2f} "
              f"(target <= {TARGET_RATIO}: {verdict})",
              f"Cluster start cost: {result['cluster_start_s']:.1f} s to start a {result['cores']}-CPU node here; "
              f"a run that starts its own Ray pays {result['self_start_extra_s']:.1f} s more than one that joins",
              f"Frames byte-identical between local and Ray: {result['byte_identical_frames']}"]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
