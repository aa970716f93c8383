"""DFDC on Kaggle, one part at a time: which parts to fetch, one part fetched and unpacked, and the part's
videos deleted again once their frames are recorded.

Why it exists: DFDC is 50 competition files, `dfdc_train_part_N.zip`, ~10 GB each and ~470 GB in all, more
disk than most machines have. Fetched, unpacked, extracted and deleted one part after another (or one part
per node of a cluster), a machine needs disk for about one part. The pieces are the download's own: the
client (`kaggle.KaggleCompetition`, one attempt per call, `.part` files resumed with Range), the retry
policy (`retry.Retrier`) and the safe unpacking (`unpack.Unpacker`: members checked, CRC-verified, written
atomically, recorded).

Each part keeps its own download ledger, `DOWNLOAD/download_ledger.dfdc_train_part_N.jsonl`, so that parts
fetched at once by several nodes never append to one file. It records the zip, each member unpacked and
that the whole part was unpacked. When the videos are deleted, the part's `metadata.json` stays (it is
small, and the labels' source), and so do these records: they name the part's videos, which is what lets
a later run decide that a part is finished without downloading it again (`recorded_videos`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dfdx.datasets.discover import is_video_name
from dfdx.datasets.download import poll_progress, stop_polling
from dfdx.datasets.download_ledger import DownloadLedger
from dfdx.datasets.kaggle import (
    DownloadError,
    IncompleteDownload,
    KaggleCompetition,
    RemoteFile,
    TransferSettings,
    in_daemon_thread,
)
from dfdx.datasets.listing import is_metadata_name, local_path, marker_path, part_path
from dfdx.datasets.retry import Retrier
from dfdx.datasets.unpack import (
    DISK_MARGIN,
    ArchiveError,
    Unpacker,
    check_space,
    remove,
    settle,
    size_of,
    unpacked_before,
)
from dfdx.errors import UsageError
from dfdx.layout import PART_DOWNLOAD_LEDGER_NAME
from dfdx.progress import BytesProgress, fmt_bytes

log = logging.getLogger("dfdx")

PART_FILE = re.compile(r"^dfdc_train_part_(\d+)\.zip$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RemotePart:
    """One `dfdc_train_part_N.zip` as Kaggle lists it."""

    number: int
    file_name: str
    size_bytes: int

    @property
    def stem(self) -> str:
        return self.file_name[: -len(".zip")]


def listed_parts(files: Iterable[RemoteFile]) -> list[RemotePart]:
    """The training parts among a competition's files (its other files, such as the test videos, are not parts)."""
    parts = [RemotePart(int(m[1]), f.name, f.size_bytes) for f in files if (m := PART_FILE.match(f.name))]
    return sorted(parts, key=lambda p: p.number)


def choose_parts(listed: list[RemotePart], wanted: Iterable[int] | None, competition: str) -> list[RemotePart]:
    """The parts `download.parts` names (all when None); a number Kaggle does not list is an error naming it."""
    if wanted is None:
        return listed
    by_number = {p.number: p for p in listed}
    missing = [n for n in wanted if n not in by_number]
    if missing:
        have = f"{listed[0].number}-{listed[-1].number}" if listed else "none"
        raise UsageError(f"config key 'download.parts': part(s) {', '.join(map(str, missing))} are not among the "
                         f"training parts Kaggle lists for {competition} ({have})")  # fmt: skip
    return [by_number[n] for n in sorted(set(wanted))]


async def list_parts(client: KaggleCompetition, retrying: Retrier) -> list[RemotePart]:
    """Every page of the competition's listing, then its training parts."""
    files: list[RemoteFile] = []
    token: str | None = None
    seen: set[str] = set()
    while True:
        page, token = await retrying(f"listing the files of the competition {client.name}", client.list_page, token,
                                     not_found=f"Kaggle has no competition {client.name!r}; check config key "
                                               "'download.competition'", not_found_error=UsageError)  # fmt: skip
        files.extend(page)
        if not token or token in seen:
            break
        seen.add(token)
    parts = listed_parts(files)
    if not parts:
        raise DownloadError(f"Kaggle lists no dfdc_train_part_N.zip among the files of {client.name}")
    return parts


def part_ledger_path(dest: Path, part: RemotePart) -> Path:
    return dest / PART_DOWNLOAD_LEDGER_NAME.format(part.stem)


