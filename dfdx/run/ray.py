"""`run.runner: ray`: the same extraction over a Ray cluster, sharded, resumable.

The driver does what the local runner does before any work (select the videos, resolve the settings,
fold every ledger, apply the resume rule), then cuts what is left into shards by a stable hash of each
video's path (`dfdx.run.shards`) and submits one plain `@ray.remote` task per shard
(`dfdx.run.ray_task.run_shard`: the local `Scheduler` and `extract_video` on the node, appending to
the shard's own ledger). Ray retries a shard whose worker died (`max_retries`); the retry skips what
its ledger already holds. The driver shows one progress bar for the whole cluster by following the
shard ledgers on the shared folder, and writes the report from the folded ledgers at the end.

Why plain tasks and not Ray Data: a shard is a unit that resumes by its own ledger, a video's failure
is data, and Ray Data's `map_batches` aborts a run on the first failed block. Why the ledgers and not
task results for progress: they are the truth the report is built from, and they survive the driver.

The output folder (and the dataset) must be one folder every node sees at the same path; the driver
checks it before any work: it writes a marker, a task on each node reads it back (a node whose raylet is a
process of this machine in the driver's mount namespace needs no asking).

Where the time goes on one machine (`benchmarks/ray_bench.py`): importing Ray (done in a thread, started
before the driver selects the videos; the DFDC modules and the Kaggle client are imported only for a DFDC
run), joining, a Ray worker's start per task slot (importing Ray and dfdx), and `ray.shutdown` at the end
(beside the report); about 1.1 s a run here, whatever its size. The shards with the most bytes go first, so
the run's tail is one small shard (the videos inside a task go largest first too).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import json
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dfdx.children import require_tools
from dfdx.config import Config
from dfdx.datasets.discover import Catalog
from dfdx.datasets.profiles import select_videos
from dfdx.errors import ConfigError, SystemFault, UsageError
from dfdx.extract.positions import balance_note
from dfdx.extract.settings import ExtractSettings, resolve_settings, tool_versions_soon
from dfdx.extract.video import Tools
from dfdx.files import check_writable, remove_temp_files
from dfdx.layout import SHARD_LEDGER_GLOB
from dfdx.ledger import LedgerEntry
from dfdx.lock import OutputLock
from dfdx.progress import Progress
from dfdx.run import RunStats, ShardSummary
from dfdx.run.console import file_logging
from dfdx.run.local import write_reports
from dfdx.run.ray_cluster import (
    MAX_RETRIES,
    auth_hint,
    check_shared_folder,
    require_reachable,
    short_error,
    task_cpus,
    worker_nodes,
)
from dfdx.run.ray_task import ShardJob, run_shard
from dfdx.run.resume import append_notes, fold_ledgers, prepare
from dfdx.run.scheduler import file_sizes
from dfdx.run.shards import largest_first, make_shards, shard_count

if TYPE_CHECKING:
    from dfdx.run.parts import PartJob

log = logging.getLogger("dfdx")

RAY_INSTALL_HINT = "pip install 'dfdx[ray]' (or run with --runner local)"
LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024  # a Ray started here: only jobs and summaries cross it, not frames
POLL_S = 0.5


def require_ray() -> None:
    """Ray is installed (said before any work; importing it takes a while, and happens alongside the driver's own
    work)."""
    if importlib.util.find_spec("ray") is None:
        raise UsageError(f"run.runner 'ray' needs Ray, which is not installed: {RAY_INSTALL_HINT}")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"run.runner 'ray' needs Ray, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


class RayRunner:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.out = Path(cfg.output_dir).absolute()
        self.stats = RunStats()
        self.ray: Any = None
        self.refs: dict[Any, int] = {}  # ObjectRef → shard (or DFDC part)
        self.unpacking: dict[int, PartJob] = {}  # DFDC parts whose clips the progress bar does not count yet
        self.stopping = False
        self._owns_connection = False
        self.by_part = False  # DFDC part by part: a task per part (`run.ray.cpus_per_part`), not per shard
        self.cpus = 1  # CPUs (and ffmpeg children) of each task

    async def run(self) -> RunStats:
        cfg = self.cfg
        catalog = Catalog([])

        async def prepare_run() -> ExtractSettings:
            nonlocal catalog
            require_tools("ffmpeg", "ffprobe")  # the driver records their versions; the nodes need them too
            versions = tool_versions_soon()
            catalog = select_videos(cfg, announce=not cfg.quiet)
            per_category = Counter(v.category for v in catalog.videos)
            settings = resolve_settings(cfg, per_category, versions=await versions)
            await Tools.open(settings).close()  # a missing extra is a usage error here, not a failure on every node
            if cfg.extract.balance and not cfg.quiet:
                print(f"[dfdx] {balance_note(settings.positions, per_category)}", file=sys.stderr)
            return settings

        async def submit_shards(settings: ExtractSettings, progress: Progress) -> Mapping[str, LedgerEntry]:
            videos = catalog.videos
            prep = prepare(self.out, catalog, settings.params, cfg.extract, settings.run_id)
            state, todo = prep.state, prep.todo
            await append_notes(self.out, prep.notes)
            self.stats.planned, self.stats.skipped = len(todo), len(videos) - len(todo)
            progress.grow(len(todo))
            cpus = self.cpus
            shards = make_shards(todo, shard_count(cfg.run.ray.shards, self.ray.cluster_resources().get("CPU", 1),
                                                   cpus, len(todo)))  # fmt: skip
            log.info("run %s: %d videos selected, %d already done, %d to do in %d shards on %d node(s)",
                     settings.run_id, len(videos), self.stats.skipped, len(todo), len(shards),
                     len(worker_nodes(self.ray)))  # fmt: skip
            for category in {v.category for v in todo}:
                (self.out / category).mkdir(parents=True, exist_ok=True)
            task_settings = dataclasses.replace(settings, workers=cpus, threads=1)
            task = self.ray.remote(num_cpus=cpus, max_retries=MAX_RETRIES)(run_shard)
            sizes = await asyncio.to_thread(file_sizes, todo)
            for shard in largest_first(shards, sizes):
                if self.stopping:
                    break
                shard_videos = shards[shard]
                previous = {v.rel: state[v.rel] for v in shard_videos if v.rel in state and state[v.rel].frames}
                self.refs[task.remote(ShardJob(shard, tuple(shard_videos), previous, task_settings))] = shard
            return state

        return await self._drive(prepare_run, submit_shards)

    async def run_parts(self, extract: bool = True) -> RunStats:
        """DFDC part by part (`dfdx.run.parts`): one task per part, on whichever node is free."""
        from dfdx.run.parts import parts_settings, plan_parts, run_part  # the Kaggle client: only for DFDC

        cfg = self.cfg

        async def prepare_parts() -> ExtractSettings:
            require_tools("ffmpeg", "ffprobe")
            return await parts_settings(cfg)

        async def submit_parts(settings: ExtractSettings, progress: Progress) -> Mapping[str, LedgerEntry]:
            state = fold_ledgers(self.out) if cfg.extract.resume else {}
            cpus = self.cpus
            plan = await plan_parts(cfg, dataclasses.replace(settings, workers=cpus, threads=1), state, extract=extract)
            self.stats.skipped = plan.finished_videos
            log.info("run %s: %d DFDC parts, %d already extracted, %d to do on %d node(s)", settings.run_id,
                     plan.parts, plan.finished_parts, len(plan.jobs), len(worker_nodes(self.ray)))  # fmt: skip
            self.unpacking = {job.part.number: job for job in plan.jobs}
            task = self.ray.remote(num_cpus=cpus, max_retries=MAX_RETRIES)(run_part)
            for job in plan.jobs:
                if self.stopping:
                    break
                self.refs[task.remote(dataclasses.replace(job, show_progress=False))] = job.part.number
            return state

        self.by_part = True
        return await self._drive(prepare_parts, submit_parts, report=extract)

    async def _drive(self, prepare: Callable[[], Awaitable[ExtractSettings]],
                     submit: Callable[[ExtractSettings, Progress], Awaitable[Mapping[str, LedgerEntry]]],
                     report: bool = True) -> RunStats:  # fmt: skip
        """What both kinds of run share: join the cluster (in a thread, while `prepare` does the driver's own
        work), check it, take the output folder's lock, submit the tasks, follow them to the end, write the
        report."""
        require_ray()
        # Started now, not at `prepare`'s first await: the import of Ray (~0.2 s) then overlaps the discovery walk.
        connecting = asyncio.get_running_loop().run_in_executor(None, self._connect)
        try:
            settings = await prepare()
            await connecting
            await self._work(settings, submit, report)
        finally:
            await asyncio.wait([connecting])  # a thread cannot be cancelled: let Ray finish joining, then leave
            if not connecting.cancelled():
                connecting.exception()  # when `prepare` failed first, that error is the one to tell
            await asyncio.to_thread(self._disconnect)
        return self.stats

    async def _work(self, settings: ExtractSettings,
                    submit: Callable[[ExtractSettings, Progress], Awaitable[Mapping[str, LedgerEntry]]],
                    report: bool) -> None:  # fmt: skip
        cfg, ray = self.cfg, self.ray
        nodes = worker_nodes(ray)
        key, cpus = task_cpus(cfg, nodes, self.by_part)
        largest = max((n["Resources"]["CPU"] for n in nodes), default=0)
        if cpus > largest:  # Ray would keep such a task waiting for ever
            raise ConfigError(f"config key '{key}': {cpus} is more than any node of the cluster has "
                              f"({largest:g} CPUs)")  # fmt: skip
        self.cpus = cpus
        check_writable(self.out)
        with OutputLock(self.out), file_logging(self.out):
            await asyncio.to_thread(check_shared_folder, ray, self.out, settings.dataset_root)
            progress = Progress(0, enabled=not cfg.quiet)
            try:
                follow = ShardLedgers(self.out, settings.run_id)
                follow.previous = await submit(settings, progress)
                await self._watch(follow, progress)
            finally:
                progress.close()
                remove_temp_files(self.out)
            if self.stats.fault is None and self.stats.stopped_by is None and report:
                # Every task is done: leave Ray (~0.3 s, mostly its gRPC threads winding down) while the report,
                # which needs only the ledgers, is written.
                self.stats.report, _ = await asyncio.gather(
                    asyncio.to_thread(write_reports, self.out, cfg.report.html, settings.dataset_root),
                    asyncio.to_thread(self._disconnect))  # fmt: skip

    def _connect(self) -> None:
        """Import Ray and join the cluster (or start one); run in a thread, so Ray leaves the signal handlers of
        dfdx alone, and alongside the driver's own work."""
        self.ray = import_ray()
        # Without run.ray.address, Ray's own RAY_ADDRESS (set by `ray start` users, job submission) names the cluster.
        ray, address = self.ray, self.cfg.run.ray.address or os.environ.get("RAY_ADDRESS") or None
        logging.getLogger("ray").setLevel(logging.ERROR)  # Ray's start-up chatter; errors still show
        if ray.is_initialized():  # a notebook that connected already: use its cluster, leave it connected
            return
        options: dict[str, Any] = dict(log_to_driver=False, logging_level=logging.ERROR)
        if address is None:
            # "local": a new Ray for this run, even where `ray start` left one running (Ray would join it)
            options.update(address="local", num_cpus=self.cfg.workers, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                           include_dashboard=False)  # fmt: skip
        else:
            if "://" not in address and address != "auto":
                require_reachable(address)
            options.update(address=address)
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = "start Ray on this machine" if address is None else f"join the Ray cluster at {address!r}"
            raise SystemFault(f"cannot {where}: {exc}{auth_hint(address, os.environ)}") from None
        self._owns_connection = True

    def _disconnect(self) -> None:
        """Once (it may be called again from the run's end while a first call is under way)."""
        if self._owns_connection:
            self._owns_connection = False
            self.ray.shutdown()  # a Ray this driver started goes with it, workers and their children too

    async def _watch(self, follow: ShardLedgers, progress: Progress) -> None:
        """Until every shard is done: follow the shard ledgers (the bar, the counts, the failures) and
        collect each task's summary; a fault on any node stops the others."""
        waiting = {asyncio.wrap_future(ref.future()): ref for ref in self.refs}
        while waiting:
            done, _ = await asyncio.wait(waiting, timeout=POLL_S)
            self._grow(progress)
            self._count(follow.poll(), progress)
            for future in done:
                shard = self.refs[waiting.pop(future)]
                try:
                    summary: ShardSummary = future.result()
                except Exception as exc:
                    if not self.stopping:
                        self._fail(f"shard {shard} could not finish: {short_error(exc)}")
                    continue
                if summary.fault is not None:
                    self._fail(f"on {summary.host} (shard {shard}): {summary.fault}")
        self._count(follow.poll(), progress)

    def _grow(self, progress: Progress) -> None:
        """DFDC parts: a part's clips join the bar's total once its task has unpacked it."""
        if not self.unpacking:
            return
        from dfdx.datasets.parts import recorded_videos
        from dfdx.run.parts import finished

        for number, job in list(self.unpacking.items()):
            root, cfg = job.settings.dataset_root, self.cfg
            videos = recorded_videos(root, job.part, cfg.discover.extensions)
            if videos is not None:
                del self.unpacking[number]
                todo = sum(not finished(job.previous.get(v), job.settings) for v in videos) if job.extract else 0
                self.stats.planned += todo
                progress.grow(todo)

    def _count(self, entries: list[LedgerEntry], progress: Progress) -> None:
        for entry in entries:
            ok = entry.status == "ok"
            self.stats.ok += ok
            self.stats.failed += not ok
            self.stats.frames += len(entry.frames)
            self.stats.bytes += sum(f.bytes for f in entry.frames)
            progress.update(ok, len(entry.frames))
            if not ok:
                log.warning("failed: %s: %s", entry.video, entry.error, extra={"video_failure": True})

    def _fail(self, fault: str) -> None:
        if self.stats.fault is None:
            self.stats.fault = fault
        self._cancel_all()

    def _cancel_all(self) -> None:
        """Kill every shard still running (force: the worker dies, and its ffmpeg children with it)."""
        self.stopping = True
        for ref in list(self.refs):
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)

    def stop(self, sig: signal.Signals | None = None) -> None:
        if sig is not None and self.stats.stopped_by is None:
            self.stats.stopped_by = sig
        self._cancel_all()

    def abort(self) -> None:
        self._cancel_all()
        remove_temp_files(self.out)


