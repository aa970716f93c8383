"""`crop: none`: the whole frame, as decoded."""

from __future__ import annotations

from typing import Any

from dfdx.config import ExtractConfig
from dfdx.extract.frame import Frame
from dfdx.extract.transforms import Output


class Identity:
    on_missing = "skip"  # it never misses

    def __init__(self, cfg: ExtractConfig, workers: int = 1) -> None:
        del cfg, workers

    def fingerprint(self) -> dict[str, Any]:
        return {}

    async def apply(self, frame: Frame) -> list[Output]:
        return [Output(frame)]

    async def close(self) -> None:
        return None
