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
from fractions import Fraction
from typing import Any, Protocol

from dfdx import plugins
from dfdx.config import ExtractConfig
from dfdx.extract.frame import Frame

NEAREST_WINDOW_S = Fraction(1, 2)  # `on_missing: nearest` looks this far either side of the target


@dataclass(frozen=True, slots=True)
class FaceFacts:
    """Where an output came from, in source pixels of the displayed frame (after rotation)."""

    box: tuple[int, int, int, int]  # the detector's face box [x, y, w, h], margin-free
    score: float  # the detector's confidence, 0..1
    faces: int  # faces found in the frame (each at least min_score)
    crop: tuple[int, int, int, int]  # the region cut out [x, y, w, h] (before resizing)


@dataclass(frozen=True, slots=True)
class Output:
    frame: Frame
    suffix: str = ""  # appended to the frame's file name before the extension (e.g. "_face_2")
    face: FaceFacts | None = None


@dataclass(frozen=True, slots=True)
class Miss:
    """The transform found nothing to write in this frame."""

    reason: str  # "no face" | "face too small"
    faces: int  # faces found (all rejected)


class Transform(Protocol):
    on_missing: str  # skip | full | nearest: what the unit of work does with a Miss

    def __init__(self, cfg: ExtractConfig, workers: int = 1) -> None: ...

    def fingerprint(self) -> dict[str, Any]:
        """What the ledger's params must record about this transform ({} for none)."""
        ...

    async def apply(self, frame: Frame) -> list[Output] | Miss: ...

    async def close(self) -> None:
        """End of run: release what the transform keeps (worker processes)."""
        ...


def open_transform(name: str, cfg: ExtractConfig, workers: int = 1) -> Transform:
    """The transform `extract.crop` names, using at most `workers` processes; raises UsageError when
    what it needs is not installed."""
    transform: Transform = plugins.load("extract.crop", name)(cfg, workers)
    return transform
