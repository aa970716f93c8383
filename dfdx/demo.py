"""`make demo` / `dfdx demo`: the whole pipeline on a small generated DFD-shaped sample, offline.

The sample copies DFD's quirks on purpose: the manipulated folder nested twice, DFD file names, a
29.97 fps file, a file with an audio track, and one corrupt file that must become one failed line.
"""

from __future__ import annotations

import os
from pathlib import Path

from dfdx.config import load_config
from dfdx.samples import make_video

REAL = "DFD_original_sequences"
FAKE = "DFD_manipulated_sequences/DFD_manipulated_sequences"
SAMPLE = {
    f"{REAL}/01__exit_phone_room.mp4": {"frames": 75},
    f"{REAL}/02__walking_outside.mp4": {"frames": 90, "rate": "30000/1001"},
    f"{FAKE}/01_02__exit_phone_room__YVGY8LOK.mp4": {"frames": 75},
    f"{FAKE}/02_01__walking_outside__K3Q9XZ2A.mp4": {"frames": 90, "rate": "30000/1001", "audio_s": 4.0},
    f"{FAKE}/03_01__meeting_serious__AB12CD34.mp4": {"frames": 60, "rate": "30"},
}
CORRUPT = f"{FAKE}/04_02__kitchen_still__BROKEN01.mp4"


def make_demo_dataset(root: Path) -> Path:
    """Generate the sample once; later calls reuse it."""
    for rel, opts in SAMPLE.items():
        path = root / rel
        if not path.exists():
            tmp = path.with_name(f".tmp-{path.name}")
            make_video(tmp, size=(320, 180), **opts)  # type: ignore[arg-type]
            os.replace(tmp, path)
    corrupt = root / CORRUPT
    if not corrupt.exists():
        good = (root / f"{FAKE}/01_02__exit_phone_room__YVGY8LOK.mp4").read_bytes()
        corrupt.write_bytes(b"\x00" * 64 + good[len(good) // 2 :])  # header gone: unreadable
    return root


def run_demo(folder: Path) -> int:
    from dfdx.run.command import run_extract

    dataset = make_demo_dataset(folder / "dataset")
    print(f"dfdx demo: sample dataset in {dataset}", flush=True)
    cfg = load_config(None, {"dataset_path": str(dataset), "output_dir": str(folder / "data")})
    code = run_extract(cfg)
    if code == 0:
        print(f"dfdx demo: frames in {folder / 'data'}/{{ai,real}}/, ledger and report beside them", flush=True)
    return code
