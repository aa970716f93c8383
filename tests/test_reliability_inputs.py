"""Hostile inputs: every codec, layout, damage and name a 24 GB download from the internet can hold.

Each gives one clear `failed` ledger line or a correct extraction — never a crash, a hang, or frames of
another video. Correct is proved from the pixels: every test video shows its frame index, so for a CFR
file starting at 0 with N frames the JPEGs at 1/3, 1/2, 2/3 must show frames floor(p × N).

Most cases share one real `dfdx extract` run over one dataset (module fixture), so the whole matrix
costs one process start; each case is still its own test, so a failure names its input.
"""

from __future__ import annotations

import ctypes
import errno
import math
import os
import shutil
import stat
import struct
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dfdx.datasets.discover import video_hash
from dfdx.samples import decode_luma, make_video, read_index_luma
from tests.conftest import REAL, frame_indices, ledger_lines, run_dfdx

THIRDS = (Fraction(1, 3), Fraction(1, 2), Fraction(2, 3))
FPS = 25
EXTENSIONS_CONFIG = "discover:\n  extensions: ['.mp4', '.webm', '.mkv']\n"


def frame_times(path: Path) -> list[float]:
    """Presentation times of the frames ffprobe can read from the file, sorted."""
    listing = subprocess.run(["ffprobe", "-v", "quiet", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
                              "-of", "csv=p=0", f"file:{path}"], capture_output=True, text=True).stdout  # fmt: skip
    return sorted(float(t.split(",")[0]) for t in listing.split() if not t.startswith("N/A"))


def expected(n: int) -> list[int]:
    return [math.floor(p * n) for p in THIRDS]


def encoders() -> set[str]:
    listing = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return {line.split()[1] for line in listing.splitlines() if len(line.split()) > 1}


HAVE = encoders()


def remux(src: Path, dest: Path, *args: str, inputs: tuple[Path, ...] = ()) -> Path:
    """ffmpeg -i src [-i more] ARGS dest (stream copy unless ARGS say otherwise); an argv, no shell."""
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", f"file:{src}"]
    for extra in inputs:
        argv += ["-i", f"file:{extra}"]
    subprocess.run([*argv, *args, f"file:{dest}"], check=True, capture_output=True)
    return dest


# --- containers and codecs: each must come out exact ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Good:
    """A readable input and the stream-0 frame count N its JPEGs are checked against."""

    name: str
    frames: int
    build: Callable[[Path, Path], Path]  # (folder for scratch files, destination) → destination
    needs: str = "libx264"


def _plain(frames: int = 30, **kw: Any) -> Callable[[Path, Path], Path]:
    return lambda _scratch, dest: make_video(dest, frames=frames, **kw)


def _remuxed(frames: int, *args: str, **kw: Any) -> Callable[[Path, Path], Path]:
    def build(scratch: Path, dest: Path) -> Path:
        src = make_video(scratch / f"src-{dest.name}", frames=frames, **kw)
        return remux(src, dest, "-c", "copy", *args)

    return build


def _rescaled(frames: int, codec: str, pix_fmt: str, *args: str) -> Callable[[Path, Path], Path]:
    """161x97 (lavfi's test sources round sizes to even): nearest-neighbour keeps the index bar readable."""

    def build(scratch: Path, dest: Path) -> Path:
        src = make_video(scratch / f"src-{dest.stem}.mkv", frames=frames, codec="libx264", pix_fmt="yuv444p",
                         output_args=("-qp", "0"))  # fmt: skip
        return remux(src, dest, "-vf", "scale=161:97:flags=neighbor", "-c:v", codec, "-pix_fmt", pix_fmt, *args)

    return build


def _two_video_streams(scratch: Path, dest: Path) -> Path:
    """Stream 0 has 30 frames, stream 1 has 90: stream 1's frames at the same positions differ."""
    first = make_video(scratch / "two-a.mp4", frames=30)
    second = make_video(scratch / "two-b.mp4", frames=90, size=(320, 192))
    return remux(first, dest, "-map", "0:v", "-map", "1:v", "-c", "copy", inputs=(second,))


