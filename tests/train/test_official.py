"""`dfdx split --mode official`: each dataset's own split, read from the ledger; and the refusals."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfdx.config import load_config
from dfdx.errors import ConfigError, UsageError
from dfdx.train.official import ranges
from dfdx.train.splits import make_splits
from tests.conftest import run_dfdx
from tests.train.ledgers import celebdf_ledger, dfdc_ledger, entry, ffpp_ledger, write_ledger

RATIOS = (0.8, 0.1, 0.1)


def test_ffpp_pairs_are_used_as_given():
    splits = make_splits(ffpp_ledger(), RATIOS, seed=0, mode="official")
    assert splits["mode"] == "official" and "FaceForensics++" in splits["source"]
    assert {s: sorted(a) for s, a in splits["actors"].items()} == {"train": ["000", "001"], "val": ["002", "003"],
                                                                   "test": ["004", "005"]}
    assert splits["videos"]["manipulated_sequences/Deepfakes/c23/videos/003_002.mp4"] == "val"
    assert splits["left_out_reasons"] == {"original_sequences/actors/c23/videos/01__talk.mp4": "no official split"}
    assert splits["left_out_counts"] == {"no official split": {"real": 1}}
    assert splits["identities_in_two_splits"] == []
    assert {s: {c: n["videos"] for c, n in per.items()} for s, per in splits["counts"].items()} == {
        s: {"ai": 2, "real": 2} for s in ("train", "val", "test")}


def test_celebdf_test_list_and_train_val_by_groups_from_the_rest():
    entries = celebdf_ledger()
    splits = make_splits(entries, (0.7, 0.3, 0.0), seed=0, mode="official")
    test = {v for v, s in splits["videos"].items() if s == "test"}
    assert test == {v for v, e in entries.items() if e.official_split == "test"}
    rest = {v: s for v, s in splits["videos"].items() if v not in test}
    assert set(rest.values()) <= {"train", "val", None} and "val" in rest.values() and "train" in rest.values()
    train_ids = {i for v, s in rest.items() if s == "train" for i in entries[v].group}
    val_ids = {i for v, s in rest.items() if s == "val" for i in entries[v].group}
    assert not train_ids & val_ids  # train and val drawn apart
    test_ids = {i for v in test for i in entries[v].group}
    assert splits["test_identities"] == len(test_ids)
    assert splits["test_identities_in_train"] == len(test_ids & train_ids)  # reported, as Celeb-DF itself is
    assert "List_of_testing_videos.txt" in splits["source"]


def test_dfdc_by_part():
    splits = make_splits(dfdc_ledger(range(0, 8)), RATIOS, seed=0, mode="official", val_parts="5-6",
                         test_parts="7")  # fmt: skip
    for video, split in splits["videos"].items():
        part = int(video.split("/")[0].rsplit("_", 1)[1])
        assert split == ("val" if part in (5, 6) else "test" if part == 7 else "train")
    assert splits["parts"] == {"train": [0, 1, 2, 3, 4], "val": [5, 6], "test": [7]}
    assert splits["source"] == "DFDC parts: val 5-6, test 7, train the other 5 (0-4)"
    assert splits["identities_in_two_splits"] == [] and splits["left_out"] == []


@pytest.mark.parametrize(("val", "test", "message"), [
    (None, None, "choose them with --val-parts and --test-parts"),
    ("5-6", "6-7", "part(s) 6 are in both"),
    ("5,9", "7", "part(s) 9 that no video in the ledger is in; the parts here are 0-7"),
    ("0-4", "5-7", "none is left to train"),
])  # fmt: skip
def test_dfdc_part_lists_that_cannot_work_are_refused(val, test, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        make_splits(dfdc_ledger(range(0, 8)), RATIOS, seed=0, mode="official", val_parts=val, test_parts=test)


def test_bad_part_lists_are_config_errors_naming_the_key():
    for text in ("45-", "a", "47-45", "45-47,x"):
        with pytest.raises(ConfigError, match=r"split\.val_parts"):
            load_config(None, {"split.val_parts": text})
    assert load_config(None, {"split.test_parts": "45-47,49"}).split.test_parts == "45-47,49"


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(0, 60), min_size=1, max_size=20))
def test_part_ranges_round_trip(parts):
    from dfdx.config import parse_parts

    assert parse_parts(ranges(parts), "k") == tuple(sorted(parts))


def test_official_mode_without_an_official_split_exits_2_naming_the_other_modes(tmp_path):
    out = write_ledger(tmp_path / "out", [entry(f"DFD_original_sequences/0{a}__talk.mp4", "real", group=[f"0{a}"])
                                          for a in range(1, 4)])  # fmt: skip
    result = run_dfdx("split", "--output-dir", str(out), "--mode", "official")
    assert result.returncode == 2
    assert "no official split" in result.stderr and "--mode auto (the default), groups or actors" in result.stderr
    assert not (out / "splits.json").exists()
    wrong = run_dfdx("split", "--output-dir", str(out), "--val-parts", "1")
    assert wrong.returncode == 2 and "--mode official" in wrong.stderr
    bad = run_dfdx("split", "--output-dir", str(out), "--mode", "official", "--test-parts", "1-x")
    assert bad.returncode == 2 and "split.test_parts" in bad.stderr


def test_official_split_command_records_the_mode_and_source(tmp_path):
    out = write_ledger(tmp_path / "out", dfdc_ledger(range(0, 4)))
    result = run_dfdx("split", "--output-dir", str(out), "--mode", "official", "--val-parts", "2", "--test-parts", "3")
    assert result.returncode == 0, result.stderr
    splits = json.loads((out / "splits.json").read_text())
    assert (splits["mode"], splits["requested_mode"]) == ("official", "official")
    assert "split by official: DFDC parts: val 2, test 3" in result.stdout
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert {(r["video"].split("/")[0], r["split"]) for r in rows} == {
        ("dfdc_train_part_0", "train"), ("dfdc_train_part_1", "train"), ("dfdc_train_part_2", "val"),
        ("dfdc_train_part_3", "test")}  # fmt: skip
