"""Output formats: a `Frame` → the bytes of one file. One module per format, registered in
`dfdx.plugins.ENCODERS` under the name `extract.format` takes."""

from __future__ import annotations

from typing import Protocol

from dfdx import plugins
from dfdx.extract.frame import Frame


class Encoder(Protocol):
    extension: str  # of the files it writes, with the dot
    format_id: str  # what a file is, exactly: part of the ledger's fingerprint, so a change redoes videos

    def __init__(self, quality: int) -> None: ...

    def encode(self, frame: Frame) -> bytes:
        """Runs in a worker thread: it must release the GIL or be quick."""
        ...


def open_encoder(name: str, quality: int) -> Encoder:
    encoder: Encoder = plugins.load("extract.format", name)(quality)
    return encoder
