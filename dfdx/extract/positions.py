"""Which positions each category's videos get: `extract.positions`, `extract.frames` (N evenly spaced,
or N per category), or class balance.

Class balance: how many frames each category's videos get so that the classes end up about equal.

DFD has 3,068 manipulated videos and 363 originals: at 3 frames each, a classifier sees 8.5 fakes per
real face. `extract.balance: true` keeps the largest category's frames per video and gives every
other category the count n (positions k/(n+1)) that brings its total closest to the largest's. The
counts come from the selected videos, so the same selection always gives the same positions (and
the same ledger fingerprint): resume works, and a larger --max-videos re-plans like any param change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

from dfdx.config import MAX_FRAMES, ExtractConfig


def evenly_spaced(n: int) -> tuple[Fraction, ...]:
    """n positions k/(n+1): evenly spread, never touching the first or last frame."""
    return tuple(Fraction(k, n + 1) for k in range(1, n + 1))


def positions_for(cfg: ExtractConfig, category: str) -> tuple[Fraction, ...]:
    """The positions one category's videos get: `frames` (a count, or a count per category) wins over
    `positions`."""
    frames = cfg.frames
    if isinstance(frames, dict):
        frames = frames.get(category)
    if frames is None:
        return cfg.positions
    return evenly_spaced(frames)


def closest_count(target: float, videos: int) -> int:
    """Frames per video (1..99) whose total over `videos` is closest to `target` (ties: fewer frames)."""
    low = max(1, min(MAX_FRAMES, math.floor(target / videos)))
    high = max(1, min(MAX_FRAMES, low + 1))
    return min((low, high), key=lambda n: (abs(n * videos - target), n))


def positions_by_category(
    cfg: ExtractConfig, videos_per_category: Mapping[str, int]
) -> dict[str, tuple[Fraction, ...]]:
    """Each category's positions: from the config, or balanced against the largest category."""
    positions = {cat: positions_for(cfg, cat) for cat in videos_per_category}
    if not cfg.balance or len(videos_per_category) < 2:
        return positions
    largest = max(videos_per_category, key=lambda cat: (videos_per_category[cat], cat))
    target = videos_per_category[largest] * len(positions[largest])
    for cat, n in videos_per_category.items():
        if cat != largest and n > 0:
            positions[cat] = evenly_spaced(closest_count(target, n))
    return positions


def balance_note(positions: Mapping[str, tuple[Fraction, ...]], videos_per_category: Mapping[str, int]) -> str:
    """One line a user reads: frames per video and the resulting frames per class."""
    parts = [
        f"{cat} {len(positions[cat])}/video x {n} = {len(positions[cat]) * n}"
        for cat, n in sorted(videos_per_category.items())
    ]
    return "balance: " + ", ".join(parts) + " frames"
