"""Sharding is pure and stable: the same videos make the same shards on every run, in any order."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from dfdx.datasets.discover import Labels, Video
from dfdx.run.shards import SHARDS_PER_SLOT, largest_first, make_shards, shard_count, shard_of


def video(rel: str) -> Video:
    return Video(path=Path("/data") / rel, rel=rel, category="ai")


def test_shard_of_is_sha256_of_the_relative_path():
    rel = "DFD_manipulated_sequences/01_02__exit__AAAA.mp4"
    assert shard_of(rel, 7) == int.from_bytes(hashlib.sha256(rel.encode()).digest()[:8], "big") % 7
    assert shard_of("x.mp4", 1) == 0


@given(rels=st.lists(st.text(min_size=1, max_size=20), unique=True, max_size=40), shards=st.integers(1, 9),
       data=st.data())  # fmt: skip
def test_shards_do_not_depend_on_listing_order_and_lose_nothing(rels, shards, data):
    videos = [video(r) for r in rels]
    shuffled = data.draw(st.permutations(videos))
    a, b = make_shards(videos, shards), make_shards(shuffled, shards)
    assert {k: set(v) for k, v in a.items()} == {k: set(v) for k, v in b.items()}
    assert sorted(v.rel for vs in a.values() for v in vs) == sorted(rels)
    assert all(vs and 0 <= k < shards for k, vs in a.items())
    assert all(shard_of(v.rel, shards) == k for k, vs in a.items() for v in vs)


def test_dfdc_clips_are_sharded_by_their_part():
    clips = [Video(path=Path("/d") / rel, rel=rel, category="ai", labels=Labels(part=int(rel.split("_")[3][0])))
             for rel in ("dfdc_train_part_3/a.mp4", "dfdc_train_part_0/b.mp4", "dfdc_train_part_3/c.mp4")]  # fmt: skip

    shards = make_shards(clips, 2)

    assert {k: [v.rel for v in vs] for k, vs in shards.items()} == {
        0: ["dfdc_train_part_0/b.mp4"], 3: ["dfdc_train_part_3/a.mp4", "dfdc_train_part_3/c.mp4"]}  # fmt: skip


def test_an_undecodable_name_has_a_shard():
    assert 0 <= shard_of("bad-\udcff.mp4", 5) < 5


def test_shard_count():
    assert shard_count(None, cluster_cpus=16, cpus_per_task=2, videos=10_000) == SHARDS_PER_SLOT * 8
    assert shard_count(None, cluster_cpus=16, cpus_per_task=2, videos=5) == 5  # never an empty task
    assert shard_count(None, cluster_cpus=1, cpus_per_task=4, videos=100) == SHARDS_PER_SLOT  # one slot at least
    assert shard_count(50, cluster_cpus=2, cpus_per_task=1, videos=100) == 50
    assert shard_count(3, cluster_cpus=2, cpus_per_task=1, videos=0) == 1


def test_the_heaviest_shards_are_submitted_first_ties_by_number():
    def videos(*sizes: int) -> list[Video]:
        return [Video(Path(f"/d/{size}-{i}.mp4"), f"{size}-{i}.mp4", "real") for i, size in enumerate(sizes)]

    shards = {0: videos(10), 3: videos(1, 2), 5: videos(1, 1), 7: videos(2, 1), 9: videos(9)}
    sizes = {v.rel: int(v.rel.split("-")[0]) for vs in shards.values() for v in vs}
    # bytes, not counts: shard 0's one large video outweighs shard 7's two small ones
    assert largest_first(shards, sizes) == [0, 9, 3, 7, 5]
