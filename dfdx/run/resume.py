"""What a run still has to do: the resume rule, applied to the selected videos and the ledger's state.

Shared by every runner, so a run resumed on another runner skips exactly the same videos.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfdx.datasets.discover import Video
from dfdx.ledger import LedgerEntry


def entry_is_done(entry: LedgerEntry | None, params: Mapping[str, Any], out: Path, retry_failed: bool) -> bool:
    """Resume's rule: skip an `ok` video with the same params whose frames are all still on disk;
    skip a `failed` one unless asked to retry. An `ok` entry with no frames is done only when it
    records why (a face crop that found no face in any target frame: each one is a miss)."""
    if entry is None:
        return False
    if entry.status == "failed":
        return not retry_failed
    if entry.status == "requeued":
        return False
    if entry.params != params or not (entry.frames or entry.misses):
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
    """The videos whose ledger state does not already satisfy this run (`params`: per category)."""
    return [v for v in videos if not entry_is_done(state.get(v.rel), params[v.category], out, retry_failed)]
