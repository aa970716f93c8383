"""`dfdx download`: the orchestration of one download, from Kaggle into the download folder, resumable.

Why it exists: it decides what to fetch and in which order, and keeps the download ledger, so that a rerun
(after a failure, Ctrl-C or kill -9) resumes instead of starting over. The pieces live beside it:
`kaggle` (the client: quiet, one attempt per call), `retry` (retries, backoff, `Retry-After`), `listing`
(what the remote names mean, the `--list` table) and `unpack` (the safe unpacking, the disk checks).

- With `max_videos`, only the sampled videos are fetched, one file per request, instead of the 24 GB archive;
  the sample is `discover.sample_per_category` over the listing, the same one `dfdx extract` draws.
- A file appears under its final name only when complete (`<name>.part` until then, resumed through the
  client's Range support), and each finished file is a line in the download ledger (`DownloadLedger`, over
  `dfdx.ledger`'s reader and writer); the ledger and the sizes on disk decide what a rerun skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from dfdx.config import Config
from dfdx.datasets.download_ledger import DownloadLedger
from dfdx.datasets.kaggle import (
    DownloadError,
    IncompleteDownload,
    KaggleDataset,
    RemoteFile,
    TransferSettings,
    in_daemon_thread,
)
from dfdx.datasets.listing import (
    PART_SUFFIX,
    listed_folders,
    local_path,
    marker_path,
    part_path,
    select_files,
    summarize_listing,
    unsafe_reason,
    wanted_member,
)
from dfdx.datasets.retry import Retrier
from dfdx.datasets.unpack import (
    DISK_MARGIN,
    Unpacker,
    check_space,
    remove,
    settle,
    size_of,
    unpacked_before,
    unwrap_single,
)
from dfdx.errors import EXIT_FAULT, SystemFault, UsageError, exit_code_for
from dfdx.layout import DOWNLOAD_LEDGER_NAME
from dfdx.progress import BytesProgress, fmt_bytes

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- progress


async def poll_progress(progress: BytesProgress, measure: Callable[[], tuple[int, int]]) -> None:
    """Redraw from what is on disk: part files grow inside the client, which reports nothing."""
    while True:
        progress.show(*measure())
        await asyncio.sleep(0.5)


async def stop_polling(poller: asyncio.Task[None]) -> None:
    poller.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await poller


# ---------------------------------------------------------------- one run


class DownloadRun:
    """One `dfdx download`: authenticate, list, then either the sampled files or the whole archive."""

    def __init__(self, cfg: Config, settings: TransferSettings, unpack_all: bool, client: KaggleDataset) -> None:
        self.cfg = cfg
        self.settings = settings
        self.unpack_all = unpack_all
        self.client = client
        self.dest = Path(os.path.abspath(cfg.download.download_dir))
        self.retrying = Retrier(cfg.download.retries, settings, client.rejected_message, self.dest)
        self.ledger: DownloadLedger | None = None
        self.show_progress = not cfg.quiet

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
        self.ledger = DownloadLedger(self.dest / DOWNLOAD_LEDGER_NAME)
        try:
            if self.cfg.max_videos is None:
                return await self.whole_archive(files, self.ledger)
            return await self.sampled_files(files, self.ledger)
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

    async def sampled_files(self, files: list[RemoteFile], ledger: DownloadLedger) -> int:
        for f in files:
            if unsafe_reason(f.name):
                log.warning("skipping %r from the listing: it %s", f.name, unsafe_reason(f.name))
        selected = select_files(files, self.cfg)
        if not selected:
            raise UsageError(
                f"no video in {self.client.slug} lies in a category folder "
                f"(config key 'discover.categories': {', '.join(self.cfg.discover.categories)}); "
                f"folders in the dataset: {', '.join(listed_folders(files)) or 'none'}"
            )
        todo = [f for f in selected if not self.already_have(f, ledger)]
        have = len(selected) - len(todo)
        total_bytes = sum(f.size_bytes for f in selected)
        parts = {f.name: part_path(self.dest, f.name) for f in todo}
        left = sum(f.size_bytes - size_of(parts[f.name]) for f in todo)
        check_space(self.dest, left, f"the {len(todo)} videos left to download")
        if not todo:
            self.say(f"all {len(selected)} selected videos are already in {self.dest}")
            return 0
        pending = set(todo)
        done_bytes = sum(f.size_bytes for f in selected if f not in pending)
        done_files = have
        in_flight: set[str] = set()

        def measure() -> tuple[int, int]:
            return done_bytes + sum(size_of(parts[name]) for name in list(in_flight)), done_files

        progress = BytesProgress(
            "download", total_bytes, len(selected), self.show_progress, self.settings.progress_every_s
        )
        poller = asyncio.create_task(poll_progress(progress, measure))
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
            ledger.add("file", f.name, f.size_bytes)
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
            await stop_polling(poller)
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

    def already_have(self, f: RemoteFile, ledger: DownloadLedger) -> bool:
        """In the ledger with this size and on disk with it; a complete file without its line (a kill between
        rename and append) is adopted."""
        final = local_path(self.dest, f.name)
        if size_of(final) != f.size_bytes or not final.is_file():
            return False
        record = ledger.get("file", f.name)
        if record is None or record.size_bytes != f.size_bytes:
            ledger.add("file", f.name, f.size_bytes)
        return True

    def fetch_file(self, f: RemoteFile) -> None:
        """Blocking: one attempt at one listed file, ending with it under its final name, size checked."""
        final = local_path(self.dest, f.name)
        part = part_path(self.dest, f.name)
        if part.is_file() and part.stat().st_size == f.size_bytes:  # all bytes arrived, the rename did not
            settle(part, final)
            return
        url = self.client.fetch(f.name, part)
        served = unquote(PurePosixPath(urlsplit(url).path).name)
        if served == final.name + ".zip" and not f.name.lower().endswith(".zip"):
            unwrap_single(part, final, f.size_bytes)
            return
        size = size_of(part)
        if size != f.size_bytes:
            remove(part, marker_path(part))
            raise IncompleteDownload(f"got {size} bytes where the listing says {f.size_bytes}")
        settle(part, final)

    # -- whole archive, then a safe unpack

    def wanted_member(self, name: str) -> bool:
        return wanted_member(name, self.cfg.discover.extensions, self.unpack_all)

    async def whole_archive(self, files: list[RemoteFile], ledger: DownloadLedger) -> int:
        archive = self.dest / f"{self.client.name}.zip"
        part = archive.with_name(archive.name + PART_SUFFIX)
        if not (self.unpack_all and archive.is_file()) and unpacked_before(ledger, self.dest, archive):
            note = ""
            if self.cfg.download.delete_archive and archive.is_file():
                remove(archive)  # every member was verified when it was unpacked
                note = "; the archive was deleted"
            self.say(f"{self.client.slug} is already downloaded and unpacked in {self.dest}{note}")
            return 0
        record = ledger.get("archive", archive.name)
        have_archive = record is not None and archive.is_file() and record.size_bytes == archive.stat().st_size
        if not have_archive and archive.is_file() and zipfile.is_zipfile(archive):
            # A complete zip not in the ledger (fetched by hand, or a kill between rename and ledger line):
            # its central directory is intact, and unpacking checks every member's CRC, so keep it.
            self.say(f"using the archive already at {archive}")
            ledger.add("archive", archive.name, archive.stat().st_size)
            have_archive = True
        if not have_archive:
            await self.fetch_whole(files, ledger, archive, part)
            ledger.add("archive", archive.name, archive.stat().st_size)
        unpacker = Unpacker(self.dest, ledger, self.settings, self.wanted_member, self.show_progress)
        extracted, skipped, ignored = await in_daemon_thread(unpacker.unpack, archive)
        ledger.add("unpacked", archive.name, archive.stat().st_size)
        note = f"; {ignored} other files (not videos nor metadata) were left in the archive" if ignored else ""
        if self.cfg.download.delete_archive:
            remove(archive)
            note += "; the archive was deleted after every member was verified"
        self.say(f"unpacked {extracted} files into {self.dest} ({skipped} were already there){note}")
        return 0

    async def fetch_whole(self, files: list[RemoteFile], ledger: DownloadLedger, archive: Path, part: Path) -> None:
        """The archive into `part`, then renamed to `archive`; refused up front when it and its members won't fit."""
        unpack_left = sum(
            f.size_bytes for f in files if self.wanted_member(f.name) and not ledger.get("member", f.name)
        )

        def space_for(archive_bytes: int | None) -> None:
            archive_left = (archive_bytes or sum(f.size_bytes for f in files)) - size_of(part)
            check_space(
                self.dest,
                archive_left + unpack_left,
                "the archive and its unpacked files",
                detail=f"{fmt_bytes(archive_left)} of archive to download, "
                f"{fmt_bytes(unpack_left * DISK_MARGIN)} to unpack",
                margin_on=unpack_left,
            )

        estimate = sum(f.size_bytes for f in files)
        progress = BytesProgress("download", estimate, 1, self.show_progress, self.settings.progress_every_s)
        poller = asyncio.create_task(poll_progress(progress, lambda: (size_of(part), 0)))
        try:
            await self.retrying(f"the archive of {self.client.slug}", self.fetch_archive, part, archive, space_for)
        finally:
            await stop_polling(poller)
            got = size_of(archive) or size_of(part)
            progress.total_bytes = max(progress.total_bytes, got)
            progress.show(got, int(archive.is_file()), final=True)
            progress.close()

    def fetch_archive(self, part: Path, archive: Path, space_for: Callable[[int | None], None]) -> None:
        self.client.fetch(None, part, space_for)
        settle(part, archive)

    def say(self, message: str) -> None:
        if not self.cfg.quiet:
            print(f"[dfdx] {message}", file=sys.stderr, flush=True)


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
    except (UsageError, DownloadError, SystemFault) as exc:  # UsageError includes CredentialsError
        _error(str(exc))
        return _exit_code(exc)


def download(cfg: Config, *, list_only: bool = False, unpack_all: bool = False) -> int:
    """`dfdx download`: the sampled videos (`max_videos` per category) or the whole archive, unpacked.

    Ctrl-C stops at once with exit code 130; the next run resumes.
    """
    try:
        return asyncio.run(download_async(cfg, list_only=list_only, unpack_all=unpack_all))
    except KeyboardInterrupt as exc:
        _error("interrupted; run the same command again to resume (finished files are kept)")
        return _exit_code(exc)


def _exit_code(exc: BaseException) -> int:
    """`dfdx.errors.exit_code_for`, and EXIT_FAULT for a `DownloadError` (a failed transfer, not a SystemFault)."""
    return exit_code_for(exc) or EXIT_FAULT


def _error(message: str) -> None:
    print(f"dfdx download: {message}", file=sys.stderr, flush=True)
