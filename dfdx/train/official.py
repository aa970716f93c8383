"""`dfdx split --mode official`: the dataset's own split, where it has one, read from the ledger.

- FaceForensics++: every video's `official_split` (the pairs of the repo's train/val/test.json); a video
  the pairs do not name (e.g. the DeepFakeDetection subset) is left out.
- Celeb-DF v2: `official_split` is "test" for the videos of List_of_testing_videos.txt; train and val are
  drawn from the rest by identity groups with the train:val ratio. Celeb-DF's test set shows celebrities
  that its other videos show too; how many is reported, not hidden.
- DFDC: its training parts are the folds (`part`): `--val-parts` and `--test-parts` name them, the other
  parts train (every clip's metadata.json split is "train", so that is no split).
- Anything else (dfd, folders: no official_split and no part): an error that names the other modes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dfdx.config import parse_parts
from dfdx.errors import UsageError
from dfdx.ledger import LedgerEntry
from dfdx.train.assign import CROSSING, split_by_search

NO_OFFICIAL = "no official split"
NO_PART = "no DFDC part"
OTHER_MODES = "use --mode auto (the default), groups or actors"


@dataclass(frozen=True, slots=True)
class Official:
    video_split: dict[str, str | None]
    reasons: dict[str, str]  # video → why it is left out
    source: str
    extra: dict[str, Any] = field(default_factory=dict)  # recorded in splits.json as they are


def ranges(numbers: Iterable[int]) -> str:
    """(45, 46, 47, 49) → "45-47,49"."""
    out: list[str] = []
    run: list[int] = []
    for n in sorted(set(numbers)):
        if run and n != run[-1] + 1:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(n)
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def official_splits(entries: Mapping[str, LedgerEntry], identities: Mapping[str, Sequence[str]],
                    ratios: Sequence[float], seed: int, val_parts: str | None = None,
                    test_parts: str | None = None) -> Official:  # fmt: skip
    parts = {e.part for e in entries.values() if e.part is not None}
    if parts:
        return by_parts(entries, parts, val_parts, test_parts)
    if val_parts or test_parts:
        raise UsageError("--val-parts / --test-parts name DFDC parts, but no video in the ledger is in a DFDC part "
                         "(dfdc_train_part_N)")  # fmt: skip
    given = {e.official_split for e in entries.values()} - {None}
    if given & {"train", "val"}:
        split = {v: e.official_split for v, e in entries.items()}
        return Official(split, {v: NO_OFFICIAL for v, s in split.items() if s is None},
                        "the dataset's own train/val/test (official_split in the ledger: FaceForensics++'s "
                        "dataset/splits/{train,val,test}.json pairs)")  # fmt: skip
    if given == {"test"}:
        return test_list(entries, identities, ratios, seed)
    raise UsageError("the videos in this ledger have no official split (no official_split and no DFDC part: the dfd "
                     "and folders profiles have none; for FF++, point dataset.splits_dir at the folder with its "
                     f"train.json, val.json and test.json and extract again): {OTHER_MODES}")  # fmt: skip


def by_parts(entries: Mapping[str, LedgerEntry], parts: set[int], val_parts: str | None,
             test_parts: str | None) -> Official:  # fmt: skip
    here = ranges(parts)
    if not val_parts and not test_parts:
        raise UsageError("DFDC has no official val or test among its training parts: choose them with --val-parts "
                         f"and --test-parts (e.g. --val-parts 45-47 --test-parts 48-49); the parts in this ledger are "
                         f"{here}; or {OTHER_MODES}")  # fmt: skip
    val = set(parse_parts(val_parts, "split.val_parts")) if val_parts else set()
    test = set(parse_parts(test_parts, "split.test_parts")) if test_parts else set()
    unknown = (val | test) - parts
    if unknown:
        raise UsageError(f"--val-parts / --test-parts name part(s) {ranges(unknown)} that no video in the ledger is "
                         f"in; the parts here are {here}")  # fmt: skip
    if val & test:
        raise UsageError(f"part(s) {ranges(val & test)} are in both --val-parts and --test-parts")
    train = parts - val - test
    if not train:
        raise UsageError(f"--val-parts and --test-parts take every part in the ledger ({here}): none is left to train")
    split: dict[str, str | None] = {}
    for video, e in entries.items():
        if e.part is None:
            split[video] = None
        else:
            split[video] = "val" if e.part in val else "test" if e.part in test else "train"
    source = (f"DFDC parts: val {ranges(val) or 'none'}, test {ranges(test) or 'none'}, train the other "
              f"{len(train)} ({ranges(train)})")  # fmt: skip
    return Official(split, {v: NO_PART for v, s in split.items() if s is None}, source,
                    {"parts": {"train": sorted(train), "val": sorted(val), "test": sorted(test)}})  # fmt: skip


def test_list(entries: Mapping[str, LedgerEntry], identities: Mapping[str, Sequence[str]], ratios: Sequence[float],
              seed: int) -> Official:  # fmt: skip
    """Celeb-DF: the listed test videos, and train/val searched from the rest as `--mode auto` would."""

    test = {v for v, e in entries.items() if e.official_split == "test"}
    rest = {v: identities[v] for v in entries if v not in test}
    train_share, val_share = ratios[0], ratios[1]
    pair = (train_share / (train_share + val_share), val_share / (train_share + val_share), 0.0)
    drawn, mode = split_by_search(rest, {v: entries[v].category for v in rest}, pair, seed, "auto")
    split: dict[str, str | None] = {**drawn, **dict.fromkeys(test, "test")}
    test_ids = {i for v in test for i in identities[v]}
    train_ids = {i for v, s in drawn.items() if s == "train" for i in identities[v]}
    source = (f"the dataset's own test list (official_split test: Celeb-DF's List_of_testing_videos.txt); train and "
              f"val drawn from the other videos by {mode} at {pair[0]:.2f}:{pair[1]:.2f} (the test ratio is not used)")
    return Official(split, {v: CROSSING for v, s in split.items() if s is None}, source,
                    {"test_identities": len(test_ids), "test_identities_in_train": len(test_ids & train_ids)})
