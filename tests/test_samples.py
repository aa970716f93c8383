"""The index bar survives H.264 and JPEG: the foundation of every exactness test."""

from __future__ import annotations

import subprocess

from dfdx.samples import make_video, read_index


def test_every_frame_reads_back_its_own_index(tmp_path):
    video = make_video(tmp_path / "v.mp4", frames=40, size=(160, 96))
    out = tmp_path / "f%03d.jpg"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-q:v", "8", str(out)], check=True)
    frames = sorted(tmp_path.glob("f*.jpg"))
    assert len(frames) == 40
    assert [read_index(f.read_bytes()) for f in frames] == list(range(40))
