"""A real Ray cluster for the Ray runner's tests: two raylets on this machine, one CPU and a small object
store each, started once per session (about 6 s) and shared by every test that asks for it."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SMALL_STORE = 80 * 1024 * 1024  # the object store only carries shard jobs and summaries


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The cluster's address (host:port), for `--ray-address`; shut down at the end of the session."""
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args=dict(
        num_cpus=1, object_store_memory=SMALL_STORE, include_dashboard=False, gcs_server_port=free_port()))  # fmt: skip
    try:
        cluster.add_node(num_cpus=1, object_store_memory=SMALL_STORE)
        cluster.wait_for_nodes()
        yield str(cluster.address)
    finally:
        cluster.shutdown()
