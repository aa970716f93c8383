"""`profile: ffpp`: FaceForensics++ (repo ondyari/FaceForensics, `dataset/README.md`).

`original_sequences/youtube/{raw,c23,c40}/videos/{NNN}.mp4` are the real videos; their fakes are
`manipulated_sequences/{Deepfakes,Face2Face,FaceSwap,NeuralTextures,FaceShifter}/{c}/videos/{target}_{source}.mp4`
(video `target` with the face of video `source`: both people are in it, both videos are its originals).
`original_sequences/actors` + `manipulated_sequences/DeepFakeDetection` are DFD (`dataset.methods`
including DeepFakeDetection takes them too, with DFD's naming).

The official split is the repo's `dataset/splits/{train,val,test}.json`, each a list of pairs `[a, b]`:
originals a and b and fakes a_b and b_a belong to that split. dfdx looks for them in `dataset.splits_dir`,
else beside the videos (the dataset root, or its `splits/` folder); without them official_split is null.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from dfdx.config import Config
from dfdx.datasets.discover import Catalog, Labels, Video, dataset_root, is_video_name, video_files
from dfdx.datasets.profiles.dfd import METHOD as DFD_METHOD
from dfdx.datasets.profiles.dfd import ORIGINAL, actors_of, ffpp_place
from dfdx.datasets.profiles.tree import fold, folder_names
from dfdx.errors import UsageError
from dfdx.layout import FAKE, REAL
from dfdx.layout import SPLIT_NAMES as SPLITS

FF_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")


class FfppProfile:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        known = (*FF_METHODS, DFD_METHOD)
        wanted = cfg.dataset.methods or FF_METHODS
        unknown = [m for m in wanted if m not in known]
        if unknown:
            raise UsageError(f"config key 'dataset.methods': {unknown[0]!r} is not a FaceForensics++ method; "
                             f"known: {', '.join(known)}")  # fmt: skip
        self.methods = {fold(m): m for m in wanted}
        self.official: dict[str, str] = {}

    def detect(self, root: Path) -> str | None:
        names = folder_names(root)
        for method in FF_METHODS:
            if fold(method) in names and fold("manipulated_sequences") in names:
                return f"found {names[fold(method)]!r} (a FaceForensics++ manipulation method)"
        if fold("youtube") in names and fold("original_sequences") in names:
            return f"found {names[fold('youtube')]!r} (FaceForensics++ originals)"
        return None

    def discover(self, root: Path) -> Catalog:
        root = dataset_root(root)
        rels = list(video_files(root, self.cfg.discover.extensions, self.cfg.discover.follow_symlinks))
        bases = {root / _base(rel) for rel in rels if ffpp_place(rel) is not None}
        self.official = read_official_splits(self._splits_dir(root, sorted(bases)))
        videos = [v for v in (self.video(root, rel) for rel in rels) if v is not None]
        return Catalog(sorted(videos, key=lambda v: v.rel))

    def label(self, rel: str) -> str | None:
        video = self.video(Path("/"), rel)
        return video.category if video is not None else None

    def video(self, root: Path, rel: str) -> Video | None:
        place = ffpp_place(rel)
        if place is None or not is_video_name(rel, self.cfg.discover.extensions):
            return None
        kind, where, compression = place
        wanted = self.cfg.dataset.compression
        if wanted is not None and compression != wanted:
            return None
        stem = PurePosixPath(rel).stem
        dfd = fold(DFD_METHOD) in self.methods
        if kind == "original" and fold(where) == "youtube":
            labels = Labels(method=ORIGINAL, compression=compression, group=(stem,),
                            official_split=self.official.get(stem))  # fmt: skip
            return Video(root / rel, rel, REAL, labels)
        if kind == "original" and fold(where) == "actors" and dfd:
            return Video(root / rel, rel, REAL, Labels(ORIGINAL, compression, actors_of(rel) or ()))
        method = self.methods.get(fold(where))
        if kind != "manipulated" or method is None:
            return None
        if method == DFD_METHOD:
            return Video(root / rel, rel, FAKE, Labels(method, compression, actors_of(rel) or ()))
        people = tuple(stem.split("_")) if stem.count("_") == 1 else (stem,)
        prefix = PurePosixPath(_base(rel))
        originals = tuple(str(prefix / "original_sequences" / "youtube" / compression / "videos" / f"{p}.mp4")
                          for p in people) if len(people) == 2 else ()  # fmt: skip
        labels = Labels(method=method, compression=compression, group=tuple(sorted(set(people))),
                        official_split=self.official.get(stem), original=originals)  # fmt: skip
        return Video(root / rel, rel, FAKE, labels)

    def _splits_dir(self, root: Path, bases: list[Path]) -> Path | None:
        """`dataset.splits_dir`, else the first of the dataset root, the FF++ folder(s) (that hold
        original_sequences) and their `splits/` sub-folders that has all three files."""
        if self.cfg.dataset.splits_dir is not None:
            folder = Path(self.cfg.dataset.splits_dir)
            if not folder.is_dir():
                raise UsageError(f"config key 'dataset.splits_dir': {str(folder)!r} is not a folder")
            return folder
        for folder in (root, root / "splits", *bases, *(b / "splits" for b in bases)):
            if all((folder / f"{s}.json").is_file() for s in SPLITS):
                return folder
        return None


def _base(rel: str) -> str:
    """The FF++ folder a video's path starts in (what precedes original_ or manipulated_sequences)."""
    parts = PurePosixPath(rel).parts
    return "/".join(parts[:-5]) if len(parts) > 5 else ""


def read_official_splits(folder: Path | None) -> dict[str, str]:
    """Video stem ("000", "000_003") → split, from train/val/test.json; every file's flaws are named."""
    if folder is None:
        return {}
    official: dict[str, str] = {}
    for split in SPLITS:
        path = folder / f"{split}.json"
        try:
            pairs = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"official split file {str(path)!r} is missing (FaceForensics++ has train.json, "
                             "val.json and test.json)") from None  # fmt: skip
        except (OSError, ValueError) as exc:
            raise UsageError(f"official split file {str(path)!r} is not valid JSON: {exc}") from None
        if not isinstance(pairs, list):
            raise UsageError(f"official split file {str(path)!r}: expected a list of pairs [a, b], got "
                             f"{type(pairs).__name__}")  # fmt: skip
        for n, pair in enumerate(pairs):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) and x for x in pair)):
                raise UsageError(f"official split file {str(path)!r}: item {n} is {pair!r}, not a pair [a, b] "
                                 "of video names")  # fmt: skip
            a, b = pair
            for stem in (a, b, f"{a}_{b}", f"{b}_{a}"):
                if official.setdefault(stem, split) != split:
                    raise UsageError(f"official split file {str(path)!r}: {stem!r} is already in "
                                     f"{official[stem]}.json")  # fmt: skip
    return official
