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

from dfdx.layout import SPLIT_NAMES

LOSS_WEIGHT = 0.5  # a tenth of a class left out costs as much as a 10% split holding 2.9% of it
EMPTY_PENALTY = 10.0  # a split without a class is worse than anything else the search can trade
MIN_MOVES = 40_000
MAX_MOVES = 400_000
MOVES_PER_UNIT = 40
POLISH_SWAPS_UP_TO = 300  # units: beyond, trying every pair after the annealing costs more than it finds

CROSSING = "identities in two splits"


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


def _where(units: tuple[int, ...], split: list[int]) -> int:
    """The split a bundle's videos are kept in, or -1 when its units are in different splits."""
    first = split[units[0]]
    for u in units[1:]:
        if split[u] != first:
            return -1
    return first


class _State:
    """An assignment with its kept counts, changed one move at a time: `move` applies it and returns the
    new cost, `undo` takes the last move back. Only the moved units' bundles are looked at."""

    def __init__(self, problem: _Problem, split: list[int]) -> None:
        self.problem = problem
        self.split = split
        self.where = [_where(b.units, split) for b in problem.bundles]
        self.counts = [[0] * len(problem.classes) for _ in problem.ratios]
        for b, s in zip(problem.bundles, self.where, strict=True):
            if s >= 0:
                self.counts[s][b.category] += b.videos
        self.cost = problem.cost(self.counts)
        self._undo: tuple[dict[int, int], list[tuple[int, int]], float] = ({}, [], self.cost)

    def _shift(self, b: int, source: int, dest: int) -> None:
        bundle = self.problem.bundles[b]
        if source >= 0:
            self.counts[source][bundle.category] -= bundle.videos
        if dest >= 0:
            self.counts[dest][bundle.category] += bundle.videos
        self.where[b] = dest

    def move(self, new: dict[int, int]) -> float:
        old = {x: self.split[x] for x in new}
        for x, s in new.items():
            self.split[x] = s
        changed = []
        for b in {b for x in new for b in self.problem.bundles_of[x]}:
            now = _where(self.problem.bundles[b].units, self.split)
            if now != self.where[b]:
                changed.append((b, self.where[b]))
                self._shift(b, self.where[b], now)
        self._undo = (old, changed, self.cost)
        self.cost = self.problem.cost(self.counts)
        return self.cost

    def undo(self) -> None:
        old, changed, cost = self._undo
        for b, before in changed:
            self._shift(b, self.where[b], before)
        for x, s in old.items():
            self.split[x] = s
        self.cost = cost


def search(video_units: Mapping[str, Sequence[str]], category_of: Mapping[str, str], ratios: Sequence[float],
           seed: int, moves: int | None = None) -> Outcome:  # fmt: skip
    """unit → split index for the videos' units (each video lists at least one unit): annealing from a
    greedy start, then single moves while any helps."""
    problem = _Problem(video_units, category_of, ratios)
    rng = random.Random(seed)
    n_units = len(problem.units)
    state = _State(problem, problem.greedy(rng))
    if n_units == 0 or len(problem.open) < 2:
        return Outcome(dict(zip(problem.units, state.split, strict=True)), state.cost)
    best_cost, best_split = state.cost, list(state.split)
    steps = moves if moves is not None else min(MAX_MOVES, max(MOVES_PER_UNIT * n_units,
                                                                min(MIN_MOVES, 50 * n_units * n_units)))
    hot, cold = 0.05, 1e-5
    others = {s: [t for t in problem.open if t != s] for s in problem.open}
    split = state.split
    for step in range(steps):
        temperature = hot * (cold / hot) ** (step / steps)
        u, v = rng.randrange(n_units), rng.randrange(n_units)
        if split[v] != split[u] and rng.random() < 0.5:  # swap two units in different splits
            new = {u: split[v], v: split[u]}
        else:  # move one unit to another split
            choices = others[split[u]]
            new = {u: choices[rng.randrange(len(choices))]}
        before = state.cost
        delta = state.move(new) - before
        if delta <= 0 or rng.random() < math.exp(-delta / temperature):
            if state.cost < best_cost - 1e-12:
                best_cost, best_split = state.cost, list(split)
        else:
            state.undo()
    state = _State(problem, best_split)
    improved = True
    while improved:  # polish: any single move or swap that lowers the cost
        improved = False
        for u in range(n_units):
            tries = [{u: t} for t in others[state.split[u]]]
            if n_units <= POLISH_SWAPS_UP_TO:
                tries += [{u: state.split[v], v: state.split[u]} for v in range(u + 1, n_units)
                          if state.split[v] != state.split[u]]  # fmt: skip
            for new in tries:
                before = state.cost
                if state.move(new) < before - 1e-12:
                    improved = True
                    break
                state.undo()
    return Outcome(dict(zip(problem.units, state.split, strict=True)), state.cost)


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def components(identities: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """identity → the key of its group (the smallest identity linked to it)."""
    uf = UnionFind()
    for ids in identities.values():
        for other in ids:
            uf.union(ids[0], other)
    return {x: uf.find(x) for x in list(uf.parent)}


def split_by_search(identities: Mapping[str, Sequence[str]], category_of: Mapping[str, str], ratios: Sequence[float],
                    seed: int, mode: str) -> tuple[dict[str, str | None], str]:  # fmt: skip
    """video → split (None: left out, its identities crossed), and the mode used (`auto` resolved)."""
    if not identities:
        return {}, "groups" if mode == "auto" else mode
    group_of = components(identities)
    if mode in ("groups", "auto"):
        by_group = {v: (group_of[ids[0]],) for v, ids in identities.items()}
        outcome = search(by_group, category_of, ratios, seed)
        video_split = {v: SPLIT_NAMES[outcome.unit_split[g[0]]] for v, g in by_group.items()}
        wanted = {s for s, r in zip(SPLIT_NAMES, ratios, strict=True) if r > 0}
        if mode == "groups" or wanted <= set(video_split.values()):
            return dict(video_split), "groups"
    outcome = search(identities, category_of, ratios, seed)
    out: dict[str, str | None] = {}
    for video, ids in identities.items():
        chosen = {outcome.unit_split[i] for i in ids}
        out[video] = SPLIT_NAMES[chosen.pop()] if len(chosen) == 1 else None
    return out, "actors"
