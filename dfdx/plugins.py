"""Every pluggable part of dfdx, by the name its config key takes: the one list of each kind.

Adding a dataset profile, a decoder, a frame transform, an output format or a runner is one new module plus one line
here; the config accepts exactly these names (`dfdx.config.CHOICES` is built from these tables) and
the part is imported only when a run asks for it, so an optional dependency (PyAV) is needed only by
those who choose it. `docs/architecture.md` says what each kind must provide.
"""

from __future__ import annotations

import importlib
from typing import Any

# config key → {name: "module:attribute"}
PROFILES = {  # dataset.profile: dfdx.datasets.profiles.Profile ("auto" picks one from the tree)
    "dfd": "dfdx.datasets.profiles.dfd:DfdProfile",
    "ffpp": "dfdx.datasets.profiles.ffpp:FfppProfile",
    "celebdf": "dfdx.datasets.profiles.celebdf:CelebDfProfile",
    "dfdc": "dfdx.datasets.profiles.dfdc:DfdcProfile",
    "folders": "dfdx.datasets.profiles.folders:FoldersProfile",
}
PROBES = {  # extract.probe: async (path, children, timeout_s) -> dfdx.extract.probe.VideoInfo
    "ffprobe": "dfdx.extract.probe:probe",
    "index": "dfdx.extract.probe_index:probe_index",
}
DECODERS = {  # extract.grabber: dfdx.extract.decoders.Decoder
    "ffmpeg": "dfdx.extract.decoders.ffmpeg:FfmpegDecoder",
    "pyav": "dfdx.extract.decoders.pyav:PyAVDecoder",
}
TRANSFORMS = {  # extract.crop: dfdx.extract.transforms.Transform
    "none": "dfdx.extract.transforms.identity:Identity",
    "face": "dfdx.extract.transforms.face:FaceCrop",
}
ENCODERS = {  # extract.format: dfdx.extract.encoders.Encoder
    "jpeg": "dfdx.extract.encoders.jpeg:JpegEncoder",
}
RUNNERS = {  # run.runner: dfdx.run.Runner
    "local": "dfdx.run.local:LocalRunner",
    "ray": "dfdx.run.ray:RayRunner",
}

KINDS = {
    "dataset.profile": PROFILES,
    "extract.probe": PROBES,
    "extract.grabber": DECODERS,
    "extract.crop": TRANSFORMS,
    "extract.format": ENCODERS,
    "run.runner": RUNNERS,
}


def load(key: str, name: str) -> Any:
    """The class registered under `name` for config key `key` (imported now, not before)."""
    module, _, attribute = KINDS[key][name].partition(":")
    return getattr(importlib.import_module(module), attribute)
