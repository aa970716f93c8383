"""`dfdx download` against a fake Kaggle server, driven through the real `kaggle` client.

Only the client's endpoint is changed (see tests/datasets/fake_kaggle.py); everything else, from authentication to
the Range resume, is the real client's code. Assertions are about what a user sees: files and their bytes,
ledger lines, exit codes, one message on stderr, and what the server was asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from dfdx.config import Config, load_config
from dfdx.datasets.discover import sample_per_category
from dfdx.datasets.download import download, download_async
from dfdx.datasets.download_ledger import DownloadLedger, DownloadRecord
from dfdx.datasets.kaggle import TransferSettings, parse_retry_after
from dfdx.datasets.listing import select_files, unsafe_reason
from dfdx.datasets.profiles.folders import discover
from dfdx.datasets.unpack import member_problem
from dfdx.layout import DOWNLOAD_LEDGER_NAME as LEDGER_NAME
from tests.conftest import tmpfs
from tests.datasets import fake_kaggle
from tests.datasets.fake_kaggle import ARCHIVE, FakeKaggle, Hit

kaggle_server = fake_kaggle.kaggle_server  # the fixture: a started fake, this process's client pointed at it

FAST = TransferSettings(backoff_s=0.01, backoff_max_s=0.05, read_timeout_s=1.0, chunk_bytes=64 * 1024)
ROOT = Path(__file__).resolve().parents[2]


def make_cfg(fake: FakeKaggle, dest: Path, **overrides: Any) -> Config:
    values = {
        "download.dataset": fake.dataset,
        "download.download_dir": str(dest),
        "download.retries": 3,
        "quiet": True,
        **overrides,
    }
    return load_config(None, values)


def run(cfg: Config, **kwargs: Any) -> int:
    return asyncio.run(download_async(cfg, settings=FAST, **kwargs))


def ledger(dest: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (dest / LEDGER_NAME).read_text().splitlines() if line.strip()]


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def bodies(fake: FakeKaggle, name: str) -> list[Hit]:
    """The GETs of name whose body the client took (not those it hung up on right after the headers)."""
    return [h for h in fake.settled_gets(name) if not h.hung_up]


def expected_sample(fake: FakeKaggle, cfg: Config, tmp_path: Path) -> set[str]:
    """What `dfdx extract` would sample from the whole dataset on disk: the download must fetch exactly that."""
    mirror = tmp_path / "mirror"
    for name, data in fake.files.items():
        (mirror / name).parent.mkdir(parents=True, exist_ok=True)
        (mirror / name).write_bytes(data)
    return {v.rel for v in sample_per_category(discover(mirror, cfg.discover), cfg.max_videos, cfg.seed)}


# ---------------------------------------------------------------- partial and full downloads


def test_partial_download_fetches_the_extract_sample_once(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    fake = kaggle_server
    dest = tmp_path / "dl"
    cfg = make_cfg(fake, dest, max_videos=2, **{"download.concurrency": 3})

    assert run(cfg) == 0

    wanted = expected_sample(fake, cfg, tmp_path)
    assert len(wanted) == 4  # 2 per category
    on_disk = files_under(dest)
    assert {k for k in on_disk if k.endswith(".mp4")} == wanted
    assert all(on_disk[name] == fake.files[name] for name in wanted)
    assert set(on_disk) == wanted | {LEDGER_NAME}  # no .part, no marker, nothing else
    lines = ledger(dest)
    assert {(r["path"], r["size_bytes"], r["kind"]) for r in lines} == {(n, len(fake.files[n]), "file") for n in wanted}
    assert all(r["finished_at"] for r in lines)
    # every page of the listing was read, and each chosen file was asked for once, by name
    listing = fake.rpcs("ListDatasetFiles")
    assert len(listing) == 3 and listing[1].body["pageToken"]
    assert sorted(h.body["fileName"] for h in fake.rpcs("DownloadDataset")) == sorted(wanted)
    assert sorted(h.name for h in fake.gets() if not h.hung_up) == sorted(wanted)

    fake.clear_hits()
    assert run(cfg) == 0  # a rerun fetches nothing
    assert fake.rpcs("DownloadDataset") == [] and fake.gets() == []


def test_larger_max_videos_fetches_only_the_new_videos(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    fake = kaggle_server
    dest = tmp_path / "dl"
    assert run(make_cfg(fake, dest, max_videos=1)) == 0
    first = {r["path"] for r in ledger(dest)}
    fake.clear_hits()
    cfg = make_cfg(fake, dest, max_videos=2)
    assert run(cfg) == 0
    assert {r["path"] for r in ledger(dest)} == expected_sample(fake, cfg, tmp_path)
    assert first < {r["path"] for r in ledger(dest)}
    assert not first & {h.name for h in fake.gets()}


def test_full_download_unpacks_videos_and_metadata_only(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    fake = kaggle_server
    dest = tmp_path / "dl"
    cfg = make_cfg(fake, dest)

    assert run(cfg) == 0

    on_disk = files_under(dest)
    unpacked = {n: d for n, d in fake.files.items() if n.endswith((".mp4", ".csv"))}
    assert {n: on_disk[n] for n in unpacked} == unpacked
    assert "DFD_original_sequences/thumbs.db" not in on_disk  # neither a video nor metadata
    assert set(on_disk) == set(unpacked) | {LEDGER_NAME, f"{fake.slug}.zip"}
    kinds = [r["kind"] for r in ledger(dest)]
    assert kinds.count("archive") == 1 and kinds.count("unpacked") == 1 and kinds.count("member") == len(unpacked)
    members = {r["path"]: r for r in ledger(dest) if r["kind"] == "member"}
    with zipfile.ZipFile(dest / f"{fake.slug}.zip") as zf:
        assert all(members[n]["crc32"] == zf.getinfo(n).CRC for n in unpacked)

    # a restart after losing one file: no download, only that member is written again
    fake.clear_hits()
    lost = next(iter(unpacked))
    (dest / lost).unlink()
    assert run(cfg) == 0
    assert fake.gets() == [] and (dest / lost).read_bytes() == unpacked[lost]
    assert [r["path"] for r in ledger(dest) if r["kind"] == "member"].count(lost) == 2

    # --delete-archive on a finished unpack removes the zip; later runs fetch nothing
    cfg = make_cfg(fake, dest, **{"download.delete_archive": True})
    assert run(cfg) == 0
    assert not (dest / f"{fake.slug}.zip").exists()
    assert run(cfg) == 0
    assert fake.gets() == []


def test_an_archive_fetched_by_hand_is_used(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / f"{kaggle_server.slug}.zip").write_bytes(kaggle_server.archive_bytes())
    assert run(make_cfg(kaggle_server, dest)) == 0
    assert kaggle_server.gets() == []
    assert (dest / "metadata.csv").read_bytes() == kaggle_server.files["metadata.csv"]
    assert len(list(dest.rglob("*.mp4"))) == 10


def test_delete_archive_after_a_verified_unpack(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    fake = kaggle_server
    dest = tmp_path / "dl"
    assert run(make_cfg(fake, dest, **{"download.delete_archive": True})) == 0
    assert not (dest / f"{fake.slug}.zip").exists()
    assert (dest / "metadata.csv").read_bytes() == fake.files["metadata.csv"]
    assert not list(dest.rglob("*.part")) and not list(dest.rglob("*.dfdx-tmp"))


def test_unpack_all_extracts_other_files_too(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    assert run(make_cfg(kaggle_server, dest), unpack_all=True) == 0
    assert (dest / "DFD_original_sequences/thumbs.db").read_bytes() == b"\0" * 100


def test_list_only_prints_counts_and_sizes_per_category(
    kaggle_server: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = make_cfg(kaggle_server, tmp_path / "dl", max_videos=2)
    assert run(cfg, list_only=True) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("ai ", "real "))}
    assert rows["ai"][1] == "6" and rows["real"][1] == "4"  # videos per category
    assert "2" in rows["ai"][4:] and "kB" in rows["ai"]
    assert kaggle_server.gets() == [] and not (tmp_path / "dl").exists()


def test_a_file_served_zipped_is_unwrapped(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    fake = kaggle_server
    dest = tmp_path / "dl"
    cfg = make_cfg(fake, dest, max_videos=1)
    wrapped = sorted(expected_sample(fake, cfg, tmp_path))[0]
    fake.faults.wrap.add(wrapped)
    assert run(cfg) == 0
    assert (dest / wrapped).read_bytes() == fake.files[wrapped]
    assert not list(dest.rglob("*.zip*"))


# ---------------------------------------------------------------- resume


def test_resume_after_a_cut_connection(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    fake = kaggle_server
    name = "DFD_original_sequences/01__exit_phone_room.mp4"
    fake.files = {name: os.urandom(600_000)}
    fake.faults.cut_after[name] = 300_000
    dest = tmp_path / "dl"

    assert run(make_cfg(fake, dest, max_videos=1)) == 0

    assert (dest / name).read_bytes() == fake.files[name]
    first, second = bodies(fake, name)
    assert first.aborted and first.bytes_sent == 300_000
    assert second.status == 206 and 0 < second.range_start <= 300_000
    assert second.range_start + second.bytes_sent == 600_000
    assert 300_000 - second.range_start < FAST.chunk_bytes  # only the chunk in flight came twice


def test_resume_after_a_stall(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    fake = kaggle_server
    name = "DFD_original_sequences/01__exit_phone_room.mp4"
    fake.files = {name: os.urandom(400_000)}
    fake.faults.stall[name] = (200_000, 5.0)
    dest = tmp_path / "dl"
    started = time.monotonic()
    assert run(make_cfg(fake, dest, max_videos=1)) == 0  # read timeout 1 s, then a Range request
    assert time.monotonic() - started < 4.5
    assert (dest / name).read_bytes() == fake.files[name]
    assert [h.status for h in bodies(fake, name)] == [200, 206]


def test_resume_of_the_archive_after_a_cut(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    fake = kaggle_server
    fake.files = {**fake.files, "DFD_original_sequences/09__big.mp4": os.urandom(300_000)}
    fake.faults.cut_after[ARCHIVE] = 200_000
    dest = tmp_path / "dl"
    assert run(make_cfg(fake, dest)) == 0
    assert (dest / "DFD_original_sequences/09__big.mp4").read_bytes() == fake.files[
        "DFD_original_sequences/09__big.mp4"
    ]
    first, second = bodies(fake, ARCHIVE)
    assert first.aborted and second.status == 206 and second.range_start > 0


# Until `dfdx download` is wired into the CLI, the same options reach `download()` through this stand-in.
_STAND_IN = """
import argparse, sys
from dfdx.config import load_config
from dfdx.datasets.download import download
p = argparse.ArgumentParser()
p.add_argument("--config")
p.add_argument("--download-dir")
p.add_argument("--max-videos", type=int)
p.add_argument("--list", action="store_true")
a = p.parse_args()
overrides = {"download.download_dir": a.download_dir}
if a.max_videos is not None:
    overrides["max_videos"] = a.max_videos
