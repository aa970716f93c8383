"""Settings resolved once per run: the fingerprint of today's defaults is the one older ledgers carry, so a
dataset extracted before the pluggable parts existed resumes without redoing anything."""

from __future__ import annotations

import os
import pickle
from collections import Counter
from fractions import Fraction

import pytest

from dfdx.config import load_config
from dfdx.errors import SystemFault
from dfdx.extract import settings as settings_module
from dfdx.extract.settings import resolve_settings


def test_default_fingerprint_is_the_one_older_ledgers_carry():
    settings = resolve_settings(load_config(None), Counter(ai=3, real=1), versions={"dfdx": "x"})
    historical = {"positions": ["1/3", "1/2", "2/3"], "jpeg_quality": 95, "seek": "exact",
                  "format": "jpeg-ijg/yuv420/bt601-full/v1"}  # fmt: skip
    assert settings.params == {"ai": historical, "real": historical}


def test_per_category_positions_balance_and_pickling():
    cfg = load_config(None, {"extract.frames": {"ai": 2, "real": 4}, "num_workers": 1})
    settings = resolve_settings(cfg, Counter(ai=5, real=5), versions={})
    assert settings.positions["ai"] == (Fraction(1, 3), Fraction(2, 3))
    assert settings.params["real"]["positions"] == ["1/5", "2/5", "3/5", "4/5"]
    assert settings.workers == 1 and settings.threads >= 1 and not settings.keyframes_only
    assert pickle.loads(pickle.dumps(settings)) == settings  # a distributed runner ships it as it is


def test_an_ffmpeg_that_hangs_stops_the_run(tmp_path, monkeypatch):
    """`ffmpeg -version` is the run's first look at ffmpeg: a hung install is a fault of the system (every video
    would time out on it), said before anything is written (one that cannot run: tests/run/test_local_faults.py)."""
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr(settings_module, "VERSION_TIMEOUT_S", 0.5)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(SystemFault, match=r"did not answer `ffmpeg -version` within 0.5 s"):
        settings_module.tool_versions()
    monkeypatch.undo()
    assert settings_module.tool_versions()["ffmpeg"] != "unknown"
