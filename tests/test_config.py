"""Config: every key validated, errors name the key and what is allowed; the command line wins."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from dfdx.config import Config, load_config
from dfdx.errors import ConfigError
from dfdx.extract.positions import positions_for


def test_repo_config_yaml_is_exactly_the_defaults():
    """config.yaml documents every key with its default: loading it must equal no config at all."""
    path = Path(__file__).parent.parent / "config.yaml"
    assert load_config(path) == load_config(None) == Config()
    documented = yaml.safe_load(path.read_text())
    defaults = Config()
    for section in ("discover", "extract", "download"):
        assert set(documented[section]) == set(getattr(defaults, section).__dataclass_fields__)
    assert set(documented) == set(Config.__dataclass_fields__)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus: 1\n", "unknown config key 'bogus'; allowed keys here: dataset, dataset_path, discover,"),
        ("extract:\n  qualty: 90\n", "unknown config key 'extract.qualty'; allowed keys here: "),
        ("extract:\n  jpeg_quality: high\n", "config key 'extract.jpeg_quality': 'high' is not a whole number"),
        ("extract:\n  jpeg_quality: 101\n", "config key 'extract.jpeg_quality': 101 is not in 1..100"),
        ("extract:\n  positions: [0.5, 1.5]\n", "config key 'extract.positions': 1.5 is outside (0, 1)"),
        ("extract:\n  positions: [0]\n", "config key 'extract.positions': 0 is outside (0, 1)"),
        ("extract:\n  positions: [abc]\n", "config key 'extract.positions': 'abc' is not a fraction"),
        ("extract:\n  seek: fast\n", "config key 'extract.seek': 'fast' is not one of exact, keyframe"),
        ("num_workers: 0\n", "config key 'num_workers': 0 must be at least 1"),
        ("max_videos: two\n", "config key 'max_videos': 'two' is not a whole number or null"),
        ("resume: yes please\n", "unknown config key 'resume'"),
        ("extract:\n  resume: maybe\n", "config key 'extract.resume': 'maybe' is not true or false"),
        ("- a\n- b\n", "must be a mapping of keys"),
        ("extract: [1, 2]\n", "config key 'extract': expected a mapping"),
        ("discover:\n  extensions: [mp4]\n", "config key 'discover.extensions': 'mp4' must start with a dot"),
        ("key: [unclosed\n", "is not valid YAML"),
        ("download:\n  parts: 3-1\n", "config key 'download.parts': '3-1' is not a range of part numbers"),
        ("download:\n  parts: all\n", "config key 'download.parts': 'all' in 'all' is not a part number"),
        ("download:\n  competition: owner/slug\n", "config key 'download.competition': 'owner/slug' is not a Kaggle"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/config.yaml")


def test_command_line_wins_and_positions_are_exact(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("output_dir: from-file\nextract:\n  jpeg_quality: 90\n  positions: ['1/4', 0.5]\n")
    cfg = load_config(path, {"output_dir": "from-cli", "extract.positions": "1/3,2/3"})
    assert cfg.output_dir == "from-cli" and cfg.extract.jpeg_quality == 90
    assert cfg.extract.positions == (Fraction(1, 3), Fraction(2, 3))
    assert load_config(path).extract.positions == (Fraction(1, 4), Fraction(1, 2))


def test_frames_per_category():
    cfg = load_config(None, {"extract.frames": {"ai": 3, "real": 4}})
    assert positions_for(cfg.extract, "real") == tuple(Fraction(k, 5) for k in range(1, 5))
    assert positions_for(cfg.extract, "ai") == (Fraction(1, 4), Fraction(1, 2), Fraction(3, 4))
    assert positions_for(load_config(None).extract, "ai") == (Fraction(1, 3), Fraction(1, 2), Fraction(2, 3))
