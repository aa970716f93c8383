"""`--runner ray` on a real local Ray cluster (two raylets, `ray_cluster`): the same frames and ledger
states as a local run, and each fault the issue lists — a worker SIGKILLed mid-shard, Ctrl-C on the
driver, the driver SIGKILLed, a cluster that does not answer, Ray missing, a node that sees another
folder — ends in a clear outcome and, where it should, a resume to the local run's exact dataset."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from dfdx.layout import SHARD_LEDGER_GLOB
from dfdx.ledger import load_state
from tests.conftest import FAKE, REAL, dataset_files, have_root, run_dfdx, wait_until
from tests.run.conftest import free_port

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, video_cache: Callable[..., Path]) -> dict[str, Any]:
    """Twelve indexed videos (long enough that a shard takes a few seconds), and a local run's result."""
    root = tmp_path_factory.mktemp("ray-corpus") / "dataset"
    for i in range(6):
        src = video_cache(f"ray{i}.mp4", frames=120 + 13 * i, size=(320, 180))
        for rel in (f"{REAL}/{i:02d}__scene.mp4", f"{FAKE}/{i:02d}_{i + 1:02d}__scene__RAY0000{i}.mp4"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / rel)
    local = root.parent / "local"
    done = run_dfdx("extract", "--dataset-path", str(root), "--output-dir", str(local), "-q")
    assert done.returncode == 0, done.stderr
    return {"root": root, "frames": dataset_files(local), "state": states(local)}


def states(out: Path) -> dict[str, Any]:
    """What two runs must agree on: each video's last status and its frames (name, index, pts, bytes)."""
    return {v: (e.status, [(f.path, f.index, f.pts_s, f.bytes) for f in e.frames])
            for v, e in load_state(out).videos.items()}  # fmt: skip


def ray_args(corpus: dict[str, Any], out: Path, address: str, *extra: str) -> list[str]:
    return ["extract", "--runner", "ray", "--ray-address", address, "--dataset-path", str(corpus["root"]),
            "--output-dir", str(out), *extra]  # fmt: skip


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dfdx", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def interrupted(args: list[str], out: Path, after_lines: int, sig: signal.Signals) -> tuple[int, str]:
    """A driver sent `sig` once the shard ledgers hold `after_lines` lines: its exit code and stderr."""
    driver = start(args)
    try:
        wait_until(lambda: recorded(out) >= after_lines, what=f"{after_lines} ledger line(s)")
        driver.send_signal(sig)
        _, stderr = driver.communicate(timeout=120)
    finally:
        driver.kill()
    return driver.returncode, stderr


def recorded(out: Path) -> int:
    return sum(p.read_text().count("\n") for p in out.glob(SHARD_LEDGER_GLOB)) if out.is_dir() else 0


