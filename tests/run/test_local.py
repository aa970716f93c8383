"""End-to-end extraction with the real ffmpeg/ffprobe: which frame each JPEG holds, its JPEG tables,
its colours, the names, the ledger, and how bad input is recorded."""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from dfdx.config import load_config
from dfdx.datasets.discover import video_hash
from dfdx.run.command import run_extract
from dfdx.samples import decode_luma, read_index_luma
from tests.conftest import FAKE, REAL, frame_indices, ledger_lines, remux, sample_children

THIRDS = (Fraction(1, 3), Fraction(1, 2), Fraction(2, 3))


def extract(root: Path, out: Path, **overrides: object) -> int:
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(out), "quiet": True, **overrides})
    return run_extract(cfg)


def only_entry(out: Path) -> dict:
    (entry,) = ledger_lines(out)
    return entry


@pytest.mark.parametrize(
    ("rate", "frames"),
    [("25", 75), ("30", 30), ("30000/1001", 100), ("25", 7)],
    ids=["25fps", "30fps-boundaries", "29.97fps", "25fps-short"],
)
def test_writes_the_frame_played_at_each_position(tmp_path, dataset, video_cache, rate, frames):
    """For a constant frame rate starting at 0, the frame played at p × duration is floor(p × N)."""
    root = dataset(f"{REAL}/01__cfr.mp4", video_cache("cfr.mp4", frames=frames, rate=rate, gop=12))
    out = tmp_path / "out"
    assert extract(root, out) == 0
    entry = only_entry(out)
    assert entry["status"] == "ok", entry["error"]
    expected = [math.floor(p * frames) for p in THIRDS]
    assert frame_indices(out, entry) == expected
    fps = Fraction(rate)
    assert [f["pts_s"] for f in entry["frames"]] == pytest.approx([float(i / fps) for i in expected], abs=1e-6)


