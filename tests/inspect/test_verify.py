"""`dfdx verify` on real extractions: damage a user can cause, found exactly; --fix then extract repairs it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import simplejpeg

from dfdx.config import load_config
from dfdx.run.command import run_extract
from tests.conftest import FAKE, REAL, dataset_files, ledger_lines, run_dfdx


def _extract(root: Path, out: Path) -> None:
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(out), "quiet": True, "num_workers": 2})
    assert run_extract(cfg) == 0


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, video_cache: Callable[..., Path]) -> tuple[Path, Path]:
    """(dataset root, output dir) of one real extraction: 3 originals and 3 manipulated videos."""
    base = tmp_path_factory.mktemp("verify")
    root = base / "dataset"
    for i in range(3):
        src = video_cache(f"ver{i}.mp4", frames=40 + 5 * i, rate="25")
        for rel in (f"{REAL}/0{i}__scene_{i}.mp4", f"{FAKE}/{FAKE}/0{i}_0{i + 1}__scene_{i}__ABCDEF0{i}.mp4"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / rel)
    _extract(root, base / "out")
    return root, base / "out"


@pytest.fixture
def output(pristine: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the pristine output, to damage."""
    out = tmp_path / "out"
    shutil.copytree(pristine[1], out)
    return out


def frames_of(out: Path) -> dict[str, list[str]]:
    """video → its frame paths, from the ledger."""
    return {e["video"]: [f["path"] for f in e["frames"]] for e in ledger_lines(out)}


def damage(out: Path) -> dict[str, str]:
    """Break the output the ways disks and people do; returns path → the problem kind it must get."""
    videos = sorted(frames_of(out).items())
    (truncated, zero, missing, not_jpeg, wrong_size) = (videos[0][1][0], videos[1][1][1], videos[2][1][2],
                                                        videos[3][1][0], videos[4][1][2])  # fmt: skip
    data = (out / truncated).read_bytes()
    (out / truncated).write_bytes(data[: len(data) // 2])
    (out / zero).write_bytes(b"")
    (out / missing).unlink()
    (out / not_jpeg).write_bytes(b"GIF89a" + b"\x00" * 500)
    small = simplejpeg.encode_jpeg(__import__("numpy").zeros((8, 8, 3), "uint8"), quality=90)
    (out / wrong_size).write_bytes(small)
    shutil.copyfile(out / videos[5][1][0], out / "real" / "holiday.jpg")  # an orphan a loader would train on
    (out / "ai" / ".dfdx-tmp-4242-x.jpg").write_bytes(b"partial")
    return {truncated: "truncated", zero: "empty", missing: "missing", not_jpeg: "not_jpeg",
            wrong_size: "wrong_size", "real/holiday.jpg": "orphan", "ai/.dfdx-tmp-4242-x.jpg": "temp_file"}  # fmt: skip


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in ("verification_report.json", ".dfdx.lock")}  # fmt: skip


def test_clean_output_verifies_clean(pristine):
    _, out = pristine
    result = run_dfdx("verify", "--output-dir", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "verification_report.json").read_text())
    assert report["clean"] is True and report["findings"] == []
    assert report["checked"]["frames"] == sum(len(f) for f in frames_of(out).values()) == 18
    assert report["checked"]["videos"] == 6
    assert report["categories"]["real"] == {"videos": 3, "frames": 9, "problems": 0, "flags": 0}
    assert "result: clean" in result.stdout


def test_every_kind_of_damage_is_found_and_nothing_changes(output):
    expected = damage(output)
    before = snapshot(output)
    result = run_dfdx("verify", "--output-dir", str(output))
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((output / "verification_report.json").read_text())
    found = {f["path"]: f["kind"] for f in report["findings"]}
    assert found == expected
    assert report["clean"] is False
    assert {kind: g["count"] for kind, g in report["problems"].items()} == {k: 1 for k in expected.values()}
    assert "no EOI marker" in next(f["detail"] for f in report["findings"] if f["kind"] == "truncated")
    assert snapshot(output) == before  # without --fix nothing is changed
    assert "truncated x1" in result.stdout and "dfdx verify --fix" in result.stdout


