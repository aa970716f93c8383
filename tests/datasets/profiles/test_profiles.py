"""Each profile on a miniature copy of its dataset: which videos, which labels, which groups and splits,
and auto-detection saying which profile and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfdx.config import load_config
from dfdx.datasets.profiles import choose_profile, open_profile, select_videos
from dfdx.errors import UsageError
from tests.datasets.profiles.trees import celebdf_tree, dfd_tree, dfdc_tree, ffpp_tree, put

VIDEO = b"not decoded by discovery"


def catalog(root: Path, **overrides: object):
    cfg = load_config(None, {"dataset_path": str(root), **overrides})
    return select_videos(cfg)


def by_rel(cat) -> dict:
    return {v.rel: v for v in cat.videos}


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "src.mp4"
    path.write_bytes(VIDEO)
    return path


@pytest.mark.parametrize(("make", "name"), [(ffpp_tree, "ffpp"), (celebdf_tree, "celebdf"), (dfdc_tree, "dfdc"),
                                            (dfd_tree, "dfd")])  # fmt: skip
def test_auto_detects_each_layout_and_says_why(tmp_path, video, make, name):
    root = make(tmp_path / "d", video)
    chosen, why = choose_profile(load_config(None, {"dataset_path": str(root)}), root)
    assert chosen == name and "found" in why


def test_auto_refuses_two_fits_and_none(tmp_path, video):
    root = dfd_tree(celebdf_tree(tmp_path / "both", video), video)
    with pytest.raises(UsageError, match=r"fits several profiles \(.*celebdf.*dfd"):
        choose_profile(load_config(None), root)
    (tmp_path / "none" / "misc").mkdir(parents=True)
    with pytest.raises(UsageError, match="no dataset profile fits"):
        choose_profile(load_config(None), tmp_path / "none")
    mine = tmp_path / "mine"
    put(mine, "fakes/a.mp4", video)
    cfg = load_config(None, {"discover.categories": {"fakes": "ai"}})
    assert choose_profile(cfg, mine) == ("folders", "no dataset-specific layout found; found 'fakes', a folder of "
                                                    "discover.categories")  # fmt: skip


def test_ffpp_labels_methods_compression_groups_and_official_split(tmp_path, video):
    root = ffpp_tree(tmp_path / "d", video, compressions=("c23", "c40"))
    videos = by_rel(catalog(root))
    assert len(videos) == 6 + 2 * 3  # youtube originals and two methods' fakes, c23 only (the default)
    fake = videos["FaceForensics++/manipulated_sequences/Deepfakes/c23/videos/001_004.mp4"]
    assert (fake.category, fake.labels.method, fake.labels.compression) == ("ai", "Deepfakes", "c23")
    assert fake.labels.group == ("001", "004") and fake.labels.official_split == "val"
    assert fake.labels.original == ("FaceForensics++/original_sequences/youtube/c23/videos/001.mp4",
                                    "FaceForensics++/original_sequences/youtube/c23/videos/004.mp4")  # fmt: skip
    real = videos["FaceForensics++/original_sequences/youtube/c23/videos/005.mp4"]
    assert (real.category, real.labels.method, real.labels.group, real.labels.official_split) == (
        "real", "original", ("005",), "test")
    only = by_rel(catalog(root, **{"dataset.compression": "c40", "dataset.methods": ["Face2Face"]}))
    assert {v.labels.method for v in only.values()} == {"original", "Face2Face"}
    assert all(v.labels.compression == "c40" for v in only.values())
    dfd = by_rel(catalog(root, **{"dataset.methods": ["DeepFakeDetection"]}))
    actors = {v.rel.split("/")[-1]: v.labels.group for v in dfd.values() if "01_" in v.rel or "01__" in v.rel}
    assert actors == {"01__walk.mp4": ("01",), "01_02__walk__ABCDEFGH.mp4": ("01", "02")}
    with pytest.raises(UsageError, match="'Deepfake' is not a FaceForensics\\+\\+ method"):
        catalog(root, **{"dataset.methods": ["Deepfake"]})


@pytest.mark.parametrize(("content", "message"), [
    ("[[\"000\", \"003\"", "is not valid JSON"),
    ("{\"a\": 1}", "expected a list of pairs"),
    ("[[\"000\"]]", "item 0 is \\['000'\\], not a pair"),
    ("[[\"001\", \"004\"]]", "'001' is already in val.json"),
])  # fmt: skip
def test_ffpp_bad_split_files_name_the_file(tmp_path, video, content, message):
    root = ffpp_tree(tmp_path / "d", video)
    (root / "FaceForensics++" / "test.json").write_text(content)
    with pytest.raises(UsageError, match=message) as err:
        catalog(root)
    assert "test.json" in str(err.value)


def test_celebdf_labels_groups_official_test_and_disagreements(tmp_path, video, caplog):
    root = celebdf_tree(tmp_path / "d", video)
    (root / "Celeb-DF-v2" / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00170.mp4\n1 Celeb-synthesis/id1_id0_0001.mp4\n")  # the second label is wrong
    videos = by_rel(catalog(root))
    fake = videos["Celeb-DF-v2/Celeb-synthesis/id1_id0_0001.mp4"]
    assert (fake.category, fake.labels.method, fake.labels.group) == ("ai", "Celeb-synthesis", ("id1", "id0"))
    assert fake.labels.original == ("Celeb-DF-v2/Celeb-real/id1_0001.mp4",) and fake.labels.official_split == "test"
    assert "labels it real, its folder Celeb-synthesis says ai" in (fake.labels.note or "")
    assert "the folder wins" in caplog.text
    youtube = videos["Celeb-DF-v2/YouTube-real/00170.mp4"]
    assert (youtube.category, youtube.labels.official_split, youtube.labels.note) == ("real", "test", None)
    assert videos["Celeb-DF-v2/Celeb-real/id0_0000.mp4"].labels.group == ("id0",)
    assert videos["Celeb-DF-v2/Celeb-real/id0_0000.mp4"].labels.official_split is None
    (root / "Celeb-DF-v2" / "List_of_testing_videos.txt").write_text("1 YouTube-real/00170.mp4\n2 x.mp4\n")
    with pytest.raises(UsageError, match=r"List_of_testing_videos.txt' line 2: '2 x.mp4' is not"):
        catalog(root)


def test_dfdc_labels_from_metadata_groups_parts_and_unlabelled(tmp_path, video):
    root = dfdc_tree(tmp_path / "d", video)
    found = catalog(root)
    videos = by_rel(found)
    names = ((0, "aaa"), (0, "bbb"), (1, "ccc"), (1, "ddd"))
    assert sorted(videos) == [f"dfdc_train_part_{p}/{n}.mp4" for p, n in names]
    fake = videos["dfdc_train_part_1/ddd.mp4"]
    assert (fake.category, fake.labels.group, fake.labels.part) == ("ai", ("ccc",), 1)
    assert fake.labels.original == ("dfdc_train_part_1/ccc.mp4",)
    assert videos["dfdc_train_part_1/ccc.mp4"].labels.group == ("ccc",)  # a fake shares its original's group
    assert [(u.rel, u.reason) for u in found.unlabelled] == [
        ("dfdc_train_part_1/zzz.mp4", "dfdc_train_part_1/metadata.json does not name it")]


@pytest.mark.parametrize(("metadata", "message"), [
    ("{not json", "is not valid JSON"),
    ("[]", "expected an object of clips, got list"),
    ("{\"aaa.mp4\": {\"split\": \"train\"}}", "entry 'aaa.mp4' has no label"),
    ("{\"aaa.mp4\": {\"label\": \"MAYBE\"}}", "entry 'aaa.mp4' has the label 'MAYBE', which dfdx does not know"),
])  # fmt: skip
def test_dfdc_bad_metadata_names_the_file(tmp_path, video, metadata, message):
    root = dfdc_tree(tmp_path / "d", video)
    (root / "dfdc_train_part_0" / "metadata.json").write_text(metadata)
    with pytest.raises(UsageError, match=message) as err:
        catalog(root)
    assert "dfdc_train_part_0/metadata.json" in str(err.value)


def test_dfd_kaggle_layout_keeps_todays_videos_and_adds_actors(tmp_path, video):
    root = dfd_tree(tmp_path / "d", video)
    videos = by_rel(catalog(root))
    fake = videos["DFD_manipulated_sequences/DFD_manipulated_sequences/01_02__kitchen__ABCDEFGH.mp4"]
    assert (fake.category, fake.labels.method, fake.labels.group, fake.labels.compression) == (
        "ai", "DeepFakeDetection", ("01", "02"), None)
    assert videos["DFD_original_sequences/02__kitchen.mp4"].labels.method == "original"
    assert open_profile(load_config(None, {"dataset_path": str(root)})).label("DFD_original sequences/x.mp4") == "real"


def test_download_listing_labels_paths_with_the_profile_that_fits(tmp_path):
    from dfdx.datasets.kaggle import RemoteFile
    from dfdx.datasets.listing import listed_videos

    files = [RemoteFile(name, 10) for name in ("Celeb-real/id0_0000.mp4", "Celeb-synthesis/id0_id1_0000.mp4",
                                                   "List_of_testing_videos.txt")]  # fmt: skip
    cfg = load_config(None, {"download.download_dir": str(tmp_path)})
    assert [(v.rel, v.category) for v in listed_videos(files, cfg)] == [
        ("Celeb-real/id0_0000.mp4", "real"), ("Celeb-synthesis/id0_id1_0000.mp4", "ai")]