sys.exit(download(load_config(a.config, overrides), list_only=a.list))
"""


def _cli_has_download() -> bool:
    from dfdx.cli import build_parser

    commands = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return any("download" in a.choices for a in commands)


def dfdx_download_argv(config: Path, download_dir: Path, max_videos: int | None, *more: str) -> list[str]:
    """`dfdx download` as a user runs it, in a fresh process."""
    command = ["-m", "dfdx", "download"] if _cli_has_download() else ["-c", _STAND_IN]
    argv = [sys.executable, *command, "--config", str(config), "--download-dir", str(download_dir)]
    if max_videos is not None:
        argv += ["--max-videos", str(max_videos)]
    return argv + list(more)


def write_config(tmp_path: Path, fake: FakeKaggle, **download: Any) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"download": {"dataset": fake.dataset, "retries": 2, **download}}))
    return path


def test_resume_after_kill_9_of_a_download_process(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    """kill -9 mid-file: the finished file is not fetched again, the partial one continues from its bytes."""
    fake = kaggle_server
    size = 1_500_000
    fake.files = {
        "DFD_original_sequences/01__exit_phone_room.mp4": os.urandom(size),
        "DFD_manipulated_sequences/01_02__meeting_serious__YVGY8LOK.mp4": os.urandom(size + 1),
    }
    stalled, finished = sorted(fake.files)[1], sorted(fake.files)[0]
    fake.faults.stall[stalled] = (1_100_000, float("inf"))  # the process is killed during this stall
    dest = tmp_path / "dl"
    part = dest / (stalled + ".part")
    config = write_config(tmp_path, fake, concurrency=2)
    (tmp_path / "child").mkdir()
    env = fake.child_env(tmp_path / "child")

    proc = subprocess.Popen(
        dfdx_download_argv(config, dest, 1), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = (dest / LEDGER_NAME).exists() and len(ledger(dest)) == 1
            if done and part.exists() and part.stat().st_size >= 1_048_576:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("the download never reached the stall")
        proc.kill()  # SIGKILL: no cleanup of any kind
    finally:
        proc.kill()
        proc.communicate()
    kept = part.stat().st_size
    fake.release_stalls()
    assert (dest / finished).read_bytes() == fake.files[finished]
    assert not (dest / stalled).exists()
    fake.clear_hits()

    again = subprocess.run(dfdx_download_argv(config, dest, 1), env=env, capture_output=True, text=True, timeout=60)

    assert again.returncode == 0, again.stderr
    assert (dest / stalled).read_bytes() == fake.files[stalled]
    assert fake.gets(finished) == [] and [h.body.get("fileName") for h in fake.rpcs("DownloadDataset")] == [stalled]
    resumed = bodies(fake, stalled)
    assert [(h.status, h.range_start, h.bytes_sent) for h in resumed] == [(206, kept, len(fake.files[stalled]) - kept)]
    assert (
        sum(h.bytes_sent for h in fake.settled_gets(stalled)) == len(fake.files[stalled]) - kept
    )  # nothing on disk was fetched again
    assert sorted(r["path"] for r in ledger(dest)) == sorted(fake.files)


def test_ctrl_c_stops_at_once_and_the_next_run_resumes(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    fake = kaggle_server
    name = "DFD_original_sequences/01__exit_phone_room.mp4"
    fake.files = {name: os.urandom(1_500_000)}
    fake.faults.stall[name] = (1_100_000, float("inf"))
    dest = tmp_path / "dl"
    part = dest / (name + ".part")
    (tmp_path / "child").mkdir()
    env = fake.child_env(tmp_path / "child")
    argv = dfdx_download_argv(write_config(tmp_path, fake), dest, 1)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (part.exists() and part.stat().st_size >= 1_048_576):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        stopped = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert time.monotonic() - stopped < 5  # the blocked download thread does not hold the exit
    assert proc.returncode == 130 and "Traceback" not in err and "run the same command again" in err
    assert part.stat().st_size >= 1_048_576 and not (dest / name).exists()
    fake.release_stalls()
    assert subprocess.run(argv, env=env, capture_output=True, timeout=60).returncode == 0
    assert (dest / name).read_bytes() == fake.files[name]
    assert bodies(fake, name)[-1].range_start == 1_048_576


def test_progress_lines_when_not_on_a_terminal(
    kaggle_server: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(make_cfg(kaggle_server, tmp_path / "dl", max_videos=2, quiet=False)) == 0
    err = capsys.readouterr().err
    assert "[dfdx] download: 160.2 kB of 160.2 kB (100%), 4/4 files" in err
    assert "downloaded 4 videos" in err


# ---------------------------------------------------------------- credentials


def test_no_credentials_is_one_clear_message_and_exit_2(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    home = tmp_path / "child"
    home.mkdir()
    config = write_config(tmp_path, kaggle_server)
    env = kaggle_server.child_env(home, credentials=False)
    result = subprocess.run(
        dfdx_download_argv(config, tmp_path / "dl", 1), env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    err = result.stderr
    for needle in ("no Kaggle credentials", "~/.kaggle/kaggle.json", '"username"', '"key"', "chmod 600"):
        assert needle in err
    for needle in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR"):
        assert needle in err
    assert "Traceback" not in err and "Authentication required" not in err + result.stdout  # the client's help
    assert result.stdout == ""
    assert kaggle_server.rpcs() == []


def test_kaggle_json_readable_by_others_is_warned_about(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    home = tmp_path / "child"
    (home / ".kaggle").mkdir(parents=True)
    creds = home / ".kaggle" / "kaggle.json"
    creds.write_text(json.dumps({"username": kaggle_server.username, "key": kaggle_server.key}))
    config = write_config(tmp_path, kaggle_server)
    env = kaggle_server.child_env(home, credentials=False)
    argv = dfdx_download_argv(config, tmp_path / "dl", 1, "--list")

    creds.chmod(0o644)
    loose = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert loose.returncode == 0, loose.stderr
    assert f"chmod 600 {creds}" in loose.stderr and "real" in loose.stdout

    creds.chmod(0o600)
    tight = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert tight.returncode == 0 and "chmod" not in tight.stderr


def test_kaggle_config_dir_is_honoured(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    home, folder = tmp_path / "child", tmp_path / "elsewhere"
    home.mkdir()
    folder.mkdir()
    (folder / "kaggle.json").write_text(json.dumps({"username": kaggle_server.username, "key": kaggle_server.key}))
    (folder / "kaggle.json").chmod(0o600)
    env = {**kaggle_server.child_env(home, credentials=False), "KAGGLE_CONFIG_DIR": str(folder)}
    argv = dfdx_download_argv(write_config(tmp_path, kaggle_server), tmp_path / "dl", 1, "--list")
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_access_token_is_used(kaggle_server: FakeKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", kaggle_server.token)
    dest = tmp_path / "dl"
    assert run(make_cfg(kaggle_server, dest, max_videos=1)) == 0
    assert len(ledger(dest)) == 2


def test_rejected_access_token_says_so(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    (tmp_path / "child").mkdir()
    env = {**kaggle_server.child_env(tmp_path / "child", credentials=False), "KAGGLE_API_TOKEN": "expired"}
    argv = dfdx_download_argv(write_config(tmp_path, kaggle_server), tmp_path / "dl", 1)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "did not accept the access token from KAGGLE_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_rejected_credentials_exit_2_with_the_fix(
    kaggle_server: FakeKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAGGLE_KEY", "wrong")
    assert run(make_cfg(kaggle_server, tmp_path / "dl", max_videos=1)) == 2
    err = capsys.readouterr().err
    assert "rejected the credentials from KAGGLE_USERNAME/KAGGLE_KEY (HTTP 401" in err
    assert "chmod 600" in err and "Traceback" not in err
    assert err.count("dfdx download:") == 1


def test_forbidden_dataset_exit_2_mentions_the_rules(
    kaggle_server: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kaggle_server.faults.rpc_errors.append((403, {}))
    assert run(make_cfg(kaggle_server, tmp_path / "dl", max_videos=1)) == 2
    assert "accept its rules" in capsys.readouterr().err


def test_unknown_dataset_exit_2(kaggle_server: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(None, {"download.dataset": "tester/nope", "download.download_dir": str(tmp_path), "quiet": True})
    assert run(cfg) == 2
    assert "tester/nope was not found" in capsys.readouterr().err


# ---------------------------------------------------------------- retries


def test_429_waits_for_retry_after(kaggle_server: FakeKaggle, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = kaggle_server
    fake.faults.rpc_errors.append((429, {"Retry-After": "1"}))  # the listing RPC: the client does not retry it
    fake.faults.get_errors.append((429, {"Retry-After": "1"}))  # the download itself
    dest = tmp_path / "dl"
    started = time.monotonic()
    assert run(make_cfg(fake, dest, max_videos=1)) == 0
    assert time.monotonic() - started >= 2.0  # backoff alone would be ~0.01 s
    assert sum(h.status == 429 for h in fake.hits) == 2
    assert "Retry-After" in caplog.text
    assert len(ledger(dest)) == 2


def test_5xx_is_retried(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    fake = kaggle_server
    fake.faults.rpc_errors += [(503, {}), (500, {})]
    fake.faults.get_errors.append((502, {}))
    dest = tmp_path / "dl"
    assert run(make_cfg(fake, dest, max_videos=1)) == 0
    assert sum(h.status >= 500 for h in fake.hits) == 3
    assert len(ledger(dest)) == 2


def test_retries_running_out_is_one_clear_failure(
    kaggle_server: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kaggle_server.faults.rpc_errors += [(500, {})] * 3
    assert run(make_cfg(kaggle_server, tmp_path / "dl", max_videos=1, **{"download.retries": 2})) == 1
    err = capsys.readouterr().err
    assert "HTTP 500" in err and "gave up after 2 retries" in err and "Traceback" not in err


def test_failed_files_are_reported_and_the_rest_kept(
    kaggle_server: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = kaggle_server
    dest = tmp_path / "dl"
    cfg = make_cfg(fake, dest, max_videos=1, **{"download.retries": 1, "download.concurrency": 1})
    fake.faults.get_errors += [(500, {})] * 2  # the first file's both attempts
    assert run(cfg) == 1
    err = capsys.readouterr().err
    assert "1 of 2 files could not be downloaded" in err and "run the same command again" in err
    assert len(ledger(dest)) == 1
    assert run(cfg) == 0 and len(ledger(dest)) == 2


# ---------------------------------------------------------------- unsafe or broken archives


@pytest.mark.parametrize("member", ["../evil.mp4", "DFD_original_sequences/../../evil.mp4", "/tmp/dfdx-evil.mp4"])
def test_zip_slip_member_is_refused_and_nothing_written(
    kaggle_server: FakeKaggle, tmp_path: Path, member: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kaggle_server.faults.zip_slip = member
    dest = tmp_path / "a" / "dl"
    assert run(make_cfg(kaggle_server, dest)) == 1
    err = capsys.readouterr().err
    assert repr(member) in err and "refusing to unpack" in err
    assert not list(tmp_path.rglob("evil.mp4")) and not Path("/tmp/dfdx-evil.mp4").exists()
    assert not list(dest.rglob("*.mp4"))  # refused before any member was written


def test_symlink_member_is_refused(
    kaggle_server: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kaggle_server.faults.symlink_member = "DFD_original_sequences/link.mp4"
    dest = tmp_path / "dl"
    assert run(make_cfg(kaggle_server, dest)) == 1
    assert "'DFD_original_sequences/link.mp4' is a symbolic link" in capsys.readouterr().err
    assert not (dest / "DFD_original_sequences" / "link.mp4").exists()
    assert not [p for p in dest.rglob("*") if p.is_symlink()]


def test_truncated_archive_is_reported_and_fetched_anew(
    kaggle_server: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = kaggle_server
    fake.faults.truncate_archive = True
    dest = tmp_path / "dl"
    assert run(make_cfg(fake, dest)) == 1
    assert "is not a complete zip archive" in capsys.readouterr().err
    assert (dest / f"{fake.slug}.zip.corrupt").exists() and not list(dest.rglob("*.mp4"))
    fake.faults.truncate_archive = False
    assert run(make_cfg(fake, dest)) == 0
    assert len(list(dest.rglob("*.mp4"))) == 10


def test_member_with_a_bad_crc_is_not_kept(
    kaggle_server: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = kaggle_server
    bad = "DFD_original_sequences/02__meeting_serious.mp4"
    fake.faults.corrupt_member = bad
    dest = tmp_path / "dl"
    assert run(make_cfg(fake, dest, **{"download.delete_archive": True})) == 1
    assert f"member {bad!r} is damaged" in capsys.readouterr().err
    assert not (dest / bad).exists() and not list(dest.rglob("*.dfdx-tmp"))
    assert (dest / f"{fake.slug}.zip").exists()  # not deleted: not every member was verified
    assert bad not in {r["path"] for r in ledger(dest)}


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 2 MiB tmpfs (needs root); skipped where mounting is not allowed."""
    with tmpfs(tmp_path / "small", "2m") as mount:
        yield mount


