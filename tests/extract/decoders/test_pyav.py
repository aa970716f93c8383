"""`grabber: pyav` passes the same end-to-end checks as the ffmpeg grabber (the same frames, IJG tables,
colours, rotation, names, bad inputs, keyframe mode), and its workers are bounded, killable and never
outlive dfdx."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import psutil
import pytest

from dfdx.children import Children, ChildTimeout
from dfdx.config import load_config
from dfdx.extract.decoders.ffmpeg import decode_frames
from dfdx.extract.decoders.pyav import PyAVDecoder
from dfdx.extract.frame import frame_bytes
from dfdx.extract.plan import make_plan
from dfdx.extract.probe import ProbeError, probe
from dfdx.ledger import ledger_path
from dfdx.run.command import run_extract
from tests.conftest import REAL, ledger_lines, run_dfdx, sample_children
from tests.run import test_local as engine_tests

pytest.importorskip("av")


@pytest.fixture(autouse=True)
def pyav_grabber(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run of the reused engine tests below goes through the pyav grabber."""
    real = engine_tests.load_config

    def with_pyav(path: object, overrides: dict[str, object]) -> object:
        return real(path, {"extract.grabber": "pyav", **overrides})

    monkeypatch.setattr(engine_tests, "load_config", with_pyav)


# The engine's own checks, run again with grabber: pyav (the fixture above).
test_writes_the_frame_played_at_each_position = engine_tests.test_writes_the_frame_played_at_each_position
test_variable_frame_rate = engine_tests.test_variable_frame_rate
test_start_offset_with_an_earlier_audio_track = engine_tests.test_start_offset_with_an_earlier_audio_track
test_ijg_quality_tables = engine_tests.test_ijg_quality_tables
test_colours_survive = engine_tests.test_colours_survive
test_rotation_metadata_is_honoured = engine_tests.test_rotation_metadata_is_honoured
test_names_ledger_and_layout = engine_tests.test_names_ledger_and_layout
test_file_names_are_data = engine_tests.test_file_names_are_data
test_bad_inputs_fail_one_line_each = engine_tests.test_bad_inputs_fail_one_line_each_and_the_run_goes_on
test_keyframe_mode_takes_keyframes = engine_tests.test_keyframe_mode_takes_keyframes_and_is_fingerprinted