def _cover_first(scratch: Path, dest: Path) -> Path:
    """A cover picture as stream 0 (as music-video rips have): the real video is stream 1."""
    video = make_video(scratch / "cover-v.mp4", frames=30)
    cover = scratch / "cover.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1",
                    f"file:{cover}"], check=True, capture_output=True)  # fmt: skip
    return remux(cover, dest, "-map", "0", "-map", "1:v", "-c", "copy", "-disposition:v:0", "attached_pic",
                 inputs=(video,))  # fmt: skip


def _lying_duration(scratch: Path, dest: Path) -> Path:
    """The mvhd/tkhd/mdhd boxes claim ~13 hours (faststart, so the boxes come first); the stream has 1.2 s."""
    src = make_video(scratch / "lying-src.mp4", frames=30, output_args=("-movflags", "+faststart"))
    data = bytearray(src.read_bytes())
    for box, offset in ((b"mvhd", 16), (b"tkhd", 20), (b"mdhd", 16)):
        at = data.index(box) + 4  # version+flags, then 32-bit fields for version 0
        assert data[at] == 0, "expected version-0 boxes"
        struct.pack_into(">I", data, at + offset, 0x7FFF_FFFF)
    dest.write_bytes(bytes(data))
    return dest


X265 = ("-x265-params", "log-level=error")
VPX = ("-deadline", "realtime", "-cpu-used", "8")
GOOD = [
    Good("h264_yuv420p.mp4", 30, _plain()),
    Good("h264_10bit.mp4", 30, _plain(pix_fmt="yuv420p10le")),
    Good("h264_yuv444p.mp4", 30, _plain(pix_fmt="yuv444p")),
    Good("h264_yuvj420p.mp4", 30, _plain(pix_fmt="yuvj420p")),
    Good("h264_odd_161x97.mp4", 30, _rescaled(30, "libx264", "yuv444p")),
    Good("hevc_8bit.mp4", 30, _plain(codec="libx265", output_args=X265), "libx265"),
    Good("hevc_10bit.mp4", 30, _plain(codec="libx265", pix_fmt="yuv420p10le", output_args=X265), "libx265"),
    Good("vp9.webm", 30, _plain(codec="libvpx-vp9", output_args=VPX), "libvpx-vp9"),
    Good("vp9_odd_161x97.webm", 30, _rescaled(30, "libvpx-vp9", "yuv420p", *VPX), "libvpx-vp9"),
    Good("vp9_10bit_yuv444p.mkv", 30, _plain(codec="libvpx-vp9", pix_fmt="yuv444p10le", output_args=VPX), "libvpx-vp9"),
    Good("av1_svt.mkv", 30, _plain(codec="libsvtav1", output_args=("-preset", "12")), "libsvtav1"),
    Good("av1_aom.mp4", 30, _plain(codec="libaom-av1", output_args=("-cpu-used", "8", "-row-mt", "1")), "libaom-av1"),
    Good("bframes_negative_dts.mp4", 45, _plain(45, gop=15, output_args=("-bf", "3", "-b-pyramid", "normal"))),
    Good("start_at_3s.mp4", 30, _remuxed(30, "-output_ts_offset", "3")),
    Good("mpegts_named_mp4.mp4", 30, _remuxed(30, "-f", "mpegts")),
    Good("one_frame.mp4", 1, _plain(1)),
    Good("two_frames.mp4", 2, _plain(2)),
    Good("audio_longer.mp4", 30, _plain(audio_s=6.0)),
    Good("two_video_streams.mp4", 30, _two_video_streams),
    Good("cover_picture_first.mp4", 30, _cover_first),
    Good("moov_at_end.mp4", 40, _plain(40, gop=8)),
    Good("faststart.mp4", 40, _plain(40, gop=8, output_args=("-movflags", "+faststart"))),
    Good("fragmented.mp4", 40, _plain(40, gop=8, output_args=("-movflags", "frag_keyframe+empty_moov"))),
    Good("header_claims_13h.mp4", 30, _lying_duration),
    Good("sar_2_1.mp4", 30, _remuxed(30, "-aspect", "10:3")),  # 160x96 stored, shown 320x96: SAR 2:1
    Good("rotate_270.mp4", 30, _remuxed(30, "-metadata:s:v", "rotate=270")),
    Good("rotate_180.mp4", 30, _remuxed(30, "-metadata:s:v", "rotate=180")),
]


