"""The output folder loads as-is with the ecosystem's image-folder loaders (run for real, not documented only):
the Hugging Face `imagefolder` loader reads metadata.jsonl beside the frames and gets the labels, method and
split; torchvision's ImageFolder sees exactly the class folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dfdx.config import load_config
from dfdx.run.command import run_extract
from tests.conftest import ledger_lines, run_dfdx
from tests.datasets.profiles.trees import ffpp_tree

HF_SCRIPT = """
import json, sys
from datasets import load_dataset
ds = load_dataset("imagefolder", data_dir=sys.argv[1])["train"]
rows = ds.remove_columns("image").to_list()
print(json.dumps({"features": sorted(ds.features), "rows": rows, "image": ds[0]["image"].size}))
"""


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory, video_cache: Callable[..., Path]) -> Path:
    base = tmp_path_factory.mktemp("loaders")
    root = ffpp_tree(base / "d", video_cache("loaders.mp4", frames=20, size=(96, 64)))
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(base / "out"), "quiet": True,
                             "extract.frames": 2})  # fmt: skip
    assert run_extract(cfg) == 0
    return base / "out"


def hugging_face(out: Path, tmp_path: Path) -> dict:
    pytest.importorskip("datasets")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", HF_SCRIPT, str(out)], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_hugging_face_imagefolder_gets_every_frame_with_its_labels(out, tmp_path):
    assert run_dfdx("split", "--output-dir", str(out)).returncode == 0
    got = hugging_face(out, tmp_path)
    entries = {e["video"]: e for e in ledger_lines(out)}
    splits = json.loads((out / "splits.json").read_text())["videos"]
    assert len(got["rows"]) == sum(len(e["frames"]) for e in entries.values()) == 24 and got["image"] == [96, 64]
    assert {"label", "category", "video", "split", "method", "compression"} <= set(got["features"])
    for row in got["rows"]:
        entry = entries[row["video"]]
        assert row["label"] == (1 if entry["category"] == "ai" else 0) and row["category"] == entry["category"]
        assert (row["method"], row["compression"], row["split"]) == (entry["method"], "c23", splits[row["video"]])
    assert sorted({row["method"] for row in got["rows"]}) == ["Deepfakes", "Face2Face", "original"]


def test_torchvision_imagefolder_sees_exactly_the_two_classes(out):
    """`make test` installs a torchvision built for its torch (see the Makefile); ImageFolder takes every
    sub-folder for a class, so nothing but ai/ and real/ may sit in the output folder."""
    datasets = pytest.importorskip("torchvision.datasets")
    folder = datasets.ImageFolder(str(out))
    frames = sorted(f["path"] for e in ledger_lines(out) for f in e["frames"])
    assert folder.classes == ["ai", "real"] and folder.class_to_idx == {"ai": 0, "real": 1}
    assert sorted(Path(path).relative_to(out).as_posix() for path, _ in folder.samples) == frames
    assert all(label == (0 if Path(path).parent.name == "ai" else 1) for path, label in folder.samples)
    image, label = folder[0]
    assert image.size == (96, 64) and label in (0, 1)
