"""`dfdx split`: train / val / test by actor, so that no face is in two splits.

DFD's manipulated videos are made from its original actors: a frame- or video-level split puts the
same face in train and test, and the accuracy measured on it is meaningless. An original belongs to
its actor; a manipulated video `{target}_{source}__{scene}__{id8}` belongs to both, so the actors a
manipulation connects are one group (union-find). Whole groups go to one split, chosen greedily
(largest group first) to bring each class's share of videos as close to the ratios as possible.
Names that do not follow the DFD pattern cannot be linked to an actor: each such video is its own
group, and the output says so.

When manipulations link (nearly) all actors into one group — as they do for the full DFD cast — whole
groups cannot fill three splits. `split.mode: actors` then splits the actors themselves and leaves out
(split null) each manipulated video whose two actors landed in different splits: fewer videos, still no
face in two splits. `auto` (the default) keeps whole groups when they fill every split, else does that.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dfdx.errors import UsageError
from dfdx.files import write_text_atomic
from dfdx.layout import METADATA_NAME, SPLITS_NAME
from dfdx.ledger import LedgerEntry, load_state, require_ledger

SPLIT_NAMES = ("train", "val", "test")
LABELS = {"real": 0, "ai": 1}  # the FrameDataset's default labels, also written to metadata.jsonl
_MANIPULATED = re.compile(r"^(?P<target>[A-Za-z0-9]+)_(?P<source>[A-Za-z0-9]+)__(?P<scene>.+)__(?P<id>[A-Za-z0-9]{8})$")
_ORIGINAL = re.compile(r"^(?P<actor>[A-Za-z0-9]+)__(?P<scene>.+)$")


def actors_of(video: str) -> tuple[str, ...] | None:
    """The actors a DFD file name involves (one for an original, two for a manipulated video), or None."""
    stem = PurePosixPath(video).stem
    if m := _MANIPULATED.match(stem):
        return tuple(sorted({m["target"], m["source"]}))
    if m := _ORIGINAL.match(stem):
        return (m["actor"],)
    return None


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


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    videos: tuple[str, ...]
    actors: tuple[str, ...]  # empty for a video grouped alone (non-DFD name)


def group_videos(videos: list[str]) -> list[Group]:
    """Connected components of actors (with their videos); non-DFD names each form their own group."""
    uf = UnionFind()
    members: dict[str, list[str]] = defaultdict(list)
    alone = []
    for video in sorted(videos):
        actors = actors_of(video)
        if actors is None:
            alone.append(video)
            continue
        for actor in actors:
            uf.union(f"actor:{actors[0]}", f"actor:{actor}")
        members[uf.find(f"actor:{actors[0]}")].append(video)
    by_root: dict[str, list[str]] = defaultdict(list)
    for root_then, vids in members.items():
        by_root[uf.find(root_then)].extend(vids)
    actors_by_root: dict[str, set[str]] = defaultdict(set)
    for node in list(uf.parent):
        actors_by_root[uf.find(node)].add(node.removeprefix("actor:"))
    groups = [Group(root, tuple(sorted(v)), tuple(sorted(actors_by_root[root]))) for root, v in by_root.items()]
    groups += [Group(f"video:{v}", (v,), ()) for v in alone]
    return sorted(groups, key=lambda g: g.key)


def assign(groups: list[Group], category_of: dict[str, str], ratios: tuple[float, ...], seed: int) -> dict[str, str]:
    """Group → split, largest first, each to the split whose per-class shortfall it fills best."""
    totals = Counter(category_of[v] for g in groups for v in g.videos)
    have: dict[str, Counter[str]] = {s: Counter() for s in SPLIT_NAMES}
    order = list(groups)
    random.Random(seed).shuffle(order)  # the seed decides among groups of equal size
    order.sort(key=lambda g: -len(g.videos))
    chosen: dict[str, str] = {}
    for group in order:
        counts = Counter(category_of[v] for v in group.videos)

        def cost(split: str, counts: Counter[str] = counts) -> tuple[float, int]:
            # Squared miss of every split's share of every class, if the group went to `split`.
            miss = 0.0
            for s, ratio in zip(SPLIT_NAMES, ratios, strict=True):
                for cat, total in totals.items():
                    n = have[s][cat] + (counts[cat] if s == split else 0)
                    miss += (n / total - ratio) ** 2
            return miss, SPLIT_NAMES.index(split)

        best = min((s for s, r in zip(SPLIT_NAMES, ratios, strict=True) if r > 0), key=cost)
        have[best].update(counts)
        chosen[group.key] = best
    return {v: chosen[g.key] for g in groups for v in g.videos}


def assign_by_actor(videos: list[str], category_of: dict[str, str], ratios: tuple[float, ...],
                    seed: int) -> dict[str, str | None]:  # fmt: skip
    """Actors → splits (each weighed by the videos it is in); a video whose actors disagree is left out."""
    by_actor: dict[str, list[str]] = defaultdict(list)
    for video in videos:
        for actor in actors_of(video) or ():
            by_actor[actor].append(video)
    units = [Group(f"actor:{a}", tuple(v), (a,)) for a, v in sorted(by_actor.items())]
    units += [Group(f"video:{v}", (v,), ()) for v in videos if actors_of(v) is None]
    weights = {f"{g.key}\0{v}": category_of[v] for g in units for v in g.videos}
    keyed = [Group(g.key, tuple(f"{g.key}\0{v}" for v in g.videos), g.actors) for g in units]
    unit_split = {k.split("\0")[0]: s for k, s in assign(keyed, weights, ratios, seed).items()}
    out: dict[str, str | None] = {}
    for video in videos:
        keys = [f"actor:{a}" for a in actors_of(video) or ()] or [f"video:{video}"]
        chosen = {unit_split[k] for k in keys}
        out[video] = chosen.pop() if len(chosen) == 1 else None
    return out


def make_splits(entries: dict[str, LedgerEntry], ratios: tuple[float, ...], seed: int,
                mode: str = "auto") -> dict[str, Any]:  # fmt: skip
    """The content of splits.json for the ledger's videos (every status: a repaired video keeps its split)."""
    category_of = {video: e.category for video, e in entries.items()}
    groups = group_videos(list(entries))
    requested = mode
    video_split: dict[str, str | None] = {}
    if mode in ("groups", "auto"):
        video_split = dict(assign(groups, category_of, ratios, seed))
        filled = {s for s in video_split.values()}
        wanted = {s for s, r in zip(SPLIT_NAMES, ratios, strict=True) if r > 0}
        mode = "actors" if mode == "auto" and not wanted <= filled else "groups"
    if mode == "actors":
        video_split = assign_by_actor(sorted(entries), category_of, ratios, seed)
    counts: dict[str, dict[str, dict[str, int]]] = {s: {} for s in SPLIT_NAMES}
    for video, split in video_split.items():
        if split is None:
            continue
        e = entries[video]
        c = counts[split].setdefault(e.category, {"videos": 0, "frames": 0})
        c["videos"] += 1
        c["frames"] += len(e.frames) if e.status == "ok" else 0
    actors: dict[str, set[str]] = {s: set() for s in SPLIT_NAMES}
    for video, split in video_split.items():
        if split is not None:
            actors[split].update(actors_of(video) or ())
    ungrouped = sorted(g.videos[0] for g in groups if not g.actors)
    actor_groups = [g for g in groups if g.actors]
    grouping = ("dfd-actors" if not ungrouped else "video" if not actor_groups else "dfd-actors+video")
    return {
        "seed": seed,
        "mode": mode,
        "requested_mode": requested,
        "ratios": dict(zip(SPLIT_NAMES, ratios, strict=True)),
        "grouping": grouping,
        "groups": len(groups),
        "actor_groups": [list(g.actors) for g in actor_groups],
        "videos_grouped_alone": ungrouped,
        "left_out": sorted(v for v, s in video_split.items() if s is None),
        "counts": counts,
        "actors": {s: sorted(a) for s, a in actors.items()},
        "videos": dict(sorted(video_split.items())),
    }


