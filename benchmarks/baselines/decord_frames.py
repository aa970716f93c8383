"""decord, as its README shows: VideoReader, get_batch of the frame indices floor(p × N), cv2.imwrite q95;
a process per core."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import cv2
from decord import VideoReader, cpu

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import frame_index, frame_path, parse_args, run_all


def one_video(number: int, path: Path, positions: list[Fraction], out: Path) -> None:
    reader = VideoReader(str(path), ctx=cpu(0), num_threads=1)
    indices = [frame_index(p, len(reader)) for p in positions]
    batch = reader.get_batch(indices).asnumpy()
    for n, image in enumerate(batch, start=1):
        cv2.imwrite(str(frame_path(out, number, n)), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])  # fmt: skip


if __name__ == "__main__":
    run_all(parse_args(__doc__ or ""), one_video)
