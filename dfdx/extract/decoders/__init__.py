"""Decoders: a video and its plan → the planned frames (`dfdx.extract.frame.Frame`), exact to the frame.

A decoder is one module here with a class that meets `Decoder`, registered in `dfdx.plugins.DECODERS`
under the name `extract.grabber` takes. The rest of dfdx only calls `open_decoder`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from dfdx import plugins

if TYPE_CHECKING:  # for the annotations only: the PyAV worker process imports this package, and starts faster
    from pathlib import Path

    from dfdx.children import Children
    from dfdx.extract.frame import Frame
    from dfdx.extract.plan import Plan
    from dfdx.extract.probe import VideoInfo


class Decoder(Protocol):
    """Decodes the frames a plan names; one instance serves a whole run (it may keep workers alive)."""

    def __init__(self, workers: int) -> None: ...

    async def decode(self, path: Path, info: VideoInfo, plan: Plan, children: Children, timeout_s: float,
                     threads: int, keyframes_only: bool) -> dict[int, Frame]:
        """Each planned frame, keyed by its index in the frame grid. A frame it could not produce is
        absent; a video it cannot read raises `DecodeError` (or `ChildTimeout`)."""
        ...

    async def close(self, children: Children) -> None:
        """End of run: release whatever the decoder keeps (worker processes)."""
        ...


def open_decoder(name: str, workers: int) -> Decoder:
    """The decoder `extract.grabber` names, for at most `workers` decodes at a time; raises UsageError
    when what it needs is not installed."""
    decoder: Decoder = plugins.load("extract.grabber", name)(workers)
    return decoder
