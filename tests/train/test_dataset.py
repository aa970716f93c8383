"""FrameDataset on a real extraction: the ledger decides what is in it; labels; splits; DataLoader workers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dfdx.config import load_config
from dfdx.inspect.verify import verify
from dfdx.run.command import run_extract
from dfdx.samples import read_index_luma
from dfdx.train.dataset import FrameDataset
from dfdx.train.splits import write_splits
from tests.conftest import FAKE, REAL, ledger_lines

FRAMES = {f"{REAL}/01__a.mp4": 30, f"{REAL}/02__b.mp4": 45, f"{FAKE}/01_02__a__AAAAAAA1.mp4": 60,
          f"{FAKE}/02_03__b__AAAAAAA2.mp4": 36, f"{FAKE}/04_05__c__AAAAAAA3.mp4": 51}  # fmt: skip
BROKEN = f"{FAKE}/06_07__d__BROKEN00.mp4"


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory, video_cache: Callable[..., Path]) -> Path:
    base = tmp_path_factory.mktemp("dataset")
    for rel, n in FRAMES.items():
        (base / "ds" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(video_cache(f"ds{n}.mp4", frames=n), base / "ds" / rel)
    (base / "ds" / BROKEN).write_bytes(b"not a video" * 100)
    cfg = load_config(None, {"dataset_path": str(base / "ds"), "output_dir": str(base / "out"), "quiet": True})
    assert run_extract(cfg) == 0
    return base / "out"


def expected_index(path: str, out: Path) -> int:
    """The source frame a JPEG must show, from the ledger: frame played at p × duration, 25 fps."""
    for e in ledger_lines(out):
        for f in e["frames"]:
            if out / f["path"] == Path(path):
                return round(f["pts_s"] * 25)
    raise KeyError(path)


def test_samples_are_the_ledgers_complete_videos(out):
    ds = FrameDataset(out)
    assert ds.classes == ["real", "ai"] and ds.class_to_idx == {"real": 0, "ai": 1}
    assert len(ds) == 15 and ds.targets.count(0) == 6 and ds.targets.count(1) == 9
    assert {ds.video_of(i) for i in range(len(ds))} == set(FRAMES)  # the failed video contributes nothing
    for i, (path, label) in enumerate(ds.samples):
        assert label == (1 if ds.video_of(i).startswith(FAKE) else 0)
        image, same_label = ds[i]
        assert same_label == label and image.size == (160, 96) and image.mode == "RGB"
        assert read_index_luma(np.asarray(image.convert("L"))) == expected_index(path, out)


def test_orphans_and_requeued_videos_are_left_out(out, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    shutil.copyfile(copy / FrameDataset(copy).samples[0][0], copy / "real" / "stray.jpg")
    victim = next(e for e in ledger_lines(copy) if e["video"] == f"{FAKE}/02_03__b__AAAAAAA2.mp4")
    (copy / victim["frames"][1]["path"]).write_bytes(b"")
    verify(copy, fix=True)
    ds = FrameDataset(copy)
    assert len(ds) == 12 and f"{FAKE}/02_03__b__AAAAAAA2.mp4" not in {ds.video_of(i) for i in range(len(ds))}
    assert not any(p.endswith("stray.jpg") for p, _ in ds.samples)


def test_split_subsample_and_labels(out, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    splits = write_splits(copy, (0.4, 0.3, 0.3), seed=0)
    seen = []
    for name in ("train", "val", "test"):
        ds = FrameDataset(copy, split=name)
        assert {splits["videos"][ds.video_of(i)] for i in range(len(ds))} <= {name}
        seen += [ds.video_of(i) for i in range(len(ds))]
    assert sorted(seen) == sorted(v for v in FRAMES for _ in range(3))  # every frame in exactly one split
    with pytest.raises(ValueError, match="not one of"):
        FrameDataset(copy, split="validation")
    with pytest.raises(FileNotFoundError, match="dfdx split"):
        FrameDataset(out, split="train")
    small = FrameDataset(copy, max_samples_per_class=4, seed=1)
    assert small.targets.count(0) == 4 and small.targets.count(1) == 4
    assert FrameDataset(copy, max_samples_per_class=4, seed=1).samples == small.samples
    assert FrameDataset(copy, max_samples_per_class=4, seed=2).samples != small.samples
    flipped = FrameDataset(copy, class_to_idx={"ai": 0, "real": 1})
    assert flipped.classes == ["ai", "real"] and flipped[0][1] == (0 if flipped.video_of(0).startswith(FAKE) else 1)
    with pytest.raises(ValueError, match="class_to_idx"):
        FrameDataset(copy, class_to_idx={"real": 0})
    doubled = FrameDataset(copy, transform=lambda im: im.size[0] * 2)
    assert doubled[0][0] == 320


def test_works_without_torch_and_says_how_to_get_it(out):
    code = f"""
import sys
sys.modules["torch"] = None  # as if torch were not installed
import dfdx, dfdx.train.dataset
ds = dfdx.train.dataset.FrameDataset({str(out)!r})
print(len(ds), ds[0][0].size)
try:
    dfdx.train.dataset.to_tensor(ds[0][0])
except ImportError as exc:
    print(exc)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["15 (160, 96)",
                                          "this needs PyTorch, which is not installed: pip install 'dfdx[torch]'"]


@pytest.mark.torch
def test_dataloader_with_workers(out):
    torch = pytest.importorskip("torch")
    from dfdx.train.dataset import to_tensor

    ds = FrameDataset(out, transform=to_tensor)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True, num_workers=2,
                                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    seen = []
    for images, labels in loader:
        assert images.dtype == torch.float32 and images.shape[1:] == (3, 96, 160)
        assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
        for image, label in zip(images, labels, strict=True):
            luma = (image.mean(0) * 255).round().to(torch.uint8).numpy()
            seen.append((read_index_luma(luma), int(label)))
    want = [(expected_index(p, out), label) for p, label in ds.samples]
    assert sorted(seen) == sorted(want)


def test_face_crops_carry_their_box(face_output):
    data = FrameDataset(face_output)
    boxes = {f["path"]: f["box"] for e in ledger_lines(face_output) for f in e["frames"]}
    assert len(data) == len(boxes) == 6
    for i, (path, _) in enumerate(data.samples):
        assert data.box_of(i) == boxes[str(Path(path).relative_to(face_output))] is not None
        assert data[i][0].size == (256, 256)
