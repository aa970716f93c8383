"""Files that appear whole or not at all: written under a temp name in the same folder, then renamed.

Every temp file dfdx writes starts with one prefix, so one cleanup (`remove_temp_files`) and one
check (`dfdx verify`) find them all, whatever step an interrupted run was in.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from dfdx.errors import SystemFault

TEMP_PREFIX = ".dfdx-tmp-"


def temp_path_for(path: Path) -> Path:
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{path.name}")


def check_writable(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be written in it, before any work starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_file = folder / f"{TEMP_PREFIX}write-check-{os.getpid()}"
        probe_file.write_bytes(b"")
        probe_file.unlink()
    except OSError as exc:
        raise SystemFault(f"output folder {str(folder)!r} is not writable: {exc.strerror or exc}") from None


def remove_temp_files(out: Path) -> int:
    """Temp files an interrupted run left in the output folder or its sub-folders; never part of the
    dataset. Returns how many were removed."""
    removed = 0
    folders = [out, *(p for p in out.iterdir() if p.is_dir())] if out.is_dir() else []
    for folder in folders:
        for tmp in folder.glob(f"{TEMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
    return removed


def write_text_atomic(path: Path, text: str) -> Path:
    """Replace `path` with `text` in one rename. Characters UTF-8 cannot hold (a video name with bytes
    that are not UTF-8) are written as U+FFFD instead of stopping the run."""
    tmp = temp_path_for(path)
    try:
        tmp.write_text(text, encoding="utf-8", errors="replace")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path
