"""`dfdx split`: train / val / test with no identity in two splits.

A fake is made from real people: a frame- or video-level split puts the same face in train and test,
and the accuracy measured on it is meaningless. Each video shows identities: the `group` its dataset
profile wrote in the ledger (FF++ source videos, Celeb-DF celebrities, DFDC originals, DFD actors), or
for older ledgers the actors DFD's names give (`{actor}__{scene}`, `{target}_{source}__{scene}__{id8}`);
a video with neither is its own identity, and the output says so. Videos sharing an identity are linked;
linked identities form groups (union-find).

Modes (`split.mode`):
- `groups`: whole groups go to splits; every video is assigned.
- `actors`: identities go to splits; a video whose identities land in different splits is left out
  (split null). When fakes link (nearly) every actor into one group — as in the full DFD cast — that
  is the only way to fill three splits; the assignment is searched (`dfdx.train.assign`) to give every
  split both classes near the ratios while leaving out as few videos as it can.
- `auto` (the default): groups when they fill every split, else actors.
- `official`: the dataset's own split (`dfdx.train.official`).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dfdx.datasets.profiles.dfd import actors_of
from dfdx.errors import UsageError
from dfdx.files import write_text_atomic
from dfdx.layout import METADATA_NAME, SPLITS_NAME
from dfdx.ledger import LedgerEntry, load_state, require_ledger
from dfdx.train.assign import CROSSING, SPLIT_NAMES, components, split_by_search
from dfdx.train.metadata import write_metadata

UNLABELLED = "unlabelled"
ALONE = "video:"  # the identity of a video that names none: itself
KINDS = ("dataset", "dfd-actors", "video")  # where a video's identities come from, in the order reported


def identities_of(video: str, entry: LedgerEntry) -> tuple[tuple[str, ...], str]:
    """(the identities a video shows, where they come from: one of KINDS)."""
    named = actors_of(video)
    if entry.group:
        ids = tuple(sorted(set(entry.group)))
        return ids, "dfd-actors" if named == ids else "dataset"
    if named:
        return named, "dfd-actors"
    return (ALONE + video,), "video"


def make_splits(entries: Mapping[str, LedgerEntry], ratios: Sequence[float], seed: int, mode: str = "auto",
                val_parts: str | None = None, test_parts: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The content of splits.json for the ledger's videos (failed ones too: a repaired video keeps its
    split; `unlabelled` ones are left out)."""
    if (val_parts or test_parts) and mode != "official":
        raise UsageError("--val-parts / --test-parts (split.val_parts, split.test_parts) choose DFDC's parts "
                         f"for --mode official, not --mode {mode}")  # fmt: skip
    reasons: dict[str, str] = {v: UNLABELLED for v, e in entries.items() if e.status == "unlabelled"}
    usable = {v: e for v, e in sorted(entries.items()) if v not in reasons}
    identity = {v: identities_of(v, e) for v, e in usable.items()}
    identities = {v: ids for v, (ids, _) in identity.items()}
    category_of = {v: e.category for v, e in usable.items()}
    extra: dict[str, Any] = {}
    if mode == "official":
        from dfdx.train.official import official_splits

        official = official_splits(usable, identities, ratios, seed, val_parts, test_parts)
        video_split, used, source = official.video_split, "official", official.source
        reasons.update(official.reasons)
        extra = official.extra
    else:
        video_split, used = split_by_search(identities, category_of, ratios, seed, mode)
        reasons.update({v: CROSSING for v, s in video_split.items() if s is None})
        source = ("whole groups of linked identities" if used == "groups" else
                  "identities searched apart; videos whose identities crossed left out")  # fmt: skip
    group_of = components(identities)
    members: dict[str, set[str]] = defaultdict(set)
    for ids in identities.values():
        members[group_of[ids[0]]].update(ids)
    named_groups = sorted(sorted(m) for m in members.values() if not next(iter(m)).startswith(ALONE))
    counts: dict[str, dict[str, dict[str, int]]] = {s: {} for s in SPLIT_NAMES}
    in_split: dict[str, set[str]] = {s: set() for s in SPLIT_NAMES}
    for video, split in video_split.items():
        if split is None:
            continue
        e = usable[video]
        c = counts[split].setdefault(e.category, {"videos": 0, "frames": 0})
        c["videos"] += 1
        c["frames"] += len(e.frames) if e.status == "ok" else 0
        in_split[split].update(identities[video])
    seen_in: Counter[str] = Counter(i for ids in in_split.values() for i in ids)
    left_counts: dict[str, dict[str, int]] = {}
    for video, reason in sorted(reasons.items()):
        per = left_counts.setdefault(reason, {})
        per[entries[video].category] = per.get(entries[video].category, 0) + 1
    kinds = Counter(kind for _, kind in identity.values())
    return {
        "seed": seed,
        "mode": used,
        "requested_mode": mode,
        "source": source,
        "ratios": dict(zip(SPLIT_NAMES, ratios, strict=True)),
        "grouping": "+".join(k for k in KINDS if kinds[k]) or "none",
        "grouping_videos": {k: kinds[k] for k in KINDS if kinds[k]},
        "groups": len(members),
        "actor_groups": named_groups,
        "videos_grouped_alone": sorted(v for v, (_, kind) in identity.items() if kind == "video"),
        "left_out": sorted(reasons),
        "left_out_reasons": dict(sorted(reasons.items())),
        "left_out_counts": left_counts,
        "identities_in_two_splits": sorted(i for i, n in seen_in.items() if n > 1),
        **extra,
        "counts": counts,
        "actors": {s: sorted(i for i in ids if not i.startswith(ALONE)) for s, ids in in_split.items()},
        "videos": {v: video_split.get(v) for v in sorted(entries)},
    }


