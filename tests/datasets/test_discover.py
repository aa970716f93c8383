"""Discovery: DFD's inconsistent folder names at any depth, stable ids, links, seeded samples."""

from __future__ import annotations

import hashlib
import os
import unicodedata

from dfdx.config import DiscoverConfig
from dfdx.datasets.discover import Video, safe_name, sample_per_category, video_hash
from dfdx.datasets.profiles.folders import category_of, discover

CATS = DiscoverConfig().categories


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_loose_folder_names_at_any_depth(tmp_path):
    fake = "dfd-manipulated-sequences/DFD_manipulated_sequences/x/01_02__a__ID.MP4"
    for rel in ["DFD_original sequences/01__a.mp4", fake, "DFD_original_sequences/readme.txt", "other/02__b.mp4",
                "DFD_original_sequences/c.mkv"]:  # fmt: skip
        touch(tmp_path / rel)
    videos = discover(tmp_path, DiscoverConfig())
    assert [(v.rel, v.category) for v in videos] == [
        ("DFD_original sequences/01__a.mp4", "real"),
        (fake, "ai"),
    ]
    more = discover(tmp_path, DiscoverConfig(extensions=(".mp4", ".mkv")))
    assert "DFD_original_sequences/c.mkv" in [v.rel for v in more]


def test_other_layouts_by_config(tmp_path):
    touch(tmp_path / "Celeb-synthesis/id0_id1_0000.mp4")
    touch(tmp_path / "Celeb-real/id0_0000.mp4")
    cfg = DiscoverConfig(categories={"Celeb-synthesis": "ai", "Celeb-real": "real"})
    assert [v.category for v in discover(tmp_path, cfg)] == ["real", "ai"]
    assert category_of("a/Celeb_Real/b/x.mp4", cfg.categories) == "real"


def test_ids_names_and_unicode_forms(tmp_path):
    nfc = unicodedata.normalize("NFC", "DFD_original_sequences/é.mp4")
    nfd = unicodedata.normalize("NFD", nfc)
    touch(tmp_path / nfc)
    touch(tmp_path / nfd)
    videos = discover(tmp_path, DiscoverConfig())
    assert len({v.video_id for v in videos}) == 2  # same-looking names never collide
    assert video_hash(nfc) == hashlib.sha256(nfc.encode()).hexdigest()[:8]
    assert safe_name("a b'c\n%d:-x") == "a_b_c_d_-x"
    assert len(safe_name("x" * 300)) == 80


def test_symlinks_are_followed_and_loops_visited_once(tmp_path):
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"x")
    root = tmp_path / "root"
    touch(root / "DFD_original_sequences/01__a.mp4")
    os.symlink(outside, root / "DFD_original_sequences/02__link.mp4")
    os.symlink(root / "DFD_original_sequences", root / "DFD_original_sequences/loop")
    rels = [v.rel for v in discover(root, DiscoverConfig())]
    assert rels == ["DFD_original_sequences/01__a.mp4", "DFD_original_sequences/02__link.mp4"]
    assert [v.rel for v in discover(root, DiscoverConfig(follow_symlinks=False))] == rels[:1]


def test_sample_is_stable_and_grows():
    videos = [Video(path=None, rel=f"r/{i}.mp4", category="ai" if i % 3 else "real") for i in range(60)]  # type: ignore[arg-type]
    five = sample_per_category(videos, 5, seed=0)
    assert five == sample_per_category(list(reversed(videos)), 5, seed=0)
    assert set(five) < set(sample_per_category(videos, 9, seed=0))
    assert five != sample_per_category(videos, 5, seed=1)
    assert sum(v.category == "real" for v in five) == 5 and len(five) == 10
    assert sample_per_category(videos, None, seed=0) == sorted(videos, key=lambda v: v.rel)
