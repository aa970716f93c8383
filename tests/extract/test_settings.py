"""Settings resolved once per run: the fingerprint of today's defaults is the one older ledgers carry, so a
dataset extracted before the pluggable parts existed resumes without redoing anything."""

from __future__ import annotations

import pickle
from collections import Counter
from fractions import Fraction

from dfdx.config import load_config
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
