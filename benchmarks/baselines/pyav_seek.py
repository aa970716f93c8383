"""Plain PyAV, as a user writes it: per target, seek to the keyframe before it, decode forward to the
frame played at the target time, convert to RGB, cv2.imwrite at quality 95; a process per core."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import frame_path, parse_args, run_all


def one_video(number: int, path: Path, positions: list[Fraction], out: Path) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base
        start = stream.start_time or 0
        end = start + stream.duration
        for n, p in enumerate(positions, start=1):
            target = start + p * (end - start)  # in time-base ticks
            container.seek(int(target), stream=stream, backward=True)
            previous = None
            for frame in container.decode(stream):
                if frame.pts > target:
                    break
                previous = frame
            if previous is not None:
                image = previous.to_ndarray(format="bgr24")
                cv2.imwrite(str(frame_path(out, number, n)), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        del tb


if __name__ == "__main__":
    run_all(parse_args(__doc__ or ""), one_video)