# --- damage: each must fail with one line, or give frames that are exactly the file's ---------------------------


def _good_bytes(scratch: Path, faststart: bool, suffix: str = ".mp4") -> bytes:
    """60 frames, keyframe every 10: the source every damaged case is cut from (made once)."""
    path = scratch / f"damage{'-fast' if faststart else ''}{suffix}"
    if not path.exists():
        args = ("-movflags", "+faststart") if faststart else ()
        codec = "libvpx-vp9" if suffix == ".webm" else "libx264"
        make_video(path, frames=60, size=(320, 192), gop=10, codec=codec,
                   output_args=(*args, *VPX) if suffix == ".webm" else args)  # fmt: skip
    return path.read_bytes()


def _truncated(fraction: float, faststart: bool, suffix: str = ".mp4") -> Callable[[Path, Path], Path]:
    def build(scratch: Path, dest: Path) -> Path:
        data = _good_bytes(scratch, faststart, suffix)
        dest.write_bytes(data[: int(len(data) * fraction)])
        return dest

    return build


def _written(payload: Callable[[Path], bytes]) -> Callable[[Path, Path], Path]:
    def build(scratch: Path, dest: Path) -> Path:
        dest.write_bytes(payload(scratch))
        return dest

    return build


def _bit_flipped(scratch: Path, dest: Path) -> Path:
    data = bytearray(_good_bytes(scratch, faststart=True))
    data[len(data) // 2] ^= 0x10
    dest.write_bytes(bytes(data))
    return dest


DAMAGED: dict[str, Callable[[Path, Path], Path]] = {
    "truncated_10_moov_at_end.mp4": _truncated(0.1, False),
    "truncated_50_moov_at_end.mp4": _truncated(0.5, False),
    "truncated_90_moov_at_end.mp4": _truncated(0.9, False),
    "truncated_10_faststart.mp4": _truncated(0.1, True),
    "truncated_50_faststart.mp4": _truncated(0.5, True),
    "truncated_90_faststart.mp4": _truncated(0.9, True),
    "truncated_50.mkv": _truncated(0.5, False, ".mkv"),
    "truncated_90.webm": _truncated(0.9, False, ".webm"),
    "bit_flipped_middle.mp4": _bit_flipped,
    "zero_bytes.mp4": _written(lambda _scratch: b""),
    "random_bytes.mp4": _written(lambda _scratch: np.random.default_rng(7).bytes(200_000)),
    "mp4_header_then_random.mp4": _written(
        lambda scratch: _good_bytes(scratch, True)[:2000] + np.random.default_rng(8).bytes(100_000)
    ),
}


@dataclass(frozen=True, slots=True)
class MatrixRun:
    out: Path
    root: Path
    entries: dict[str, dict[str, Any]]  # file name → its ledger line
    stderr: str
    returncode: int
    missing: dict[str, str]  # case name → why it was not built


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory,
           reliability_inputs: tuple[dict[str, Path], dict[str, str]]) -> MatrixRun:  # fmt: skip
    """Every good and damaged case in one DFD-shaped dataset, extracted by one real `dfdx extract`."""
    base = tmp_path_factory.mktemp("matrix")
    root, out = base / "dataset", base / "out"
    folder = root / REAL
    folder.mkdir(parents=True)
    made, missing = reliability_inputs
    for name, path in made.items():
        os.link(path, folder / name)  # the same bytes, without a link dfdx would have to follow
    config = base / "config.yaml"
    config.write_text(EXTENSIONS_CONFIG)
    done = run_dfdx("extract", "--config", str(config), "--dataset-path", str(root), "--output-dir", str(out),
                    "--num-workers", "2", "--timeout", "30", timeout=300)  # fmt: skip
    entries = {Path(e["video"]).name: e for e in ledger_lines(out)}
    return MatrixRun(out, root, entries, done.stderr, done.returncode, missing)


