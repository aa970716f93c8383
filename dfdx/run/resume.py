"""What a run still has to do: the resume rule, applied to the selected videos and the ledger's state.

Shared by every runner, so a run resumed on another runner skips exactly the same videos.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfdx.config import ExtractConfig
from dfdx.datasets.discover import Video
from dfdx.files import remove_temp_files
from dfdx.ledger import LedgerEntry, load_state

log = logging.getLogger("dfdx")


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
    """The videos whose ledger state does not already satisfy this run (`params`: per category)."""
    return [v for v in videos if not entry_is_done(state.get(v.rel), params[v.category], out, retry_failed)]


def prepare(out: Path, videos: list[Video], params: Mapping[str, Mapping[str, Any]],
            x: ExtractConfig) -> tuple[Mapping[str, LedgerEntry], list[Video]]:
    """What every runner does once it holds the output folder's lock: remove the temp files an
    interrupted run left, fold the ledgers (their untrusted lines logged), and apply the resume rule.
    Returns the state the videos' previous entries come from, and the videos still to do."""
    removed = remove_temp_files(out)
    if removed:
        log.warning("removed %d temp file(s) left by an interrupted run", removed)
    ledger_state = load_state(out)
    for problem in ledger_state.problems:
        log.warning("%s", problem)
    state = ledger_state.videos if x.resume else {}
    return state, pending(videos, state, params, out, x.retry_failed)
