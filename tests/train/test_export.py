"""`dfdx export --format deepfakebench`: read back the way DeepfakeBench's loader reads it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dfdx.layout import FAKE, REAL
from dfdx.ledger import LedgerEntry
from dfdx.train.export import build
from dfdx.train.splits import write_splits
from tests.conftest import run_dfdx
from tests.train.ledgers import celebdf_ledger, dfdc_ledger, entry, ffpp_ledger, write_ledger

# DeepfakeBench's training/config/train_config.yaml `label_dict` (the part for these datasets).
LABEL_DICT = {"DFD_fake": 1, "DFD_real": 0, "FF-SH": 1, "FF-F2F": 1, "FF-DF": 1, "FF-FS": 1, "FF-NT": 1, "FF-FH": 1,
              "FF-real": 0, "CelebDFv1_real": 0, "CelebDFv1_fake": 1, "CelebDFv2_real": 0, "CelebDFv2_fake": 1,
              "DFDC_Fake": 1, "DFDC_Real": 0}  # fmt: skip
FF_FAMILY = ["FF-DF", "FF-F2F", "FF-FS", "FF-NT", "FaceForensics++", "DeepFakeDetection", "FaceShifter"]
FRAMES = 4
FRAME_NUM = 3  # DeepfakeBench's frame_num: below every video's frame count (see the README)


def collect_img_and_label_for_one_dataset(dataset_json_folder: Path, dataset_name: str, mode: str,
                                          compression: str = "c23",
                                          frame_num: int = FRAME_NUM) -> list[tuple[str, int, str]]:  # fmt: skip
    """DeepfakeBench's traversal (training/dataset/abstract_dataset.py), step for step, returning
    (frame path, label, video name) instead of two shuffled lists."""
    with open(os.path.join(dataset_json_folder, dataset_name + ".json")) as f:
        dataset_info = json.load(f)
    cp = None
    if dataset_name in ("FaceForensics++_c40", "FF-DF_c40", "FF-F2F_c40", "FF-FS_c40", "FF-NT_c40"):
        dataset_name, cp = dataset_name[: -len("_c40")], "c40"
    out = []
    for label in dataset_info[dataset_name]:
        sub_dataset_info = dataset_info[dataset_name][label][mode]
        if cp is None and dataset_name in FF_FAMILY:
            sub_dataset_info = sub_dataset_info[compression]
        elif cp == "c40" and dataset_name in FF_FAMILY:
            sub_dataset_info = sub_dataset_info["c40"]
        for video_name, video_info in sub_dataset_info.items():
            if video_info["label"] not in LABEL_DICT:
                raise ValueError(f"Label {video_info['label']} is not found in the configuration file.")
            label_id = LABEL_DICT[video_info["label"]]
            frame_paths = video_info["frames"]
            total_frames = len(frame_paths)
            # The loader's `if frame_num < total_frames:` has no else (selected_frames stays unbound or stale).
            assert frame_num < total_frames, "the loader would reuse another video's frames"
            step = total_frames // frame_num
            selected_frames = [frame_paths[i] for i in range(0, total_frames, step)][:frame_num]
            out.extend((path, label_id, video_name) for path in selected_frames)
    return out


def check_against_ledger(rows: list[tuple[str, int, str]], out: Path, entries: dict[str, LedgerEntry]) -> set[str]:
    """Every frame exists and decodes, and its label is its video's class; returns the ledger videos seen."""
    import cv2

    frame_video = {str((out / f.path).resolve()): v for v, e in entries.items() for f in e.frames}
    seen = set()
    for path, label_id, video_name in rows:
        assert os.path.isabs(path) and cv2.imread(path) is not None, path
        video = frame_video[path]
        assert label_id == {REAL: 0, FAKE: 1}[entries[video].category]
        assert video_name == Path(video).stem
        seen.add(video)
    return seen


def videos_in(entries: dict[str, LedgerEntry], split_of: dict[str, str | None], mode: str) -> set[str]:
    return {v for v, s in split_of.items() if s == mode and entries[v].status == "ok"}


def test_ffpp_with_official_splits_and_per_method_files(tmp_path):
    entries = ffpp_ledger(FRAMES)
    out = write_ledger(tmp_path / "out", entries, frames=True)
    folder = tmp_path / "json"
    folder.mkdir()
    result = run_dfdx("export", "--output-dir", str(out), "--output", str(folder))  # FF++ and its DFD subset
    assert result.returncode == 2 and "(DeepFakeDetection, FaceForensics++): export each with --name" in result.stderr
    result = run_dfdx("export", "--output-dir", str(out), "--output", str(folder), "--name", "FaceForensics++")
    assert result.returncode == 0, result.stderr
    assert "'FaceForensics++'" in result.stdout and "official_split" in result.stdout
    assert "left out (not in FaceForensics++): 1" in result.stdout  # the DFD subset's original
    data = json.loads((folder / "FaceForensics++.json").read_text())
    assert list(data) == ["FaceForensics++"]
    assert set(data["FaceForensics++"]) == {"FF-real", "FF-DF", "FF-F2F", "FF-FS", "FF-NT"}
    official = {v: e.official_split for v, e in entries.items()}
    for mode in ("train", "val", "test"):
        rows = collect_img_and_label_for_one_dataset(folder, "FaceForensics++", mode)
        assert check_against_ledger(rows, out, entries) == videos_in(entries, official, mode)
    assert run_dfdx("export", "--output-dir", str(out), "--output", str(folder), "--name", "FF-DF").returncode == 0
    per_method = json.loads((folder / "FF-DF.json").read_text())
    assert list(per_method) == ["FF-DF"] and set(per_method["FF-DF"]) == {"FF-real", "FF-DF"}
    rows = collect_img_and_label_for_one_dataset(folder, "FF-DF", "test")
    assert check_against_ledger(rows, out, entries) == videos_in(entries, official, "test")