def _workers(root: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in root.children(recursive=True):
        try:
            if "dfdx.extract.decoders.pyav_worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


@pytest.mark.parametrize("size", [(320, 180), (202, 114)], ids=["aligned", "padded-lines"])
def test_same_raw_frames_as_the_ffmpeg_grabber(video_cache, size):
    """Same frames, same colour conversion: luma equal, chroma within one step (swscale's rounding). At
    202 pixels wide, every plane's lines are padded in the decoder's buffers: the padding must not leak."""
    width, height = size
    path = video_cache("same.mp4", frames=120, size=size, gop=50)

    async def both() -> tuple[dict[int, bytes], dict[int, bytes]]:
        children = Children(2)
        info = await probe(path, children, 60)
        plan = make_plan(info, (Fraction(1, 10), Fraction(1, 3), Fraction(1, 2), Fraction(9, 10)))
        cli = await decode_frames(path, info, plan, children, 60, 1, False)
        grabber = PyAVDecoder(2)
        try:
            lib = {i: f.data for i, f in (await grabber.decode(path, info, plan, children, 60, 1, False)).items()}
        finally:
            await grabber.close(children)
        return cli, lib

    cli, lib = asyncio.run(both())
    assert sorted(cli) == sorted(lib) == [12, 40, 60, 108]
    luma = width * height
    assert all(len(frame) == len(cli[i]) == frame_bytes(width, height) for i, frame in lib.items())
    for index in cli:
        assert cli[index][:luma] == lib[index][:luma]
        assert max(abs(a - b) for a, b in zip(cli[index][luma:], lib[index][luma:], strict=True)) <= 1


def test_the_cheap_open_gives_the_same_frames(reliability_inputs, monkeypatch):
    """The worker opens files with FFmpeg's stream guess on keyframes only (OPEN_OPTIONS); every readable
    input of the reliability suite (codecs, B-frames, VFR, rotation, edit lists) must give the same bytes as a
    plain open, for targets on every kind of frame (12 spread over the file)."""
    from dfdx.extract.decoders import pyav_worker
    from dfdx.extract.decoders.pyav import worker_request
    from dfdx.extract.positions import evenly_spaced

    made, _ = reliability_inputs
    compared = 0
    for name, path in sorted(made.items()):
        try:
            info = asyncio.run(probe(path, Children(1), 60))
        except ProbeError:  # what ffprobe refuses is the damaged-file tests' business
            continue
        req = worker_request(path, info, make_plan(info, evenly_spaced(12)), 1, False)
        cheap = pyav_worker.decode_request(req)
        with monkeypatch.context() as patch:
            patch.setattr(pyav_worker, "OPEN_OPTIONS", {})
            plain = pyav_worker.decode_request(req)
        assert cheap.keys() == plain.keys() and cheap == plain, name
        compared += bool(plain)
    assert compared >= 15


def test_live_workers_never_exceed_num_workers(tmp_path, dataset, video_cache):
    src = video_cache("c.mp4", frames=60, size=(320, 180))
    for i in range(10):
        root = dataset(f"{REAL}/{i:02d}__c.mp4", src)
    me = psutil.Process()
    with sample_children(lambda: len(_workers(me)), every_s=0.005) as seen:
        assert engine_tests.extract(root, tmp_path / "out", num_workers=2) == 0
    assert 1 <= max(seen) <= 2
    assert not _workers(me)  # closed at the end of the run
    assert [e["status"] for e in ledger_lines(tmp_path / "out")] == ["ok"] * 10


def test_a_hung_worker_is_killed_by_the_timeout(tmp_path, video_cache):
    """A FIFO with no writer blocks the worker's open forever: the timeout must kill it, not wait."""
    path = video_cache("hang.mp4", frames=30)
    fifo = tmp_path / "hang.mp4"
    os.mkfifo(fifo)

    async def hang() -> None:
        children = Children(1)
        info = await probe(path, children, 60)
        plan = make_plan(info, (Fraction(1, 2),))
        grabber = PyAVDecoder(1)
        try:
            with pytest.raises(ChildTimeout, match="longer than 1 s"):
                await grabber.decode(fifo, info, plan, children, 1, 1, False)
            assert grabber.count == 0 and not children.live and not _workers(psutil.Process())
            frames = await grabber.decode(path, info, plan, children, 60, 1, False)
            assert list(frames) == [15]  # a fresh worker takes over
        finally:
            await grabber.close(children)

    asyncio.run(hang())


def test_missing_pyav_is_a_clear_error(tmp_path, dataset, video_cache, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else real(name, *a))
    root = dataset(f"{REAL}/01__x.mp4", video_cache("x.mp4", frames=10))
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(tmp_path / "o"), "quiet": True,
                             "extract.grabber": "pyav"})  # fmt: skip
    assert run_extract(cfg) == 2
    assert "pip install 'dfdx[pyav]'" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_workers_die_with_dfdx(tmp_path, dataset, video_cache, sig):
    src = video_cache("long.mp4", frames=400, size=(640, 360), gop=400)
    for i in range(40):
        root = dataset(f"{REAL}/{i:02d}__long.mp4", src)
    config = tmp_path / "config.yaml"
    config.write_text(f"dataset_path: {root}\noutput_dir: {tmp_path / 'out'}\nnum_workers: 2\nquiet: true\n"
                      "extract:\n  grabber: pyav\n")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "dfdx", "extract", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            workers = _workers(parent)
            time.sleep(0.05)
        assert workers, "no worker started"
        proc.send_signal(sig)
        proc.wait(timeout=30)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, alive
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_pyav_that_cannot_be_imported_stops_the_run(tmp_path, dataset, video_cache):
    """PyAV installed but unable to load (a library missing): the worker says so and the run stops with that
    message — not "the PyAV decoder died on this file" as a failed line for every video."""
    root = None
    for i in range(3):
        root = dataset(f"{REAL}/{i:02d}__x.mp4", video_cache("x.mp4", frames=20))
    broken = tmp_path / "broken" / "av"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("libavformat.so.61: cannot open shared object file")\n')
    out = tmp_path / "out"
    done = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(out), "--grabber", "pyav",
                    env={"PYTHONPATH": str(broken.parent)})  # fmt: skip
    assert done.returncode == 1
    assert "PyAV cannot be imported in its worker: libavformat.so.61" in done.stderr
    assert "pip install 'dfdx[pyav]'" in done.stderr and "Traceback" not in done.stderr
    assert ledger_lines(out) == []


