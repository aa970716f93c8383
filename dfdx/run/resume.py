"""What a run still has to do: the resume rule, applied to the selected videos and the ledger's state.

Shared by every runner, so a run resumed on another runner skips exactly the same videos.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dfdx.clock import utc_now
from dfdx.config import ExtractConfig
from dfdx.datasets.discover import Catalog, Unlabelled, Video
from dfdx.files import remove_temp_files
from dfdx.ledger import LedgerEntry, append_entries, ledger_path, load_state

log = logging.getLogger("dfdx")


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
        # The note is shared with the frame transform's remark (a face crop's "no face in any frame"): the
        # profile's note changes it only when it is not already part of it.
        note = fields.pop("note")
        if note and note not in (entry.note or ""):
            fields["note"] = "; ".join(n for n in (note, entry.note) if n)
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


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a run has to do, decided under the output folder's lock."""

    state: Mapping[str, LedgerEntry]  # where the videos' previous entries come from ({} with --no-resume)
    todo: list[Video]  # the videos still to extract
    notes: list[LedgerEntry]  # lines to append before any work: relabelled videos, unlabelled files


def prepare(out: Path, catalog: Catalog, params: Mapping[str, Mapping[str, Any]], x: ExtractConfig,
            run_id: str) -> Prepared:  # fmt: skip
    """What every runner does once it holds the output folder's lock: remove the temp files an
    interrupted run left, fold the ledgers (their untrusted lines logged), apply the resume rule, and
    note what changed without work: done videos whose labels the dataset's files now give otherwise,
    and files the profile cannot label."""
    folded = fold_ledgers(out)
    state = folded if x.resume else {}
    todo = pending(catalog.videos, state, params, out, x.retry_failed)
    now, todo_set = utc_now(), {v.rel for v in todo}
    notes = [*relabelled([v for v in catalog.videos if v.rel not in todo_set], folded, run_id, now),
             *unlabelled_lines(catalog.unlabelled, folded, run_id, now)]  # fmt: skip
    if catalog.unlabelled:
        first = catalog.unlabelled[0]
        log.warning("%d video file(s) have no label and are not extracted (e.g. %s: %s)",
                    len(catalog.unlabelled), first.rel, first.reason)  # fmt: skip
    return Prepared(state, todo, notes)


def fold_ledgers(out: Path) -> Mapping[str, LedgerEntry]:
    """What every run does first under the output folder's lock: remove the temp files an interrupted run
    left, then fold the ledgers (their untrusted lines logged) into each video's last entry."""
    removed = remove_temp_files(out)
    if removed:
        log.warning("removed %d temp file(s) left by an interrupted run", removed)
    ledger_state = load_state(out)
    for problem in ledger_state.problems:
        log.warning("%s", problem)
    return ledger_state.videos


async def append_notes(out: Path, notes: list[LedgerEntry]) -> None:
    """Append a runner's notes to the output folder's main ledger (the driver's, on a cluster)."""
    if notes:
        await append_entries(ledger_path(out), notes)
