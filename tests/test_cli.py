"""The command line as a user types it: exit codes, messages, old spellings, the demo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import REAL, dataset_files, frame_indices, ledger_lines, run_dfdx


def test_config_error_is_one_line_exit_2_nothing_written(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("extract:\n  positons: [0.5]\n")
    out = tmp_path / "out"
    done = run_dfdx("extract", "--config", str(config), "--output-dir", str(out))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "unknown config key 'extract.positons'; allowed keys here:" in done.stderr and "positions" in done.stderr
    assert not out.exists()


def test_positions_outside_the_video_exit_2(tmp_path):
    done = run_dfdx("extract", "--positions", "0.2,1.2", "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 2 and "1.2" in done.stderr and "outside (0, 1)" in done.stderr
    assert not (tmp_path / "out").exists()


def test_missing_dataset_and_no_videos(tmp_path):
    done = run_dfdx("extract", "--dataset-path", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    (tmp_path / "empty" / REAL).mkdir(parents=True)
    done = run_dfdx("extract", "--dataset-path", str(tmp_path / "empty"), "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 2 and "no videos found" in done.stderr and "DFD_original_sequences" in done.stderr
    assert not (tmp_path / "out").exists()


def test_old_underscore_spellings(tmp_path, indexed_dataset):
    out = tmp_path / "out"
    done = run_dfdx("extract", "--dataset_path", str(indexed_dataset), "--output_dir", str(out), "--max_videos", "2",
                    "--num_workers", "1", "--batch_size", "4", "-q")  # fmt: skip
    assert done.returncode == 0, done.stderr
    entries = ledger_lines(out)
    assert len(entries) == 4 and sorted(e["category"] for e in entries) == ["ai", "ai", "real", "real"]


def test_max_videos_is_a_stable_growing_sample(tmp_path, indexed_dataset):
    def chosen(n: int, out_name: str) -> set[str]:
        out = tmp_path / out_name
        assert run_dfdx("extract", "--dataset-path", str(indexed_dataset), "--output-dir", str(out),
                        "--max-videos", str(n), "-q").returncode == 0  # fmt: skip
        return {e["video"] for e in ledger_lines(out)}

    two, two_again, three = chosen(2, "a"), chosen(2, "b"), chosen(3, "c")
    assert two == two_again and two < three and len(three) == 6


def test_report_command_rebuilds_from_the_ledger(tmp_path, indexed_dataset):
    out = tmp_path / "out"
    assert run_dfdx("extract", "--dataset-path", str(indexed_dataset), "--output-dir", str(out), "-q").returncode == 0
    (out / "extraction_report.json").unlink()
    done = run_dfdx("report", "--output-dir", str(out))
    assert done.returncode == 0
    report = json.loads((out / "extraction_report.json").read_text())
    assert report["totals"]["videos"] == 8 and report["totals"]["frames"] == 24
    assert report["videos"] == {"ai": {"videos": 4, "ok": 4, "failed": 0}, "real": {"videos": 4, "ok": 4, "failed": 0}}
    assert "8/8 videos ok" in done.stdout
    assert run_dfdx("report", "--output-dir", str(tmp_path / "none")).returncode == 2


def test_demo_end_to_end(tmp_path):
    done = run_dfdx("demo", "--dir", str(tmp_path / "demo"), timeout=300)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "demo" / "data"
    entries = ledger_lines(out)
    assert sorted(e["status"] for e in entries) == ["failed"] + ["ok"] * 5
    assert len(dataset_files(out)) == 15
    assert "5/6 videos ok" in done.stderr
    again = run_dfdx("demo", "--dir", str(tmp_path / "demo"), timeout=300)
    assert again.returncode == 0 and "0 ok, 0 failed, 6 already done" in again.stderr


def test_make_demo(tmp_path):
    """`make demo` as the README says (the venv is already there: `make test` made it)."""
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run(["make", "-C", str(repo), "demo", f"DEMO_DIR={tmp_path / 'demo'}"], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "5/6 videos ok" in done.stderr
    assert len(dataset_files(tmp_path / "demo" / "data")) == 15


def test_run_downloads_the_sample_and_extracts_it(tmp_path, video_cache):
    """`dfdx run --max-videos 2`: the real kaggle client fetches only the sampled videos from a fake
    Kaggle on 127.0.0.1, then they are extracted, exactly."""
    from tests.datasets.fake_kaggle import FakeKaggle

    files = {}
    for i in range(3):
        files[f"DFD_original_sequences/0{i}__scene.mp4"] = video_cache(f"run{i}.mp4", frames=30 + i).read_bytes()
        files[f"DFD_manipulated_sequences/DFD_manipulated_sequences/0{i}_0{i + 1}__scene__RUN0000{i}.mp4"] = (
            video_cache(f"run{i}.mp4", frames=30 + i).read_bytes()
        )
    fake = FakeKaggle(files).start()
    try:
        home = tmp_path / "home"
        home.mkdir()
        config = tmp_path / "c.yaml"
        config.write_text(f"download:\n  dataset: {fake.dataset}\n")
        data, out = tmp_path / "dl", tmp_path / "out"
        done = run_dfdx("run", "--config", str(config), "--dataset_path", str(data), "--output_dir", str(out),
                        "--max_videos", "2", env=fake.child_env(home))  # fmt: skip
        assert done.returncode == 0, done.stderr
        fetched = {h.name for h in fake.gets()}
        assert len(fetched) == 4  # two per category, not the whole archive
        requests_made = len(fake.gets())
        entries = ledger_lines(out)
        assert sorted(e["video"] for e in entries) == sorted(fetched)
        for entry in entries:
            n = 30 + int(entry["video"].split("/")[-1][1])
            assert entry["status"] == "ok" and frame_indices(out, entry) == [n // 3, n // 2, 2 * n // 3]
        again = run_dfdx("run", "--config", str(config), "--dataset-path", str(data), "--output-dir", str(out),
                         "--max-videos", "2", env=fake.child_env(home))  # fmt: skip
        assert again.returncode == 0 and "4 already done" in again.stderr
        assert len(fake.gets()) == requests_made  # nothing fetched again
        only = run_dfdx("run", "--process_only", "--dataset-path", str(data), "--output-dir", str(tmp_path / "o2"),
                        env=fake.child_env(home, credentials=False))  # fmt: skip
        assert only.returncode == 0 and len(ledger_lines(tmp_path / "o2")) == 4
    finally:
        fake.stop()


def test_run_without_credentials_says_how_to_set_them_up(tmp_path):
    from tests.datasets.fake_kaggle import FakeKaggle

    fake = FakeKaggle().start()
    try:
        home = tmp_path / "home"
        home.mkdir()
        done = run_dfdx("run", "--download-only", "--dataset-path", str(tmp_path / "dl"),
                        env=fake.child_env(home, credentials=False))  # fmt: skip
    finally:
        fake.stop()
    assert done.returncode == 2
    assert "kaggle.json" in done.stderr and "chmod 600" in done.stderr and "Traceback" not in done.stderr
