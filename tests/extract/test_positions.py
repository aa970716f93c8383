"""extract.balance: the minority class gets more frames per video, evenly spread; resume keeps it."""

from __future__ import annotations

from fractions import Fraction

from dfdx.config import load_config
from dfdx.extract.positions import closest_count, evenly_spaced, positions_by_category
from dfdx.run.command import run_extract
from tests.conftest import FAKE, REAL, frame_indices, ledger_lines


def test_closest_count():
    assert closest_count(3068 * 3, 363) == 25  # DFD: 9204 fake frames; 25 x 363 = 9075 beats 26 x 363 = 9438
    assert closest_count(9, 2) == 4  # 8 and 10 are equally far: fewer frames
    assert closest_count(10_000, 1) == 99 and closest_count(1, 50) == 1


def test_positions_by_category():
    cfg = load_config(None, {"extract.balance": True}).extract
    got = positions_by_category(cfg, {"ai": 3068, "real": 363})
    assert got["ai"] == (Fraction(1, 3), Fraction(1, 2), Fraction(2, 3)) and got["real"] == evenly_spaced(25)
    fixed = load_config(None, {"extract.frames": {"ai": 3, "real": 24}}).extract
    assert {c: len(p) for c, p in positions_by_category(fixed, {"ai": 3068, "real": 363}).items()} == {"ai": 3,
                                                                                                      "real": 24}
    off = load_config(None, {}).extract
    assert positions_by_category(off, {"ai": 10, "real": 1})["real"] == off.positions


def test_balanced_extraction_and_resume(tmp_path, dataset, video_cache):
    src = video_cache("bal.mp4", frames=50)
    for i in range(5):
        root = dataset(f"{FAKE}/0{i}_09__s__AAAAAAA{i}.mp4", src)
    root = dataset(f"{REAL}/01__s.mp4", src)
    root = dataset(f"{REAL}/02__s.mp4", src)
    out = tmp_path / "out"
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(out), "extract.balance": True,
                             "quiet": True})  # fmt: skip
    assert run_extract(cfg) == 0
    lines = ledger_lines(out)
    real = [e for e in lines if e["category"] == "real"]
    fake = [e for e in lines if e["category"] == "ai"]
    assert sum(len(e["frames"]) for e in fake) == 15
    assert [len(e["frames"]) for e in real] == [7, 7]  # 14 real frames: the closest to 15 with 2 videos
    assert real[0]["params"]["positions"] == [str(Fraction(k, 8)) for k in range(1, 8)]
    assert frame_indices(out, real[0]) == [k * 50 // 8 for k in range(1, 8)]
    assert run_extract(cfg) == 0 and len(ledger_lines(out)) == len(lines)  # resume: nothing redone
    unbalanced = load_config(None, {"dataset_path": str(root), "output_dir": str(out), "quiet": True})
    assert run_extract(unbalanced) == 0
    redone = ledger_lines(out)[len(lines):]
    assert sorted(e["video"] for e in redone) == [f"{REAL}/01__s.mp4", f"{REAL}/02__s.mp4"]
    assert all(len(e["frames"]) == 3 for e in redone)
    assert len(list((out / "real").glob("*.jpg"))) == 6  # the 7-frame set's extra frames are gone
