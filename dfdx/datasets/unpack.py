"""Unpacking a downloaded zip into the download folder safely: refused whole, or written member by member.

Why not `zipfile.extractall`: it quietly rewrites `..` members and writes symlink members as files. Here a
member that would escape the folder, or is a link, is refused by name before anything is written; each
wanted member is written under a temporary name, fsynced, and renamed only once zipfile has checked its
CRC, then recorded in the download ledger (so a rerun skips what is already in place, and nothing half
written ever carries a final name). Free space is checked before writing, with a margin for file-system
slack. Kaggle also wraps some single large files in a zip of their own: `unwrap_single` undoes that with
the same care.

The functions take what they need (the destination, the ledger, the settings), so the unpacking can be
tested without a server and the downloader only decides *when* to unpack.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from dfdx.datasets.download_ledger import DownloadLedger
from dfdx.datasets.kaggle import IncompleteDownload, TransferSettings
from dfdx.datasets.listing import local_path, marker_path, unsafe_reason
from dfdx.errors import SystemFault
from dfdx.progress import BytesProgress, fmt_bytes

TEMP_SUFFIX = ".dfdx-tmp"  # an archive member being written
DISK_MARGIN = 1.1  # unpacking needs the members' size plus file-system slack


class ArchiveError(SystemFault):
    """The archive cannot be unpacked safely: a member escapes the target, is a link, or the zip is broken."""


class DiskSpaceError(SystemFault):
    """Not enough free space for what is about to be written; says what is needed and what is free."""


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an archive member may not be unpacked; links are refused whatever their target."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return unsafe_reason(info.filename)


def size_of(path: Path) -> int:
    """The size of a file on disk, 0 when it is not there."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def remove(*paths: Path) -> None:
    """Delete files that may or may not exist."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def settle(part: Path, final: Path) -> None:
    """Make a complete download durable, then give it its final name (the client leaves it un-synced)."""
    with open(part, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(part, final)
    remove(marker_path(part))


def check_space(dest: Path, needed: int, what: str, detail: str = "", margin_on: int = 0) -> None:
    """Refuse to start writing what cannot fit in dest; `margin_on` bytes get the unpacking margin."""
    needed = int(needed + margin_on * (DISK_MARGIN - 1))
    if needed <= 0:
        return
    free = shutil.disk_usage(dest).free
    if needed > free:
        detail = f" ({detail})" if detail else ""
        raise DiskSpaceError(
            f"not enough free space in {dest} for {what}: needs {fmt_bytes(needed)}{detail}, "
            f"{fmt_bytes(free)} is free. Free some space, pick another --download-dir, "
            "or use --max-videos N to fetch only N videos per category"
        )


def unpacked_before(ledger: DownloadLedger, dest: Path, archive: Path) -> bool:
    """The ledger says the archive was fully unpacked and every member it lists is still on disk."""
    if ledger.get("unpacked", archive.name) is None:
        return False
    return all(size_of(local_path(dest, r.path)) == r.size_bytes for r in ledger.of_kind("member"))


class Unpacker:
    """Unpacks the wanted members of one archive into dest, each recorded in the ledger once it is in place."""

    def __init__(
        self,
        dest: Path,
        ledger: DownloadLedger,
        settings: TransferSettings,
        wanted: Callable[[str], bool],
        show_progress: bool,
    ) -> None:
        self.dest = dest
        self.ledger = ledger
        self.settings = settings
        self.wanted = wanted
        self.show_progress = show_progress

    def unpack(self, archive: Path) -> tuple[int, int, int]:
        """Blocking: check every member, then write the wanted ones atomically; returns (new, kept, ignored)."""
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
            wanted = [i for i in infos if not i.is_dir() and self.wanted(i.filename)]
            ignored = sum(1 for i in infos if not i.is_dir()) - len(wanted)
            todo = [i for i in wanted if not self.member_done(i)]
            need = sum(i.file_size for i in todo)
            check_space(self.dest, need, f"unpacking {len(todo)} files", margin_on=need)
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
        """In the ledger with this size and CRC, and on disk with this size."""
        record = self.ledger.get("member", info.filename)
        return (
            record is not None
            and record.size_bytes == info.file_size
            and record.crc32 == info.CRC
            and size_of(local_path(self.dest, info.filename)) == info.file_size
        )

    def unpack_member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: Path) -> None:
        """Write one member under a temporary name, let zipfile check its CRC on the way, then rename it."""
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
            remove(temp)
            raise ArchiveError(
                f"{archive.name}: member {info.filename!r} is damaged ({exc}); delete {archive} and run again"
            ) from None
        except OSError as exc:
            remove(temp)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskSpaceError(f"disk full while unpacking {info.filename!r} into {self.dest}") from None
            raise
        self.ledger.add("member", info.filename, info.file_size, info.CRC)


def unwrap_single(wrapper: Path, final: Path, expected_size: int) -> None:
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
        remove(temp, wrapper, marker_path(wrapper))
        raise IncompleteDownload(f"the zipped download is damaged ({exc})") from None
    if size_of(temp) != expected_size:
        remove(temp, wrapper, marker_path(wrapper))
        raise IncompleteDownload(f"unzipped {size_of(temp)} bytes where the listing says {expected_size}")
    os.replace(temp, final)
    remove(wrapper, marker_path(wrapper))
