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


def ffpp_ledger(frames: int = 2) -> dict[str, LedgerEntry]:
    """Pairs (000, 001) train, (002, 003) val, (004, 005) test; a DFD subset video with no official split."""
    entries = {}
    for (a, b), split in [(("000", "001"), "train"), (("002", "003"), "val"), (("004", "005"), "test")]:
        for x in (a, b):
            rel = f"original_sequences/youtube/c23/videos/{x}.mp4"
            entries[rel] = entry(rel, "real", frames, method="original", compression="c23", group=[x],
                                 official_split=split)  # fmt: skip
        for t, s in ((a, b), (b, a)):
            rel = f"manipulated_sequences/Deepfakes/c23/videos/{t}_{s}.mp4"
            entries[rel] = entry(rel, "ai", frames, method="Deepfakes", compression="c23", group=sorted([t, s]),
                                 official_split=split)  # fmt: skip
    rel = "original_sequences/actors/c23/videos/01__talk.mp4"
    entries[rel] = entry(rel, "real", frames, method="original", compression="c23", group=["01"])
    return entries


def celebdf_ledger(frames: int = 2) -> dict[str, LedgerEntry]:
    """Celebrities id0..id5, each with two real videos; fakes id{t}_id{s}; the test list names some."""
    entries = {}
    tested = {"Celeb-real/id0_0000.mp4", "Celeb-synthesis/id0_id1_0000.mp4", "YouTube-real/00001.mp4"}
    for c in range(6):
        for n in range(2):
            rel = f"Celeb-real/id{c}_{n:04d}.mp4"
            entries[rel] = entry(rel, "real", frames, method="original", group=[f"id{c}"],
                                 official_split="test" if rel in tested else None)  # fmt: skip
    for t, s in [(0, 1), (1, 2), (3, 4), (4, 3), (5, 0)]:
        rel = f"Celeb-synthesis/id{t}_id{s}_0000.mp4"
        entries[rel] = entry(rel, "ai", frames, method="Celeb-synthesis", group=sorted([f"id{t}", f"id{s}"]),
                             official_split="test" if rel in tested else None)  # fmt: skip
    for n in range(4):
        rel = f"YouTube-real/{n:05d}.mp4"
        entries[rel] = entry(rel, "real", frames, method="original", group=[f"YouTube-real/{n:05d}"],
                             official_split="test" if rel in tested else None)  # fmt: skip
    return entries


def dfdc_ledger(parts: range, frames: int = 2) -> dict[str, LedgerEntry]:
    entries = {}
    for p in parts:
        for n in range(2):
            real = f"dfdc_train_part_{p}/r{p}_{n}.mp4"
            entries[real] = entry(real, "real", frames, method="original", group=[f"r{p}_{n}"], official_split="train",
                                  part=p)  # fmt: skip
            fake = f"dfdc_train_part_{p}/f{p}_{n}.mp4"
            entries[fake] = entry(fake, "ai", frames, method="DFDC", group=[f"r{p}_{n}"], official_split="train",
                                  part=p, original=[real])  # fmt: skip
    return entries
