"""Is a change slower? dfdx at a git revision against the working tree, on the benchmark corpus, side by side.

Each side runs `python -m dfdx extract` as its own process tree (the revision from a temporary git
worktree, imported first on PYTHONPATH; the working tree as installed), interleaved A B A B ...
`--rounds` times per grabber on the same cores; prints the median wall and CPU seconds of each side and
their ratio. Both sides must write the same frames: the ledgers' frame names and sizes are compared.
Used for refactors, whose promise is "no slowdown beyond run-to-run noise" (the rounds show the noise).

    python benchmarks/ab.py 553f58c --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.make_corpus import CORPUS, make_corpus  # noqa: E402
from benchmarks.run import run_tree  # noqa: E402


def frames_of(out: Path) -> dict[str, list[tuple[str, int]]]:
    state: dict[str, list[tuple[str, int]]] = {}
    for line in (out / "extraction_ledger.jsonl").read_text().splitlines():
        entry = json.loads(line)
        state[entry["video"]] = [(f["path"], f["bytes"]) for f in entry["frames"]]
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("revision", help="the git revision to compare the working tree with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--grabbers", default="ffmpeg,pyav")
    args = parser.parse_args()
    make_corpus(CORPUS)
    with tempfile.TemporaryDirectory(prefix="dfdx-ab-") as tmp:
        work = Path(tmp)
        before = work / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(before), args.revision],
                       check=True)  # fmt: skip
        try:
            sides = {"before": {**os.environ, "PYTHONPATH": str(before)}, "after": dict(os.environ)}
            for grabber in args.grabbers.split(","):
                walls: dict[str, list[float]] = {side: [] for side in sides}
                cpus: dict[str, list[float]] = {side: [] for side in sides}
                frames: dict[str, object] = {}
                for round_ in range(args.rounds):
                    for side, env in sides.items():
                        out = work / f"out-{side}-{grabber}-{round_}"
                        argv = [sys.executable, "-m", "dfdx", "extract", "--dataset-path", str(CORPUS),
                                "--output-dir", str(out), "--grabber", grabber, "-q"]  # fmt: skip
                        # `python -m` puts the working directory first on sys.path: each side runs in its own tree
                        sample = run_tree(argv, env=env, cwd=before if side == "before" else ROOT)
                        walls[side].append(sample.wall_s)
                        cpus[side].append(sample.cpu_s)
                        frames.setdefault(side, frames_of(out))
                same = frames["before"] == frames["after"]
                wall = {s: statistics.median(v) for s, v in walls.items()}
                cpu = {s: statistics.median(v) for s, v in cpus.items()}
                print(f"grabber {grabber}: same frames {same}; {args.rounds} rounds")
                for side in sides:
                    print(f"  {side:<6} wall {wall[side]:6.2f} s (rounds {', '.join(f'{w:.2f}' for w in walls[side])})"
                          f"  cpu {cpu[side]:6.2f} s")
                ratio_wall, ratio_cpu = wall["after"] / wall["before"], cpu["after"] / cpu["before"]
                print(f"  after/before: wall {ratio_wall:.3f}, cpu {ratio_cpu:.3f}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
