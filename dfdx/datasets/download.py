"""Kaggle → download dir with the official `kaggle` client: credentials, partial sample, resume, safe unpack.

Why it is built this way:
- The client itself is wrapped by `dfdx.datasets.kaggle` (quiet, one attempt per call, failures sorted);
  this module owns retries, backoff and `Retry-After` for every request, resuming through the client's
  Range support (`.kaggle-partial` marker), and turns what cannot be retried into one message.
- With `max_videos`, only the sampled videos are fetched, one file per request, instead of the 24 GB archive;
  the sample is `discover.sample_per_category` over the listing, the same one `dfdx extract` draws.
- A file appears under its final name only when complete (`<name>.part` until then), and each finished file
  is a line in `download_ledger.jsonl`; the ledger and the sizes on disk decide what a rerun skips.
- The archive is unpacked by this module, not by `zipfile.extractall`, which quietly rewrites `..` members
  and writes symlink members as files: a member that would escape is refused by name, before anything is
  written, and each member is written under a temporary name and renamed once zipfile has checked its CRC.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import logging
import os
import re
import shutil
import stat
import sys
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from dfdx.config import Config
from dfdx.datasets.discover import Video, category_of, is_video_name, sample_per_category
from dfdx.errors import SystemFault, UsageError
from dfdx.datasets.kaggle import (
    CredentialsError,
    DownloadError,
    IncompleteDownload,
    KaggleDataset,
    RemoteFile,
    TransferSettings,
    classify_failure,
    in_daemon_thread,
    retry_delay_s,
)
from dfdx.progress import BytesProgress, fmt_bytes

log = logging.getLogger(__name__)
T = TypeVar("T")

LEDGER_NAME = "download_ledger.jsonl"
PART_SUFFIX = ".part"  # a file being downloaded; the client keeps `<part>.kaggle-partial` beside it
MARKER_SUFFIX = ".kaggle-partial"
TEMP_SUFFIX = ".dfdx-tmp"  # an archive member being written
METADATA_EXTENSIONS = (".csv", ".json", ".txt")
DISK_MARGIN = 1.1  # unpacking needs the members' size plus file-system slack


class ArchiveError(SystemFault):
    """The archive cannot be unpacked safely: a member escapes the target, is a link, or the zip is broken."""


class DiskSpaceError(SystemFault):
    """Not enough free space for what is about to be written; says what is needed and what is free."""


@dataclass(frozen=True, slots=True)
class DownloadRecord:
    """One ledger line: something finished and verified, relative to the download dir."""

    path: str
    size_bytes: int
    finished_at: str
    kind: str = "file"  # "file" | "archive" | "member" (unpacked from the archive) | "unpacked" (all of it)
    crc32: int | None = None

    def to_line(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, ensure_ascii=True) + "\n"


# ---------------------------------------------------------------- pure helpers


def unsafe_reason(name: str) -> str | None:
    """Why a dataset path must not be written under the target folder, or None when it may be."""
    norm = name.replace("\\", "/")
    if not norm.strip("/"):
        return "has an empty name"
    if "\0" in norm:
        return "contains a NUL byte"
    if norm.startswith("/") or re.match(r"[A-Za-z]:", norm):
        return "is an absolute path"
    if ".." in norm.split("/"):
        return "climbs out of the target folder with '..'"
    return None


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an archive member may not be unpacked; links are refused whatever their target."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return unsafe_reason(info.filename)


def local_path(root: Path, name: str) -> Path:
    """Where a (safe) dataset path lands under root."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return root.joinpath(*parts)


def is_metadata_name(name: str) -> bool:
    return name.lower().endswith(METADATA_EXTENSIONS)


def listed_videos(files: Iterable[RemoteFile], cfg: Config) -> list[Video]:
    """Video records for the listing, as `discover` would build them once the files are on disk."""
    root = Path(os.path.abspath(cfg.download.download_dir))
    videos = []
    for f in files:
        if not is_video_name(f.name, cfg.discover.extensions) or unsafe_reason(f.name):
            continue
        category = category_of(f.name, cfg.discover.categories)
        if category is not None:
            videos.append(Video(path=local_path(root, f.name), rel=f.name, category=category))
    return videos


def select_files(files: Iterable[RemoteFile], cfg: Config) -> list[RemoteFile]:
    """The videos `dfdx extract` will sample (`max_videos` per category, `seed`), sorted by path."""
    files = list(files)
    by_name = {f.name: f for f in files}
    chosen = sample_per_category(listed_videos(files, cfg), cfg.max_videos, cfg.seed)
    return [by_name[v.rel] for v in chosen]


