"""What Kaggle's listing of a dataset means locally: which names are safe, videos, sampled, and where they land.

Why it exists: the downloader, the `--list` table and the unpacker all ask the same questions of a remote name
(may it be written under the download folder, is it a video in a category folder, is it one `dfdx extract`
will sample, is it worth unpacking), and the answers must agree with what `dfdx.datasets.discover` finds once
the files are on disk. Keeping them here, pure (no network, no writes), lets each be tested on a plain list of
`RemoteFile`s, and keeps the sample the downloader fetches the very one `dfdx extract` draws.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from dfdx import plugins
from dfdx.config import Config
from dfdx.datasets.discover import Video, is_video_name, sample_per_category
from dfdx.datasets.kaggle import RemoteFile
from dfdx.progress import fmt_bytes

PART_SUFFIX = ".part"  # a file being downloaded; the client keeps `<part>.kaggle-partial` beside it
MARKER_SUFFIX = ".kaggle-partial"
METADATA_EXTENSIONS = (".csv", ".json", ".txt")


def unsafe_reason(name: str) -> str | None:
    """Why a dataset path must not be written under the target folder, or None when it may be."""
    norm = name.replace("\\", "/")
    if not norm.strip("/"):
        return "has an empty name"
    if "\0" in norm:
        return "contains a NUL byte"
    if norm.startswith("/") or re.match(r"[A-Za-z]:", norm):
        return "is an absolute path"
    if ".." in norm.split("/"):
        return "climbs out of the target folder with '..'"
    return None


def local_path(root: Path, name: str) -> Path:
    """Where a (safe) dataset path lands under root."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return root.joinpath(*parts)


def part_path(root: Path, name: str) -> Path:
    """Where a dataset path is written until it is complete: `<final>.part`."""
    final = local_path(root, name)
    return final.with_name(final.name + PART_SUFFIX)


def marker_path(part: Path) -> Path:
    """The kaggle client's resume marker beside a part file."""
    return part.with_name(part.name + MARKER_SUFFIX)


def is_metadata_name(name: str) -> bool:
    return name.lower().endswith(METADATA_EXTENSIONS)


def wanted_member(name: str, extensions: Iterable[str], unpack_all: bool) -> bool:
    """Whether an archive member is unpacked: videos and metadata, or everything with `unpack_all`."""
    return unpack_all or is_video_name(name, extensions) or is_metadata_name(name)


def listed_videos(files: Iterable[RemoteFile], cfg: Config) -> list[Video]:
    """Video records for the listing, as the profile will build them once the files are on disk. With
    `dataset.profile: auto` there is no tree to look at yet: the profile that labels most of the listed
    paths is taken (dataset-specific ones before `folders`)."""
    root = Path(os.path.abspath(cfg.download.download_dir))
    names = [f.name for f in files if not unsafe_reason(f.name)]
    candidates = list(plugins.PROFILES) if cfg.dataset.profile == "auto" else [cfg.dataset.profile]
    best: list[Video] = []
    for name in candidates:
        profile = plugins.load("dataset.profile", name)(cfg)
        labelled = [(rel, profile.label(rel)) for rel in names]
        videos = [Video(path=local_path(root, rel), rel=rel, category=cat) for rel, cat in labelled if cat]
        if len(videos) > len(best):
            best = videos
    return best


def select_files(files: Iterable[RemoteFile], cfg: Config) -> list[RemoteFile]:
    """The videos `dfdx extract` will sample (`max_videos` per category, `seed`), sorted by path."""
    files = list(files)
    by_name = {f.name: f for f in files}
    chosen = sample_per_category(listed_videos(files, cfg), cfg.max_videos, cfg.seed)
    return [by_name[v.rel] for v in chosen]


def summarize_listing(files: list[RemoteFile], cfg: Config) -> str:
    """The `--list` table: videos and bytes per category, and what `max_videos` would fetch."""
    videos = listed_videos(files, cfg)
    chosen = {v.rel for v in sample_per_category(videos, cfg.max_videos, cfg.seed)}
    sizes = {f.name: f.size_bytes for f in files}
    rows: dict[str, list[int]] = {}
    for v in videos:
        row = rows.setdefault(v.category, [0, 0, 0, 0])
        row[0] += 1
        row[1] += sizes[v.rel]
        if v.rel in chosen:
            row[2] += 1
            row[3] += sizes[v.rel]
    in_videos = {v.rel for v in videos}
    others = [f for f in files if f.name not in in_videos]
    total = sum(f.size_bytes for f in files)
    limit = "all" if cfg.max_videos is None else f"max {cfg.max_videos} per category"
    lines = [
        f"Kaggle dataset {cfg.download.dataset}: {len(files)} files, {fmt_bytes(total)}",
        f"{'category':<12}{'videos':>8}{'size':>12}   {'to fetch (' + limit + ')':>28}{'size':>12}",
    ]
    for category in sorted(rows):
        n, size, n_sel, size_sel = rows[category]
        lines.append(f"{category:<12}{n:>8}{fmt_bytes(size):>12}   {n_sel:>28}{fmt_bytes(size_sel):>12}")
    other_bytes = sum(f.size_bytes for f in others)
    lines.append(
        f"{'other files':<12}{len(others):>8}{fmt_bytes(other_bytes):>12}   (not a video in a category folder)"
    )
    if cfg.max_videos is None:
        lines.append("Without --max-videos the whole archive is downloaded and unpacked.")
    return "\n".join(lines)


def listed_folders(files: Iterable[RemoteFile], limit: int = 10) -> list[str]:
    """The first folders of the listing, to show when none of them is a category folder."""
    return sorted({str(PurePosixPath(f.name).parent) for f in files if "/" in f.name})[:limit]
