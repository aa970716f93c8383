"""Files that appear whole or not at all: written under a temp name in the same folder, then renamed.

Every temp file dfdx writes starts with one prefix, so one cleanup (`engine.remove_temp_files`) and one
check (`dfdx verify`) find them all, whatever step an interrupted run was in.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TEMP_PREFIX = ".dfdx-tmp-"


def temp_path_for(path: Path) -> Path:
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{path.name}")


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