def test_matrix_run_finishes_cleanly(matrix: MatrixRun) -> None:
    """One line per input, exit 0 although a third of the inputs are broken; no traceback anywhere."""
    assert matrix.returncode == 0, matrix.stderr
    assert "Traceback" not in matrix.stderr
    built = {c.name for c in GOOD if c.name not in matrix.missing} | set(DAMAGED)
    assert set(matrix.entries) == built
    lines = ledger_lines(matrix.out)
    assert len(lines) == len(built)
    on_disk = {p.relative_to(matrix.out).as_posix() for p in (matrix.out / "real").glob("*.jpg")}
    listed = {f["path"] for e in lines for f in e["frames"]}
    assert on_disk == listed  # a failed video leaves no frame behind
    assert list(matrix.out.rglob(".dfdx-tmp-*")) == []


@pytest.mark.parametrize("case", GOOD, ids=[c.name for c in GOOD])
def test_good_input_gives_the_exact_frames(matrix: MatrixRun, case: Good) -> None:
    if case.name in matrix.missing:
        pytest.skip(matrix.missing[case.name])
    entry = matrix.entries[case.name]
    assert entry["status"] == "ok", entry["error"]
    if case.name.startswith("rotate_"):
        turns = {"rotate_270.mp4": 1, "rotate_180.mp4": 2}[case.name]  # back to the stored orientation
        lumas = [np.rot90(decode_luma((matrix.out / f["path"]).read_bytes()), k=turns) for f in entry["frames"]]
        assert [read_index_luma(luma) for luma in lumas] == expected(case.frames)
    else:
        assert frame_indices(matrix.out, entry) == expected(case.frames)
    start = frame_times(matrix.root / REAL / case.name)[0]  # 3 s, MPEG-TS's 1.4 s (+ B-frame delay), ...
    assert start > 2.9 if case.name == "start_at_3s.mp4" else True
    assert [f["pts_s"] for f in entry["frames"]] == pytest.approx(
        [start + i / FPS for i in expected(case.frames)], abs=2e-3)  # fmt: skip
    assert entry["duration_s"] == pytest.approx(case.frames / FPS, abs=1e-3)


def test_bframes_case_really_has_negative_dts(matrix: MatrixRun) -> None:
    """The B-frame case is only a test if its container stores decode times before zero."""
    path = matrix.root / REAL / "bframes_negative_dts.mp4"
    argv = ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=dts", "-of", "csv=p=0"]
    dts = subprocess.run([*argv, f"file:{path}"], capture_output=True, text=True, check=True).stdout
    assert min(int(d) for d in dts.split()) < 0


def test_odd_dimensions_are_kept(matrix: MatrixRun) -> None:
    entry = matrix.entries["h264_odd_161x97.mp4"]
    assert (entry["width"], entry["height"]) == (161, 97)
    assert decode_luma((matrix.out / entry["frames"][0]["path"]).read_bytes()).shape == (97, 161)


def test_non_square_pixels_keep_the_stored_size(matrix: MatrixRun) -> None:
    """Policy: dfdx writes the stored pixels (160x96), not the displayed aspect (320x96): no resampling,
    so a detector sees the encoder's own pixels. The ledger's width/height are the stored ones."""
    path = matrix.root / REAL / "sar_2_1.mp4"
    sar = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                          "stream=sample_aspect_ratio", "-of", "csv=p=0", f"file:{path}"],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert sar == "2:1"
    entry = matrix.entries["sar_2_1.mp4"]
    assert (entry["width"], entry["height"]) == (160, 96)
    assert decode_luma((matrix.out / entry["frames"][0]["path"]).read_bytes()).shape == (96, 160)


