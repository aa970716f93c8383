"""`profile: dfdc`: the DeepFake Detection Challenge training set (Kaggle competition
`deepfake-detection-challenge`): `dfdc_train_part_{N}/` folders, each with the clips and a
`metadata.json` `{"x.mp4": {"label": "REAL"|"FAKE", "split": "train", "original": "y.mp4"}}`.

Labels come from metadata.json, never from names. A fake is grouped with its original (same people);
a clip that its part's metadata does not name is not extracted and is reported as unlabelled. A fake
sits in its original's part, so parts are natural folds (`dfdx split --mode official` splits by part).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from dfdx.config import Config
from dfdx.datasets.discover import Catalog, Labels, Unlabelled, Video, dataset_root, video_files
from dfdx.datasets.profiles.dfd import ORIGINAL
from dfdx.datasets.profiles.tree import folder_names
from dfdx.errors import UsageError
from dfdx.layout import FAKE, REAL
from dfdx.layout import SPLIT_NAMES as SPLITS

METADATA = "metadata.json"
LABELS = {"REAL": REAL, "FAKE": FAKE}
METHOD = "DFDC"
PART = re.compile(r"^dfdc_train_part_(\d+)$", re.IGNORECASE)


def part_of(rel: str) -> tuple[str, int] | None:
    """(the part folder's path relative to the root, N) for a clip directly inside dfdc_train_part_N."""
    parts = PurePosixPath(rel).parts
    if len(parts) >= 2 and (m := PART.match(parts[-2])):
        return "/".join(parts[:-1]), int(m[1])
    return None


class DfdcProfile:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def detect(self, root: Path) -> str | None:
        for folded, rel in folder_names(root).items():
            if PART.match(folded):
                return f"found {rel!r} (a DFDC training part)"
        return None

    def discover(self, root: Path) -> Catalog:
        root = dataset_root(root)
        return self._catalog(root, video_files(root, self.cfg.discover.extensions, self.cfg.discover.follow_symlinks))

    def discover_part(self, root: Path, folder: str) -> Catalog:
        """The clips of one part folder (`dfdx run` part by part: the part just unpacked, not the others)."""
        root = dataset_root(root)
        base = root / folder
        found = video_files(base, self.cfg.discover.extensions, self.cfg.discover.follow_symlinks)
        return self._catalog(root, (f"{folder}/{rel}" for rel in found) if base.is_dir() else ())

    def _catalog(self, root: Path, rels: Iterable[str]) -> Catalog:
        metadata: dict[str, dict[str, dict[str, Any]] | None] = {}
        videos, unlabelled = [], []
        for rel in rels:
            place = part_of(rel)
            if place is None:
                continue
            folder, part = place
            if folder not in metadata:
                metadata[folder] = read_metadata(root / folder / METADATA)
            meta = metadata[folder]
            name = PurePosixPath(rel).name
            if meta is None:
                unlabelled.append(Unlabelled(rel, f"no {METADATA} in {folder}"))
            elif name not in meta:
                unlabelled.append(Unlabelled(rel, f"{folder}/{METADATA} does not name it"))
            else:
                videos.append(_video(root, rel, folder, part, meta[name]))
        return Catalog(sorted(videos, key=lambda v: v.rel), sorted(unlabelled, key=lambda u: u.rel))

    def label(self, rel: str) -> str | None:
        """None: labels live in each part's metadata.json, not in paths, so a listing cannot sample DFDC
        by category (DFDC is fetched part by part)."""
        del rel
        return None


def _video(root: Path, rel: str, folder: str, part: int, meta: dict[str, Any]) -> Video:
    category = LABELS[meta["label"]]
    stem = PurePosixPath(rel).stem
    original = meta.get("original")
    split = meta.get("split")
    group = PurePosixPath(original).stem if category == FAKE and original else stem
    labels = Labels(method=METHOD if category == FAKE else ORIGINAL, group=(group,),
                    official_split=split if split in SPLITS else None,
                    original=(f"{folder}/{original}",) if category == FAKE and original else (), part=part)  # fmt: skip
    return Video(root / rel, rel, category, labels)


def read_metadata(path: Path) -> dict[str, dict[str, Any]] | None:
    """A part's metadata.json, checked: every flaw is an error naming the file and the entry."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{str(path)!r}: expected an object of clips, got {type(raw).__name__}")
    for name, meta in raw.items():
        if not isinstance(meta, dict) or "label" not in meta:
            raise UsageError(f"{str(path)!r}: entry {name!r} has no label (expected "
                             '{"label": "REAL" or "FAKE", ...})')
        if meta["label"] not in LABELS:
            raise UsageError(f"{str(path)!r}: entry {name!r} has the label {meta['label']!r}, which dfdx does not "
                             f"know (expected {' or '.join(LABELS)})")  # fmt: skip
        original = meta.get("original")
        if original is not None and not isinstance(original, str):
            raise UsageError(f"{str(path)!r}: entry {name!r} has an original that is not a file name: {original!r}")
    return raw