def summarize_listing(files: list[RemoteFile], cfg: Config) -> str:
    """The `--list` table: videos and bytes per category, and what `max_videos` would fetch."""
    videos = listed_videos(files, cfg)
    chosen = {v.rel for v in sample_per_category(videos, cfg.max_videos, cfg.seed)}
    sizes = {f.name: f.size_bytes for f in files}
    rows: dict[str, list[int]] = {}
    for v in videos:
        row = rows.setdefault(v.category, [0, 0, 0, 0])
        row[0] += 1
        row[1] += sizes[v.rel]
        if v.rel in chosen:
            row[2] += 1
            row[3] += sizes[v.rel]
    in_videos = {v.rel for v in videos}
    others = [f for f in files if f.name not in in_videos]
    total = sum(f.size_bytes for f in files)
    limit = "all" if cfg.max_videos is None else f"max {cfg.max_videos} per category"
    lines = [
        f"Kaggle dataset {cfg.download.dataset}: {len(files)} files, {fmt_bytes(total)}",
        f"{'category':<12}{'videos':>8}{'size':>12}   {'to fetch (' + limit + ')':>28}{'size':>12}",
    ]
    for category in sorted(rows):
        n, size, n_sel, size_sel = rows[category]
        lines.append(f"{category:<12}{n:>8}{fmt_bytes(size):>12}   {n_sel:>28}{fmt_bytes(size_sel):>12}")
    other_bytes = sum(f.size_bytes for f in others)
    lines.append(
        f"{'other files':<12}{len(others):>8}{fmt_bytes(other_bytes):>12}   (not a video in a category folder)"
    )
    if cfg.max_videos is None:
        lines.append("Without --max-videos the whole archive is downloaded and unpacked.")
    return "\n".join(lines)


# ---------------------------------------------------------------- the download ledger


