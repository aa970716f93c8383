"""`dfdx export --format deepfakebench`: the dataset JSON DeepfakeBench's training code reads, pointing at
dfdx's frames, so a detector from SCLBD/DeepfakeBench trains on them without its own preprocessing.

What its loader (`training/dataset/abstract_dataset.py`, `collect_img_and_label_for_one_dataset`) reads:
it opens `<dataset_json_folder>/<name>.json` and walks `info[name][label][mode]` (mode "train", "val"
or "test"), then, for the FaceForensics++ family of names, one more level, the compression ("c23", "c40",
"raw"), then `{video stem: {"label": <label name>, "frames": [image paths]}}`; each label name is looked
up in the training config's `label_dict`. The label names and per-dataset files are those its
`preprocessing/rearrange.py` writes (FF-real, FF-DF, ..., DFD_real, CelebDFv2_fake, DFDC_Real, ...).
Frame paths are absolute: the loader opens them as they are (cv2.imread).

Which split: OUT/splits.json when `dfdx split` has run, else the ledger's official_split. A video with no
split, or outside the chosen dataset, is left out and counted by reason.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

from dfdx.datasets.profiles.dfd import actors_of, ffpp_place
from dfdx.errors import UsageError
from dfdx.files import write_text_atomic
from dfdx.layout import FAKE, REAL, SPLIT_NAMES, SPLITS_NAME
from dfdx.ledger import LedgerEntry, load_state, require_ledger
from dfdx.train.metadata import saved_splits

MODES = SPLIT_NAMES  # DeepfakeBench calls them modes
FF_LABELS = {"Deepfakes": "FF-DF", "Face2Face": "FF-F2F", "FaceSwap": "FF-FS", "NeuralTextures": "FF-NT",
             "FaceShifter": "FF-FH"}  # fmt: skip
# DeepfakeBench dataset name → the label names its JSON holds (as rearrange.py writes them).
DATASETS: dict[str, tuple[str, ...]] = {
    "FaceForensics++": ("FF-real", "FF-DF", "FF-F2F", "FF-FS", "FF-NT"),
    "FF-DF": ("FF-real", "FF-DF"),
    "FF-F2F": ("FF-real", "FF-F2F"),
    "FF-FS": ("FF-real", "FF-FS"),
    "FF-NT": ("FF-real", "FF-NT"),
    "FaceShifter": ("FF-real", "FF-FH"),
    "DeepFakeDetection": ("DFD_real", "DFD_fake"),
    "Celeb-DF-v2": ("CelebDFv2_real", "CelebDFv2_fake"),
    "DFDC": ("DFDC_Real", "DFDC_Fake"),
}
# The names whose JSON has the compression level (the loader's own list).
WITH_COMPRESSION = ("FF-DF", "FF-F2F", "FF-FS", "FF-NT", "FaceForensics++", "DeepFakeDetection", "FaceShifter")
DEFAULT_COMPRESSION = "c23"  # DeepfakeBench's default `compression`; used for videos the ledger gives none
FAMILY = {"FF-real": "FaceForensics++", "FF-DF": "FaceForensics++", "FF-F2F": "FaceForensics++",
          "FF-FS": "FaceForensics++", "FF-NT": "FaceForensics++", "FF-FH": "FaceShifter",
          "DFD_real": "DeepFakeDetection", "DFD_fake": "DeepFakeDetection", "CelebDFv2_real": "Celeb-DF-v2",
          "CelebDFv2_fake": "Celeb-DF-v2", "DFDC_Real": "DFDC", "DFDC_Fake": "DFDC"}  # fmt: skip
CELEB_FOLDERS = {"Celeb-real", "YouTube-real", "Celeb-synthesis"}


def bench_label(video: str, e: LedgerEntry) -> str | None:
    """The DeepfakeBench label name of a video, from what its profile recorded (and its path), or None."""
    fake = e.category == FAKE
    if e.category not in (FAKE, REAL):
        return None
    if e.method == "DFDC" or e.part is not None:
        return "DFDC_Fake" if fake else "DFDC_Real"
    if e.method == "Celeb-synthesis" or CELEB_FOLDERS & set(PurePosixPath(video).parts):
        return "CelebDFv2_fake" if fake else "CelebDFv2_real"
    place = ffpp_place(video)
    if fake and e.method in FF_LABELS:
        return FF_LABELS[e.method]
    if not fake and place is not None and place[1].lower() == "youtube":
        return "FF-real"
    if e.method == "DeepFakeDetection" or (place is not None and place[1].lower() == "actors") or actors_of(video):
        return "DFD_fake" if fake else "DFD_real"
    return None


def infer_name(labels: Counter[str]) -> str:
    families = sorted({FAMILY[label] for label in labels})
    if len(families) == 1:
        return families[0]
    if families:
        raise UsageError(f"the ledger holds videos of several DeepfakeBench datasets ({', '.join(families)}): export "
                         f"each with --name ({', '.join(DATASETS)})")  # fmt: skip
    raise UsageError("no video in the ledger is one DeepfakeBench knows (FaceForensics++, DFD, Celeb-DF v2, DFDC "
                     "as dfdx's profiles label them): nothing to export")  # fmt: skip


def build(out: Path, videos: dict[str, LedgerEntry], name: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the DeepfakeBench JSON, a summary: name, split source, counts per label and mode, left out by reason)."""
    if name is not None and name not in DATASETS:
        raise UsageError(f"--name {name!r} is not a DeepfakeBench dataset dfdx can write; known: {', '.join(DATASETS)}")
    label_of = {v: bench_label(v, e) for v, e in videos.items()}
    chosen = name or infer_name(Counter(label for label in label_of.values() if label is not None))
    from_splits = saved_splits(out)
    source = f"{SPLITS_NAME} (`dfdx split`)" if from_splits else "the ledger's official_split (no splits.json)"
    compressed = chosen in WITH_COMPRESSION
    tree: dict[str, dict[str, Any]] = {label: {mode: {} for mode in MODES} for label in DATASETS[chosen]}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    left: Counter[str] = Counter()
    no_compression = 0
    for video, e in sorted(videos.items()):
        label = label_of[video]
        mode = from_splits.get(video) if from_splits else e.official_split
        if label not in tree:
            left[f"not in {chosen}"] += 1
        elif e.status != "ok" or not e.frames:
            left[f"not extracted ({e.status})"] += 1
        elif mode not in MODES:
            left["no split" if from_splits else "no official split (run `dfdx split`)"] += 1
        else:
            shelf = tree[label][mode]
            if compressed:
                no_compression += e.compression is None
                shelf = shelf.setdefault(e.compression or DEFAULT_COMPRESSION, {})
            key = PurePosixPath(video).stem
            if key in shelf:  # two videos with one stem: the second keeps its whole path
                key = video.replace("/", "_")
            shelf[key] = {"label": label, "frames": [str((out / f.path).resolve()) for f in e.frames]}
            counts[label][mode] += 1
    if compressed:  # the loader indexes [mode][compression] for every label: each must exist, even empty
        levels = {c for modes in tree.values() for shelf in modes.values() for c in shelf} or {DEFAULT_COMPRESSION}
        for modes in tree.values():
            for shelf in modes.values():
                for level in levels:
                    shelf.setdefault(level, {})
    frames = [len(v["frames"]) for modes in tree.values() for shelf in modes.values()
              for v in (_videos_of(shelf) if compressed else shelf.values())]  # fmt: skip
    summary = {"name": chosen, "splits": source, "counts": {label: dict(counts[label]) for label in tree},
               "left_out": dict(left), "without_compression": no_compression,
               "compressions": sorted(levels) if compressed else [],
               "fewest_frames": min(frames, default=0)}  # fmt: skip
    return {chosen: tree}, summary


