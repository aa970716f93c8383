"""Faults of the system, beyond test_engine_faults/test_engine_resume: a signal in each phase of a run
(probing, grabbing, the final report), kill -9 at seeded random moments, and a 10,000-video scale run.

After each, what a user sees must hold: the exit code, no ffmpeg/ffprobe left running, no temp file, a
ledger every line of which parses, no frame file the ledger does not list, and a resume that ends with
exactly the dataset (same names, same bytes) and the ledger state of an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from dfdx.ledger import LedgerEntry, fold, read_ledger
from dfdx.samples import make_video
from tests.conftest import FAKE, REAL, dataset_files, ledger_lines, run_dfdx

LEDGER = "extraction_ledger.jsonl"


# --- helpers -------------------------------------------------------------------------------------------------


def start(root: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`dfdx extract` as a background process (a user's terminal), for signals and kills."""
    return subprocess.Popen(
        [sys.executable, "-m", "dfdx", "extract", "--dataset-path", str(root), "--output-dir", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip


def wait_until(check: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended first: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.005)


def line_count(out: Path) -> int:
    try:
        return (out / LEDGER).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def leftovers(root: Path, timeout: float = 10) -> list[str]:
    """Processes still working on this dataset (any ffmpeg/ffprobe or wrapper with its path in argv),
    after giving orphans of a kill -9 up to `timeout` to die on their closed pipes."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for proc in psutil.process_iter(["pid", "name", "cmdline"]):
            try:
                if any(str(root) in arg for arg in proc.info["cmdline"] or []):
                    found.append(f"{proc.info['pid']} {proc.info['name']}")
            except psutil.Error:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def temp_files(out: Path) -> list[str]:
    """dfdx's own temp frames and the reports' temp files: none may survive a run, however it ended."""
    return [p.name for p in out.rglob(".*") if p.name.startswith(".dfdx-tmp-") or p.name.endswith(".tmp")]


def assert_consistent(out: Path) -> dict[str, LedgerEntry]:
    """The ledger parses line by line; every frame it lists is on disk at its size, and nothing else is."""
    entries, problems = read_ledger(out / LEDGER)
    assert problems == [], problems
    state = fold(entries)
    listed = {f.path: f.bytes for e in state.values() if e.status == "ok" for f in e.frames}
    on_disk = {p.relative_to(out).as_posix(): p.stat().st_size for cat in ("real", "ai") if (out / cat).is_dir()
               for p in (out / cat).iterdir()}  # fmt: skip
    assert on_disk == listed
    return state


def comparable(state: dict[str, LedgerEntry]) -> dict[str, tuple[Any, ...]]:
    """What a ledger says about each video, without the fields that differ between runs (times, run ids)."""
    return {
        video: (e.status, e.category, e.video_id, e.params, e.error, e.duration_s, e.width, e.height, e.codec,
                e.fps, [(f.path, f.index, f.position, f.target_s, f.pts_s, f.bytes) for f in e.frames])
        for video, e in state.items()
    }  # fmt: skip


def wrapped_tools(bin_dir: Path, tool: str, stall_on_call: int, marker: Path) -> dict[str, str]:
    """PATH with a wrapper `tool` that, on its Nth call, writes `marker` and sleeps 60 s before running
    the real program; the other tool is the real one. The env that puts them first on PATH."""
    bin_dir.mkdir(exist_ok=True)
    real = shutil.which(tool)
    counter = bin_dir / f"{tool}.calls"
    script = bin_dir / tool
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, time\n"
        f"counter = {str(counter)!r}\n"
        "n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1\n"
        "open(counter, 'w').write(str(n))\n"
        f"if n == {stall_on_call}:\n"
        f"    open({str(marker)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(60)\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    script.chmod(0o755)
    other = "ffmpeg" if tool == "ffprobe" else "ffprobe"
    (bin_dir / other).symlink_to(shutil.which(other))
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


# --- a small dataset and its uninterrupted extraction, shared by the module --------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    root: Path
    files: dict[str, bytes]
    state: dict[str, tuple[Any, ...]]
    work_s: float  # from the ledger's creation (start-up done) to the end of the run


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """Eight small videos of different lengths in DFD layout, and what an uninterrupted run makes of them."""
    base = tmp_path_factory.mktemp("faults")
    root = base / "dataset"
    for i in range(4):
        src = make_video(base / f"src{i}.mp4", frames=40 + 9 * i, size=(240, 144), gop=12)
        for rel in (f"{REAL}/{i:02d}__scene.mp4", f"{FAKE}/{FAKE}/{i:02d}_{i + 1:02d}__scene__FAULTS0{i}.mp4"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / rel)
    out = base / "reference"
    proc = start(root, out, "-q", "--num-workers", "2")
    wait_until((out / LEDGER).exists, proc)
    t0 = time.monotonic()
    _, stderr = proc.communicate(timeout=120)
    work = time.monotonic() - t0
    assert proc.returncode == 0, stderr
    return Reference(root, dataset_files(out), comparable(assert_consistent(out)), work)


def resume_matches(ref: Reference, out: Path) -> str:
    """Resume with the real tools; the result must be exactly the reference. Returns the resume's stderr."""
    resumed = run_dfdx("extract", "--dataset-path", str(ref.root), "--output-dir", str(out), "--num-workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert dataset_files(out) == ref.files
    assert comparable(assert_consistent(out)) == ref.state
    assert temp_files(out) == []
    return resumed.stderr


# --- signals in each phase ---------------------------------------------------------------------------------

SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)]


@pytest.mark.parametrize(("tool", "call"), [("ffprobe", 3), ("ffmpeg", 2)], ids=["probing", "grabbing"])
@pytest.mark.parametrize(("sig", "code"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_signal_while_a_child_works(small: Reference, tmp_path: Path, tool: str, call: int, sig: signal.Signals,
                                    code: int) -> None:  # fmt: skip
    """The signal lands while an ffprobe (or ffmpeg) is running: the run stops at once with the signal's
    exit code, kills that child, records nothing about its video, and a resume completes the dataset."""
    marker = tmp_path / "stalled"
    env = wrapped_tools(tmp_path / "bin", tool, call, marker)
    out = tmp_path / "out"
    proc = start(small.root, out, "--num-workers", "1", env=env)
    wait_until(marker.exists, proc)
    t0 = time.monotonic()
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10  # not after the 60 s stall
    assert proc.returncode == code, stderr
    assert f"stopped by {sig.name}" in stderr and "Traceback" not in stderr
    assert leftovers(small.root) == []
    assert temp_files(out) == []
    state = assert_consistent(out)
    assert all(e.status == "ok" for e in state.values())  # the interrupted video is not blamed
    assert len(state) < 8
    resumed = resume_matches(small, out)
    assert f"{len(state)} already done" in resumed


def big_old_ledger(out: Path, lines: int) -> None:
    """A ledger as a long earlier run leaves it (other videos, long since done): it makes the final
    report take seconds, long enough to be interrupted."""
    out.mkdir(parents=True)
    params = {"positions": ["1/3", "1/2", "2/3"], "jpeg_quality": 95, "seek": "exact"}
    with open(out / LEDGER, "w", encoding="utf-8") as f:
        for i in range(lines):
            f.write(LedgerEntry(video=f"old/{i:06d}.mp4", category="real", status="failed", params=params,
                                finished_at="2026-01-01T00:00:00.000Z", started_at="2026-01-01T00:00:00.000Z",
                                elapsed_s=0.1, run_id="earlier", error="not a readable video").to_line())  # fmt: skip


@pytest.mark.parametrize(("sig", "code"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_signal_during_the_final_report(small: Reference, tmp_path: Path, sig: signal.Signals, code: int) -> None:
    """Every video is done and the reports are being built: the signal is obeyed (exit 130/143, not 0
    and not a traceback), the ledger is whole, and no report is left half-written."""
    out = tmp_path / "out"
    old = 20_000
    big_old_ledger(out, old)
    proc = start(small.root, out, "--num-workers", "2")
    wait_until(lambda: line_count(out) >= old + 8, proc, timeout=120)
    t0 = time.monotonic()
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, (time.monotonic() - t0, stderr)
    assert f"stopped by {sig.name}" in stderr and "Traceback" not in stderr, stderr
    assert leftovers(small.root) == []
    assert temp_files(out) == []
    state = assert_consistent(out)
    assert len(state) == old + 8
    for name in ("extraction_report.json", "report.html"):  # absent, or whole
        if (out / name).exists():
            assert (out / name).read_text().rstrip().endswith(("}", "</html>"))


def test_damaged_ledger_lines_redo_only_their_videos(small: Reference, tmp_path: Path) -> None:
    """A torn line, a garbage line, a duplicated line and a line with an unknown status in the middle of the
    ledger (an editor, a bad disk, a concurrent writer): resume names each bad line, redoes exactly the two
    videos whose only line it cannot trust, and ends with the reference dataset and state."""
    out = tmp_path / "out"
    assert run_dfdx("extract", "--dataset-path", str(small.root), "--output-dir", str(out), "-q").returncode == 0
    lines = (out / LEDGER).read_text().splitlines(keepends=True)
    assert len(lines) == 8
    sixth = ledger_lines(out)[5]["video"]
    weird = f'{{"video": "{sixth}", "status": "weird", "category": "real"}}\n'
    torn = lines[1][: len(lines[1]) // 2] + "\n"
    damaged = [lines[0], torn, lines[2], "}{ not json\n", lines[4], lines[4], lines[5], weird, lines[6], lines[7]]
    (out / LEDGER).write_text("".join(damaged))
    resumed = run_dfdx("extract", "--dataset-path", str(small.root), "--output-dir", str(out))
    assert resumed.returncode == 0, resumed.stderr
    for number in (2, 4, 8):
        assert f"ledger line {number}: unreadable" in resumed.stderr, resumed.stderr
    assert "ledger line 6" not in resumed.stderr  # a duplicate is not a problem: the same video, done
    assert "2 ok, 0 failed, 6 already done" in resumed.stderr
    assert dataset_files(out) == small.files
    entries, problems = read_ledger(out / LEDGER)
    assert [p.line for p in problems] == [2, 4, 8]
    assert comparable(fold(entries)) == small.state


# --- kill -9 at seeded random moments ----------------------------------------------------------------------


def ledger_is_open(proc: subprocess.Popen[str], out: Path) -> bool:
    """The run has the ledger open: start-up (imports, discovery) is over and its work begins."""
    try:
        return any(f.path == str(out / LEDGER) for f in psutil.Process(proc.pid).open_files())
    except psutil.Error:
        return False


def kill_at_random_moment(ref: Reference, out: Path, rng: random.Random) -> int:
    """Start a run, SIGKILL it at a seeded random moment of its work (start-up writes nothing, so the clock
    starts when it opens the ledger: probing, grabbing, renaming, appending, reporting all lie ahead);
    returns how many ledger lines there are after the kill."""
    proc = start(ref.root, out, "-q", "--num-workers", "2")
    deadline = time.monotonic() + 60
    while not ledger_is_open(proc, out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, ref.work_s * 1.1))
    proc.kill()
    proc.communicate(timeout=30)
    assert leftovers(ref.root) == []
    return line_count(out)


def check_kill_then_resume(ref: Reference, out: Path, seed: int, kills: int) -> list[int]:
    rng = random.Random(seed)
    lines = [kill_at_random_moment(ref, out, rng) for _ in range(kills)]
    resume_matches(ref, out)
    return lines


KILL_SEEDS = list(range(10))


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_kill_9_at_a_random_moment_then_resume(small: Reference, tmp_path: Path, seed: int) -> None:
    """Whatever the moment (starting up, probing, writing frames, appending the ledger, reporting), a
    resume ends with the uninterrupted run's frames, bytes and ledger state, and nothing else."""
    check_kill_then_resume(small, tmp_path / "out", seed, kills=1)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill_9_soak(small: Reference, tmp_path: Path) -> None:
    """Soak: 40 rounds of three kills in a row on the same output folder, then one resume."""
    landed = []
    for seed in range(100, 140):
        out = tmp_path / f"out{seed}"
        landed += check_kill_then_resume(small, out, seed, kills=3)
        shutil.rmtree(out)
    assert any(0 < n < 8 for n in landed)  # some kills did land mid-run


# --- scale ---------------------------------------------------------------------------------------------------


def build_scale_dataset(base: Path, total: int, real_every: int) -> Path:
    """`total` entries: every `real_every`-th a symlink to one of three tiny real videos, the others links
    to a FIFO outside the tree (a failed line each, without a child: the engine's bookkeeping at scale
    without paying ffmpeg's ~0.1 s CPU per video, which the benchmark measures)."""
    sources = [make_video(base / f"tiny{i}.mp4", frames=3 + i, size=(64, 32)) for i in range(3)]
    fifo = base / "not-a-video"
    os.mkfifo(fifo)
    root = base / "dataset"
    folders = [root / REAL, root / FAKE]
    for folder in folders:
        folder.mkdir(parents=True)
    for i in range(total):
        target = sources[i % 3] if i % real_every == 0 else fifo
        os.symlink(target, folders[i % 2] / f"{i:05d}__scale.mp4")
    return root


DONE_LINE = re.compile(r"this run: (\d+) ok, (\d+) failed, (\d+) already done")


def check_scale(base: Path, total: int, real_every: int) -> None:
    root = build_scale_dataset(base, total, real_every)
    out = base / "out"
    proc = start(root, out, "-q", "--num-workers", "4", "--batch-size", "64")  # -q: nobody reads its pipe
    wait_until(lambda: line_count(out) >= total // 2, proc, timeout=600)
    proc.kill()
    proc.communicate(timeout=30)
    before, _ = read_ledger(out / LEDGER)
    done_before = len(fold(before))
    assert total // 2 <= done_before < total
    resumed = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(out), "--num-workers", "4",
                       "--batch-size", "64", timeout=900)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ok, failed, skipped = map(int, DONE_LINE.search(resumed.stderr).groups())  # type: ignore[union-attr]
    assert skipped == done_before and ok + failed == total - done_before  # only the rest was processed
    entries, problems = read_ledger(out / LEDGER)
    assert len(problems) <= 1  # at most the line the kill tore
    assert len(entries) == total == len({e.video for e in entries})  # one line per video, none twice
    state = fold(entries)
    real = [v for v, e in state.items() if int(Path(v).name[:5]) % real_every == 0]
    assert all(state[v].status == "ok" and len(state[v].frames) == 3 for v in real)
    assert sum(e.status == "ok" for e in state.values()) == len(real) == -(-total // real_every)
    assert temp_files(out) == []


def test_2000_videos_kill_at_half_and_resume_only_the_rest(tmp_path: Path) -> None:
    check_scale(tmp_path, 2_000, real_every=40)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_10000_videos_kill_at_half_and_resume_only_the_rest(tmp_path: Path) -> None:
    check_scale(tmp_path, 10_000, real_every=5)

