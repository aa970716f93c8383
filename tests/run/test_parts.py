"""`dfdx run --profile dfdc`: DFDC part by part, each part downloaded from a fake Kaggle by the real client,
unpacked, extracted and (with --delete-archive) deleted; on the local runner and on a real Ray cluster. The
end result is always the dataset `dfdx extract` makes from the same parts unpacked by hand, to the byte."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from dfdx.layout import SHARD_LEDGER_GLOB
from dfdx.ledger import load_state
from tests.conftest import dataset_files, frame_indices, run_dfdx, wait_until
from tests.datasets import fake_kaggle
from tests.datasets.fake_kaggle import FakeKaggle

kaggle_server = fake_kaggle.kaggle_server

# Three parts: a real clip and its fakes (a fake sits in its original's part), and in part 1 a clip its
# metadata does not name. Each clip is a different indexed video, so every frame tells where it came from.
PARTS: dict[int, dict[str, dict[str, str]]] = {
    0: {"r00.mp4": {"label": "REAL", "split": "train"},
        "f00.mp4": {"label": "FAKE", "split": "train", "original": "r00.mp4"},
        "f01.mp4": {"label": "FAKE", "split": "train", "original": "r00.mp4"}},
    1: {"r10.mp4": {"label": "REAL", "split": "train"},
        "f10.mp4": {"label": "FAKE", "split": "train", "original": "r10.mp4"}},
    2: {"r20.mp4": {"label": "REAL", "split": "train"},
        "f20.mp4": {"label": "FAKE", "split": "train", "original": "r20.mp4"}},
}  # fmt: skip
UNLABELLED = "dfdc_train_part_1/zz_stray.mp4"
PADDING = 3_000_000  # bytes of a member that is neither video nor metadata: part 1 takes long enough to kill


def frames_of(name: str) -> int:
    return 30 + 4 * sum(map(ord, name)) % 23


@pytest.fixture(scope="module")
def dfdc(tmp_path_factory: pytest.TempPathFactory, video_cache: Callable[..., Path]) -> dict[str, Any]:
    """The parts' zips as Kaggle serves them, and the reference: `dfdx extract` on the parts unpacked by hand."""
    unpacked = tmp_path_factory.mktemp("dfdc") / "unpacked"
    zips: dict[str, bytes] = {}
    for n, meta in PARTS.items():
        folder = f"dfdc_train_part_{n}"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            names = [*meta, *([UNLABELLED.split("/")[1]] if n == 1 else [])]
            for name in names:
                src = video_cache(f"dfdc-{name}", frames=frames_of(name), size=(128, 72))
                zf.write(src, f"{folder}/{name}")
                (unpacked / folder).mkdir(parents=True, exist_ok=True)
                (unpacked / folder / name).write_bytes(src.read_bytes())
            zf.writestr(f"{folder}/metadata.json", json.dumps(meta))
            (unpacked / folder / "metadata.json").write_text(json.dumps(meta))
            if n == 1:
                zf.writestr(f"{folder}/padding.bin", os.urandom(PADDING))
        zips[f"{folder}.zip"] = buf.getvalue()
    zips["sample_submission.csv"] = b"filename,label\n"
    reference = unpacked.parent / "reference"
    done = run_dfdx("extract", "--profile", "dfdc", "--dataset-path", str(unpacked), "--output-dir", str(reference),
                    "-q")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {"zips": zips, "states": states(reference), "files": dataset_files(reference)}


def states(out: Path, parts: set[int] | None = None) -> dict[str, Any]:
    """Each clip's last status and frames (name, index, pts, bytes), for the parts given (all by default)."""
    folded = load_state(out).videos
    return {v: (e.status, e.category, [(f.path, f.index, f.pts_s, f.bytes) for f in e.frames])
            for v, e in folded.items() if parts is None or int(v.split("/")[0].rsplit("_", 1)[1]) in parts}  # fmt: skip


def files_of(reference: dict[str, Any], parts: set[int]) -> dict[str, bytes]:
    wanted = {f for _, _, frames in states_of(reference, parts).values() for f, *_ in frames}
    return {path: data for path, data in reference["files"].items() if path in wanted}


