"""Faults of the system stop the run with one clear message and lose nothing: ffmpeg missing, output
not writable, disk full, the dataset vanishing, a hung child."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dfdx.ledger import read_ledger
from tests.conftest import (
    FAKE,
    LOADER_ERROR,
    REAL,
    broken_tool,
    dataset_files,
    have_root,
    ledger_lines,
    run_dfdx,
    tmpfs,
)

needs_root = pytest.mark.skipif(not have_root(), reason="mounting a tmpfs needs root")


@pytest.fixture
def small_dataset(dataset: Callable[..., Path], video_cache: Callable[..., Path]) -> Path:
    root = None
    for i in range(5):
        src = video_cache(f"f{i}.mp4", frames=40 + i, size=(320, 180))
        root = dataset(f"{REAL}/{i:02d}__f.mp4", src)
        root = dataset(f"{FAKE}/{i:02d}_{i + 1:02d}__f__FAULT00{i}.mp4", src)
    assert root is not None
    return root


def test_ffmpeg_missing_says_how_to_install(small_dataset, tmp_path):
    out = tmp_path / "out"
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    done = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(out),
                    env={"PATH": str(empty_bin)})  # fmt: skip
    assert done.returncode == 1
    assert "ffmpeg was not found on PATH" in done.stderr and "apt-get install ffmpeg" in done.stderr
    assert done.stderr.count("\n") <= 2 and "Traceback" not in done.stderr
    assert not (out / "extraction_ledger.jsonl").exists()


def test_an_ffmpeg_that_cannot_run_stops_the_run_before_any_work(small_dataset, tmp_path):
    """Installed but broken (a library missing): one clear message, exit 1, nothing written — not a failed
    line for every video, which a resume would not redo."""
    bin_dir = tmp_path / "bin"
    for name in ("ffmpeg", "ffprobe"):
        broken_tool(bin_dir, name)
    out = tmp_path / "out"
    done = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(out),
                    env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})  # fmt: skip
    assert done.returncode == 1
    assert "ffmpeg cannot run on this machine" in done.stderr and LOADER_ERROR in done.stderr
    assert "apt-get install ffmpeg" in done.stderr and "Traceback" not in done.stderr
    assert not (out / "extraction_ledger.jsonl").exists()


def test_an_ffprobe_that_cannot_run_stops_the_run_at_the_first_probe(small_dataset, tmp_path):
    bin_dir = tmp_path / "bin"
    broken_tool(bin_dir, "ffprobe")
    real_ffmpeg = shutil.which("ffmpeg")
    assert real_ffmpeg is not None
    (bin_dir / "ffmpeg").symlink_to(real_ffmpeg)
    out = tmp_path / "out"
    done = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(out),
                    env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})  # fmt: skip
    assert done.returncode == 1
    assert "ffprobe cannot run on this machine" in done.stderr and LOADER_ERROR in done.stderr
    assert "Traceback" not in done.stderr
    assert ledger_lines(out) == []  # no video is marked failed for it: the same command resumes once fixed


@pytest.mark.parametrize(("tool", "sig", "says"), [
    ("ffprobe", "KILL", "ffprobe was killed (SIGKILL: out of memory? see `dmesg`) reading this file"),
    ("ffmpeg", "SEGV", "ffmpeg crashed (SIGSEGV) decoding this file"),
], ids=["ffprobe-killed", "ffmpeg-crashes"])  # fmt: skip
def test_a_child_that_dies_of_a_signal_names_it_in_the_failed_line(small_dataset, tmp_path, tool, sig, says):
    """A child killed from outside (SIGKILL: the out-of-memory killer, most often) or crashing on what it reads
    fails its video with that cause — not "not a readable video: ffprobe failed" or "exit code -9" — and the
    run goes on."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = shutil.which(tool)
    assert real is not None
    # the real tool for dfdx's start-up check (`ffmpeg -version`), a death by that signal for any real work
    fake = bin_dir / tool
    fake.write_text(f'#!/bin/sh\nulimit -c 0\n[ "$1" = -version ] && exec {real} "$@"\nkill -{sig} $$\n')
    fake.chmod(0o755)
    out = tmp_path / "out"
    done = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(out),
                    env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    lines = ledger_lines(out)
    assert len(lines) == 10 and {e["status"] for e in lines} == {"failed"}
    assert {e["error"] for e in lines} == {says}


