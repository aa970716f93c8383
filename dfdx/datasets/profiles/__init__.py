"""Dataset profiles: where a dataset's videos are and what each one is (its category today; method,
compression, identities and official split as profiles learn them).

A profile is one module here with a class that meets `Profile`, registered in `dfdx.plugins.PROFILES`
under the name `dataset.profile` takes. Extraction, download and the reports only call `open_profile`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from dfdx import plugins
from dfdx.config import Config
from dfdx.datasets.discover import Video, dataset_root, sample_per_category
from dfdx.errors import UsageError


class Profile(Protocol):
    def __init__(self, cfg: Config) -> None: ...

    def discover(self, root: Path) -> list[Video]:
        """Every video under `root` that the profile can label, sorted by relative path."""
        ...

    def label(self, rel: str) -> str | None:
        """The category of a video at this relative path, from the path alone (the download listing has
        no files yet); None when the path is not one of the dataset's videos."""
        ...


def open_profile(cfg: Config) -> Profile:
    profile: Profile = plugins.load("dataset.profile", cfg.dataset.profile)(cfg)
    return profile


def select_videos(cfg: Config) -> list[Video]:
    """The videos a run works on: everything the dataset's profile finds, or the seeded `max_videos`
    sample of it."""
    videos = open_profile(cfg).discover(dataset_root(cfg.dataset_path))
    if not videos:
        folders = ", ".join(cfg.discover.categories)
        raise UsageError(
            f"no videos found under {cfg.dataset_path!r}: expected {'/'.join(cfg.discover.extensions)} "
            f"files inside folders named {folders} (config key discover.categories)"
        )
    return sample_per_category(videos, cfg.max_videos, cfg.seed)
