"""What a run still has to do: the resume rule, applied to the selected videos and the ledger's state.

Shared by every runner, so a run resumed on another runner skips exactly the same videos.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from dfdx.datasets.discover import Unlabelled, Video
from dfdx.ledger import LedgerEntry


def entry_is_done(entry: LedgerEntry | None, params: Mapping[str, Any], out: Path, retry_failed: bool) -> bool:
    """Resume's rule: skip an `ok` video with the same params whose frames are all still on disk;
    skip a `failed` one unless asked to retry."""
    if entry is None:
        return False
    if entry.status == "failed":
        return not retry_failed
    if entry.status == "requeued":
        return False
    if entry.params != params or not entry.frames:
        return False
    for frame in entry.frames:
        try:
            if (out / frame.path).stat().st_size != frame.bytes:
                return False
        except OSError:
            return False
    return True


def pending(videos: list[Video], state: Mapping[str, LedgerEntry], params: Mapping[str, Mapping[str, Any]],
            out: Path, retry_failed: bool) -> list[Video]:
    """The videos whose ledger state does not already satisfy this run (`params`: per category). A video
    whose category changed (a corrected label) is redone: its frames live in its category's folder."""
    return [
        v for v in videos
        if not (_same_category(state.get(v.rel), v)
                and entry_is_done(state.get(v.rel), params[v.category], out, retry_failed))
    ]  # fmt: skip


def relabelled(videos: list[Video], state: Mapping[str, LedgerEntry], run_id: str,
               finished_at: str) -> list[LedgerEntry]:  # fmt: skip
    """New ledger lines for done videos whose profile labels (method, group, split, ...) changed since
    they were extracted: the frames stay, the labels follow the dataset's files."""
    lines = []
    for video in videos:
        entry = state.get(video.rel)
        fields = video.labels.ledger_fields()
        if entry is None or entry.status not in ("ok", "failed") or entry.category != video.category:
            continue
        if any(getattr(entry, name) != value for name, value in fields.items()):
            lines.append(replace(entry, run_id=run_id, finished_at=finished_at, **fields))  # type: ignore[arg-type]
    return lines


def unlabelled_lines(files: list[Unlabelled], state: Mapping[str, LedgerEntry], run_id: str,
                     now: str) -> list[LedgerEntry]:  # fmt: skip
    """One `unlabelled` line per file the profile could not label, unless its last line already says so."""
    lines = []
    for item in files:
        last = state.get(item.rel)
        if last is not None and last.status == "unlabelled" and last.error == item.reason:
            continue
        lines.append(LedgerEntry(video=item.rel, category="unlabelled", status="unlabelled", params={},
                                 finished_at=now, started_at=now, elapsed_s=0.0, run_id=run_id,
                                 error=item.reason))  # fmt: skip
    return lines


def _same_category(entry: LedgerEntry | None, video: Video) -> bool:
    return entry is None or entry.category == video.category
