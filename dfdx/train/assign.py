"""The pure search behind `dfdx split`: which split each unit (an identity, or a group of linked
identities) goes to.

A video is kept only if all its units land in one split; otherwise it is left out, because its face
would otherwise be in two splits. Videos that share their units and class are one weighted bundle (a
DFD-sized cast of 28 actors and 3,431 videos is ~150 bundles), so moving a unit touches only its own
bundles and the cost is updated from a few counters, not recomputed over every video.

The cost of an assignment, per class present, is
- how far each split's share of the kept videos is from its ratio (squared, relative to the ratio, so a
  10% split that gets 5% counts as much as it matters),
- `LOSS_WEIGHT` times the fraction of the class's videos left out, and
- `EMPTY_PENALTY` for each split (with a ratio > 0) that gets no video of the class at all.
Simulated annealing (moves of one unit and swaps of two) from a greedy start minimises it; the same
seed gives the same assignment.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LOSS_WEIGHT = 0.5  # a tenth of a class left out costs as much as a 10% split holding 2.9% of it
EMPTY_PENALTY = 10.0  # a split without a class is worse than anything else the search can trade
MIN_MOVES = 60_000
MAX_MOVES = 400_000
MOVES_PER_UNIT = 40


@dataclass(frozen=True, slots=True)
class Bundle:
    units: tuple[int, ...]  # indices into the unit list
    category: int  # index into the class list
    videos: int


@dataclass(frozen=True, slots=True)
class Outcome:
    unit_split: dict[str, int]  # unit → index of its split
    cost: float


class _Problem:
    def __init__(self, video_units: Mapping[str, Sequence[str]], category_of: Mapping[str, str],
                 ratios: Sequence[float]) -> None:  # fmt: skip
        self.units = sorted({u for units in video_units.values() for u in units})
        self.classes = sorted({category_of[v] for v in video_units})
        index = {u: i for i, u in enumerate(self.units)}
        cls = {c: i for i, c in enumerate(self.classes)}
        weights: dict[tuple[tuple[int, ...], int], int] = defaultdict(int)
        for video, units in video_units.items():
            weights[(tuple(sorted({index[u] for u in units})), cls[category_of[video]])] += 1
        self.bundles = [Bundle(units, c, n) for (units, c), n in sorted(weights.items())]
        self.bundles_of: list[list[int]] = [[] for _ in self.units]
        for b, bundle in enumerate(self.bundles):
            for u in bundle.units:
                self.bundles_of[u].append(b)
        self.ratios = list(ratios)
        self.open = [s for s, r in enumerate(ratios) if r > 0]
        self.totals = [0] * len(self.classes)
        for bundle in self.bundles:
            self.totals[bundle.category] += bundle.videos
        self.unit_weight = [sum(self.bundles[b].videos for b in bs) for bs in self.bundles_of]

    def cost(self, counts: list[list[int]]) -> float:
        """counts[s][c]: kept videos of class c in split s."""
        total = 0.0
        for c, n_class in enumerate(self.totals):
            if not n_class:
                continue
            kept = sum(counts[s][c] for s in range(len(self.ratios)))
            total += LOSS_WEIGHT * (n_class - kept) / n_class
            for s, ratio in enumerate(self.ratios):
                share = counts[s][c] / kept if kept else 0.0
                if ratio > 0:
                    total += (share - ratio) ** 2 / ratio + (EMPTY_PENALTY if counts[s][c] == 0 else 0.0)
                else:
                    total += share**2
        return total

    def greedy(self, rng: random.Random) -> list[int]:
        """Heaviest units first, each to the open split furthest below its share of all videos."""
        order = list(range(len(self.units)))
        rng.shuffle(order)  # the seed decides among units of equal weight
        order.sort(key=lambda u: -self.unit_weight[u])
        grand = sum(self.unit_weight) or 1
        have = [0] * len(self.ratios)
        split = [0] * len(self.units)
        for u in order:
            best = max(self.open, key=lambda s: (self.ratios[s] - have[s] / grand, -s))
            split[u] = best
            have[best] += self.unit_weight[u]
        return split


def _where(bundle: Bundle, split: list[int]) -> int:
    """The split a bundle's videos are kept in, or -1 when its units are in different splits."""
    first = split[bundle.units[0]]
    return first if all(split[u] == first for u in bundle.units) else -1


def search(video_units: Mapping[str, Sequence[str]], category_of: Mapping[str, str], ratios: Sequence[float],
           seed: int, moves: int | None = None) -> Outcome:  # fmt: skip
    """unit → split index for the videos' units (each video lists at least one unit), by annealing."""
    problem = _Problem(video_units, category_of, ratios)
    rng = random.Random(seed)
    n_units = len(problem.units)
    split = problem.greedy(rng)
    if n_units == 0:
        return Outcome({}, 0.0)
    where = [_where(b, split) for b in problem.bundles]
    counts = [[0] * len(problem.classes) for _ in ratios]
    for b, s in zip(problem.bundles, where, strict=True):
        if s >= 0:
            counts[s][b.category] += b.videos
    cost = problem.cost(counts)
    best_cost, best_split = cost, list(split)
    if len(problem.open) < 2:
        return Outcome(dict(zip(problem.units, best_split, strict=True)), best_cost)
    steps = moves if moves is not None else min(MAX_MOVES, max(MOVES_PER_UNIT * n_units,
                                                                min(MIN_MOVES, 2000 * n_units)))
    hot, cold = 0.05, 1e-5
    for step in range(steps):
        temperature = hot * (cold / hot) ** (step / steps)
        u = rng.randrange(n_units)
        changed = [u]
        if n_units > 1 and rng.random() < 0.5:  # swap two units in different splits
            v = rng.randrange(n_units)
            if split[v] == split[u]:
                continue
            new = {u: split[v], v: split[u]}
            changed.append(v)
        else:
            target = problem.open[rng.randrange(len(problem.open))]
            if target == split[u]:
                continue
            new = {u: target}
        old = {x: split[x] for x in changed}
        for x, s in new.items():
            split[x] = s
        touched = {b for x in changed for b in problem.bundles_of[x]}
        updates = []
        for b in touched:
            now = _where(problem.bundles[b], split)
            if now != where[b]:
                updates.append((b, now))
        for b, now in updates:
            bundle = problem.bundles[b]
            if where[b] >= 0:
                counts[where[b]][bundle.category] -= bundle.videos
            if now >= 0:
                counts[now][bundle.category] += bundle.videos
        new_cost = problem.cost(counts)
        delta = new_cost - cost
        if delta <= 0 or rng.random() < math.exp(-delta / temperature):
            cost = new_cost
            for b, now in updates:
                where[b] = now
            if cost < best_cost - 1e-12:
                best_cost, best_split = cost, list(split)
        else:
            for b, now in updates:
                bundle = problem.bundles[b]
                if now >= 0:
                    counts[now][bundle.category] -= bundle.videos
                if where[b] >= 0:
                    counts[where[b]][bundle.category] += bundle.videos
            for x, s in old.items():
                split[x] = s
    return Outcome(dict(zip(problem.units, best_split, strict=True)), best_cost)