def recorded_videos(dest: Path, part: RemotePart, extensions: Iterable[str]) -> list[str] | None:
    """The part's videos (paths under the download folder) as its download ledger recorded them when it was
    unpacked, present on disk or deleted since; None when the part was never completely unpacked."""
    ledger = DownloadLedger(part_ledger_path(dest, part))
    if ledger.get("unpacked", part.file_name) is None:
        return None
    return sorted(r.path for r in ledger.of_kind("member") if is_video_name(r.path, extensions))


def delete_part(dest: Path, part: RemotePart, videos: Iterable[str]) -> int:
    """Remove the part's zip and these videos (paths under the download folder) where they are still there;
    the metadata and the download ledger stay. Returns the bytes freed."""
    freed = 0
    for path in [dest / part.file_name, *(local_path(dest, v) for v in videos)]:
        freed += size_of(path)
        remove(path)
    return freed


class PartFetcher:
    """One part into the download folder, resumable at every step: the zip (a `.part` file resumed with
    Range), its videos and metadata unpacked (each verified and recorded); once extracted, `delete_part` removes
    the zip and the videos."""

    def __init__(self, dest: Path, part: RemotePart, client: KaggleCompetition, retries: int,
                 settings: TransferSettings, extensions: tuple[str, ...], show_progress: bool) -> None:  # fmt: skip
        self.dest = dest
        self.part = part
        self.client = client
        self.settings = settings
        self.extensions = extensions
        self.show_progress = show_progress
        self.archive = dest / part.file_name
        self.retrying = Retrier(retries, settings, client.rejected_message, dest)

    def wanted(self, name: str) -> bool:
        return is_video_name(name, self.extensions) or is_metadata_name(name)

    async def fetch(self) -> str:
        """Make sure the part's videos and metadata are on disk, verified, downloading the zip only if needed;
        returns the part's folder under the download folder (as the zip spells it)."""
        self.dest.mkdir(parents=True, exist_ok=True)
        ledger = DownloadLedger(part_ledger_path(self.dest, self.part))
        try:
            folder = self._folder(ledger)
            if folder is not None and unpacked_before(ledger, self.dest, self.archive):
                return folder
            record = ledger.get("archive", self.part.file_name)
            if not (record is not None and size_of(self.archive) == record.size_bytes == self.part.size_bytes):
                await self._download()
                ledger.add("archive", self.part.file_name, size_of(self.archive))
            unpacker = Unpacker(self.dest, ledger, self.settings, self.wanted, self.show_progress)
            await in_daemon_thread(unpacker.unpack, self.archive)
            folder = self._folder(ledger)
            if folder is None:
                raise ArchiveError(f"{self.part.file_name} holds no video under {self.part.stem}/: it is not a DFDC "
                                   f"training part; delete {self.archive} and run again")  # fmt: skip
            ledger.add("unpacked", self.part.file_name, size_of(self.archive))
            return folder
        finally:
            ledger.close()

    def _folder(self, ledger: DownloadLedger) -> str | None:
        """The folder the part's videos were unpacked into (`dfdc_train_part_N`), None before any was."""
        prefix = self.part.stem.lower() + "/"
        for record in ledger.of_kind("member"):
            if record.path.lower().startswith(prefix) and is_video_name(record.path, self.extensions):
                return record.path[: len(prefix) - 1]
        return None

    async def _download(self) -> None:
        partial = part_path(self.dest, self.part.file_name)
        size = self.part.size_bytes

        def space_for(announced: int | None) -> None:
            left = (announced or size) - size_of(partial)
            check_space(self.dest, left + size, f"{self.part.file_name} and its unpacked videos",
                        detail=f"{fmt_bytes(left)} to download, {fmt_bytes(size * DISK_MARGIN)} to unpack",
                        margin_on=size)  # fmt: skip

        await self.retrying("checking Kaggle credentials", self.client.authenticate)
        progress = BytesProgress(self.part.stem, size, 1, self.show_progress, self.settings.progress_every_s)
        poller = asyncio.create_task(poll_progress(progress, lambda: (size_of(partial), 0)))
        try:
            await self.retrying(self.part.file_name, self._fetch_once, partial, space_for)
        finally:
            await stop_polling(poller)
            progress.show(size_of(self.archive) or size_of(partial), int(self.archive.is_file()), final=True)
            progress.close()

    def _fetch_once(self, partial: Path, space_for: Callable[[int | None], None]) -> None:
        self.client.fetch(self.part.file_name, partial, space_for)
        got = size_of(partial)
        if got != self.part.size_bytes:
            remove(partial, marker_path(partial))
            raise IncompleteDownload(f"got {got} bytes where the listing says {self.part.size_bytes}")
        settle(partial, self.archive)