def states_of(reference: dict[str, Any], parts: set[int]) -> dict[str, Any]:
    return {v: s for v, s in reference["states"].items() if int(v.split("/")[0].rsplit("_", 1)[1]) in parts}


def run_argv(dl: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--profile", "dfdc", "--dataset-path", str(dl), "--output-dir", str(out), *extra]


@pytest.fixture
def served(kaggle_server: FakeKaggle, dfdc: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    kaggle_server.competition_files = dict(dfdc["zips"])
    return {"fake": kaggle_server, "env": kaggle_server.child_env(tmp_path / "home")}  # kaggle_server made it


def fetched(fake: FakeKaggle) -> list[str]:
    return sorted(h.body.get("fileName", "") for h in fake.rpcs("DownloadDataFile"))


def left_in(dl: Path) -> list[str]:
    return sorted(p.relative_to(dl).as_posix() for p in dl.rglob("*") if p.is_file())


def test_a_local_run_goes_part_by_part_and_deletes_what_it_extracted(served, dfdc, tmp_path):
    fake, env = served["fake"], served["env"]
    dl, out = tmp_path / "dl", tmp_path / "out"

    done = run_dfdx(*run_argv(dl, out, "--parts", "0-1", "--delete-archive"), env=env)

    assert done.returncode == 0, done.stderr
    assert fetched(fake) == ["dfdc_train_part_0.zip", "dfdc_train_part_1.zip"]
    assert states(out) == states_of(dfdc, {0, 1})
    assert dataset_files(out) == files_of(dfdc, {0, 1})
    entry = load_state(out).videos["dfdc_train_part_0/f01.mp4"]  # the exact frames: floor(p × N) of its N frames
    n = frames_of("f01.mp4")
    assert frame_indices(out, {"frames": [{"path": f.path} for f in entry.frames]}) == [n // 3, n // 2, 2 * n // 3]
    assert load_state(out).videos[UNLABELLED].status == "unlabelled"
    # Only what labels the frames is left of the download: the metadata and each part's download ledger.
    assert left_in(dl) == ["dfdc_train_part_0/metadata.json", "dfdc_train_part_1/metadata.json",
                           "download_ledger.dfdc_train_part_0.jsonl",
                           "download_ledger.dfdc_train_part_1.jsonl"]  # fmt: skip
    assert json.loads((out / "extraction_report.json").read_text())["totals"]["ok"] == 5

    # The same command again: both parts are finished, nothing is downloaded.
    fake.clear_hits()
    again = run_dfdx(*run_argv(dl, out, "--parts", "0-1", "--delete-archive"), env=env)
    assert again.returncode == 0, again.stderr
    assert fetched(fake) == [] and fake.gets() == []
    assert states(out) == states_of(dfdc, {0, 1})

    # More parts: only the new one is fetched.
    more = run_dfdx(*run_argv(dl, out, "--delete-archive"), env=env)
    assert more.returncode == 0, more.stderr
    assert fetched(fake) == ["dfdc_train_part_2.zip"]
    assert states(out) == dfdc["states"] and dataset_files(out) == dfdc["files"]


def test_a_finished_part_left_on_disk_is_deleted_without_fetching_it_again(served, dfdc, tmp_path):
    # What a run stopped between a part's last ledger line and its deletion leaves; or a run without --delete-archive.
    fake, env = served["fake"], served["env"]
    dl, out = tmp_path / "dl", tmp_path / "out"
    assert run_dfdx(*run_argv(dl, out, "--parts", "2"), env=env).returncode == 0
    assert "dfdc_train_part_2.zip" in left_in(dl) and "dfdc_train_part_2/r20.mp4" in left_in(dl)
    fake.clear_hits()

    done = run_dfdx(*run_argv(dl, out, "--parts", "2", "--delete-archive"), env=env)

    assert done.returncode == 0, done.stderr
    assert fetched(fake) == [] and fake.gets() == []
    assert left_in(dl) == ["dfdc_train_part_2/metadata.json", "download_ledger.dfdc_train_part_2.jsonl"]
    assert states(out) == states_of(dfdc, {2}) and dataset_files(out) == files_of(dfdc, {2})


def test_other_settings_fetch_a_deleted_part_again(served, dfdc, tmp_path):
    fake, env = served["fake"], served["env"]
    dl, out = tmp_path / "dl", tmp_path / "out"
    assert run_dfdx(*run_argv(dl, out, "--parts", "2", "--delete-archive"), env=env).returncode == 0
    fake.clear_hits()

    done = run_dfdx(*run_argv(dl, out, "--parts", "2", "--delete-archive", "--frames", "2"), env=env)

    assert done.returncode == 0, done.stderr
    assert fetched(fake) == ["dfdc_train_part_2.zip"]
    entry = load_state(out).videos["dfdc_train_part_2/r20.mp4"]
    n = frames_of("r20.mp4")
    assert frame_indices(out, {"frames": [{"path": f.path} for f in entry.frames]}) == [n // 3, 2 * n // 3]


def test_download_only_fetches_and_unpacks_and_extracts_nothing(served, dfdc, tmp_path):
    dl, out = tmp_path / "dl", tmp_path / "out"

    done = run_dfdx(*run_argv(dl, out, "--parts", "0", "--download-only"), env=served["env"])

    assert done.returncode == 0, done.stderr
    assert left_in(dl) == ["dfdc_train_part_0.zip", "dfdc_train_part_0/f00.mp4", "dfdc_train_part_0/f01.mp4",
                           "dfdc_train_part_0/metadata.json", "dfdc_train_part_0/r00.mp4",
                           "download_ledger.dfdc_train_part_0.jsonl"]  # fmt: skip
    assert dataset_files(out) == {} and load_state(out).videos == {}


def children_of_run(out: Path) -> list[psutil.Process]:
    """Processes still working on this output folder (ffmpeg, ffprobe, a dfdx)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(out) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_kill_9_while_downloading_then_while_extracting_resumes_to_the_same_dataset(served, dfdc, tmp_path):
    fake, env = served["fake"], served["env"]
    dl, out = tmp_path / "dl", tmp_path / "out"
    argv = [sys.executable, "-m", "dfdx", *run_argv(dl, out, "--delete-archive", "-q")]
    fake.faults.stall["dfdc_train_part_1.zip"] = (2_000_000, float("inf"))
    partial = dl / "dfdc_train_part_1.zip.part"

    # kill -9 in the middle of part 1's zip (part 0 is finished by then).
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: partial.is_file() and partial.stat().st_size >= 1_000_000, "part 1 half downloaded")
        first.kill()
    finally:
        first.kill()
        first.wait()
    kept = partial.stat().st_size
    fake.release_stalls()
    fake.faults.stall.clear()
    fake.clear_hits()

    # kill -9 again once part 1 has its first extracted clip on record.
    second = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ledger_1 = out / "extraction_ledger.shard-0001.jsonl"
    try:
        wait_until(lambda: ledger_1.is_file() and ledger_1.read_text().count('"status": "ok"') >= 1, "a clip of part 1")
        second.send_signal(signal.SIGKILL)
    finally:
        second.kill()
        second.wait()
    assert [h.range_start for h in fake.gets("dfdc_train_part_1.zip") if h.status == 206] == [kept]
    wait_until(lambda: not children_of_run(out), "the killed run's children to end", timeout_s=10)

    third = run_dfdx(*run_argv(dl, out, "--delete-archive"), env=env)

    assert third.returncode == 0, third.stderr
    assert states(out) == dfdc["states"] and dataset_files(out) == dfdc["files"]
    assert fetched(fake)[-1] == "dfdc_train_part_2.zip" and "dfdc_train_part_0.zip" not in fetched(fake)
    assert [p for p in dl.rglob("*") if p.suffix in (".zip", ".mp4", ".part")] == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--parts", "3-4"], "part(s) 3, 4 are not among the training parts Kaggle lists"),
     (["--max-videos", "2"], "take fewer parts instead"),
     (["--parts", "x"], "config key 'download.parts'")],
)  # fmt: skip
def test_what_cannot_be_done_is_one_clear_error_and_nothing_is_fetched(served, tmp_path, extra, message):
    dl, out = tmp_path / "dl", tmp_path / "out"

    done = run_dfdx(*run_argv(dl, out, *extra), env=served["env"])

    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert fetched(served["fake"]) == [] and not list(out.glob(SHARD_LEDGER_GLOB))


def test_without_the_competitions_rules_accepted_the_error_says_where_to_accept_them(served, tmp_path):
    served["fake"].faults.rpc_errors = [(403, {})] * 20

    done = run_dfdx(*run_argv(tmp_path / "dl", tmp_path / "out"), env=served["env"])

    assert done.returncode == 2, done.stderr
    assert "https://www.kaggle.com/competitions/deepfake-detection-challenge/rules" in done.stderr


def test_a_ray_run_takes_one_task_per_part_and_ends_with_the_same_dataset(served, dfdc, tmp_path, ray_cluster):
    pytest.importorskip("ray")
    fake, env = served["fake"], served["env"]
    dl, out = tmp_path / "dl", tmp_path / "out"

    done = run_dfdx(*run_argv(dl, out, "--runner", "ray", "--ray-address", ray_cluster, "--delete-archive"), env=env,
                    timeout=240)  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert fetched(fake) == [f"dfdc_train_part_{n}.zip" for n in PARTS]
    assert states(out) == dfdc["states"] and dataset_files(out) == dfdc["files"]
    assert sorted(p.name for p in out.glob(SHARD_LEDGER_GLOB)) == [
        f"extraction_ledger.shard-{n:04d}.jsonl" for n in PARTS]  # fmt: skip
    assert not any(p.suffix in (".zip", ".mp4") for p in dl.rglob("*"))

    fake.clear_hits()
    local = run_dfdx(*run_argv(dl, out), env=env)  # the other runner agrees that every part is finished
    assert local.returncode == 0, local.stderr
    assert fetched(fake) == []


def test_ctrl_c_while_a_part_downloads_stops_at_once_and_the_same_command_resumes(served, dfdc, tmp_path):
    fake, env = served["fake"], served["env"]
    dl, out = tmp_path / "dl", tmp_path / "out"
    argv = [sys.executable, "-m", "dfdx", *run_argv(dl, out, "--parts", "1")]
    fake.faults.stall["dfdc_train_part_1.zip"] = (2_000_000, float("inf"))
    partial = dl / "dfdc_train_part_1.zip.part"
    driver = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: partial.is_file() and partial.stat().st_size >= 1_000_000, "part 1 half downloaded")
        driver.send_signal(signal.SIGINT)
        _, stderr = driver.communicate(timeout=20)
    finally:
        driver.kill()
    assert driver.returncode == 130, stderr
    assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    fake.release_stalls()
    fake.faults.stall.clear()

    again = run_dfdx(*run_argv(dl, out, "--parts", "1"), env=env)

    assert again.returncode == 0, again.stderr
    assert states(out) == states_of(dfdc, {1}) and dataset_files(out) == files_of(dfdc, {1})


def test_a_ray_worker_killed_mid_part_is_retried_and_its_zip_resumes(served, dfdc, tmp_path, ray_cluster):
    pytest.importorskip("ray")
    fake, env = served["fake"], served["env"]
    dl, out = tmp_path / "dl", tmp_path / "out"
    fake.faults.stall["dfdc_train_part_1.zip"] = (2_000_000, float("inf"))
    partial = dl / "dfdc_train_part_1.zip.part"
    argv = [sys.executable, "-m", "dfdx", *run_argv(dl, out, "--parts", "1", "--runner", "ray", "--ray-address",
                                                    ray_cluster, "--delete-archive")]  # fmt: skip
    driver = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: partial.is_file() and partial.stat().st_size >= 1_000_000, "part 1 half downloaded")
        workers = [p for p in psutil.process_iter(["cmdline"]) if "ray::run_part" in " ".join(p.info["cmdline"] or [])]
        assert len(workers) == 1
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        kept = partial.stat().st_size
        fake.release_stalls()
        fake.faults.stall.clear()
        _, stderr = driver.communicate(timeout=180)
    finally:
        driver.kill()

    assert driver.returncode == 0, stderr
    assert states(out) == states_of(dfdc, {1}) and dataset_files(out) == files_of(dfdc, {1})
    assert kept in [h.range_start for h in fake.gets("dfdc_train_part_1.zip")]  # the retry resumed the zip
    assert not any(p.suffix in (".zip", ".mp4", ".part") for p in dl.rglob("*"))
