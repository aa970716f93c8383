"""Resume: after a clean stop, Ctrl-C, SIGTERM and kill -9 the dataset ends exactly as an uninterrupted
run's; a torn ledger line is tolerated; changed params redo only what they change."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from dfdx.ledger import fold, read_ledger
from tests.conftest import FAKE, REAL, dataset_files, ledger_lines, run_dfdx


@pytest.fixture
def busy_dataset(dataset: Callable[..., Path], video_cache: Callable[..., Path]) -> Path:
    """Twelve videos that take a few seconds with one worker: room to interrupt mid-run."""
    root = None
    for i in range(6):
        src = video_cache(f"busy{i}.mp4", frames=150 + 10 * i, size=(480, 270), gop=150)
        root = dataset(f"{REAL}/{i:02d}__busy.mp4", src)
        root = dataset(f"{FAKE}/{i:02d}_{i + 1:02d}__busy__BUSY000{i}.mp4", src)
    assert root is not None
    return root


@pytest.fixture
def reference(busy_dataset: Path, tmp_path: Path) -> dict[str, bytes]:
    out = tmp_path / "reference"
    done = run_dfdx("extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out), "-q")
    assert done.returncode == 0, done.stderr
    return dataset_files(out)


def report_facts(out: Path) -> dict[str, object]:
    """What two runs' reports must agree on (timings and paths aside)."""
    report = json.loads((out / "extraction_report.json").read_text())
    return {k: report[k] for k in ("videos", "totals", "frames", "bytes", "failures", "resolutions", "params")}


def ok_state(out: Path) -> dict[str, list[str]]:
    entries, _ = read_ledger(out / "extraction_ledger.jsonl")
    return {v: [f.path for f in e.frames] for v, e in fold(entries).items() if e.status == "ok"}