def test_celebdf_uses_splits_json_once_dfdx_split_has_run(tmp_path):
    entries = celebdf_ledger(FRAMES)
    out = write_ledger(tmp_path / "out", entries, frames=True)
    splits = write_splits(out, (0.7, 0.3, 0.0), seed=0, mode="official")
    target = tmp_path / "Celeb-DF-v2.json"
    result = run_dfdx("export", "--output-dir", str(out), "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert "splits from splits.json" in result.stdout and "the fewest here: 4" in result.stdout
    for mode in ("train", "val", "test"):
        rows = collect_img_and_label_for_one_dataset(tmp_path, "Celeb-DF-v2", mode)
        assert check_against_ledger(rows, out, entries) == videos_in(entries, splits["videos"], mode)
    assert set(json.loads(target.read_text())["Celeb-DF-v2"]) == {"CelebDFv2_real", "CelebDFv2_fake"}


def test_dfdc_and_dfd_names(tmp_path):
    entries = dfdc_ledger(range(3), FRAMES)
    out = write_ledger(tmp_path / "dfdc", entries, frames=True)
    splits = write_splits(out, (0.8, 0.1, 0.1), seed=0, mode="official", val_parts="1", test_parts="2")
    data, summary = build(out, entries)
    assert summary["name"] == "DFDC" and set(data["DFDC"]) == {"DFDC_Real", "DFDC_Fake"}
    (tmp_path / "DFDC.json").write_text(json.dumps(data))
    for mode in ("train", "val", "test"):
        rows = collect_img_and_label_for_one_dataset(tmp_path, "DFDC", mode)
        assert check_against_ledger(rows, out, entries) == videos_in(entries, splits["videos"], mode)
    # An older DFD ledger (no method, no compression): the names say DFD; written under c23, and said so.
    dfd = {v: entry(v, cat, FRAMES) for v, cat in [
        ("DFD_original_sequences/01__talk.mp4", REAL), ("DFD_original_sequences/02__talk.mp4", REAL),
        ("DFD_original_sequences/03__talk.mp4", REAL), ("DFD_manipulated_sequences/01_02__talk__ABCDEFGH.mp4", FAKE)]}
    dfd["DFD_original_sequences/04__talk.mp4"] = entry("DFD_original_sequences/04__talk.mp4", REAL, status="failed")
    out = write_ledger(tmp_path / "dfd", dfd, frames=True)
    splits = write_splits(out, (0.34, 0.33, 0.33), seed=0, mode="groups")
    data, summary = build(out, dfd)
    assert summary["name"] == "DeepFakeDetection" and summary["without_compression"] == 4
    assert summary["left_out"] == {"not extracted (failed)": 1}
    (tmp_path / "DeepFakeDetection.json").write_text(json.dumps(data))
    for mode in ("train", "val", "test"):
        rows = collect_img_and_label_for_one_dataset(tmp_path, "DeepFakeDetection", mode)
        assert check_against_ledger(rows, out, dfd) == videos_in(dfd, splits["videos"], mode)


def test_videos_without_a_split_are_left_out_and_counted(tmp_path):
    entries = celebdf_ledger(FRAMES)  # no splits.json: only the official test list has a split
    out = write_ledger(tmp_path / "out", entries, frames=True)
    data, summary = build(out, entries)
    tested = sum(e.official_split == "test" for e in entries.values())
    assert summary["left_out"] == {"no official split (run `dfdx split`)": len(entries) - tested}
    assert sum(len(data["Celeb-DF-v2"][label]["test"]) for label in data["Celeb-DF-v2"]) == tested
    assert all(not data["Celeb-DF-v2"][label]["train"] for label in data["Celeb-DF-v2"])


@pytest.mark.parametrize(("args", "message"), [
    (["--name", "FF++"], "--name 'FF++' is not a DeepfakeBench dataset"),
    (["--format", "hdf5"], "invalid choice: 'hdf5'"),
])  # fmt: skip
def test_bad_export_input_exits_2(tmp_path, args, message):
    out = write_ledger(tmp_path / "out", ffpp_ledger())
    result = run_dfdx("export", "--output-dir", str(out), "--output", str(tmp_path / "x.json"), *args)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_no_ledger_or_mixed_datasets_exit_2(tmp_path):
    result = run_dfdx("export", "--output-dir", str(tmp_path / "none"), "--output", str(tmp_path / "x.json"))
    assert result.returncode == 2 and "no ledger" in result.stderr
    result = run_dfdx("export", "--output-dir", str(write_ledger(tmp_path / "dfdc", dfdc_ledger(range(2)))),
                      "--output", str(tmp_path / "missing" / "DFDC.json"))  # fmt: skip
    assert result.returncode == 2 and "does not exist" in result.stderr
    mixed = {**celebdf_ledger(), **dfdc_ledger(range(2))}
    out = write_ledger(tmp_path / "out", mixed)
    result = run_dfdx("export", "--output-dir", str(out), "--output", str(tmp_path / "x.json"))
    assert result.returncode == 2 and "several DeepfakeBench datasets (Celeb-DF-v2, DFDC)" in result.stderr