def test_rotation_swaps_the_size(matrix: MatrixRun) -> None:
    assert (matrix.entries["rotate_270.mp4"]["width"], matrix.entries["rotate_270.mp4"]["height"]) == (96, 160)
    assert (matrix.entries["rotate_180.mp4"]["width"], matrix.entries["rotate_180.mp4"]["height"]) == (160, 96)


@pytest.mark.parametrize("name", list(DAMAGED))
def test_damaged_input_fails_clearly_or_gives_its_own_frames(matrix: MatrixRun, name: str) -> None:
    """Failed: one line with a short reason and no frames. Ok: each JPEG is the frame the file plays at
    its target time (read from the pixels), never a neighbour, never a frame of another video."""
    entry = matrix.entries[name]
    if entry["status"] == "failed":
        assert entry["frames"] == [] and entry["error"]
        assert "\n" not in entry["error"] and len(entry["error"]) <= 300
        assert "Traceback" not in entry["error"] and str(matrix.root) not in entry["error"]
        return
    assert entry["status"] == "ok"
    times = frame_times(matrix.root / REAL / name)
    for frame, index in zip(entry["frames"], frame_indices(matrix.out, entry), strict=True):
        assert frame["target_s"] == pytest.approx(times[0] + frame["position"] * entry["duration_s"], abs=1e-5)
        played = max(t for t in times if t <= frame["target_s"] + 1e-6)  # by the file's own frame list
        assert frame["pts_s"] == pytest.approx(played, abs=1e-6)
        assert index == round(frame["pts_s"] * FPS), (frame, index)


def test_damage_outcomes_are_the_documented_ones(matrix: MatrixRun) -> None:
    """Pinned, since a change here is a change of promise: a file cut short (an incomplete download)
    fails, whichever container, and says so; noise fails as unreadable. A bit flip in the middle is
    not detectable without decoding every frame (that is `dfdx verify`'s job): it extracts."""
    for name in DAMAGED:
        if name.startswith("truncated_"):
            entry = matrix.entries[name]
            assert entry["status"] == "failed", (name, entry["frames"])
            assert entry["error"].startswith(("truncated:", "not a readable video")), (name, entry["error"])
    for name in ("truncated_10_faststart.mp4", "truncated_90_faststart.mp4", "truncated_50.mkv",
                 "truncated_90.webm"):  # fmt: skip
        assert matrix.entries[name]["error"].startswith("truncated:"), matrix.entries[name]["error"]
    for name in ("zero_bytes.mp4", "random_bytes.mp4"):
        assert matrix.entries[name]["error"].startswith("not a readable video"), matrix.entries[name]["error"]
    assert matrix.entries["bit_flipped_middle.mp4"]["status"] == "ok"


# --- things in the tree that are not video files ------------------------------------------------------------------