def test_output_not_writable(small_dataset, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(blocker / "out"))
    assert done.returncode == 1
    assert "is not writable" in done.stderr and "Traceback" not in done.stderr


@needs_root
def test_output_on_a_read_only_mount(small_dataset, tmp_path):
    with tmpfs(tmp_path / "ro", "1m", "ro") as ro:
        done = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(ro / "out"))
    assert done.returncode == 1
    assert "is not writable" in done.stderr and "Read-only file system" in done.stderr


@needs_root
def test_disk_full_stops_once_and_resume_completes(small_dataset, tmp_path):
    reference = tmp_path / "reference"
    first = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(reference), "-q")
    assert first.returncode == 0
    with tmpfs(tmp_path / "small", "160k") as mount:
        out = mount / "out"
        done = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(out))
        assert done.returncode == 1, done.stderr
        assert "disk full" in done.stderr and str(out) in done.stderr and "MB free" in done.stderr
        assert "need about" in done.stderr
        assert done.stderr.count("disk full") == 1  # one message, not one per video
        entries, problems = read_ledger(out / "extraction_ledger.jsonl")
        assert all(e.status == "ok" for e in entries)  # no video was blamed for the disk
        assert 0 < len(entries) < 10 and len(problems) <= 1
        assert list(out.rglob(".dfdx-tmp-*")) == []
        subprocess.run(["mount", "-o", "remount,size=4m", str(mount)], check=True)
        resumed = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(out))
        assert resumed.returncode == 0, resumed.stderr
        assert dataset_files(out) == dataset_files(reference)


def test_dataset_vanishing_mid_run_is_one_fault(small_dataset, tmp_path):
    """A wrapper ffprobe renames the dataset away on its third call, as an unmount would."""
    out = tmp_path / "out"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    counter = tmp_path / "calls"
    real_ffprobe = shutil.which("ffprobe")
    (bin_dir / "ffprobe").write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"c = {str(counter)!r}\n"
        "n = int(open(c).read()) + 1 if os.path.exists(c) else 1\n"
        "open(c, 'w').write(str(n))\n"
        f"if n == 3: os.rename({str(small_dataset)!r}, {str(small_dataset) + '-gone'!r})\n"
        f"os.execv({real_ffprobe!r}, [{real_ffprobe!r}, *sys.argv[1:]])\n"
    )
    (bin_dir / "ffprobe").chmod(0o755)
    (bin_dir / "ffmpeg").symlink_to(shutil.which("ffmpeg"))
    done = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(out), "--num-workers", "1",
                    env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "disappeared during the run" in done.stderr
    entries = ledger_lines(out)
    assert all(e["status"] == "ok" for e in entries) and len(entries) == 2


def test_hung_child_is_killed_and_fails_only_its_video(small_dataset, tmp_path):
    fifo = small_dataset / REAL / "99__fifo.mp4"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    done = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(out), "--timeout", "2")
    assert done.returncode == 0, done.stderr
    entries = {Path(e["video"]).name: e for e in ledger_lines(out)}
    assert entries["99__fifo.mp4"]["status"] == "failed"
    assert "not a regular file" in entries["99__fifo.mp4"]["error"]
    assert sum(e["status"] == "ok" for e in entries.values()) == 10


def test_child_timeout_fails_the_video(small_dataset, tmp_path):
    """An ffmpeg that hangs while decoding (a wrapper that sleeps; `-version`, asked once at start, is answered by
    the real one) is killed after --timeout and only its video fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = shutil.which("ffmpeg")
    (bin_dir / "ffmpeg").write_text(f'#!/bin/sh\n[ "$1" = -version ] && exec {real} -version\nexec sleep 60\n')
    (bin_dir / "ffmpeg").chmod(0o755)
    (bin_dir / "ffprobe").symlink_to(shutil.which("ffprobe"))
    out = tmp_path / "out"
    done = run_dfdx("extract", "--dataset-path", str(small_dataset), "--output-dir", str(out), "--timeout", "1",
                    "--max-videos", "1", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    entries = ledger_lines(out)
    assert [e["status"] for e in entries] == ["failed", "failed"]
    assert all("took longer than 1 s and was stopped" in e["error"] for e in entries)
    assert subprocess.run(["pgrep", "-f", "sleep 60"], capture_output=True).stdout == b""