def write_splits(out: Path, ratios: tuple[float, ...], seed: int, mode: str = "auto") -> dict[str, Any]:
    """splits.json and metadata.jsonl (the Hugging Face imagefolder loader reads it beside the frames)."""
    state = load_state(out).videos
    if not state:
        raise UsageError(f"the ledger in {str(out)!r} names no videos: run `dfdx extract` first")
    splits = make_splits(state, ratios, seed, mode)
    write_text_atomic(out / SPLITS_NAME, json.dumps(splits, indent=2) + "\n")
    write_text_atomic(out / METADATA_NAME, "".join(metadata_lines(state, splits["videos"])))
    return splits


def metadata_lines(state: dict[str, LedgerEntry], video_split: dict[str, str | None]) -> list[str]:
    """One line per frame of a complete video: file_name (relative to OUT), label, category, video, split,
    and for a face crop its box [x, y, w, h] in source pixels."""
    lines = []
    for video, e in sorted(state.items()):
        if e.status != "ok":
            continue
        for frame in e.frames:
            row = {"file_name": frame.path, "label": LABELS.get(e.category, e.category), "category": e.category,
                   "video": video, "split": video_split.get(video)}  # fmt: skip
            if frame.box is not None:  # `crop: face`: where the face is in the video's displayed frame
                row["box"] = frame.box
            lines.append(json.dumps(row, sort_keys=True) + "\n")
    return lines