def write_splits(out: Path, ratios: Sequence[float], seed: int, mode: str = "auto", val_parts: str | None = None,
                 test_parts: str | None = None) -> dict[str, Any]:  # fmt: skip
    """splits.json and metadata.jsonl (the Hugging Face imagefolder loader reads it beside the frames)."""
    state = load_state(out).videos
    if not state:
        raise UsageError(f"the ledger in {str(out)!r} names no videos: run `dfdx extract` first")
    splits = make_splits(state, ratios, seed, mode, val_parts, test_parts)
    write_text_atomic(out / SPLITS_NAME, json.dumps(splits, indent=2) + "\n")
    write_metadata(out, state, splits["videos"])
    return splits


def table_text(splits: dict[str, Any]) -> str:
    """The split table, then a line per reason videos were left out (by class)."""
    cats = sorted({c for per in splits["counts"].values() for c in per})
    head = f"{'split':<6}" + "".join(f"{c + ' videos':>14}{c + ' frames':>14}" for c in cats) + f"{'actors':>8}"
    lines = [head]
    for name, per in splits["counts"].items():
        cells = "".join(f"{per.get(c, {}).get('videos', 0):>14}{per.get(c, {}).get('frames', 0):>14}" for c in cats)
        lines.append(f"{name:<6}{cells}{len(splits['actors'][name]):>8}")
    for reason, per in splits["left_out_counts"].items():
        lines.append(f"left out ({reason}): " + ", ".join(f"{n} {c}" for c, n in sorted(per.items())))
    return "\n".join(lines)


def notes(splits: dict[str, Any]) -> list[str]:
    """What a person should know about how the split was made."""
    said = [f"split by {splits['mode']}: {splits['source']}"]
    alone = splits["videos_grouped_alone"]
    if alone:
        said.append(f"note: {len(alone)} video(s) name no identity (no group in the ledger, and they do not "
                    "follow the DFD names {actor}__{scene}, {target}_{source}__{scene}__{id}), e.g. "
                    f"{alone[0]!r}: each is its own group, so a person in several of them may appear in more than "
                    "one split")  # fmt: skip
    biggest = max((len(g) for g in splits["actor_groups"]), default=0)
    groups_note = (f"note: the videos link the identities into {len(splits['actor_groups'])} group(s) (the largest "
                   f"has {biggest})")  # fmt: skip
    if splits["mode"] == "groups" and not all(splits["counts"][s] for s, r in splits["ratios"].items() if r > 0):
        said.append(f"{groups_note}; whole groups cannot fill every split, so some are empty. `--mode actors` "
                    "splits the identities and leaves out the videos that would cross splits")  # fmt: skip
    elif splits["requested_mode"] == "auto" and splits["mode"] == "actors":
        said.append(f"{groups_note}; whole groups cannot fill every split, so the identities themselves were split "
                    "(`--mode groups` keeps whole groups)")  # fmt: skip
    crossing = splits["left_out_counts"].get(CROSSING)
    if crossing:
        said.append(f"note: {sum(crossing.values())} video(s) left out: their identities are in different splits "
                    "(split null in splits.json and metadata.jsonl)")  # fmt: skip
    if splits["identities_in_two_splits"] and splits["mode"] == "official":
        said.append(f"note: {len(splits['identities_in_two_splits'])} identities are in more than one split, as the "
                    "dataset's own split has them")  # fmt: skip
    return said


def run_split(out: Path, ratios: Sequence[float], seed: int, mode: str = "auto", quiet: bool = False,
              val_parts: str | None = None, test_parts: str | None = None) -> int:  # fmt: skip
    require_ledger(out)
    splits = write_splits(out, ratios, seed, mode, val_parts, test_parts)
    if quiet:
        return 0
    print(table_text(splits))
    for line in notes(splits):
        print(line)
    print(f"splits: {out / SPLITS_NAME}; Hugging Face metadata: {out / METADATA_NAME}")
    return 0
