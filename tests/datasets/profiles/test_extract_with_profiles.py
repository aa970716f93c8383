"""Real extractions of miniature FF++ and DFDC trees: the labels reach the ledger, the report, report.html and
the FrameDataset; unlabelled clips are counted, never extracted; corrected label files are followed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dfdx.config import load_config
from dfdx.inspect.report import build_report
from dfdx.run.command import run_extract
from dfdx.train.dataset import FrameDataset
from tests.conftest import ledger_lines, run_dfdx
from tests.datasets.profiles.trees import dfdc_tree, ffpp_tree


def extract(root: Path, out: Path, **overrides: object) -> int:
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(out), "quiet": True, "extract.frames": 1,
                             **overrides})  # fmt: skip
    return run_extract(cfg)


@pytest.fixture
def small(video_cache: Callable[..., Path]) -> Path:
    return video_cache("profile.mp4", frames=20, size=(96, 64))


def test_ffpp_labels_reach_ledger_report_html_and_dataset(tmp_path, small):
    root = ffpp_tree(tmp_path / "d", small)
    out = tmp_path / "out"
    assert extract(root, out) == 0
    lines = {e["video"]: e for e in ledger_lines(out)}
    assert len(lines) == 12 and all(e["status"] == "ok" for e in lines.values())
    fake = lines["FaceForensics++/manipulated_sequences/Face2Face/c23/videos/002_005.mp4"]
    assert (fake["method"], fake["compression"], fake["group"], fake["official_split"]) == (
        "Face2Face", "c23", ["002", "005"], "test")
    assert fake["original"][0].endswith("youtube/c23/videos/002.mp4")
    report = build_report(out)
    assert report["methods"]["Face2Face"]["ai"] == {"videos": 3, "ok": 3, "frames": 3}
    assert report["methods"]["original"]["real"]["videos"] == 6 and list(report["compression"]) == ["c23"]
    assert 'data-key="methods.Deepfakes.ai.frames">3<' in (out / "report.html").read_text()
    assert len(FrameDataset(out, methods=["original", "Deepfakes"])) == 6 + 3
    assert len(FrameDataset(out, compression="c40")) == 0


def test_dfdc_unlabelled_clips_are_counted_once_and_never_extracted(tmp_path, small):
    root = dfdc_tree(tmp_path / "d", small)
    out = tmp_path / "out"
    assert extract(root, out) == 0 and extract(root, out) == 0  # the second run adds no line
    lines = ledger_lines(out)
    unlabelled = [e for e in lines if e["status"] == "unlabelled"]
    assert [(e["video"], e["error"]) for e in unlabelled] == [
        ("dfdc_train_part_1/zzz.mp4", "dfdc_train_part_1/metadata.json does not name it")]
    assert not list(out.glob("*/*zzz*"))
    report = build_report(out)
    assert report["unlabelled"] == {"videos": 1, "examples": ["dfdc_train_part_1/zzz.mp4"]}
    assert report["totals"]["videos"] == 4 and report["totals"]["failed"] == 0
    assert len(lines) == 5


def test_corrected_labels_are_followed_without_needless_work(tmp_path, small):
    root = dfdc_tree(tmp_path / "d", small)
    out = tmp_path / "out"
    assert extract(root, out) == 0
    before = {e["video"]: e for e in ledger_lines(out)}
    meta_file = root / "dfdc_train_part_0" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["aaa.mp4"]["label"] = "FAKE"  # a wrong label fixed: the clip moves to ai/
    meta["bbb.mp4"]["split"] = "val"  # only a label that changes no frame
    meta_file.write_text(json.dumps(meta))
    assert extract(root, out) == 0
    after = ledger_lines(out)[len(before):]
    moved = next(e for e in after if e["video"] == "dfdc_train_part_0/aaa.mp4")
    assert moved["category"] == "ai" and moved["frames"][0]["path"].startswith("ai/")
    assert not (out / before["dfdc_train_part_0/aaa.mp4"]["frames"][0]["path"]).exists()
    relabelled = next(e for e in after if e["video"] == "dfdc_train_part_0/bbb.mp4")
    assert relabelled["official_split"] == "val"
    assert relabelled["frames"] == before["dfdc_train_part_0/bbb.mp4"]["frames"]
    assert relabelled["elapsed_s"] == before["dfdc_train_part_0/bbb.mp4"]["elapsed_s"]  # not extracted again
    assert {e["video"] for e in after} == {"dfdc_train_part_0/aaa.mp4", "dfdc_train_part_0/bbb.mp4"}


def test_bad_label_file_stops_before_anything_is_written(tmp_path, small):
    root = dfdc_tree(tmp_path / "d", small)
    (root / "dfdc_train_part_1" / "metadata.json").write_text('{"ccc.mp4": {"label": "real"}}')
    done = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 2 and "dfdc_train_part_1/metadata.json" in done.stderr and "'real'" in done.stderr
    assert not (tmp_path / "out").exists()
    done = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(tmp_path / "out"), "--profile", "ffpp")
    assert done.returncode == 2 and "no videos found" in done.stderr and "profile ffpp" in done.stderr


def test_the_run_says_which_profile_and_why(tmp_path, small):
    root = ffpp_tree(tmp_path / "d", small)
    done = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(tmp_path / "out"), "--frames", "1",
                    "--methods", "Deepfakes", "--compression", "c23")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dataset profile: ffpp (found 'FaceForensics++/manipulated_sequences/Deepfakes'" in done.stderr
    assert {e["method"] for e in ledger_lines(tmp_path / "out")} == {"original", "Deepfakes"}
