"""`profile: celebdf`: Celeb-DF v2 (repo yuezunli/celeb-deepfakeforensics).

`Celeb-real/id{N}_{NNNN}.mp4` (celebrity N), `YouTube-real/{NNNNN}.mp4` (people not otherwise named: each
video is its own identity), `Celeb-synthesis/id{T}_id{S}_{NNNN}.mp4` (video id{T}_{NNNN} with celebrity S's
face: both are in it, and that real video is its original), and `List_of_testing_videos.txt`, lines
`{label} {relpath}` with 1 = real, 0 = fake: the official test set. The folder decides a video's
category; a list label that disagrees is reported (a warning, and a note in the video's ledger line).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path, PurePosixPath

from dfdx.config import Config
from dfdx.datasets.discover import Catalog, Labels, Video, dataset_root, is_video_name, video_files
from dfdx.datasets.profiles.dfd import ORIGINAL
from dfdx.datasets.profiles.tree import fold, folder_names
from dfdx.errors import UsageError
from dfdx.layout import FAKE, REAL

log = logging.getLogger(__name__)

FOLDERS = {"Celeb-real": REAL, "YouTube-real": REAL, "Celeb-synthesis": FAKE}
TEST_LIST = "List_of_testing_videos.txt"
LIST_LABELS = {"1": REAL, "0": FAKE}
METHOD = "Celeb-synthesis"
_REAL = re.compile(r"^(?P<id>id\d+)_(?P<n>\d+)$")
_FAKE = re.compile(r"^(?P<target>id\d+)_(?P<source>id\d+)_(?P<n>\d+)$")


class CelebDfProfile:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def detect(self, root: Path) -> str | None:
        names = folder_names(root)
        for folder in ("Celeb-synthesis", "Celeb-real"):
            if fold(folder) in names:
                return f"found {names[fold(folder)]!r} (Celeb-DF)"
        return None

    def discover(self, root: Path) -> Catalog:
        root = dataset_root(root)
        videos = []
        lists: dict[str, dict[str, str]] = {}
        for rel in video_files(root, self.cfg.discover.extensions, self.cfg.discover.follow_symlinks):
            place = self._place(rel)
            if place is None:
                continue
            base = place[0]
            if base not in lists:
                lists[base] = read_test_list(root / base / TEST_LIST)
            videos.append(self._video(root, rel, lists[base]))
        return Catalog(sorted(videos, key=lambda v: v.rel))

    def label(self, rel: str) -> str | None:
        place = self._place(rel) if is_video_name(rel, self.cfg.discover.extensions) else None
        return FOLDERS[place[1]] if place is not None else None

    @staticmethod
    def _place(rel: str) -> tuple[str, str, str] | None:
        """(dataset folder relative to the root, Celeb-DF folder, path from the dataset folder) or None."""
        parts = PurePosixPath(rel).parts
        if len(parts) < 2:
            return None
        for name in FOLDERS:
            if fold(parts[-2]) == fold(name):
                return "/".join(parts[:-2]), name, f"{name}/{parts[-1]}"
        return None

    def _video(self, root: Path, rel: str, tests: dict[str, str]) -> Video:
        base, folder, listed = self._place(rel) or ("", "", "")
        category = FOLDERS[folder]
        stem = PurePosixPath(rel).stem
        note = None
        listed_as = tests.get(listed)
        if listed_as is not None and listed_as != category:
            note = f"{TEST_LIST} labels it {listed_as}, its folder {folder} says {category}"
            log.warning("%s: %s; the folder wins", rel, note)
        official = "test" if listed_as is not None else None
        prefix = f"{base}/" if base else ""
        if folder == "Celeb-synthesis" and (m := _FAKE.match(stem)):
            labels = Labels(method=METHOD, group=(m["target"], m["source"]), official_split=official,
                            original=(f"{prefix}Celeb-real/{m['target']}_{m['n']}.mp4",), note=note)  # fmt: skip
        elif folder == "Celeb-real" and (m := _REAL.match(stem)):
            labels = Labels(method=ORIGINAL, group=(m["id"],), official_split=official, note=note)
        else:  # YouTube-real, or a name outside the pattern: the video is its own identity
            labels = Labels(method=METHOD if category == FAKE else ORIGINAL, group=(f"{folder}/{stem}",),
                            official_split=official, note=note)  # fmt: skip
        return Video(root / rel, rel, category, labels)


def read_test_list(path: Path) -> dict[str, str]:
    """`{1|0} {relpath}` per line → relpath → category; a malformed line is an error naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{str(path)!r} cannot be read: {exc}") from None
    labels: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[0] not in LIST_LABELS:
            raise UsageError(f"{str(path)!r} line {number}: {line.strip()[:80]!r} is not '<1|0> <relative path>' "
                             "(1 = real, 0 = fake)")  # fmt: skip
        labels[fields[1]] = LIST_LABELS[fields[0]]
    return labels
