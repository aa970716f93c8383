"""Dataset profiles: where a dataset's videos are and what each one is — its category, and where the
dataset says: the manipulation method, compression, identities (for leakage-free splits), official
split and source video(s).

A profile is one module here with a class that meets `Profile`, registered in `dfdx.plugins.PROFILES`
under the name `dataset.profile` takes. `dataset.profile: auto` (the default) asks each dataset-specific
profile whether the tree looks like its dataset, takes the one that does, says which and why, and refuses
when two do; `folders` (the `discover.categories` map) is the fallback when none does.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Protocol

from dfdx import plugins
from dfdx.config import Config
from dfdx.datasets.discover import Catalog, dataset_root, sample_per_category
from dfdx.errors import UsageError

log = logging.getLogger(__name__)
FALLBACK = "folders"


class Profile(Protocol):
    def __init__(self, cfg: Config) -> None: ...

    def detect(self, root: Path) -> str | None:
        """Why the tree under `root` looks like this profile's dataset (e.g. "found 'Celeb-synthesis'"),
        or None. Cheap: folder names only."""
        ...

    def discover(self, root: Path) -> Catalog:
        """Every video under `root` that the profile can label (sorted by relative path), and the video
        files it found but cannot label. Malformed label or split files raise UsageError naming the file."""
        ...

    def label(self, rel: str) -> str | None:
        """The category of a video at this relative path, from the path alone (the download listing has
        no files yet); None when the path does not say."""
        ...


def choose_profile(cfg: Config, root: Path) -> tuple[str, str]:
    """(profile name, why) for this config and tree: the configured one, or auto-detection."""
    if cfg.dataset.profile != "auto":
        return cfg.dataset.profile, "set by dataset.profile"
    fits = {}
    for name in plugins.PROFILES:
        if name != FALLBACK and (why := plugins.load("dataset.profile", name)(cfg).detect(root)):
            fits[name] = why
    if len(fits) > 1:
        reasons = "; ".join(f"{name}: {why}" for name, why in fits.items())
        raise UsageError(f"the dataset under {str(root)!r} fits several profiles ({reasons}): choose one with "
                         f"--profile / dataset.profile ({', '.join(plugins.PROFILES)})")  # fmt: skip
    if fits:
        name, why = fits.popitem()
        return name, why
    why = plugins.load("dataset.profile", FALLBACK)(cfg).detect(root)
    if why:
        return FALLBACK, f"no dataset-specific layout found; {why}"
    raise UsageError(f"no dataset profile fits the tree under {str(root)!r}: none of DFD's, FaceForensics++'s, "
                     f"Celeb-DF's or DFDC's folders, and none of discover.categories "
                     f"({', '.join(cfg.discover.categories)}); set --profile, or map your folders with "
                     "discover.categories")  # fmt: skip


def open_profile(cfg: Config, root: Path | None = None) -> Profile:
    """The profile for this config (auto-detected from `root` when dataset.profile is auto)."""
    name = cfg.dataset.profile
    if name == "auto":
        name, _ = choose_profile(cfg, dataset_root(root if root is not None else cfg.dataset_path))
    profile: Profile = plugins.load("dataset.profile", name)(cfg)
    return profile


def select_videos(cfg: Config, announce: bool = False) -> Catalog:
    """What a run works on: every video the dataset's profile labels, or the seeded `max_videos` sample
    of them per category, and the files it could not label. `announce` prints which profile and why."""
    root = dataset_root(cfg.dataset_path)
    name, why = choose_profile(cfg, root)
    message = f"dataset profile: {name} ({why})"
    log.info("%s", message)
    if announce:
        print(f"[dfdx] {message}", file=sys.stderr, flush=True)
    catalog = plugins.load("dataset.profile", name)(cfg).discover(root)
    if not catalog.videos and not catalog.unlabelled:
        folders = ", ".join(cfg.discover.categories)
        raise UsageError(
            f"no videos found under {cfg.dataset_path!r} with profile {name}: expected "
            f"{'/'.join(cfg.discover.extensions)} files in that dataset's folders (for `folders`: folders named "
            f"{folders}, config key discover.categories)"
        )
    return Catalog(sample_per_category(catalog.videos, cfg.max_videos, cfg.seed), catalog.unlabelled)