@pytest.mark.parametrize("max_videos", [None, 1])
def test_not_enough_disk_space_says_needed_and_free(
    kaggle_server: FakeKaggle, small_disk: Path, max_videos: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = kaggle_server
    fake.files = {
        "DFD_original_sequences/01__exit_phone_room.mp4": os.urandom(1_200_000),
        "DFD_manipulated_sequences/01_02__meeting_serious__YVGY8LOK.mp4": os.urandom(1_200_000),
    }
    dest = small_disk / "dl"
    assert run(make_cfg(fake, dest, max_videos=max_videos)) == 1
    err = capsys.readouterr().err
    assert "not enough free space" in err and "needs" in err and "is free" in err
    assert sum(h.bytes_sent for h in fake.gets()) == 0  # refused before any body was taken
    assert not list(dest.rglob("*.mp4"))


# ---------------------------------------------------------------- pure parts


def test_unsafe_names() -> None:
    assert unsafe_reason("DFD_original_sequences/01__exit_phone_room.mp4") is None
    assert unsafe_reason("a/../../b.mp4") and unsafe_reason("..\\b.mp4")
    assert unsafe_reason("/etc/passwd") and unsafe_reason("C:/x.mp4") and unsafe_reason("")
    link = zipfile.ZipInfo("a.mp4")
    link.external_attr = 0o120777 << 16
    assert member_problem(link) == "is a symbolic link"
    assert member_problem(zipfile.ZipInfo("a/b.mp4")) is None


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: go now


def test_ledger_tolerates_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / LEDGER_NAME
    good = DownloadRecord("a.mp4", 3, "2020-01-01T00:00:00+00:00")
    path.write_text(good.to_line() + '{"path": "b.mp4", "size_by')
    ledger_ = DownloadLedger(path)
    assert list(ledger_.records.values()) == [good]
    ledger_.append(DownloadRecord("c.mp4", 4, "2020-01-01T00:00:01+00:00"))
    ledger_.close()
    assert [r.path for r in DownloadLedger(path).records.values()] == ["a.mp4", "c.mp4"]


def test_selection_matches_discovery_sampling(kaggle_server: FakeKaggle, tmp_path: Path) -> None:
    from dfdx.datasets.kaggle import RemoteFile

    cfg = make_cfg(kaggle_server, tmp_path / "dl", max_videos=3, seed=11)
    listing = [RemoteFile(n, len(d)) for n, d in kaggle_server.files.items()]
    assert {f.name for f in select_files(listing, cfg)} == expected_sample(kaggle_server, cfg, tmp_path)


def test_download_entry_point_returns_exit_codes(
    kaggle_server: FakeKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAGGLE_KEY", "wrong")
    assert download(make_cfg(kaggle_server, tmp_path / "dl", max_videos=1)) == 2
