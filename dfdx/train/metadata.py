"""`metadata.jsonl`: the per-frame table the Hugging Face `imagefolder` loader reads beside the frames.

One row per frame of every complete video: `file_name` (relative to the output folder, as the loader
wants), `label` (real = 0, ai = 1, as `FrameDataset`), `category`, `video`, `split` (from splits.json,
null before `dfdx split` or for a video it left out), and what the dataset profile says: `method`,
`compression`, `group`, `official_split`, `original`. Written by `dfdx split` and by `dfdx extract`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfdx.files import write_text_atomic
from dfdx.layout import METADATA_NAME, SPLITS_NAME
from dfdx.ledger import LedgerEntry

LABELS = {"real": 0, "ai": 1}  # the FrameDataset's default labels


def metadata_rows(videos: Mapping[str, LedgerEntry], video_split: Mapping[str, str | None]) -> list[dict[str, Any]]:
    rows = []
    for video, e in sorted(videos.items()):
        if e.status != "ok":
            continue
        for frame in e.frames:
            row = {"file_name": frame.path, "label": LABELS.get(e.category, e.category), "category": e.category,
                   "video": video, "split": video_split.get(video), "method": e.method,
                   "compression": e.compression, "group": list(e.group), "official_split": e.official_split,
                   "original": list(e.original)}  # fmt: skip
            if frame.box is not None:  # `crop: face`: where the face is in the video's displayed frame
                row["box"] = frame.box
            rows.append(row)
    return rows


def saved_splits(out: Path) -> dict[str, str | None]:
    """video → split from an earlier `dfdx split` (empty when there is none or it cannot be read)."""
    try:
        videos = json.loads((out / SPLITS_NAME).read_text(encoding="utf-8")).get("videos", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return videos if isinstance(videos, dict) else {}


def write_metadata(out: Path, videos: Mapping[str, LedgerEntry],
                   video_split: Mapping[str, str | None] | None = None) -> int:  # fmt: skip
    """Write OUT/metadata.jsonl for `videos` (a ledger state's `.videos`); returns the rows written.
    Without `video_split`, each video keeps the split OUT/splits.json gives it (none before `dfdx split`)."""
    split_of = saved_splits(out) if video_split is None else video_split
    rows = metadata_rows(videos, split_of)
    write_text_atomic(out / METADATA_NAME, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
    return len(rows)
