"""What every profile needs to read a dataset tree: loose folder names and a cheap look at the folders.

Copies of the same dataset spell and nest folders differently (`DFD_original sequences`, a folder
nested twice), so names are compared folded: case, spaces, dashes and underscores do not matter.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from dfdx.config import DiscoverConfig
from dfdx.datasets.discover import Catalog, Video, dataset_root, video_files

DETECT_DEPTH = 5  # how deep auto-detection looks for a dataset's telltale folders


def fold(name: str) -> str:
    return re.sub(r"[\s_-]+", "_", name.strip()).casefold()


def folder_names(root: Path, depth: int = DETECT_DEPTH) -> dict[str, str]:
    """Folded folder name → the first relative path where it occurs, down to `depth` levels (folders
    only, no file is opened: cheap even for a folder of 100,000 videos)."""
    found: dict[str, str] = {}
    level = [("", root)]
    for _ in range(depth):
        below = []
        for rel, path in level:
            try:
                entries = sorted(os.scandir(path), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                try:
                    if not entry.is_dir():
                        continue
                except OSError:
                    continue
                sub = f"{rel}/{entry.name}" if rel else entry.name
                found.setdefault(fold(entry.name), sub)
                below.append((sub, Path(entry.path)))
        level = below
    return found


def catalog_by_path(root: Path, cfg: DiscoverConfig, video_at: Callable[[Path, str], Video | None]) -> Catalog:
    """The catalog of a profile that labels each video from its path alone: `video_at(root, rel)`."""
    root = dataset_root(root)
    videos = [v for rel in video_files(root, cfg.extensions, cfg.follow_symlinks) if (v := video_at(root, rel))]
    return Catalog(sorted(videos, key=lambda v: v.rel))
