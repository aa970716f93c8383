"""A video's frame files appear all at once or not at all.

Each file is encoded and written to a temp name in its final folder (`dfdx.files.temp_path_for`) and
fsynced, in a worker thread; only when every file of the video is written are they renamed into place.
The ledger line that names them is appended after that (by the runner), so a crash at any moment
leaves either the whole video or temp files that the next run removes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from dfdx.errors import DiskFull, SystemFault
from dfdx.files import temp_path_for


async def write_files(files: Sequence[tuple[Path, Callable[[], bytes]]]) -> list[int]:
    """Write each `(dest, make_bytes)` (make_bytes runs in the worker thread: encoding goes there), then
    rename them all into place; returns the sizes in bytes, in order."""
    temps: list[tuple[Path, Path]] = []
    sizes = []
    try:
        for dest, make_bytes in files:
            tmp = temp_path_for(dest)
            temps.append((tmp, dest))
            sizes.append(await _finish_even_if_cancelled(asyncio.to_thread(_write, make_bytes, tmp)))
        for tmp, dest in temps:
            os.replace(tmp, dest)
        return sizes
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


async def _finish_even_if_cancelled(work: Awaitable[int]) -> int:
    """A thread cannot be cancelled: on cancellation wait for it, so the cleanup that follows sees every
    temp file it created (otherwise a write landing after the cleanup would leave one behind)."""
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise


def _write(make_bytes: Callable[[], bytes], tmp: Path) -> int:
    data = make_bytes()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(f"disk full: cannot write frames to {tmp.parent}") from None
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise SystemFault(f"output folder {tmp.parent} is not writable: {exc.strerror}") from None
        raise
    return len(data)