def test_a_truncated_jpeg_with_its_end_marker_still_fails_to_decode(output):
    """A file cut short and patched with FFD9 passes a marker check; only a full decode catches it."""
    path = next(iter(frames_of(output).values()))[0]
    data = (output / path).read_bytes()
    (output / path).write_bytes(data[: len(data) * 2 // 3] + b"\xff\xd9")
    result = run_dfdx("verify", "--output-dir", str(output))
    assert result.returncode == 1
    (finding,) = json.loads((output / "verification_report.json").read_text())["findings"]
    assert finding["path"] == path and finding["kind"] in ("truncated", "corrupt")


def test_fix_then_extract_restores_the_undamaged_frames(pristine, output):
    root, clean_out = pristine
    expected = damage(output)
    damaged_videos = {e["video"] for e in ledger_lines(output) for f in e["frames"] if f["path"] in expected}
    lines_before = len(ledger_lines(output))

    fixed = run_dfdx("verify", "--output-dir", str(output), "--fix")
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr  # problems were found (and fixed)
    for path in expected:
        assert not (output / path).exists(), path
    new_lines = ledger_lines(output)[lines_before:]
    assert {line["video"] for line in new_lines} == damaged_videos and len(new_lines) == 5
    assert all(line["status"] == "requeued" and line["error"].startswith("verify: ") for line in new_lines)

    pending = run_dfdx("verify", "--output-dir", str(output))
    assert pending.returncode == 1 and "5 video(s) re-queued" in pending.stdout
    assert json.loads((output / "verification_report.json").read_text())["findings"] == []

    _extract(root, output)  # a plain extract, same config: only the re-queued videos are redone
    last = ledger_lines(output)[lines_before + 5:]
    assert sorted(line["video"] for line in last) == sorted(damaged_videos)
    assert all(line["status"] == "ok" for line in last)
    assert dataset_files(output) == dataset_files(clean_out)
    assert run_dfdx("verify", "--output-dir", str(output)).returncode == 0


def _video(path: Path, graph: str) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-filter_complex", graph, "-c:v", "libx264", "-preset",
                    "veryfast", "-pix_fmt", "yuv420p", str(path)], check=True, capture_output=True)  # fmt: skip
    return path


def test_suspicious_content_is_flagged_not_failed(tmp_path, dataset, video_cache):
    black = _video(tmp_path / "black.mp4", "color=c=black:s=160x96:r=25:d=2")
    # Still bars with a small patch that brightens every frame: frames differ in bytes, not to the eye.
    still = _video(tmp_path / "still.mp4", "smptebars=s=160x96:r=25:d=2[a];color=c=black:s=8x8:r=25:d=2,"
                   "format=gray,geq=lum='N*5'[b];[a][b]overlay=0:0")  # fmt: skip
    dataset(f"{REAL}/01__fade.mp4", black)
    dataset(f"{REAL}/02__still.mp4", still)
    root = dataset(f"{REAL}/03__moving.mp4", video_cache("moving.mp4", frames=50))
    out = tmp_path / "out"
    _extract(root, out)
    before = snapshot(out)
    result = run_dfdx("verify", "--output-dir", str(out), "--fix")
    assert result.returncode == 0, result.stdout  # flags alone are not problems
    assert snapshot(out) == before  # and --fix keeps flagged frames
    report = json.loads((out / "verification_report.json").read_text())
    flags = {(f["video"].split("/")[-1], f["path"][-6:-4], f["kind"]) for f in report["findings"]}
    assert flags == {
        ("01__fade.mp4", "01", "near_uniform"), ("01__fade.mp4", "02", "near_uniform"),
        ("01__fade.mp4", "03", "near_uniform"), ("01__fade.mp4", "02", "duplicate"),
        ("01__fade.mp4", "03", "duplicate"),
        ("02__still.mp4", "02", "near_duplicate"), ("02__still.mp4", "03", "near_duplicate"),
    }  # fmt: skip
    still_frames = frames_of(out)[f"{REAL}/02__still.mp4"]
    assert len({(out / p).read_bytes() for p in still_frames}) == 3  # really not byte-identical
    assert "flags (suspicious, kept)" in result.stdout


def test_verify_only_on_extract_and_usage_errors(output, tmp_path):
    damage(output)
    lines = len(ledger_lines(output))
    result = run_dfdx("extract", "--verify_only", "--output-dir", str(output), "--dataset-path", str(tmp_path / "no"))
    assert result.returncode == 1 and "truncated x1" in result.stdout
    assert len(ledger_lines(output)) == lines  # nothing extracted, nothing appended
    missing = run_dfdx("verify", "--output-dir", str(tmp_path / "nothing-here"))
    assert missing.returncode == 2 and "no ledger" in missing.stderr
    assert run_dfdx("verify", "--output-dir", str(output), "--bogus").returncode == 2


def test_face_crops_are_checked_against_their_own_size(face_output, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(face_output, out)
    clean = run_dfdx("verify", "--output-dir", str(out))
    assert clean.returncode == 0, clean.stdout + clean.stderr  # 256×256 crops of 1920×1080 videos are right
    crop = next(f["path"] for e in ledger_lines(out) for f in e["frames"])
    (out / crop).write_bytes(simplejpeg.encode_jpeg(__import__("numpy").zeros((200, 200, 3), "uint8"), quality=90))
    assert run_dfdx("verify", "--output-dir", str(out)).returncode == 1
    findings = json.loads((out / "verification_report.json").read_text())["findings"]
    assert [(f["path"], f["kind"], f["detail"]) for f in findings] == [
        (crop, "wrong_size", "200x200, the ledger says 256x256")]
