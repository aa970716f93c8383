"""`profile: dfd`: Google/Jigsaw's DeepFakeDetection, as Kaggle ships it or as FaceForensics++'s subset.

Kaggle: `DFD_original_sequences/{actor}__{scene}.mp4` and `DFD_manipulated_sequences/
{target}_{source}__{scene}__{id8}.mp4` (folder names spelled and nested loosely). FaceForensics++:
`original_sequences/actors/{raw,c23,c40}/videos/` and `manipulated_sequences/DeepFakeDetection/{c}/videos/`.
A manipulated video involves both actors (which one's face is swapped in is not said): its group is the
two of them. DFD has no official split and does not name a fake's source video.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from dfdx.config import Config
from dfdx.datasets.discover import Catalog, Labels, Video, is_video_name
from dfdx.datasets.profiles.folders import category_of
from dfdx.datasets.profiles.tree import catalog_by_path, fold, folder_names
from dfdx.layout import FAKE, REAL

KAGGLE_FOLDERS = {"DFD_manipulated_sequences": FAKE, "DFD_original_sequences": REAL}
METHOD = "DeepFakeDetection"
ORIGINAL = "original"
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


def ffpp_place(rel: str) -> tuple[str, str, str] | None:
    """(kind, subset or method, compression) of a video in the FaceForensics++ layout, or None:
    `original_sequences/{youtube,actors}/{c}/videos/x.mp4` → ("original", "actors", "c23"),
    `manipulated_sequences/{Method}/{c}/videos/x.mp4` → ("manipulated", "Deepfakes", "c23")."""
    parts = PurePosixPath(rel).parts
    for i in range(len(parts) - 4):
        kind = fold(parts[i])
        if kind in ("original_sequences", "manipulated_sequences") and fold(parts[i + 3]) == "videos" \
                and i + 5 == len(parts):  # fmt: skip
            return kind.split("_")[0], parts[i + 1], parts[i + 2].lower()
    return None


class DfdProfile:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def detect(self, root: Path) -> str | None:
        names = folder_names(root)
        for folder in KAGGLE_FOLDERS:
            if fold(folder) in names:
                return f"found {names[fold(folder)]!r} (DFD as Kaggle ships it)"
        ff_methods = {fold(m) for m in ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")}
        if fold(METHOD) in names and not ff_methods & set(names):
            return f"found {names[fold(METHOD)]!r} and no other FaceForensics++ method (DFD as FF++ ships it)"
        return None

    def discover(self, root: Path) -> Catalog:
        return catalog_by_path(root, self.cfg.discover, self.video)

    def label(self, rel: str) -> str | None:
        video = self.video(Path("/"), rel)
        return video.category if video is not None else None

    def video(self, root: Path, rel: str) -> Video | None:
        if not is_video_name(rel, self.cfg.discover.extensions):
            return None
        compression = None
        category = category_of(rel, KAGGLE_FOLDERS)
        place = ffpp_place(rel)
        if category is None and place is not None:
            kind, where, compression = place
            if kind == "original" and fold(where) == "actors":
                category = REAL
            elif kind == "manipulated" and fold(where) == fold(METHOD):
                category = FAKE
            wanted = self.cfg.dataset.compression
            if category is None or (wanted is not None and compression != wanted):
                return None
        if category is None:
            return None
        labels = Labels(method=METHOD if category == FAKE else ORIGINAL, compression=compression,
                        group=actors_of(rel) or ())  # fmt: skip
        return Video(path=root / rel, rel=rel, category=category, labels=labels)