def table_text(splits: dict[str, Any]) -> str:
    cats = sorted({c for per in splits["counts"].values() for c in per})
    head = f"{'split':<6}" + "".join(f"{c + ' videos':>14}{c + ' frames':>14}" for c in cats) + f"{'actors':>8}"
    lines = [head]
    for name, per in splits["counts"].items():
        cells = "".join(f"{per.get(c, {}).get('videos', 0):>14}{per.get(c, {}).get('frames', 0):>14}" for c in cats)
        lines.append(f"{name:<6}{cells}{len(splits['actors'][name]):>8}")
    return "\n".join(lines)


def run_split(out: Path, ratios: tuple[float, ...], seed: int, mode: str = "auto", quiet: bool = False) -> int:
    require_ledger(out)
    splits = write_splits(out, ratios, seed, mode)
    if quiet:
        return 0
    print(table_text(splits))
    alone = splits["videos_grouped_alone"]
    if alone:
        print(f"note: {len(alone)} video(s) do not follow the DFD names ({{actor}}__{{scene}}, "
              f"{{target}}_{{source}}__{{scene}}__{{id}}), e.g. {alone[0]!r}: each is its own group, so a "
              "person in several of them may appear in more than one split")  # fmt: skip
    biggest = max((len(g) for g in splits["actor_groups"]), default=0)
    groups_note = (f"note: manipulations link the actors into {len(splits['actor_groups'])} group(s) (the largest "
                   f"has {biggest} actors); whole groups cannot fill three splits")  # fmt: skip
    if splits["mode"] == "groups" and splits["actor_groups"] and len(splits["actor_groups"]) < 3:
        print(f"{groups_note}, so some are empty. `--mode actors` splits the actors and leaves out the "
              "manipulated videos that would cross splits")  # fmt: skip
    elif splits["requested_mode"] == "auto" and splits["mode"] == "actors":
        print(f"{groups_note}, so the actors themselves were split (`--mode groups` keeps whole groups)")
    if splits["left_out"]:
        print(f"note: {len(splits['left_out'])} manipulated video(s) left out: their two actors are in different "
              "splits (split null in splits.json and metadata.jsonl)")
    print(f"splits: {out / SPLITS_NAME}; Hugging Face metadata: {out / METADATA_NAME}")
    return 0
