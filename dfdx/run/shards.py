"""Which shard (Ray task) does a video belong to: pure, deterministic, tested without Ray.

A video's shard is a stable hash of its relative path (the same one the video id uses), so the same
videos make the same shards on every run and every machine, whatever order the files were listed in;
a retried shard therefore retries exactly its own videos. A DFDC clip's shard is its part instead (the
dataset's own unit: a fake sits in its original's part), so `dfdx extract --runner ray` on unpacked parts
writes the same per-part ledgers as `dfdx run --profile dfdc` part by part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from dfdx.datasets.discover import Video

SHARDS_PER_SLOT = 4  # tasks per task the cluster runs at once: small tasks even out a slow node's tail


def shard_of(rel: str, shards: int) -> int:
    """The shard of a video: SHA-256 of its relative path (UTF-8, undecodable bytes kept) modulo `shards`."""
    digest = hashlib.sha256(rel.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def shard_count(requested: int | None, cluster_cpus: float, cpus_per_task: int, videos: int) -> int:
    """`run.ray.shards`, or a few per task slot of the cluster; never more shards than videos (an empty
    shard would be a task that does nothing), and at least one."""
    if requested is None:
        slots = max(1, int(cluster_cpus // cpus_per_task))
        requested = SHARDS_PER_SLOT * slots
    return max(1, min(requested, videos))


def make_shards(videos: Iterable[Video], shards: int) -> dict[int, list[Video]]:
    """Shard number → its videos, in the order given (the run's order); shards with no video are left out.
    Videos of a dataset with parts (DFDC) are sharded by part, whatever `shards` says."""
    out: dict[int, list[Video]] = {}
    for video in videos:
        part = video.labels.part
        out.setdefault(shard_of(video.rel, shards) if part is None else part, []).append(video)
    return dict(sorted(out.items()))


def largest_first(shards: Mapping[int, Sequence[Video]], sizes: Mapping[str, int]) -> list[int]:
    """The order to submit shards in: the most bytes of video first (ties by number), so that the small ones
    fill the task slots that free up near the end and the run's tail is short (a longest-first schedule;
    `sizes` from `dfdx.run.scheduler.file_sizes`, which orders the videos inside a task the same way)."""
    return sorted(shards, key=lambda shard: (-sum(sizes.get(v.rel, 0) for v in shards[shard]), shard))