def _videos_of(shelf: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [video for level in shelf.values() for video in level.values()]


def run_export(out: Path, fmt: str, output: Path, name: str | None = None, quiet: bool = False) -> int:
    if fmt != "deepfakebench":
        raise UsageError(f"--format {fmt!r} is not an export format dfdx knows (deepfakebench)")
    require_ledger(out, "nothing to export: ")
    videos = load_state(out).videos
    data, summary = build(out, videos, name)
    target = output / f"{summary['name']}.json" if output.is_dir() else output
    if not target.parent.is_dir():
        raise UsageError(f"--output {str(output)!r}: the folder {str(target.parent)!r} does not exist")
    write_text_atomic(target, json.dumps(data, indent=1) + "\n")
    if quiet:
        return 0
    print(f"DeepfakeBench dataset {summary['name']!r}: {target} (splits from {summary['splits']})")
    for label, per in summary["counts"].items():
        print(f"  {label:<16}" + "  ".join(f"{mode} {per.get(mode, 0)}" for mode in MODES))
    for reason, n in sorted(summary["left_out"].items()):
        print(f"  left out ({reason}): {n}")
    if summary["without_compression"]:
        print(f"note: {summary['without_compression']} video(s) have no compression in the ledger: written under "
              f"{DEFAULT_COMPRESSION!r}, DeepfakeBench's default `compression`")  # fmt: skip
    if target.stem != summary["name"]:
        print(f"note: DeepfakeBench opens <dataset_json_folder>/{summary['name']}.json: name the file so")
    print(f"note: DeepfakeBench's frame_num must be below every video's frame count (the fewest here: "
          f"{summary['fewest_frames']}); with more, its loader reuses another video's frames or fails")  # fmt: skip
    return 0
