"""The cluster side of the Ray driver (`dfdx.run.ray`): does an address answer, what to say when Ray refuses
to join, which nodes can run a task and how many CPUs a task takes, and does every node see the output
folder (a marker the driver writes, read back by a task pinned to each node; a node whose raylet is a
process of this machine in the driver's mount namespace needs no asking).
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfdx.config import Config
from dfdx.errors import ConfigError, SystemFault
from dfdx.files import write_text_atomic
from dfdx.layout import CLUSTER_MARKER_NAME
from dfdx.run.ray_task import node_sees

CONNECT_TIMEOUT_S = 5.0  # Ray itself waits ~35 s on an address that does not answer: ask first
NODE_CHECK_TIMEOUT_S = 120.0
MAX_RETRIES = 3  # reruns of a task whose worker or node died (Ray's default; a user error is never retried)


def require_reachable(address: str) -> None:
    """Fail in seconds, with a message, when nothing answers at host:port."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"config key 'run.ray.address': {address!r} is not host:port, 'auto' or ray://host:port")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SystemFault(f"the Ray cluster at {address!r} does not answer ({reason}): start it with "
                          "`ray start --head` on its head node, or fix run.ray.address") from None  # fmt: skip


def auth_hint(address: str | None, env: Mapping[str, str]) -> str:
    """What to try when joining a cluster failed and token authentication may be why: a cluster started by
    `ray start` where `~/.ray/auth_token` exists wants every driver to present that token (with `auto`, on the
    head node, Ray finds it by itself)."""
    if address is None or address == "auto" or env.get("RAY_AUTH_MODE", "").lower() == "token":
        return ""
    return ("; if the cluster uses token authentication, set RAY_AUTH_MODE=token, and RAY_AUTH_TOKEN to the "
            "token (`ray get-auth-token` on its head node) unless ~/.ray/auth_token here holds it")


def task_cpus(cfg: Config, nodes: list[dict[str, Any]], by_part: bool = False) -> tuple[str, int]:
    """The CPUs each task reserves, and the config key that says so: `run.ray.cpus_per_task` for a shard;
    for a DFDC part `run.ray.cpus_per_part`, by default the CPUs of the smallest node, so that a node runs
    one part at a time and needs disk for about one part."""
    if not by_part:
        return "run.ray.cpus_per_task", cfg.run.ray.cpus_per_task
    smallest = min((int(n["Resources"]["CPU"]) for n in nodes), default=1)
    return "run.ray.cpus_per_part", cfg.run.ray.cpus_per_part or max(1, smallest)


def worker_nodes(ray: Any) -> list[dict[str, Any]]:
    """The live nodes that can run a shard (a head started with --num-cpus 0 cannot)."""
    return [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]


def check_shared_folder(ray: Any, out: Path, dataset_root: Path) -> None:
    """Every node that may run a shard must see this output folder (a marker with a fresh token, read by
    a task pinned to each node) and the dataset folder, at the same paths. A node whose raylet runs here,
    in this process's mount namespace and root, sees them as the driver does (`nodes_seeing_as_we_do`): it
    is not asked, which spares a run on one machine a Ray worker's start before any work."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = worker_nodes(ray)
    ours = nodes_seeing_as_we_do({n["NodeID"] for n in nodes})
    nodes = [n for n in nodes if n["NodeID"] not in ours]
    if not nodes:
        return
    token = uuid.uuid4().hex
    marker = out / CLUSTER_MARKER_NAME
    write_text_atomic(marker, token)
    check = ray.remote(num_cpus=0, max_retries=MAX_RETRIES)(node_sees)
    try:
        refs = [check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(out), str(dataset_root)) for n in nodes]  # fmt: skip
        seen = ray.get(refs, timeout=NODE_CHECK_TIMEOUT_S)
    except Exception as exc:
        raise SystemFault(f"could not check that every Ray node sees {str(out)!r}: {short_error(exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            marker.unlink()
    blind = [f"{n['NodeManagerAddress']} (node {n['NodeID'][:8]}): {why}"
             for n, (text, has_dataset) in zip(nodes, seen, strict=True)
             for why in [_blind_reason(text, token, has_dataset, out, dataset_root)] if why]  # fmt: skip
    if blind:
        raise SystemFault("the output folder must be one folder every node sees at the same path (a shared "
                          "filesystem such as NFS); " + "; ".join(blind))  # fmt: skip


def nodes_seeing_as_we_do(node_ids: set[str]) -> set[str]:
    """Of these Ray nodes, those whose raylet is a process of this machine (found in /proc by its `--node_id`)
    in this process's mount namespace and with its root: their workers, the raylet's children, resolve every
    path exactly as the driver does. Any doubt (another PID namespace hides the raylet, a process we may not
    inspect, no /proc) leaves a node out, to the marker check."""
    proc = Path("/proc")
    try:
        mount_ns, root = os.readlink(proc / "self/ns/mnt"), os.stat(proc / "self/root")
        pids = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        return set()
    found: set[str] = set()
    for pid in pids:
        try:
            argv = (proc / pid / "cmdline").read_bytes().split(b"\0")
            if not argv[0].endswith(b"raylet"):
                continue
            named = {a.removeprefix(b"--node_id=").decode() for a in argv if a.startswith(b"--node_id=")} & node_ids
            same_view = os.readlink(proc / pid / "ns/mnt") == mount_ns and os.path.samestat(
                os.stat(proc / pid / "root"), root)  # fmt: skip
        except (OSError, UnicodeDecodeError):  # gone since, or not ours to inspect
            continue
        if len(named) == 1 and same_view:
            found |= named
    return found


def _blind_reason(text: str | None, token: str, has_dataset: bool, out: Path, root: Path) -> str:
    if text != token:
        return f"sees another folder at {str(out)!r} (the driver's marker is not there)"
    if not has_dataset:
        return f"does not see the dataset folder {str(root)!r}"
    return ""


def short_error(exc: BaseException) -> str:
    """A Ray error's first line (its full text repeats the remote traceback)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