@pytest.mark.parametrize(("loading", "says"), [
    ("os.kill(os.getpid(), signal.SIGSEGV)", "the PyAV worker crashed (SIGSEGV) while loading PyAV"),
    ("time.sleep(600)", "the PyAV worker did not load PyAV within 3 s"),
], ids=["crashes", "hangs"])  # fmt: skip
def test_a_pyav_that_crashes_or_hangs_while_loading_stops_the_run(tmp_path, dataset, video_cache, loading, says):
    """A PyAV whose libraries crash on this machine (built for another CPU, say) or hang while loading: the
    run stops with that, before any work — not "the PyAV decoder died on this file" for every video."""
    root = None
    for i in range(3):
        root = dataset(f"{REAL}/{i:02d}__x.mp4", video_cache("x.mp4", frames=20))
    broken = tmp_path / "broken" / "av"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(f"import os, signal, time\n{loading}\n")
    out = tmp_path / "out"
    started = time.monotonic()
    done = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(out), "--grabber", "pyav",
                    "--timeout", "3", env={"PYTHONPATH": str(broken.parent)})  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert says in done.stderr and "pip install 'dfdx[pyav]'" in done.stderr and "Traceback" not in done.stderr
    assert ledger_lines(out) == []
    assert time.monotonic() - started < 60
    assert not [p for p in psutil.process_iter(["cmdline"])
                if "dfdx.extract.decoders.pyav_worker" in " ".join(p.info["cmdline"] or [])]  # fmt: skip


def _has_lines(path) -> bool:
    return path.exists() and b"\n" in path.read_bytes()


def test_a_worker_killed_mid_run_fails_one_video_and_a_fresh_worker_goes_on(tmp_path, dataset, video_cache):
    """A worker that dies under a request (killed from outside here, as the out-of-memory killer does; a crash on
    a hostile file ends the same way) fails that video with the cause, the next request gets a fresh worker, and
    `--retry-failed` completes the dataset."""
    src = video_cache("long.mp4", frames=400, size=(640, 360), gop=400)
    for i in range(12):
        root = dataset(f"{REAL}/{i:02d}__long.mp4", src)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "dfdx", "extract", "--dataset-path", str(root), "--output-dir", str(out),
            "--grabber", "pyav", "--num-workers", "2", "-q"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _has_lines(ledger_path(out)) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the first video is done: both workers are up, with videos still to do
        workers = _workers(psutil.Process(proc.pid))
        assert workers and proc.poll() is None, "the run ended before a worker could be killed"
        # the busiest worker: one that has decoded (killed while still loading PyAV, it would stop the run)
        max(workers, key=lambda w: sum(w.cpu_times()[:2])).kill()
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    lines = ledger_lines(out)
    failed = [e for e in lines if e["status"] == "failed"]
    assert len(lines) == 12 and len(failed) == 1, lines
    assert failed[0]["error"] == "the PyAV decoder was killed (SIGKILL: out of memory? see `dmesg`) on this file"
    again = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(out), "--grabber", "pyav",
                     "--retry-failed", "-q")  # fmt: skip
    assert again.returncode == 0, again.stderr
    last = {e["video"]: e["status"] for e in ledger_lines(out)}
    assert len(last) == 12 and set(last.values()) == {"ok"}