def _frame_times(path: Path) -> tuple[list[float], float]:
    """Presentation times of every frame (sorted) and the stream's end, as ffprobe reports them."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                          "packet=pts_time,duration_time", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    rows = sorted(tuple(map(float, line.split(",")[:2])) for line in out.split())
    return [t for t, _ in rows], rows[-1][0] + rows[-1][1]


def test_variable_frame_rate(tmp_path, dataset, video_cache):
    """Frames 0-19 every 40 ms, then every 100 ms: the frame grid, not a frame rate, decides."""
    src = video_cache("vfr.mp4", frames=40, rate="25", pts_expr="if(lt(N,20),N*0.04,0.8+(N-20)*0.1)/TB",
                      output_args=("-video_track_timescale", "1000"))  # fmt: skip
    times, end = _frame_times(src)
    assert len({round(b - a, 3) for a, b in itertools.pairwise(times)}) >= 3  # really VFR
    root = dataset(f"{FAKE}/01_02__vfr__AAAAAAAA.mp4", src)
    out = tmp_path / "out"
    positions = [Fraction(1, 3), Fraction(1, 2), Fraction(9, 10), Fraction(1, 100)]
    assert extract(root, out, **{"extract.positions": [str(p) for p in positions]}) == 0
    entry = only_entry(out)
    assert entry["status"] == "ok", entry["error"]
    got = frame_indices(out, entry)
    for p, frame, index in zip(positions, entry["frames"], got, strict=True):
        target = float(p) * end
        assert frame["target_s"] == pytest.approx(target, abs=1e-6)
        played = max(n for n, t in enumerate(times) if t <= target + 1e-9)
        assert index == played, (frame, index, played)
        assert frame["pts_s"] == pytest.approx(times[played], abs=1e-6)


def test_start_offset_with_an_earlier_audio_track(tmp_path, dataset, video_cache):
    """ffmpeg's -ss counts from the container's start (here the audio's, before the video's): exact still."""
    src = video_cache("shift-src.mp4", frames=100, gop=30, audio_s=5.0)
    shifted = remux(src, tmp_path / "shifted.mp4", "-output_ts_offset", "10")
    root = dataset(f"{REAL}/01__shift.mp4", shifted)
    out = tmp_path / "out"
    assert extract(root, out) == 0
    entry = only_entry(out)
    assert frame_indices(out, entry) == [33, 50, 66]
    assert entry["frames"][0]["pts_s"] == pytest.approx(10 + 33 * 0.04)


def test_ijg_quality_tables(tmp_path, dataset, video_cache):
    root = dataset(f"{REAL}/01__q.mp4", video_cache("q.mp4", frames=30))
    for quality in (95, 80):
        out = tmp_path / f"q{quality}"
        assert extract(root, out, **{"extract.jpeg_quality": quality}) == 0
        frame = out / only_entry(out)["frames"][0]["path"]
        reference = io.BytesIO()
        Image.new("RGB", (16, 16)).save(reference, "JPEG", quality=quality)
        assert Image.open(frame).quantization == Image.open(reference).quantization


def _solid_video(path: Path, rgb: str, *, matrix: str, rng: str, tag: bool) -> Path:
    tags = ["-colorspace", matrix, "-color_range", rng, "-color_primaries", matrix, "-color_trc", matrix] if tag else []
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c={rgb}:s=64x64:r=25:d=1",
         "-vf", f"scale=out_color_matrix={matrix}:out_range={'tv' if rng == 'tv' else 'pc'},format=yuv420p",
         *tags, "-c:v", "libx264", "-preset", "veryfast", "-qp", "0", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


@pytest.mark.parametrize(
    ("matrix", "rng", "tag"),
    [("bt709", "tv", True), ("bt470bg", "tv", False), ("bt709", "pc", True)],
    ids=["bt709-limited-tagged", "bt601-limited-untagged", "bt709-full-tagged"],
)
def test_colours_survive(tmp_path, dataset, matrix, rng, tag):
    """Limited-range video must not come out washed out, nor BT.709 colours shifted."""
    src = _solid_video(tmp_path / "solid.mp4", "0x20C040", matrix=matrix, rng=rng, tag=tag)
    root = dataset(f"{REAL}/01__solid.mp4", src)
    out = tmp_path / "out"
    assert extract(root, out) == 0
    frame = out / only_entry(out)["frames"][0]["path"]
    r, g, b = np.asarray(Image.open(frame).convert("RGB"))[32, 32]
    assert abs(int(r) - 0x20) <= 6 and abs(int(g) - 0xC0) <= 6 and abs(int(b) - 0x40) <= 6, (r, g, b)


def test_rotation_metadata_is_honoured(tmp_path, dataset, video_cache):
    src = video_cache("rot-src.mp4", frames=30, size=(160, 96))
    rotated = remux(src, tmp_path / "rot.mp4", "-metadata:s:v", "rotate=90")
    root = dataset(f"{REAL}/01__rot.mp4", rotated)
    out = tmp_path / "out"
    assert extract(root, out) == 0
    entry = only_entry(out)
    assert (entry["width"], entry["height"]) == (96, 160)
    luma = decode_luma((out / entry["frames"][0]["path"]).read_bytes())
    assert luma.shape == (160, 96)
    upright = np.rot90(luma, k=-1)  # shown turned a quarter counter-clockwise; turn it back to read the bar
    assert read_index_luma(upright) == 10


def test_names_ledger_and_layout(tmp_path, dataset, video_cache):
    rel = f"{FAKE}/{FAKE}/01_02__meeting serious!__YVGY8LOK.mp4"
    root = dataset(rel, video_cache("n.mp4", frames=30))
    out = tmp_path / "out"
    assert extract(root, out) == 0
    entry = only_entry(out)
    h = video_hash(rel)
    assert h == __import__("hashlib").sha256(rel.encode()).hexdigest()[:8]
    assert [f["path"] for f in entry["frames"]] == [
        f"ai/ai_01_02__meeting_serious___YVGY8LOK_{h}_frame_{n:02d}.jpg" for n in (1, 2, 3)
    ]
    assert entry["video"] == rel and entry["category"] == "ai" and entry["video_id"] == h
    assert (entry["width"], entry["height"], entry["codec"]) == (160, 96, "h264")
    assert entry["duration_s"] == pytest.approx(1.2) and entry["fps"] == 25
    for frame, position in zip(entry["frames"], (1 / 3, 1 / 2, 2 / 3), strict=True):
        assert frame["position"] == pytest.approx(position)
        assert frame["bytes"] == (out / frame["path"]).stat().st_size > 0
    assert entry["params"]["jpeg_quality"] == 95 and entry["params"]["positions"] == ["1/3", "1/2", "2/3"]
    assert entry["finished_at"].endswith("Z") and entry["elapsed_s"] >= 0
    assert {".dfdx.lock", "ai", "extraction.log", "extraction_ledger.jsonl", "extraction_report.json"} <= {
        p.name for p in out.iterdir()
    }
    assert not (out / "real").exists() and list(out.rglob(".dfdx-tmp-*")) == []
    line = (out / "extraction_ledger.jsonl").read_text()
    assert line.count("\n") == 1 and line.endswith("}\n")  # one line per video, tail -f friendly


HOSTILE_NAMES = ["a b'c\"d.mp4", "ünïcödé.mp4", "new\nline.mp4", "-rf.mp4", "100%d.mp4", "concat:x.mp4",
                 "file:y.mp4", "$(touch pwned).mp4"]  # fmt: skip


def test_file_names_are_data(tmp_path, dataset, video_cache):
    src = video_cache("h.mp4", frames=30)
    for name in HOSTILE_NAMES:
        root = dataset(f"{REAL}/{name}", src)
    out = tmp_path / "out"
    assert extract(root, out) == 0
    entries = ledger_lines(out)
    assert sorted(e["video"] for e in entries) == sorted(f"{REAL}/{n}" for n in HOSTILE_NAMES)
    for entry in entries:
        assert entry["status"] == "ok", entry
        assert frame_indices(out, entry) == [10, 15, 20]
        for frame in entry["frames"]:
            name = frame["path"].split("/", 1)[1]
            assert all((c.isalnum() and c.isascii()) or c in "._-" for c in name), name
    assert not (Path.cwd() / "pwned").exists()


def test_bad_inputs_fail_one_line_each_and_the_run_goes_on(tmp_path, dataset, video_cache):
    good = video_cache("good.mp4", frames=30)
    audio_only = tmp_path / "audio.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac",
                    str(audio_only)], check=True)  # fmt: skip
    data = good.read_bytes()
    cases = {
        "zero.mp4": b"",
        "random.mp4": np.random.default_rng(1).bytes(50_000),
        "truncated.mp4": data[: len(data) * 3 // 10],
        "text.mp4": b"this is not a video\n" * 100,
        "audio.mp4": audio_only.read_bytes(),
    }
    for name, payload in cases.items():
        root = dataset(f"{FAKE}/bad_{name}", payload)
    root = dataset(f"{REAL}/01__good.mp4", good)
    out = tmp_path / "out"
    assert extract(root, out) == 0
    entries = {Path(e["video"]).name: e for e in ledger_lines(out)}
    assert entries["01__good.mp4"]["status"] == "ok"
    for name in cases:
        entry = entries[f"bad_{name}"]
        assert entry["status"] == "failed" and entry["frames"] == [], entry
        assert entry["error"] and "Traceback" not in entry["error"] and str(root) not in entry["error"]
    assert "no video stream" in entries["bad_audio.mp4"]["error"]
    assert "not a readable video" in entries["bad_zero.mp4"]["error"]
    assert not (out / "ai").exists() or not list((out / "ai").iterdir())  # no partial frames of failures
    report = __import__("json").loads((out / "extraction_report.json").read_text())
    assert report["totals"] == {"videos": 6, "ok": 1, "failed": 5, "frames": 3,
                                "bytes": sum(f["bytes"] for f in entries["01__good.mp4"]["frames"]),
                                "success_rate": round(1 / 6, 4)}  # fmt: skip


def test_concurrency_never_exceeds_num_workers(tmp_path, dataset, video_cache):
    src = video_cache("c.mp4", frames=60, size=(320, 180))
    for i in range(10):
        root = dataset(f"{REAL}/{i:02d}__c.mp4", src)
    me = psutil.Process()

    def media_children() -> int:
        names = []
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):  # it ended between the listing and the look
                names.append(child.name())
        return sum(name in ("ffmpeg", "ffprobe") for name in names)

    with sample_children(media_children) as seen:
        assert extract(root, tmp_path / "out", num_workers=2) == 0
    assert max(seen) == 2  # reached (the run was concurrent) and never exceeded
    assert len(ledger_lines(tmp_path / "out")) == 10


def test_keyframe_mode_takes_keyframes_and_is_fingerprinted(tmp_path, dataset, video_cache):
    root = dataset(f"{REAL}/01__k.mp4", video_cache("k.mp4", frames=75, gop=10, output_args=("-sc_threshold", "0")))
    out = tmp_path / "out"
    assert extract(root, out, **{"extract.seek": "keyframe"}) == 0
    entry = only_entry(out)
    # Keyframes every 10 frames; targets 25, 37.5, 50 → nearest keyframes 20 (tie → earlier), 40, 50.
    assert frame_indices(out, entry) == [20, 40, 50]
    assert entry["params"]["seek"] == "keyframe"
    assert extract(root, out) == 0  # exact mode: other params, so redone
    assert frame_indices(out, ledger_lines(out)[-1]) == [25, 37, 50]


def test_console_shows_the_first_failures_and_the_log_keeps_all(tmp_path, dataset, capsys):
    for i in range(25):
        root = dataset(f"{REAL}/{i:02d}__bad.mp4", b"not a video")
    out = tmp_path / "out"
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(out), "num_workers": 2})
    assert run_extract(cfg) == 0
    err = capsys.readouterr().err
    assert err.count("WARNING failed:") == 20 and "more than 20 videos failed" in err
    assert (out / "extraction.log").read_text().count("failed:") == 25