class DownloadLedger:
    """Append-only JSONL of finished files, in the spirit of the extraction ledger.

    Reading tolerates a torn last line (a kill while writing) and skips unreadable lines with a warning;
    appends are flushed at once and fsynced at close. Data files are fsynced before they are renamed into
    place, so a ledger line never describes bytes that are not on disk.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[tuple[str, str], DownloadRecord] = {}
        self._lock = threading.Lock()
        self._file: Any = None
        self._read()

    def _read(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8", errors="surrogateescape", newline="\n") as f:
            lines = f.readlines()
        names = {f.name for f in dataclasses.fields(DownloadRecord)}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                record = DownloadRecord(**{k: v for k, v in raw.items() if k in names})
                if not isinstance(record.path, str) or not isinstance(record.size_bytes, int):
                    raise ValueError("path or size_bytes of the wrong type")
            except (ValueError, TypeError, AttributeError) as exc:
                if number == len(lines) and not line.endswith("\n"):
                    log.debug("%s: torn last line ignored", self.path)
                else:
                    log.warning("%s line %d is unreadable (%s); it is ignored", self.path, number, exc)
                continue
            self.records[(record.kind, record.path)] = record

    def get(self, kind: str, path: str) -> DownloadRecord | None:
        return self.records.get((kind, path))

    def append(self, record: DownloadRecord) -> None:
        with self._lock:
            if self._file is None:
                torn = self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
                self._file = open(self.path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115 - kept open
                if torn:
                    self._file.write("\n")
            self._file.write(record.to_line())
            self._file.flush()
            self.records[(record.kind, record.path)] = record

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    os.fsync(self._file.fileno())
                self._file.close()
                self._file = None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------- progress


async def _poll_progress(progress: BytesProgress, measure: Callable[[], tuple[int, int]]) -> None:
    """Redraw from what is on disk: part files grow inside the client, which reports nothing."""
    while True:
        progress.show(*measure())
        await asyncio.sleep(0.5)


# ---------------------------------------------------------------- one run


class DownloadRun:
    """One `dfdx download`: authenticate, list, then either the sampled files or the whole archive."""

    def __init__(self, cfg: Config, settings: TransferSettings, unpack_all: bool, client: KaggleDataset) -> None:
        self.cfg = cfg
        self.settings = settings
        self.unpack_all = unpack_all
        self.client = client
        self.dest = Path(os.path.abspath(cfg.download.download_dir))
        self.retries = max(0, cfg.download.retries)
        self.ledger: DownloadLedger | None = None
        self.show_progress = not cfg.quiet

    # -- retries

    async def retrying(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        not_found: str | None = None,
        not_found_error: type[Exception] = DownloadError,
    ) -> T:
        """Call fn in a worker thread until it succeeds, retrying what is worth retrying."""
        attempt = 0
        while True:
            try:
                return await in_daemon_thread(fn, *args)
            except (UsageError, SystemFault, DownloadError):
                raise
            except Exception as exc:
                failure = classify_failure(exc)
            if failure.kind == "credentials":
                raise CredentialsError(self.client.rejected_message(failure))
            if failure.kind == "disk_full":
                raise SystemFault(f"{what}: {failure.reason} in {self.dest}; free some space and run again")
            if failure.kind == "not_found":
                raise not_found_error(f"{what}: {not_found or failure.reason}")
            if failure.kind != "retry" or attempt >= self.retries:
                tries = f"; gave up after {attempt} retries" if attempt else ""
                raise DownloadError(f"{what}: {failure.reason}{tries}")
            delay = retry_delay_s(attempt, failure, self.settings)
            waited = " (Retry-After)" if failure.retry_after_s is not None else ""
            log.warning(
                "%s: %s; retry %d of %d in %.1f s%s", what, failure.reason, attempt + 1, self.retries, delay, waited
            )
            await asyncio.sleep(delay)
            attempt += 1

    # -- the whole command

    async def run(self, list_only: bool) -> int:
        warning = self.client.permission_warning()
        if warning:  # printed, not logged: it must reach the user whatever the logging setup
            print(f"dfdx download: warning: {warning}", file=sys.stderr, flush=True)
        await self.retrying("checking Kaggle credentials", self.client.authenticate)
        files = await self.list_files()
        if list_only:
            print(summarize_listing(files, self.cfg), flush=True)
            return 0
        try:
            self.dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SystemFault(f"cannot create the download folder {self.dest}: {exc.strerror or exc}") from None
        self.ledger = DownloadLedger(self.dest / LEDGER_NAME)
        try:
            if self.cfg.max_videos is None:
                return await self.whole_archive(files)
            return await self.sampled_files(files)
        finally:
            self.ledger.close()

    async def list_files(self) -> list[RemoteFile]:
        """Every page of the listing (Kaggle pages it, 20 a page by default)."""
        files: list[RemoteFile] = []
        token: str | None = None
        seen: set[str] = set()
        missing = (
            f"dataset {self.client.slug} was not found on Kaggle (or is private to another account); "
            "check config key 'download.dataset'"
        )
        while True:
            page, token = await self.retrying(
                f"listing the files of {self.client.slug}",
                self.client.list_page,
                token,
                not_found=missing,
                not_found_error=UsageError,
            )
            files.extend(page)
            if not token or token in seen:
                break
            seen.add(token)
        if not files:
            raise DownloadError(f"Kaggle lists no files in {self.client.slug}")
        return files

    # -- partial download: the sampled videos, one file per request

    async def sampled_files(self, files: list[RemoteFile]) -> int:
        assert self.ledger is not None
        for f in files:
            if unsafe_reason(f.name):
                log.warning("skipping %r from the listing: it %s", f.name, unsafe_reason(f.name))
        selected = select_files(files, self.cfg)
        if not selected:
            folders = sorted({str(PurePosixPath(f.name).parent) for f in files if "/" in f.name})[:10]
            raise UsageError(
                f"no video in {self.client.slug} lies in a category folder "
                f"(config key 'discover.categories': {', '.join(self.cfg.discover.categories)}); "
                f"folders in the dataset: {', '.join(folders) or 'none'}"
            )
        todo = [f for f in selected if not self.already_have(f)]
        have = len(selected) - len(todo)
        total_bytes = sum(f.size_bytes for f in selected)
        parts = {f.name: self.part_path(f) for f in todo}
        left = sum(f.size_bytes - _size(parts[f.name]) for f in todo)
        self.check_space(left, f"the {len(todo)} videos left to download")
        if not todo:
            self.say(f"all {len(selected)} selected videos are already in {self.dest}")
            return 0
        pending = set(todo)
        done_bytes = sum(f.size_bytes for f in selected if f not in pending)
        done_files = have
        in_flight: set[str] = set()

        def measure() -> tuple[int, int]:
            return done_bytes + sum(_size(parts[name]) for name in list(in_flight)), done_files

        progress = BytesProgress(
            "download", total_bytes, len(selected), self.show_progress, self.settings.progress_every_s
        )
        poller = asyncio.create_task(_poll_progress(progress, measure))
        semaphore = asyncio.Semaphore(max(1, self.cfg.download.concurrency))

        async def one(f: RemoteFile) -> str | None:
            nonlocal done_bytes, done_files
            async with semaphore:
                in_flight.add(f.name)
                try:
                    await self.retrying(f.name, self.fetch_file, f, not_found=self.single_file_404(f))
                except DownloadError as exc:
                    return str(exc)
                finally:
                    in_flight.discard(f.name)
            assert self.ledger is not None
            self.ledger.append(DownloadRecord(f.name, f.size_bytes, _now(), "file"))
            done_bytes += f.size_bytes
            done_files += 1
            return None

        tasks = [asyncio.create_task(one(f)) for f in todo]
        try:
            errors = [e for e in await asyncio.gather(*tasks) if e]
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            progress.show(*measure(), final=True)
            progress.close()
        fetched = len(todo) - len(errors)
        if errors:
            shown = "\n  ".join(errors[:10]) + (f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else "")
            raise DownloadError(
                f"{len(errors)} of {len(selected)} files could not be downloaded:\n  {shown}\n"
                f"{fetched + have} are in {self.dest}; run the same command again to resume"
            )
        self.say(f"downloaded {fetched} videos into {self.dest} ({have} were already there)")
        return 0

    def single_file_404(self, f: RemoteFile) -> str:
        return (
            f"Kaggle answered 404 for this single file; some large datasets do not serve single files. "
            f"Run without --max-videos to fetch the whole archive of {self.client.slug}"
        )

    def part_path(self, f: RemoteFile) -> Path:
        final = local_path(self.dest, f.name)
        return final.with_name(final.name + PART_SUFFIX)

    def already_have(self, f: RemoteFile) -> bool:
        """In the ledger with this size and on disk with it; a complete file without its line (a kill between
        rename and append) is adopted."""
        assert self.ledger is not None
        final = local_path(self.dest, f.name)
        if _size(final) != f.size_bytes or not final.is_file():
            return False
        record = self.ledger.get("file", f.name)
        if record is None or record.size_bytes != f.size_bytes:
            self.ledger.append(DownloadRecord(f.name, f.size_bytes, _now(), "file"))
        return True

    def fetch_file(self, f: RemoteFile) -> None:
        """Blocking: one attempt at one listed file, ending with it under its final name, size checked."""
        final = local_path(self.dest, f.name)
        part = final.with_name(final.name + PART_SUFFIX)
        if part.is_file() and part.stat().st_size == f.size_bytes:  # all bytes arrived, the rename did not
            _settle(part, final)
            return
        url = self.client.fetch(f.name, part)
        served = unquote(PurePosixPath(urlsplit(url).path).name)
        if served == final.name + ".zip" and not f.name.lower().endswith(".zip"):
            _unwrap_single(part, final, f.size_bytes)
            return
        size = _size(part)
        if size != f.size_bytes:
            _remove(part, _marker(part))
            raise IncompleteDownload(f"got {size} bytes where the listing says {f.size_bytes}")
        _settle(part, final)

    # -- whole archive, then a safe unpack

    def wanted_member(self, name: str) -> bool:
        return self.unpack_all or is_video_name(name, self.cfg.discover.extensions) or is_metadata_name(name)

    async def whole_archive(self, files: list[RemoteFile]) -> int:
        assert self.ledger is not None
        ledger = self.ledger
        archive = self.dest / f"{self.client.name}.zip"
        part = archive.with_name(archive.name + PART_SUFFIX)
        if self.unpacked_before(archive):
            note = ""
            if self.cfg.download.delete_archive and archive.is_file():
                _remove(archive)  # every member was verified when it was unpacked
                note = "; the archive was deleted"
            self.say(f"{self.client.slug} is already downloaded and unpacked in {self.dest}{note}")
            return 0
        record = ledger.get("archive", archive.name)
        have_archive = record is not None and archive.is_file() and record.size_bytes == archive.stat().st_size
        if not have_archive and archive.is_file() and zipfile.is_zipfile(archive):
            # A complete zip not in the ledger (fetched by hand, or a kill between rename and ledger line):
            # its central directory is intact, and unpacking checks every member's CRC, so keep it.
            self.say(f"using the archive already at {archive}")
            ledger.append(DownloadRecord(archive.name, archive.stat().st_size, _now(), "archive"))
            have_archive = True
        if not have_archive:
            unpack_left = sum(
                f.size_bytes for f in files if self.wanted_member(f.name) and not ledger.get("member", f.name)
            )

            def check_space(archive_bytes: int | None) -> None:
                archive_left = (archive_bytes or sum(f.size_bytes for f in files)) - _size(part)
                self.check_space(
                    archive_left + unpack_left,
                    "the archive and its unpacked files",
                    detail=f"{fmt_bytes(archive_left)} of archive to download, "
                    f"{fmt_bytes(unpack_left * DISK_MARGIN)} to unpack",
                    margin_on=unpack_left,
                )

            estimate = sum(f.size_bytes for f in files)
            progress = BytesProgress("download", estimate, 1, self.show_progress, self.settings.progress_every_s)
            poller = asyncio.create_task(_poll_progress(progress, lambda: (_size(part), 0)))
            try:
                await self.retrying(
                    f"the archive of {self.client.slug}", self.fetch_archive, part, archive, check_space
                )
            finally:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
                got = _size(archive) or _size(part)
                progress.total_bytes = max(progress.total_bytes, got)
                progress.show(got, int(archive.is_file()), final=True)
                progress.close()
            ledger.append(DownloadRecord(archive.name, archive.stat().st_size, _now(), "archive"))
        extracted, skipped, ignored = await in_daemon_thread(self.unpack, archive)
        ledger.append(DownloadRecord(archive.name, archive.stat().st_size, _now(), "unpacked"))
        note = f"; {ignored} other files (not videos nor metadata) were left in the archive" if ignored else ""
        if self.cfg.download.delete_archive:
            _remove(archive)
            note += "; the archive was deleted after every member was verified"
        self.say(f"unpacked {extracted} files into {self.dest} ({skipped} were already there){note}")
        return 0

    def fetch_archive(self, part: Path, archive: Path, check_space: Callable[[int | None], None]) -> None:
        self.client.fetch(None, part, check_space)
        _settle(part, archive)

    def unpacked_before(self, archive: Path) -> bool:
        """The ledger says the archive was fully unpacked and every member it lists is still on disk."""
        assert self.ledger is not None
        if self.ledger.get("unpacked", archive.name) is None or (self.unpack_all and archive.is_file()):
            return False
        members = [r for (kind, _), r in self.ledger.records.items() if kind == "member"]
        return all(_size(local_path(self.dest, r.path)) == r.size_bytes for r in members)

    def unpack(self, archive: Path) -> tuple[int, int, int]:
        """Blocking: check every member, then write the wanted ones atomically; returns (new, kept, ignored)."""
        assert self.ledger is not None
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as exc:
            aside = archive.with_name(archive.name + ".corrupt")
            with contextlib.suppress(OSError):
                os.replace(archive, aside)
            raise ArchiveError(
                f"{archive.name} is not a complete zip archive ({exc}): the server sent a truncated or corrupt "
                f"file. It was moved to {aside}; run the same command again to download it anew"
            ) from None
        with zf:
            infos = zf.infolist()
            for info in infos:
                problem = member_problem(info)
                if problem:
                    raise ArchiveError(
                        f"refusing to unpack {archive.name}: member {info.filename!r} {problem}; "
                        f"nothing was unpacked from it into {self.dest}"
                    )
            wanted = [i for i in infos if not i.is_dir() and self.wanted_member(i.filename)]
            ignored = sum(1 for i in infos if not i.is_dir()) - len(wanted)
            todo = [i for i in wanted if not self.member_done(i)]
            need = sum(i.file_size for i in todo)
            self.check_space(need, f"unpacking {len(todo)} files", margin_on=need)
            progress = BytesProgress("unpack", need, len(todo), self.show_progress, self.settings.progress_every_s)
            written = 0
            try:
                for n, info in enumerate(todo, start=1):
                    self.unpack_member(zf, info, archive)
                    written += info.file_size
                    progress.show(written, n)
                progress.show(written, len(todo), final=True)
            finally:
                progress.close()
        return len(todo), len(wanted) - len(todo), ignored

    def member_done(self, info: zipfile.ZipInfo) -> bool:
        assert self.ledger is not None
        record = self.ledger.get("member", info.filename)
        return (
            record is not None
            and record.size_bytes == info.file_size
            and record.crc32 == info.CRC
            and _size(local_path(self.dest, info.filename)) == info.file_size
        )

    def unpack_member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: Path) -> None:
        """Write one member under a temporary name, let zipfile check its CRC on the way, then rename it."""
        assert self.ledger is not None
        final = local_path(self.dest, info.filename)
        temp = final.with_name(final.name + TEMP_SUFFIX)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as source, open(temp, "wb") as out:
                shutil.copyfileobj(source, out, self.settings.chunk_bytes)  # BadZipFile on a CRC mismatch
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, final)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            _remove(temp)
            raise ArchiveError(
                f"{archive.name}: member {info.filename!r} is damaged ({exc}); delete {archive} and run again"
            ) from None
        except OSError as exc:
            _remove(temp)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskSpaceError(f"disk full while unpacking {info.filename!r} into {self.dest}") from None
            raise
        self.ledger.append(DownloadRecord(info.filename, info.file_size, _now(), "member", info.CRC))

    # -- shared

    def check_space(self, needed: int, what: str, detail: str = "", margin_on: int = 0) -> None:
        """Refuse to start writing what cannot fit; `margin_on` bytes get the unpacking margin."""
        needed = int(needed + margin_on * (DISK_MARGIN - 1))
        if needed <= 0:
            return
        free = shutil.disk_usage(self.dest).free
        if needed > free:
            detail = f" ({detail})" if detail else ""
            raise DiskSpaceError(
                f"not enough free space in {self.dest} for {what}: needs {fmt_bytes(needed)}{detail}, "
                f"{fmt_bytes(free)} is free. Free some space, pick another --download-dir, "
                "or use --max-videos N to fetch only N videos per category"
            )

    def say(self, message: str) -> None:
        if not self.cfg.quiet:
            print(f"[dfdx] {message}", file=sys.stderr, flush=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _marker(part: Path) -> Path:
    return part.with_name(part.name + MARKER_SUFFIX)


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _settle(part: Path, final: Path) -> None:
    """Make a complete part file durable, then give it its final name (the client leaves it un-synced)."""
    with open(part, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(part, final)
    _remove(_marker(part))


def _unwrap_single(wrapper: Path, final: Path, expected_size: int) -> None:
    """Kaggle serves some large files zipped (`name.zip` for `name`): unpack the one member, CRC checked."""
    temp = final.with_name(final.name + TEMP_SUFFIX)
    try:
        with zipfile.ZipFile(wrapper) as zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            if len(members) != 1 or stat.S_ISLNK(members[0].external_attr >> 16):
                raise IncompleteDownload(f"{wrapper.name} should hold exactly one regular file")
            with zf.open(members[0]) as source, open(temp, "wb") as out:
                shutil.copyfileobj(source, out)
                out.flush()
                os.fsync(out.fileno())
    except (zipfile.BadZipFile, EOFError) as exc:
        _remove(temp, wrapper, _marker(wrapper))
        raise IncompleteDownload(f"the zipped download is damaged ({exc})") from None
    if _size(temp) != expected_size:
        _remove(temp, wrapper, _marker(wrapper))
        raise IncompleteDownload(f"unzipped {_size(temp)} bytes where the listing says {expected_size}")
    os.replace(temp, final)
    _remove(wrapper, _marker(wrapper))


# ---------------------------------------------------------------- entry points


async def download_async(
    cfg: Config,
    *,
    list_only: bool = False,
    unpack_all: bool = False,
    settings: TransferSettings | None = None,
    client: KaggleDataset | None = None,
) -> int:
    """`dfdx download` inside a running loop; returns the exit code and prints at most one error message.

    0: done. 1: a download or unpack failed (what was finished is kept; rerunning resumes). 2: credentials,
    dataset name or other input the user must fix.
    """
    settings = settings or TransferSettings()
    try:
        client = client or KaggleDataset(cfg.download.dataset, settings)
        return await DownloadRun(cfg, settings, unpack_all, client).run(list_only)
    except UsageError as exc:  # includes CredentialsError
        _error(str(exc))
        return 2
    except (DownloadError, SystemFault) as exc:
        _error(str(exc))
        return 1


def download(cfg: Config, *, list_only: bool = False, unpack_all: bool = False) -> int:
    """`dfdx download`: the sampled videos (`max_videos` per category) or the whole archive, unpacked.

    Ctrl-C stops at once with exit code 130; the next run resumes.
    """
    try:
        return asyncio.run(download_async(cfg, list_only=list_only, unpack_all=unpack_all))
    except KeyboardInterrupt:
        _error("interrupted; run the same command again to resume (finished files are kept)")
        return 130


def _error(message: str) -> None:
    print(f"dfdx download: {message}", file=sys.stderr, flush=True)
