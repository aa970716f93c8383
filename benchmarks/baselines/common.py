"""What every baseline script shares: its command line, the frame index a position means, where a
frame goes. Baselines are written the way the scripts people migrate from are, not the way dfdx is."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True, help="where {video:03d}_{n}.jpg go")
    parser.add_argument("--positions", default="1/3,1/2,2/3")
    parser.add_argument("--jobs", type=int, default=2, help="concurrent videos")
    parser.add_argument("--threads", action="store_true", help="a thread pool instead of processes")
    parser.add_argument("videos", nargs="+", type=Path)
    args = parser.parse_args()
    args.positions = [Fraction(p) for p in args.positions.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def frame_index(position: Fraction, frame_count: int) -> int:
    """What the migration scripts compute: floor(p × N) (the frame played at p × duration for CFR)."""
    return min(frame_count - 1, math.floor(position * frame_count))


def frame_path(out: Path, video: int, number: int) -> Path:
    return out / f"{video:03d}_{number}.jpg"


def run_all(args: argparse.Namespace, one_video: Callable[[int, Path, list[Fraction], Path], None]) -> None:
    pool: Executor = ThreadPoolExecutor(args.jobs) if args.threads else ProcessPoolExecutor(args.jobs)
    with pool:
        futures = [pool.submit(one_video, i, v, args.positions, args.out) for i, v in enumerate(args.videos)]
        for future in futures:
            future.result()
