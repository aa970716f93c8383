"""The settings of one extraction run, resolved once from the config: what every video's unit of work
needs, in one frozen record (picklable, so a distributed runner can hand it to its workers as it is).

Resolving is where the config's choices meet the pluggable parts: positions per category (balance
included), the ledger fingerprint per category (positions, quality, seek, the encoder's format and the
transform's settings), decoder threads, and the versions of the tools that made the frames.
"""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from dfdx import __version__
from dfdx.children import INSTALL_HINT, require_runs
from dfdx.config import Config, ExtractConfig
from dfdx.errors import SystemFault
from dfdx.extract.encoders import open_encoder
from dfdx.extract.plan import fingerprint
from dfdx.extract.positions import positions_by_category
from dfdx.extract.transforms import open_transform

VERSION_TIMEOUT_S = 30.0  # `ffmpeg -version` answers in ~50 ms; this only tells a hung install from a slow start


@dataclass(frozen=True, slots=True)
class ExtractSettings:
    dataset_root: Path  # absolute
    output_dir: Path  # absolute
    positions: Mapping[str, tuple[Fraction, ...]]  # per category
    params: Mapping[str, dict[str, Any]]  # the ledger fingerprint per category
    extract: ExtractConfig  # the parts' own settings (decoder, transform, encoder names and options)
    workers: int  # concurrent children (decodes) at most
    threads: int  # decoder threads per child
    run_id: str
    versions: Mapping[str, str]

    @property
    def keyframes_only(self) -> bool:
        return self.extract.seek == "keyframe"


def resolve_settings(cfg: Config, videos_per_category: Mapping[str, int], *, run_id: str | None = None,
                     versions: Mapping[str, str] | None = None) -> ExtractSettings:
    """The run's settings for videos of these categories (counts matter only to `extract.balance`)."""
    x = cfg.extract
    positions = positions_by_category(x, videos_per_category)
    format_id = open_encoder(x.format, x.jpeg_quality).format_id
    transform = open_transform(x.crop, x).fingerprint()
    params = {cat: fingerprint(pos, x.jpeg_quality, x.seek, format_id, transform) for cat, pos in positions.items()}
    return ExtractSettings(
        dataset_root=Path(cfg.dataset_path).absolute(),
        output_dir=Path(cfg.output_dir).absolute(),
        positions=positions,
        params=params,
        extract=x,
        workers=cfg.workers,
        threads=max(1, (os.cpu_count() or 1) // cfg.workers),
        run_id=run_id or uuid.uuid4().hex[:12],
        versions=dict(versions) if versions is not None else tool_versions(),
    )


def tool_versions_soon() -> asyncio.Future[dict[str, str]]:
    """`tool_versions` started now in a thread, to await later: its ffmpeg child (~50 ms) then runs beside
    the discovery walk instead of before the first video. Call from a running event loop."""
    return asyncio.get_running_loop().run_in_executor(None, tool_versions)


def tool_versions() -> dict[str, str]:
    """What made the frames, recorded in every ledger line: dfdx, ffmpeg and Python. An ffmpeg that cannot run
    at all (a library missing, not executable) or hangs before printing its version stops the run here, before
    anything is written (`SystemFault`): every video would fail or time out on it."""
    try:
        done = subprocess.run(["ffmpeg", "-version"], capture_output=True, timeout=VERSION_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SystemFault(f"ffmpeg did not answer `ffmpeg -version` within {VERSION_TIMEOUT_S:g} s: it hangs on this "
                          f"machine; {INSTALL_HINT}") from None  # fmt: skip
    except OSError as exc:
        raise SystemFault(f"ffmpeg cannot run on this machine ({exc.strerror}); {INSTALL_HINT}") from None
    require_runs("ffmpeg", done.returncode, done.stderr)
    first = done.stdout.decode(errors="replace")
    ffmpeg_version = first.split()[2] if first.startswith("ffmpeg version") else "unknown"
    return {"dfdx": __version__, "ffmpeg": ffmpeg_version, "python": platform.python_version()}
