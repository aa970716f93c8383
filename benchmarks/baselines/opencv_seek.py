"""The approach people migrate from: OpenCV, seek by frame index (CAP_PROP_POS_FRAMES), cv2.imwrite at
quality 95, videos in a 4-thread pool (OpenCV releases the GIL while decoding)."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import frame_index, frame_path, parse_args, run_all


def one_video(number: int, path: Path, positions: list[Fraction], out: Path) -> None:
    cap = cv2.VideoCapture(str(path))
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        for n, p in enumerate(positions, start=1):
            cap.set(cv2.CAP_PROP_POS_FRAMES, frame_index(p, count))
            ok, image = cap.read()
            if ok:
                cv2.imwrite(str(frame_path(out, number, n)), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    finally:
        cap.release()


if __name__ == "__main__":
    run_all(parse_args(__doc__ or ""), one_video)