def processes(marker: str) -> list[psutil.Process]:
    """Live processes whose command line contains `marker` (ffmpeg on our dataset, a shard worker)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def assert_same_dataset_as_local(out: Path, corpus: dict[str, Any]) -> None:
    assert dataset_files(out) == corpus["frames"]  # byte-identical frames, no more, no fewer
    assert states(out) == corpus["state"]
    assert not list(out.rglob(".dfdx-tmp-*"))


def test_a_ray_run_writes_the_local_runs_dataset(corpus, ray_cluster, tmp_path):
    out = tmp_path / "out"
    done = run_dfdx(*ray_args(corpus, out, ray_cluster, "--shards", "3"), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "this run: 12 ok, 0 failed, 0 already done, 36 frames" in done.stderr
    assert_same_dataset_as_local(out, corpus)
    assert not (out / "extraction_ledger.jsonl").exists()
    shard_ledgers = sorted(p.name for p in out.glob(SHARD_LEDGER_GLOB))
    assert shard_ledgers == [f"extraction_ledger.shard-{n:04d}.jsonl" for n in range(3)]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["ai", "real"]  # no extra class for loaders
    # Every reader folds the shard ledgers: the report, verify, split.
    assert run_dfdx("report", "--output-dir", str(out)).stdout.count("6 ok, 0 failed") == 2
    verify = run_dfdx("verify", "--output-dir", str(out))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert run_dfdx("split", "--output-dir", str(out), "-q").returncode == 0
    assert (out / "splits.json").read_text().count('"train"') >= 1


def test_without_an_address_the_run_starts_its_own_ray_and_stops_it(corpus, ray_cluster, tmp_path):
    """Even beside a running cluster (the session's), an unset run.ray.address means a Ray of its own."""
    out = tmp_path / "out"
    raylets = len(processes("raylet"))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    args = ["extract", "--runner", "ray", "--dataset-path", str(corpus["root"]), "--output-dir", str(out), "-q"]
    done = subprocess.run([sys.executable, "-m", "dfdx", *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert_same_dataset_as_local(out, corpus)
    wait_until(lambda: len(processes("raylet")) == raylets, timeout_s=30, what="its Ray to stop")


def test_a_worker_killed_mid_shard_is_retried_and_the_dataset_is_exact(corpus, ray_cluster, tmp_path):
    out = tmp_path / "out"
    driver = start(ray_args(corpus, out, ray_cluster, "--shards", "1"))
    try:
        wait_until(lambda: recorded(out) >= 1, what="the shard's first ledger line")
        workers = processes("ray::run_shard")
        assert len(workers) == 1 and recorded(out) < 12  # mid-shard
        workers[0].send_signal(signal.SIGKILL)
        _, stderr = driver.communicate(timeout=300)
    finally:
        driver.kill()
    assert driver.returncode == 0, stderr
    assert "this run: 12 ok, 0 failed" in stderr
    assert_same_dataset_as_local(out, corpus)
    assert not processes(str(corpus["root"]))  # no ffmpeg outlived its worker


def test_ctrl_c_cancels_every_task_and_the_same_command_resumes(corpus, ray_cluster, tmp_path):
    out = tmp_path / "out"
    args = ray_args(corpus, out, ray_cluster, "--shards", "2")
    code, stderr = interrupted(args, out, after_lines=1, sig=signal.SIGINT)
    assert code == 130, stderr
    assert "stopped by SIGINT" in stderr and "run the same command again" in stderr
    wait_until(lambda: not processes(str(corpus["root"])), timeout_s=10, what="no ffmpeg left")
    assert not processes("ray::run_shard")  # cancelled with force: the workers are gone
    assert not list(out.rglob(".dfdx-tmp-*"))
    resumed = run_dfdx(*args, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr and " 0 already done" not in resumed.stderr
    assert_same_dataset_as_local(out, corpus)


def test_the_driver_killed_then_rerun_resumes_from_the_shard_ledgers(corpus, ray_cluster, tmp_path):
    out = tmp_path / "out"
    args = ray_args(corpus, out, ray_cluster, "--shards", "2")
    assert interrupted(args, out, after_lines=2, sig=signal.SIGKILL)[0] == -signal.SIGKILL
    # Ray ends a dead driver's tasks; their ffmpeg children die with their workers.
    wait_until(lambda: not processes("ray::run_shard"), timeout_s=60, what="the dead driver's tasks to end")
    wait_until(lambda: not processes(str(corpus["root"])), timeout_s=10, what="no ffmpeg left")
    done_before = recorded(out)
    resumed = run_dfdx(*args, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{12 - done_before} ok, 0 failed, {done_before} already done" in resumed.stderr
    assert_same_dataset_as_local(out, corpus)


def test_a_fault_of_the_system_on_a_node_stops_every_shard_with_one_message(corpus, ray_cluster, tmp_path):
    """The dataset vanishes mid-run: the node's task stops with the fault, the driver cancels the other
    shards and exits 1 with that one message; what was recorded is kept."""
    root = tmp_path / "dataset"
    shutil.copytree(corpus["root"], root)
    out = tmp_path / "out"
    args = ["extract", "--runner", "ray", "--ray-address", ray_cluster, "--dataset-path", str(root),
            "--output-dir", str(out), "--shards", "2"]  # fmt: skip
    driver = start(args)
    try:
        wait_until(lambda: recorded(out) >= 1, what="a first ledger line")
        root.rename(tmp_path / "gone")
        _, stderr = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 1, stderr
    assert "disappeared during the run" in stderr and "(shard " in stderr and "Traceback" not in stderr
    assert "run the same command again to resume" in stderr
    wait_until(lambda: not processes("ray::run_shard"), timeout_s=30, what="the other shard to be cancelled")
    assert all(e.status == "ok" for e in load_state(out).videos.values())


def test_a_cluster_that_does_not_answer_is_a_clear_error_and_nothing_is_written(corpus, tmp_path):
    out = tmp_path / "out"
    done = run_dfdx(*ray_args(corpus, out, f"127.0.0.1:{free_port()}"), timeout=120)
    assert done.returncode == 1
    assert "does not answer" in done.stderr and "ray start --head" in done.stderr
    messages = [line for line in done.stderr.splitlines() if not line.startswith("[dfdx] dataset profile:")]
    assert "Traceback" not in done.stderr and len(messages) == 1
    assert not out.exists()


def test_a_task_larger_than_every_node_is_a_config_error_and_nothing_is_written(corpus, ray_cluster, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("run:\n  ray:\n    cpus_per_task: 2\n")
    out = tmp_path / "out"
    done = run_dfdx(*ray_args(corpus, out, ray_cluster, "--config", str(config)), timeout=120)
    assert done.returncode == 2, done.stderr
    assert "'run.ray.cpus_per_task': 2 is more than any node of the cluster has (1 CPUs)" in done.stderr
    assert not out.exists()


def test_without_ray_the_runner_says_how_to_install_it(corpus, tmp_path):
    """Ray is installed here, so it is hidden from this one process (an import that fails, as without it)."""
    out = tmp_path / "out"
    code = ("import sys; sys.modules['ray'] = None; from dfdx.cli import main; "
            f"sys.exit(main({ray_args(corpus, out, 'auto')!r}))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install 'dfdx[ray]'" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


@pytest.fixture
def blind_node(ray_cluster: str, tmp_path: Path) -> Iterator[Path]:
    """A third raylet joins the cluster from its own mount namespace, where a fresh tmpfs hides `folder`:
    at the same path it sees another (empty) folder, as a node without the shared mount would."""
    if not have_root() or shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("a private mount namespace needs root, unshare(1) and mount(8)")
    folder = tmp_path / "shared"
    folder.mkdir()
    ray_bin = str(Path(sys.executable).with_name("ray"))
    code = ("import os, subprocess, sys; subprocess.run(['mount', '-t', 'tmpfs', 'tmpfs', sys.argv[1]], check=True); "
            "os.execv(sys.argv[2], sys.argv[2:])")  # fmt: skip
    node = subprocess.Popen(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", code, str(folder),
                             ray_bin, "start", "--address", ray_cluster, "--num-cpus", "1", "--object-store-memory",
                             str(80 * 1024 * 1024), "--block"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        assert node.stdout is not None
        for line in node.stdout:  # printed once the raylet has registered with the cluster
            if "Ray runtime started" in line:
                break
        else:
            pytest.fail("the third raylet did not start")
        yield folder
    finally:
        os.killpg(node.pid, signal.SIGTERM)  # `ray start --block` stops its raylet and workers on SIGTERM
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()


def test_a_node_that_sees_another_folder_stops_the_run_with_a_clear_message(corpus, ray_cluster, blind_node):
    out = blind_node / "out"
    done = run_dfdx(*ray_args(corpus, out, ray_cluster), timeout=300)
    assert done.returncode == 1, done.stderr
    assert "every node sees at the same path" in done.stderr and "sees another folder" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(out.glob(SHARD_LEDGER_GLOB)) and not list(out.glob("*/*.jpg"))