def test_fifo_device_links_and_loops_never_hang(tmp_path: Path, video_cache: Callable[..., Path]) -> None:
    """A FIFO or a device named .mp4 would block or stream forever if opened: they fail without being
    opened. Link loops and dangling links fail with the OS's reason; a folder link loop is walked once."""
    good = video_cache("tree-good.mp4", frames=30)
    root = tmp_path / "dataset"
    folder = root / REAL
    folder.mkdir(parents=True)
    shutil.copyfile(good, folder / "01__good.mp4")
    os.mkfifo(folder / "fifo.mp4")
    try:
        os.mknod(folder / "device.mp4", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # like /dev/zero
    except OSError as exc:
        assert exc.errno in (errno.EPERM, errno.EACCES)
        os.symlink("/dev/zero", folder / "device.mp4")
    os.symlink("/dev/urandom", folder / "urandom_link.mp4")
    os.symlink("loop_b.mp4", folder / "loop_a.mp4")
    os.symlink("loop_a.mp4", folder / "loop_b.mp4")
    os.symlink("does_not_exist.mp4", folder / "dangling.mp4")
    os.symlink(".", folder / "self_loop")
    os.symlink("..", folder / "parent_loop")
    (folder / "folder_named.mp4").mkdir()
    out = tmp_path / "out"
    done = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(out), "--timeout", "5", timeout=60)
    assert done.returncode == 0, done.stderr
    entries = {Path(e["video"]).name: e for e in ledger_lines(out)}
    assert set(entries) == {"01__good.mp4", "fifo.mp4", "device.mp4", "urandom_link.mp4", "loop_a.mp4",
                            "loop_b.mp4", "dangling.mp4"}  # fmt: skip
    assert len(ledger_lines(out)) == 7  # the folder loops did not make anything appear twice
    assert entries["01__good.mp4"]["status"] == "ok"
    assert frame_indices(out, entries["01__good.mp4"]) == expected(30)
    for name in ("fifo.mp4", "device.mp4", "urandom_link.mp4"):
        assert entries[name]["status"] == "failed" and "not a regular file" in entries[name]["error"], name
    for name in ("loop_a.mp4", "loop_b.mp4"):
        assert "Too many levels of symbolic links" in entries[name]["error"]
    assert "No such file or directory" in entries["dangling.mp4"]["error"]


def test_symlink_to_a_file_outside_is_a_video_of_the_tree(tmp_path: Path, video_cache: Callable[..., Path]) -> None:
    """Policy: a link is followed; the video is known by the link's path (its id, its frame names), so a
    dataset assembled from links works, and the same file linked twice gives two videos."""
    outside = tmp_path / "elsewhere" / "clip.mp4"
    outside.parent.mkdir()
    shutil.copyfile(video_cache("outside.mp4", frames=36), outside)
    root = tmp_path / "dataset"
    (root / REAL).mkdir(parents=True)
    os.symlink(outside, root / REAL / "01__linked.mp4")
    os.symlink(outside, root / REAL / "02__linked_again.mp4")
    out = tmp_path / "out"
    done = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(out), "-q")
    assert done.returncode == 0, done.stderr
    entries = {e["video"]: e for e in ledger_lines(out)}
    assert set(entries) == {f"{REAL}/01__linked.mp4", f"{REAL}/02__linked_again.mp4"}
    for rel, entry in entries.items():
        assert entry["status"] == "ok" and entry["video_id"] == video_hash(rel)
        assert frame_indices(out, entry) == expected(36)
        assert all(f["path"].startswith(f"real/real_{Path(rel).stem}_{video_hash(rel)}_") for f in entry["frames"])
    assert outside.read_bytes() == video_cache("outside.mp4", frames=36).read_bytes()  # untouched


CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, PR_CAPBSET_DROP = 1, 2, 24


