"""What every decoder shares: its error, and how a source's colours are read (the contract of
`dfdx.extract.frame`: full-range BT.601 out, whatever the source was tagged)."""

from __future__ import annotations

from dfdx.extract.probe import VideoInfo

# ffprobe's color_space → swscale's matrix names; anything else is what ffmpeg assumes (BT.601).
_MATRIX = {
    "bt709": "bt709",
    "smpte170m": "bt601",
    "bt470bg": "bt601",
    "fcc": "fcc",
    "smpte240m": "smpte240m",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
}


class DecodeError(Exception):
    """This video's frames could not be produced; the message is the ledger's reason."""


def source_matrix(info: VideoInfo) -> str:
    return _MATRIX.get(info.color_space or "", "bt601")


def source_range(info: VideoInfo) -> str | None:
    if info.color_range in ("pc", "jpeg") or info.pix_fmt.startswith("yuvj"):
        return "pc"
    if info.color_range in ("tv", "mpeg"):
        return "tv"
    return None  # untagged: let ffmpeg assume (limited range for YUV)
