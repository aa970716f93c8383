"""`profile: folders`: a folder name → category map (`discover.categories`; DFD's by default).

Folder names are matched loosely (case, space vs underscore) at any depth, because copies of DFD on
Kaggle spell and nest them differently; the nearest enclosing folder that names a category wins.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from dfdx.config import Config, DiscoverConfig
from dfdx.datasets.discover import Catalog, Video, dataset_root, is_video_name, video_files
from dfdx.datasets.profiles.tree import fold, folder_names


def category_of(rel: str, categories: dict[str, str]) -> str | None:
    """The category of the nearest enclosing folder that names one, or None."""
    folded = {fold(folder): cat for folder, cat in categories.items()}
    for part in reversed(PurePosixPath(rel).parts[:-1]):
        cat = folded.get(fold(part))
        if cat is not None:
            return cat
    return None


def discover(root: Path, cfg: DiscoverConfig) -> list[Video]:
    """Every video under `root` with a category, sorted by relative path (deterministic)."""
    root = dataset_root(root)
    videos = []
    for rel in video_files(root, cfg.extensions, cfg.follow_symlinks):
        category = category_of(rel, cfg.categories)
        if category is not None:
            videos.append(Video(path=root / rel, rel=rel, category=category))
    videos.sort(key=lambda v: v.rel)
    return videos


class FoldersProfile:
    """Category only: no method, group or split (names are not parsed, so `dfdx split` groups each video
    alone unless its name follows DFD's pattern)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg.discover

    def detect(self, root: Path) -> str | None:
        names = folder_names(root)
        for folder in self.cfg.categories:
            if fold(folder) in names:
                return f"found {names[fold(folder)]!r}, a folder of discover.categories"
        return None

    def discover(self, root: Path) -> Catalog:
        return Catalog(discover(root, self.cfg))

    def label(self, rel: str) -> str | None:
        if not is_video_name(rel, self.cfg.extensions):
            return None
        return category_of(rel, self.cfg.categories)