def _without_root_file_access() -> None:
    """preexec: drop the capabilities that let root read any file; the exec'd dfdx then meets
    permissions as any user would. (Running as `nobody` is not possible here: the venv's Python lives
    under /root, which `nobody` cannot enter.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _can_drop_file_access(probe: Path) -> str | None:
    """None if a child without DAC capabilities really cannot read a chmod-000 file, else why not."""
    probe.write_bytes(b"x")
    probe.chmod(0)
    try:
        seen = subprocess.run([sys.executable, "-c", f"open({str(probe)!r}).read()"], capture_output=True,
                              preexec_fn=_without_root_file_access if os.geteuid() == 0 else None)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot drop root's file capabilities here: {exc}"
    return None if seen.returncode != 0 else "this user can read a chmod 000 file (privileges cannot be dropped)"


def test_unreadable_file_fails_only_itself(tmp_path: Path, video_cache: Callable[..., Path]) -> None:
    why_not = _can_drop_file_access(tmp_path / "probe")
    if why_not:
        pytest.skip(why_not)
    root = tmp_path / "dataset"
    (root / REAL).mkdir(parents=True)
    shutil.copyfile(video_cache("readable.mp4", frames=30), root / REAL / "01__readable.mp4")
    locked = root / REAL / "02__locked.mp4"
    shutil.copyfile(video_cache("readable.mp4", frames=30), locked)
    locked.chmod(0)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "dfdx", "extract", "--dataset-path", str(root), "--output-dir",
                           str(out), "-q"], capture_output=True, text=True, timeout=60,
                          preexec_fn=_without_root_file_access if os.geteuid() == 0 else None)  # fmt: skip
    assert done.returncode == 0, done.stderr
    entries = {Path(e["video"]).name: e for e in ledger_lines(out)}
    assert entries["01__readable.mp4"]["status"] == "ok"
    assert entries["02__locked.mp4"]["status"] == "failed"
    assert entries["02__locked.mp4"]["error"] == "cannot open: permission denied"


# --- names ---------------------------------------------------------------------------------------------------


def test_names_that_look_alike_never_share_frames(tmp_path: Path, video_cache: Callable[..., Path]) -> None:
    """NFC and NFD spellings, names that sanitize to the same text, long names that agree on their first
    80 characters, bytes that are not UTF-8: each is its own video, with its own frame files showing its
    own frames (each source has another frame count, so a mix-up shows in the pixels)."""
    nfc = unicodedata.normalize("NFC", "Zoë_Ångström")
    long_a, long_b = "x" * 200 + "_a", "x" * 200 + "_b"
    names = {
        f"{nfc}.mp4": 30,
        f"{unicodedata.normalize('NFD', nfc)}.mp4": 33,
        "a b.mp4": 36,
        "a_b.mp4": 39,
        "a'b.mp4": 42,
        "a:b.mp4": 45,
        f"{long_a}.mp4": 48,
        f"{long_b}.mp4": 51,
        "é" * 123 + ".mp4": 54,  # 250 bytes of UTF-8
        "-%d:%s\\..mp4": 57,
        ".mp4": 60,
    }
    root = tmp_path / "dataset"
    folder = root / REAL
    folder.mkdir(parents=True)
    for name, frames in names.items():
        shutil.copyfile(video_cache(f"alike{frames}.mp4", frames=frames), folder / name)
    raw_name = os.fsencode(str(folder)) + b"/caf\xe9_latin1.mp4"  # a Latin-1 name from an old archive
    shutil.copyfile(video_cache("alike63.mp4", frames=63), raw_name)
    assert len(os.fsencode("é" * 123 + ".mp4")) == 250
    out = tmp_path / "out"
    done = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(out), "-q")
    assert done.returncode == 0, done.stderr
    entries = ledger_lines(out)
    assert len(entries) == len(names) + 1 and all(e["status"] == "ok" for e in entries), entries
    by_name = {Path(e["video"]).name: e for e in entries}
    for name, frames in names.items():
        assert frame_indices(out, by_name[name]) == expected(frames), name
    latin1 = by_name[os.fsdecode(b"caf\xe9_latin1.mp4")]
    assert frame_indices(out, latin1) == expected(63)
    paths = [f["path"] for e in entries for f in e["frames"]]
    assert len(set(paths)) == len(paths) == 3 * len(entries)  # no two videos share a frame file
    assert len({e["video_id"] for e in entries}) == len(entries)
    assert sorted(p.relative_to(out).as_posix() for p in (out / "real").glob("*.jpg")) == sorted(paths)
    for path in paths:
        name = path.split("/", 1)[1]
        assert len(name.encode()) < 255 and all((c.isascii() and c.isalnum()) or c in "._-" for c in name), name
    again = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(out))
    assert again.returncode == 0 and f"0 ok, 0 failed, {len(entries)} already done" in again.stderr  # ids are stable
