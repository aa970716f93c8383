"""`crop: none`: the whole frame, as decoded."""

from __future__ import annotations

from typing import Any

from dfdx.config import ExtractConfig
from dfdx.extract.frame import Frame
from dfdx.extract.transforms import Output


class Identity:
    def __init__(self, cfg: ExtractConfig) -> None:
        del cfg

    def fingerprint(self) -> dict[str, Any]:
        return {}

    async def apply(self, frame: Frame) -> list[Output]:
        return [Output(frame)]