def start(root: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dfdx", "extract", "--dataset-path", str(root), "--output-dir", str(out),
         "--num-workers", "1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_lines(out: Path, n: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    ledger = out / "extraction_ledger.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ledger.exists() and ledger.read_text().count("\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("the run made no progress")


def media_children_of(root: Path) -> list[psutil.Process]:
    """Any ffmpeg/ffprobe still working on this dataset, whoever its parent is now."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] in ("ffmpeg", "ffprobe") and any(str(root) in a for a in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def temp_files(out: Path) -> list[Path]:
    return list(out.rglob(".dfdx-tmp-*"))


def test_a_second_run_does_nothing(busy_dataset, tmp_path, reference):
    out = tmp_path / "out"
    assert run_dfdx("extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out), "-q").returncode == 0
    lines = ledger_lines(out)
    again = run_dfdx("extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out))
    assert again.returncode == 0
    assert "0 ok, 0 failed, 12 already done" in again.stderr
    assert ledger_lines(out) == lines
    assert dataset_files(out) == reference


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly_and_resume_completes(busy_dataset, tmp_path, reference, sig, code):
    out = tmp_path / "out"
    proc = start(busy_dataset, out)
    wait_for_lines(out, 2, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    assert f"stopped by {sig.name}" in stderr and "run the same command again to resume" in stderr
    assert media_children_of(busy_dataset) == []
    assert temp_files(out) == []
    done_before = ok_state(out)
    assert 2 <= len(done_before) < 12
    assert all(line for line in ledger_lines(out))  # every line parses
    resumed = run_dfdx("extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(done_before)} already done" in resumed.stderr
    assert dataset_files(out) == reference
    assert report_facts(out) == report_facts(tmp_path / "reference")
    assert len(ok_state(out)) == 12


def test_second_ctrl_c_exits_at_once_and_leaves_no_child(busy_dataset, tmp_path):
    out = tmp_path / "out"
    proc = start(busy_dataset, out)
    wait_for_lines(out, 1, proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    time.sleep(0.2)
    assert media_children_of(busy_dataset) == []
    assert temp_files(out) == []


@pytest.mark.parametrize("after_lines", [1, 5])
def test_kill_9_then_resume_gives_the_same_dataset(busy_dataset, tmp_path, reference, after_lines):
    out = tmp_path / "out"
    proc = start(busy_dataset, out)
    wait_for_lines(out, after_lines, proc)
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10  # orphaned children die on their closed pipe
    while media_children_of(busy_dataset) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert media_children_of(busy_dataset) == []
    resumed = run_dfdx("extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert dataset_files(out) == reference
    assert report_facts(out) == report_facts(tmp_path / "reference")
    assert temp_files(out) == []
    assert len(ok_state(out)) == 12


def test_torn_last_line_is_skipped_with_a_warning(busy_dataset, tmp_path, reference):
    out = tmp_path / "out"
    assert run_dfdx("extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out), "-q").returncode == 0
    ledger = out / "extraction_ledger.jsonl"
    text = ledger.read_text()
    ledger.write_text(text[: len(text) - 40])  # the last line loses its end, as in a crash mid-write
    torn_video = json.loads(text.splitlines()[-1])["video"]
    resumed = run_dfdx("extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "ledger line 12: torn line" in resumed.stderr
    assert "1 ok, 0 failed, 11 already done" in resumed.stderr
    assert dataset_files(out) == reference
    lines = ledger.read_text().splitlines()
    assert len(lines) == 13 and json.loads(lines[-1])["video"] == torn_video


def test_changed_params_redo_only_what_changed(busy_dataset, tmp_path):
    out = tmp_path / "out"
    args = ["extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out), "-q"]
    assert run_dfdx(*args).returncode == 0
    first = {e["video"]: e for e in ledger_lines(out)}
    config = tmp_path / "more_real.yaml"
    config.write_text("extract:\n  frames: {real: 5}\n")
    assert run_dfdx(*args, "--config", str(config)).returncode == 0
    new_lines = ledger_lines(out)[12:]
    assert sorted(e["video"] for e in new_lines) == sorted(v for v, e in first.items() if e["category"] == "real")
    assert all(len(e["frames"]) == 5 and e["params"]["positions"] == ["1/6", "1/3", "1/2", "2/3", "5/6"]
               for e in new_lines)  # fmt: skip
    assert len(list((out / "real").glob("*.jpg"))) == 30 and len(list((out / "ai").glob("*.jpg"))) == 18
    config.write_text("extract:\n  frames: {real: 2}\n")
    assert run_dfdx(*args, "--config", str(config)).returncode == 0
    assert len(list((out / "real").glob("*.jpg"))) == 12  # frames 03..05 of the 5-frame run are gone
    assert len(ledger_lines(out)) == 24


def test_no_resume_redoes_everything(busy_dataset, tmp_path, reference):
    out = tmp_path / "out"
    args = ["extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out), "-q"]
    assert run_dfdx(*args).returncode == 0
    assert run_dfdx(*args, "--no-resume").returncode == 0
    assert len(ledger_lines(out)) == 24
    assert dataset_files(out) == reference


def test_deleted_frame_is_redone(busy_dataset, tmp_path, reference):
    out = tmp_path / "out"
    args = ["extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out)]
    assert run_dfdx(*args, "-q").returncode == 0
    next(iter(sorted((out / "ai").glob("*_frame_02.jpg")))).unlink()
    again = run_dfdx(*args)
    assert "1 ok, 0 failed, 11 already done" in again.stderr
    assert dataset_files(out) == reference


def test_stale_temp_files_are_removed(busy_dataset, tmp_path):
    out = tmp_path / "out"
    (out / "ai").mkdir(parents=True)
    stale = out / "ai" / ".dfdx-tmp-123-ai_x_frame_01.jpg"
    stale.write_bytes(b"half a jpeg")
    done = run_dfdx("extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out), "--max-videos", "1")
    assert done.returncode == 0
    assert not stale.exists()
    assert "removed 1 temp file" in (out / "extraction.log").read_text()


def test_pid_is_not_reused_as_a_lock(busy_dataset, tmp_path):
    """Two runs at once: the second refuses at once; a dead run's lock never blocks."""
    out = tmp_path / "out"
    proc = start(busy_dataset, out)
    wait_for_lines(out, 1, proc)
    second = run_dfdx("extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out), timeout=20)
    assert second.returncode == 1
    assert f"another dfdx run (pid {proc.pid}) is using" in second.stderr
    proc.kill()
    proc.communicate()
    assert os.path.exists(out / ".dfdx.lock")
    third = run_dfdx("extract", "--dataset-path", str(busy_dataset), "--output-dir", str(out), "-q")
    assert third.returncode == 0, third.stderr


def test_an_ok_video_whose_every_frame_missed_a_face_is_done(tmp_path):
    """`crop: face` on a video without faces: ok with zero frames, its misses recorded; not redone."""
    from dfdx.ledger import LedgerEntry, MissEntry
    from dfdx.run.resume import entry_is_done

    params = {"positions": ["1/2"], "transform": {"crop": "face"}}
    base = dict(video="v.mp4", category="real", status="ok", params=params, finished_at="t", started_at="t",
                elapsed_s=1.0, run_id="r")  # fmt: skip
    missed = LedgerEntry(**base, misses=[MissEntry(1, 0.5, 1.0, 0.96, "no face", 0)], note="no face")
    assert entry_is_done(missed, params, tmp_path, retry_failed=False)
    assert not entry_is_done(missed, {**params, "transform": {"crop": "face", "margin": 2}}, tmp_path, False)
    assert not entry_is_done(LedgerEntry(**base), params, tmp_path, retry_failed=False)  # nothing says why
    assert LedgerEntry.from_dict(__import__("json").loads(missed.to_line())) == missed


def test_rerunning_crop_face_redoes_nothing_not_even_the_video_without_faces(face_output, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(face_output, out)
    before = (out / "extraction_ledger.jsonl").read_text()
    again = run_dfdx("extract", "--dataset-path", str(face_output.parent / "dataset"), "--output-dir", str(out),
                     "--crop", "face", "--num-workers", "2")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (out / "extraction_ledger.jsonl").read_text() == before  # all three done, the faceless one too
    other = run_dfdx("extract", "--dataset-path", str(face_output.parent / "dataset"), "--output-dir", str(out),
                     "--crop", "face", "--num-workers", "2", "--config", str(_face_margin_config(tmp_path)))
    assert other.returncode == 0, other.stderr
    assert len(ledger_lines(out)) == 6  # a changed crop setting redoes every video


def _face_margin_config(folder: Path) -> Path:
    path = folder / "margin.yaml"
    path.write_text("extract:\n  face:\n    margin: 1.5\n")
    return path