class ShardLedgers:
    """The lines the shard tasks of one run append to their ledgers, read as they come (only whole
    lines; a line a killed worker left torn is never whole, and its video is redone by the retry)."""

    def __init__(self, out: Path, run_id: str) -> None:
        self.folder = out
        self.run_id = run_id
        self.offsets = {p: p.stat().st_size for p in self._files()}  # earlier runs' lines are not news
        self.seen: set[str] = set()
        self.previous: Mapping[str, LedgerEntry] = {}  # the videos' entries before this run

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob(SHARD_LEDGER_GLOB)) if self.folder.is_dir() else []

    def poll(self) -> list[LedgerEntry]:
        new: list[LedgerEntry] = []
        for path in self._files():
            start = self.offsets.get(path, 0)
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
            whole = data[: data.rfind(b"\n") + 1]
            self.offsets[path] = start + len(whole)
            for line in whole.splitlines():
                try:
                    entry = LedgerEntry.from_dict(json.loads(line))
                except (ValueError, TypeError, KeyError, AttributeError):
                    continue
                if entry.run_id == self.run_id and entry.video not in self.seen and self._is_work(entry):
                    self.seen.add(entry.video)
                    new.append(entry)
        return new


    def _is_work(self, entry: LedgerEntry) -> bool:
        """An extraction, not a note a DFDC part's task wrote first (a file its metadata does not label; a
        done clip whose labels changed, which keeps its earlier entry's start time)."""
        if entry.status not in ("ok", "failed"):
            return False
        before = self.previous.get(entry.video)
        return before is None or before.started_at != entry.started_at
