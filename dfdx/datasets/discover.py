"""Dataset root → Video records: the walk over the files, each video's stable id and safe name, and the
seeded per-category sample. Which file is which category is the dataset profile's business
(`dfdx.datasets.profiles`); this module knows nothing of any dataset's layout, nor of ffmpeg.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dfdx.errors import UsageError

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME_CHARS = 80


@dataclass(frozen=True, slots=True)
class Labels:
    """What a dataset profile knows about a video beyond its category; recorded in its ledger line."""

    method: str | None = None  # the manipulation ("Deepfakes", "Face2Face", ...); "original" for a real video
    compression: str | None = None  # "raw", "c23", "c40" where the dataset says; else None
    group: tuple[str, ...] = ()  # the identities it shows: videos sharing one must share a split
    official_split: str | None = None  # "train" | "val" | "test" where the dataset has its own split
    original: tuple[str, ...] = ()  # for a fake: its source video(s), relative to the dataset root
    part: int | None = None  # DFDC: the dfdc_train_part_N it sits in (parts are natural folds)
    note: str | None = None  # a remark for the report (e.g. a list's label disagreeing with the folder)

    def ledger_fields(self) -> dict[str, object]:
        """As the ledger line carries them (lists, not tuples: what JSON gives back)."""
        return {"method": self.method, "compression": self.compression, "group": list(self.group),
                "official_split": self.official_split, "original": list(self.original), "part": self.part,
                "note": self.note}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Video:
    path: Path  # absolute, so ffmpeg never reads a name as a protocol or an option
    rel: str  # POSIX path relative to the dataset root: the video's identity in the ledger
    category: str
    labels: Labels = Labels()

    @property
    def video_id(self) -> str:
        return video_hash(self.rel)

    @property
    def name(self) -> str:
        return safe_name(PurePosixPath(self.rel).stem)


@dataclass(frozen=True, slots=True)
class Unlabelled:
    """A video file the profile found but cannot label (DFDC: not in its part's metadata.json)."""

    rel: str
    reason: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """What a profile found under a dataset root: the labelled videos, and those it could not label."""

    videos: list[Video]
    unlabelled: list[Unlabelled] = field(default_factory=list)


def video_hash(rel: str) -> str:
    """First 8 hex digits of SHA-256 of the relative path (UTF-8; undecodable bytes kept as they were)."""
    return hashlib.sha256(rel.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def safe_name(stem: str) -> str:
    """A file-name-safe form of the stem: runs outside [A-Za-z0-9._-] become '_', at most 80 chars."""
    return _UNSAFE.sub("_", stem)[:MAX_NAME_CHARS]


def is_video_name(name: str, extensions: Iterable[str]) -> bool:
    lower = name.lower()
    return any(lower.endswith(ext.lower()) for ext in extensions)


def dataset_root(path: str | Path) -> Path:
    """The dataset folder as an absolute path; a usage error when it is not a folder."""
    root = Path(os.path.abspath(path))
    if not root.exists():
        raise UsageError(f"dataset path {str(root)!r} does not exist")
    if not root.is_dir():
        raise UsageError(f"dataset path {str(root)!r} is not a folder")
    return root


def video_files(root: Path, extensions: Iterable[str], follow_symlinks: bool) -> Iterator[str]:
    """Relative POSIX paths of the files under `root` whose names end in one of `extensions`."""
    for rel in _walk(root, follow_symlinks):
        if is_video_name(rel, extensions):
            yield rel


def _walk(root: Path, follow_symlinks: bool) -> Iterator[str]:
    """Relative POSIX paths of the non-directories under root; symlinked folders once each (no loops)."""
    seen: set[tuple[int, int]] = set()
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        here = root / rel_dir if rel_dir else root
        try:
            st = here.stat()
            if (st.st_dev, st.st_ino) in seen:
                log.warning("skipping %s: a folder link that loops back", here)
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = list(os.scandir(here))
        except OSError as exc:
            log.warning("cannot read folder %s: %s", here, exc.strerror or exc)
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=follow_symlinks)
            except OSError:
                is_dir = False
            if is_dir:
                stack.append(rel)
            elif follow_symlinks or not entry.is_symlink():
                yield rel


def sample_key(rel: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\0{rel}".encode("utf-8", "surrogateescape")).hexdigest()


def sample_per_category(items: Iterable[Video], max_per_category: int | None, seed: int) -> list[Video]:
    """A seeded sample of at most N per category, stable across runs.

    Each video gets a seeded hash rank; a category keeps its N lowest ranks. The same N picks the same
    videos on every run (resume works), a larger N extends the set, and new files do not reshuffle it.
    """
    items = list(items)
    if max_per_category is None:
        return sorted(items, key=lambda v: v.rel)
    by_category: dict[str, list[Video]] = {}
    for video in items:
        by_category.setdefault(video.category, []).append(video)
    chosen = []
    for group in by_category.values():
        group.sort(key=lambda v: sample_key(v.rel, seed))
        chosen.extend(group[:max_per_category])
    return sorted(chosen, key=lambda v: v.rel)
