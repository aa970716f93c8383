"""Frame transforms: what happens to a decoded frame before it is encoded (identity today; a face
crop or a resize is one more module). Registered in `dfdx.plugins.TRANSFORMS` under the name
`extract.crop` takes.

A transform sees the exact frame the decoder produced and returns the images to write for it: one
(the frame itself, a crop), several (one per face) or none (a crop that found nothing), each with the
suffix its file name gets. Its `fingerprint()` joins the ledger's params, so changing a transform's
settings redoes the videos it touched; the identity adds nothing, so today's ledgers stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from dfdx import plugins
from dfdx.config import ExtractConfig
from dfdx.extract.frame import Frame


@dataclass(frozen=True, slots=True)
class Output:
    frame: Frame
    suffix: str = ""  # appended to the frame's file name before the extension (e.g. "_face_2")


class Transform(Protocol):
    def __init__(self, cfg: ExtractConfig) -> None: ...

    def fingerprint(self) -> dict[str, Any]:
        """What the ledger's params must record about this transform ({} for none)."""
        ...

    async def apply(self, frame: Frame) -> list[Output]: ...


def open_transform(name: str, cfg: ExtractConfig) -> Transform:
    transform: Transform = plugins.load("extract.crop", name)(cfg)
    return transform
