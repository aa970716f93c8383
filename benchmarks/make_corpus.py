"""A DFD-like benchmark corpus made by ffmpeg: deterministic, cached, frames that show their own index.

Twelve 1920×1080 H.264 files (libx264 crf 23, yuv420p, x264's default keyframe interval of 250; one
file with -g 30, one with -g 600), at 24, 25, 30 and 29.97 fps, 10–24 s, some with an AAC track. The
picture is testsrc2 with temporal noise, which decodes at the cost of real footage (~4 ms a frame on
one core, ~5 Mbit/s), with a 16-cell index bar on top so that any contender's JPEG says which frame it
holds (dfdx.samples.read_index). The files are made once; a later run reuses them unless the recipe
changed (recorded in corpus/recipe.json).

Usage: python benchmarks/make_corpus.py [DIR]   (default benchmarks/corpus)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
WIDTH, HEIGHT = 1920, 1080
BAR_HEIGHT = 64  # the index bar; read it back with read_index(jpeg, BAR_HEIGHT)
BITS = 16
REAL = "DFD_original_sequences"
FAKE = "DFD_manipulated_sequences/DFD_manipulated_sequences"


@dataclass(frozen=True, slots=True)
class Clip:
    rel: str
    seconds: int
    rate: str
    gop: int | None = None  # None: x264's default (250)
    audio: bool = False


CLIPS = (
    Clip(f"{REAL}/01__bench_lobby.mp4", 12, "25", audio=True),
    Clip(f"{REAL}/02__bench_kitchen.mp4", 14, "24"),
    Clip(f"{REAL}/03__bench_hallway.mp4", 16, "30", audio=True),
    Clip(f"{REAL}/04__bench_outside.mp4", 18, "30000/1001"),
    Clip(f"{REAL}/05__bench_short_gop.mp4", 11, "25", gop=30),
    Clip(f"{REAL}/06__bench_long_gop.mp4", 24, "25", gop=600),
    Clip(f"{FAKE}/01_02__bench_lobby__AAAA0001.mp4", 10, "30", audio=True),
    Clip(f"{FAKE}/02_03__bench_kitchen__AAAA0002.mp4", 20, "24"),
    Clip(f"{FAKE}/03_04__bench_hallway__AAAA0003.mp4", 13, "30000/1001", audio=True),
    Clip(f"{FAKE}/04_05__bench_outside__AAAA0004.mp4", 15, "25"),
    Clip(f"{FAKE}/05_06__bench_office__AAAA0005.mp4", 22, "24", audio=True),
    Clip(f"{FAKE}/06_01__bench_meeting__AAAA0006.mp4", 17, "30"),
)


def graph(rate: str) -> str:
    """testsrc2 + seeded temporal noise (what makes decoding cost what real footage costs) + index bar."""
    bar = (
        f"color=c=black:size={WIDTH}x{BAR_HEIGHT}:rate={rate},format=gray,"
        f"geq=lum='if(bitand(N\\,pow(2\\,floor(X*{BITS}/W)))\\,255\\,0)'"
    )
    content = f"testsrc2=size={WIDTH}x{HEIGHT}:rate={rate},noise=alls=3:allf=t:all_seed=1234"
    return f"{content}[bg];{bar}[bar];[bg][bar]overlay=0:0:shortest=1"


def encode_argv(clip: Clip, dest: Path) -> list[str]:
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", graph(clip.rate)]
    if clip.audio:
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={clip.seconds}:sample_rate=48000"]
    argv += ["-map", "0:v", "-t", str(clip.seconds)]
    argv += ["-map", "1:a", "-c:a", "aac", "-b:a", "96k"] if clip.audio else []
    # -threads 2 fixed: x264's output does not then depend on the machine's core count.
    argv += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-threads", "2"]
    argv += ["-g", str(clip.gop)] if clip.gop else []
    return [*argv, "-movflags", "+faststart", f"file:{dest}"]


def recipe_id(clip: Clip) -> str:
    return hashlib.sha256(json.dumps([asdict(clip), encode_argv(clip, Path("x"))]).encode()).hexdigest()[:16]


def linked_copies(corpus: Path, videos: list[Path], copies: int, root: Path) -> Path:
    """A dataset of `copies` symlinks to each corpus file (dfdx follows file links), in DFD's layout: the fixed
    costs of a run over more work (`copyK/` before each corpus path)."""
    for k in range(copies):
        for video in videos:
            link = root / f"copy{k}" / video.relative_to(corpus)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(video)
    return root


def make_corpus(root: Path = CORPUS, log: bool = True) -> list[Path]:
    """Make the missing or outdated files; return every file's path (absolute)."""
    root = root.resolve()
    recipe_file = root / "recipe.json"
    try:
        made = json.loads(recipe_file.read_text())
    except (OSError, ValueError):
        made = {}
    paths = []
    for clip in CLIPS:
        dest = root / clip.rel
        rid = recipe_id(clip)
        if not (dest.is_file() and made.get(clip.rel) == rid):
            if log:
                print(f"[corpus] making {clip.rel} ({clip.seconds} s at {clip.rate} fps)", file=sys.stderr, flush=True)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".tmp-{dest.name}")
            subprocess.run(encode_argv(clip, tmp), check=True)
            os.replace(tmp, dest)
            made[clip.rel] = rid
            recipe_file.write_text(json.dumps(made, indent=1, sort_keys=True))
        paths.append(dest)
    return paths


if __name__ == "__main__":
    for path in make_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS):
        print(path)
