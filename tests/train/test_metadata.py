"""metadata.jsonl: one row per frame with the profile's labels; the split from splits.json or as given."""

from __future__ import annotations

import json

from dfdx.train.metadata import write_metadata
from dfdx.train.splits import write_splits
from tests.train.ledgers import entry, ffpp_ledger, write_ledger


def rows(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]


def test_rows_carry_the_labels_and_the_split(tmp_path):
    entries = ffpp_ledger()
    entries["x/failed.mp4"] = entry("x/failed.mp4", "real", status="failed")
    out = write_ledger(tmp_path / "out", entries)
    assert write_metadata(out, entries) == 2 * (len(entries) - 1)  # before `dfdx split`: no split yet
    first = rows(out)
    assert all(r["split"] is None for r in first) and "x/failed.mp4" not in {r["video"] for r in first}
    fake = next(r for r in first if r["video"].endswith("000_001.mp4"))
    assert fake == {"file_name": entries[fake["video"]].frames[0].path, "label": 1, "category": "ai",
                    "video": "manipulated_sequences/Deepfakes/c23/videos/000_001.mp4", "split": None,
                    "method": "Deepfakes", "compression": "c23", "group": ["000", "001"], "official_split": "train",
                    "original": []}  # fmt: skip
    splits = write_splits(out, (0.8, 0.1, 0.1), seed=0, mode="official")
    after_split = {r["video"]: r["split"] for r in rows(out)}
    assert after_split == {v: s for v, s in splits["videos"].items() if v != "x/failed.mp4"}
    assert after_split["original_sequences/youtube/c23/videos/002.mp4"] == "val"
    (out / "metadata.jsonl").unlink()
    write_metadata(out, entries)  # extract writes it again later: each video keeps its split from splits.json
    assert {r["video"]: r["split"] for r in rows(out)} == after_split
    chosen = "original_sequences/youtube/c23/videos/002.mp4"
    write_metadata(out, entries, {chosen: "test"})
    assert {r["video"]: r["split"] for r in rows(out)} == {v: "test" if v == chosen else None for v in after_split}
