"""Miniature copies of each dataset's layout: the real folder and file names, label and split files,
and one tiny real video copied under every name (profiles read names and label files; extraction tests
need files ffmpeg can read)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import put

FF_PAIRS = {"train": [["000", "003"]], "val": [["001", "004"]], "test": [["002", "005"]]}


def ffpp_tree(root: Path, video: Path, compressions: tuple[str, ...] = ("c23",), splits: bool = True) -> Path:
    base = root / "FaceForensics++"
    for c in compressions:
        for stem in ("000", "001", "002", "003", "004", "005"):
            put(base, f"original_sequences/youtube/{c}/videos/{stem}.mp4", video)
        for method in ("Deepfakes", "Face2Face"):
            for a, b in (pair for pairs in FF_PAIRS.values() for pair in pairs):
                put(base, f"manipulated_sequences/{method}/{c}/videos/{a}_{b}.mp4", video)
        put(base, f"original_sequences/actors/{c}/videos/01__walk.mp4", video)
        put(base, f"manipulated_sequences/DeepFakeDetection/{c}/videos/01_02__walk__ABCDEFGH.mp4", video)
    if splits:
        for name, pairs in FF_PAIRS.items():
            (base / f"{name}.json").write_text(json.dumps(pairs))
    return root


def celebdf_tree(root: Path, video: Path) -> Path:
    base = root / "Celeb-DF-v2"
    for rel in ("Celeb-real/id0_0000.mp4", "Celeb-real/id1_0001.mp4", "YouTube-real/00170.mp4",
                "Celeb-synthesis/id0_id1_0000.mp4", "Celeb-synthesis/id1_id0_0001.mp4"):  # fmt: skip
        put(base, rel, video)
    (base / "List_of_testing_videos.txt").write_text("1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id1_id0_0001.mp4\n")
    return root


def dfdc_tree(root: Path, video: Path) -> Path:
    parts = {
        0: {"aaa.mp4": {"label": "REAL", "split": "train"},
            "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"}},
        1: {"ccc.mp4": {"label": "REAL", "split": "train"},
            "ddd.mp4": {"label": "FAKE", "split": "train", "original": "ccc.mp4"}},
    }  # fmt: skip
    for n, meta in parts.items():
        folder = root / f"dfdc_train_part_{n}"
        for name in meta:
            put(folder, name, video)
        (folder / "metadata.json").write_text(json.dumps(meta))
    put(root, "dfdc_train_part_1/zzz.mp4", video)  # no metadata names it
    return root


def dfd_tree(root: Path, video: Path) -> Path:
    put(root, "DFD_original_sequences/01__kitchen.mp4", video)
    put(root, "DFD_original_sequences/02__kitchen.mp4", video)
    put(root, "DFD_manipulated_sequences/DFD_manipulated_sequences/01_02__kitchen__ABCDEFGH.mp4", video)
    return root
