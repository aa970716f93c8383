"""`dfdx split` on a DFD-like cast: 28 actors, 364 originals, 3,068 fakes over 120 actor pairs.

Splits work on the ledger alone, so the cast is ledger entries with DFD's file names and no videos. The
pairs are drawn (seeded) from the 378 possible ones; each pair gets 25 or 26 fakes. Run it as
`python -m benchmarks.split_cast [--mode actors] [--seed 0]`: it prints the split table, the fakes kept
per split and the time the search took.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

from dfdx.ledger import FrameEntry, LedgerEntry

ACTORS = 28
ORIGINALS = 364
FAKES = 3068
PAIRS = 120
REAL_DIR = "DFD_original_sequences"
FAKE_DIR = "DFD_manipulated_sequences"


def ledger_entry(video: str, category: str, group: tuple[str, ...] = (), frames: int = 3) -> LedgerEntry:
    return LedgerEntry(video=video, category=category, status="ok", params={}, finished_at="", started_at="",
                       elapsed_s=0.0, run_id="cast", group=list(group),
                       frames=[FrameEntry(f"{category}/{i}_{video.replace('/', '_')}.jpg", i, 0.5, 0.0, 0.0, 1)
                               for i in range(1, frames + 1)])  # fmt: skip


def dfd_like_cast(seed: int = 0, with_groups: bool = False) -> dict[str, LedgerEntry]:
    """video → ledger entry. `with_groups` writes the identities as the dfd profile does (else they come
    from the names, as in ledgers older than the profiles)."""
    rng = random.Random(seed)
    actors = [f"{a:02d}" for a in range(1, ACTORS + 1)]
    pairs = rng.sample(list(itertools.combinations(actors, 2)), PAIRS)
    entries = {}
    for i in range(ORIGINALS):
        actor = actors[i % ACTORS]
        video = f"{REAL_DIR}/{actor}__scene_{i // ACTORS:02d}.mp4"
        entries[video] = ledger_entry(video, "real", (actor,) if with_groups else ())
    for i in range(FAKES):
        a, b = pairs[i % PAIRS]
        target, source = (a, b) if rng.random() < 0.5 else (b, a)
        video = f"{FAKE_DIR}/{target}_{source}__scene_{i // PAIRS:02d}__{i:08X}.mp4"
        entries[video] = ledger_entry(video, "ai", (a, b) if with_groups else ())
    return entries


def main() -> None:
    from dfdx.train.splits import make_splits, table_text

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", default="auto", choices=("auto", "groups", "actors"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    entries = dfd_like_cast()
    started = time.perf_counter()
    splits = make_splits(entries, (0.8, 0.1, 0.1), seed=args.seed, mode=args.mode)
    took = time.perf_counter() - started
    print(table_text(splits))
    kept = {s: per.get("ai", {}).get("videos", 0) for s, per in splits["counts"].items()}
    print(f"fakes kept: {sum(kept.values())} of {FAKES} ({sum(kept.values()) / FAKES:.0%}): {kept}; "
          f"left out: {splits['left_out_counts']}; mode {splits['mode']}; {took:.2f} s")


if __name__ == "__main__":
    main()
