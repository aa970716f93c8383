"""`FrameDataset`: dfdx's output as a PyTorch map-style dataset, built from the ledger.

The ledger, not a directory glob, decides what is in it: only videos whose last entry is `ok`, so
the frames of an interrupted, failed or re-queued video never reach training. Labels default to
`real` = 0 and `ai` = 1 (pass `class_to_idx` to change them). The interface follows torchvision's
ImageFolder (`.samples`, `.classes`, `.class_to_idx`), so code written for it works unchanged.

Torch is optional (`pip install 'dfdx[torch]'`): this module imports without it; a DataLoader, and
`to_tensor`, need it. Images are opened with Pillow, imported when the first image is read.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from dfdx.layout import SPLIT_NAMES, SPLITS_NAME
from dfdx.ledger import has_ledger, load_state

DEFAULT_CLASS_TO_IDX = {"real": 0, "ai": 1}
INSTALL_HINT = "pip install 'dfdx[torch]'"


def require_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(f"this needs PyTorch, which is not installed: {INSTALL_HINT}") from None
    return torch


def _pil_image() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"reading frames needs Pillow, which is not installed: {INSTALL_HINT}") from None
    return Image


def to_tensor(image: Any) -> Any:
    """PIL image → float CHW tensor in [0, 1] (torchvision's ToTensor, without needing torchvision)."""
    torch = require_torch()
    import numpy as np

    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255)


class FrameDataset:
    """(image, label) pairs of every frame of every complete video in an output folder.

    `split` ("train", "val", "test") keeps the videos `dfdx split` put there (splits.json);
    `methods` keeps the videos of these manipulation methods (real videos have the method "original",
    so `methods=["original", "Deepfakes"]` is Deepfakes against real); `compression` keeps one
    compression ("c23", ...) — both as the dataset profile recorded them in the ledger;
    `max_samples_per_class` keeps a seeded random subset of each class's frames.
    """

    def __init__(
        self,
        data_dir: str | Path,
        split: str | None = None,
        transform: Callable[[Any], Any] | None = None,
        max_samples_per_class: int | None = None,
        seed: int = 0,
        class_to_idx: Mapping[str, int] | None = None,
        methods: Iterable[str] | None = None,
        compression: str | None = None,
    ) -> None:
        self.root = Path(data_dir)
        self.transform = transform
        self.class_to_idx = dict(class_to_idx or DEFAULT_CLASS_TO_IDX)
        self.classes = sorted(self.class_to_idx, key=lambda c: (self.class_to_idx[c], c))
        if not has_ledger(self.root):
            raise FileNotFoundError(f"no ledger in {str(self.root)!r}: run `dfdx extract --output-dir {self.root}`")
        done = [e for e in load_state(self.root).videos.values() if e.status == "ok"]
        unknown = sorted({e.category for e in done} - set(self.class_to_idx))
        if unknown:
            raise ValueError(f"categories {unknown} have no label: pass class_to_idx, e.g. {{'real': 0, 'ai': 1}}")
        if methods is not None:
            wanted = set(methods)
            done = [e for e in done if e.method in wanted]
        if compression is not None:
            done = [e for e in done if e.compression == compression]
        if split is not None:
            keep = self._videos_in(split)
            done = [e for e in done if e.video in keep]
        by_class: dict[str, list[tuple[str, int, str, list[int] | None]]] = {c: [] for c in self.classes}
        for entry in sorted(done, key=lambda e: e.video):
            for frame in entry.frames:
                by_class[entry.category].append((str(self.root / frame.path), self.class_to_idx[entry.category],
                                                 entry.video, frame.box))  # fmt: skip
        if max_samples_per_class is not None:
            rng = random.Random(seed)
            for cat, items in by_class.items():
                if len(items) > max_samples_per_class:
                    picked = sorted(rng.sample(range(len(items)), max_samples_per_class))
                    by_class[cat] = [items[i] for i in picked]
        rows = [row for cat in self.classes for row in by_class[cat]]
        self.samples: list[tuple[str, int]] = [(path, label) for path, label, _, _ in rows]
        self.targets: list[int] = [label for _, label in self.samples]
        self._videos: list[str] = [video for _, _, video, _ in rows]
        self._boxes: list[list[int] | None] = [box for _, _, _, box in rows]

    def _videos_in(self, split: str) -> set[str]:
        path = self.root / SPLITS_NAME
        if not path.exists():
            raise FileNotFoundError(f"split={split!r} needs {path}: run `dfdx split --output-dir {self.root}` first")
        videos: dict[str, str | None] = json.loads(path.read_text(encoding="utf-8"))["videos"]
        if split not in SPLIT_NAMES:
            raise ValueError(f"split {split!r} is not one of 'train', 'val', 'test'")
        return {v for v, s in videos.items() if s == split}

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        with _pil_image().open(path) as image:
            image = image.convert("RGB")
        return (self.transform(image) if self.transform is not None else image), label

    def video_of(self, index: int) -> str:
        """The source video (its path relative to the dataset root) of sample `index`."""
        return self._videos[index]

    def box_of(self, index: int) -> list[int] | None:
        """`crop: face`: the face box [x, y, w, h] of sample `index`, in pixels of the video's displayed
        frame (None for whole frames and `on_missing: full` frames)."""
        return self._boxes[index]

    def __repr__(self) -> str:
        counts = {c: self.targets.count(i) for c, i in self.class_to_idx.items()}
        return f"FrameDataset({str(self.root)!r}, {len(self)} frames, {counts})"
