"""Ledgers built directly (no videos): splits and exports work on the ledger alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dfdx.layout import LEDGER_NAME
from dfdx.ledger import FrameEntry, LedgerEntry


def entry(video: str, category: str, frames: int = 2, status: str = "ok", **labels: Any) -> LedgerEntry:
    """A ledger entry as a profile would write it; `labels` are method, group, official_split, part, ..."""
    safe = video.replace("/", "_").rsplit(".", 1)[0]
    return LedgerEntry(video=video, category=category, status=status, params={}, finished_at="", started_at="",
                       elapsed_s=0.0, run_id="r",
                       frames=[FrameEntry(f"{category}/{category}_{safe}_frame_{i:02d}.jpg", i, 0.5, 0.0, 0.0, 1)
                               for i in range(1, frames + 1)] if status == "ok" else [],
                       **labels)  # fmt: skip


def write_ledger(out: Path, entries: list[LedgerEntry] | dict[str, LedgerEntry], frames: bool = False) -> Path:
    """OUT/extraction_ledger.jsonl with these entries; `frames` also writes each frame as a tiny JPEG."""
    items = list(entries.values()) if isinstance(entries, dict) else entries
    out.mkdir(parents=True, exist_ok=True)
    (out / LEDGER_NAME).write_text("".join(e.to_line() for e in items))
    if frames:
        from PIL import Image

        for e in items:
            for f in e.frames:
                (out / f.path).parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 8), (f.index * 40, 0, 0)).save(out / f.path, quality=90)
    return out
