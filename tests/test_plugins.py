"""The registry of pluggable parts: every name the config accepts loads, and meets its protocol."""

from __future__ import annotations

import inspect

import pytest

from dfdx import plugins
from dfdx.config import CHOICES

# What each kind must provide (dfdx/extract/decoders, transforms, encoders, dfdx/run, datasets/profiles).
REQUIRED = {
    "dataset.profile": ("detect", "discover", "label"),
    "extract.probe": (),  # a coroutine function (path, children, timeout_s) -> VideoInfo
    "extract.grabber": ("decode", "close"),
    "extract.crop": ("fingerprint", "apply"),
    "extract.format": ("encode", "extension", "format_id"),
    "run.runner": ("run", "stop", "abort"),
}


def test_the_config_accepts_exactly_the_registered_names():
    for key, registry in plugins.KINDS.items():
        assert CHOICES[key] == (("auto",) if key == "dataset.profile" else ()) + tuple(registry)
    assert set(REQUIRED) == set(plugins.KINDS)


@pytest.mark.parametrize(("key", "name"), [(k, n) for k, r in plugins.KINDS.items() for n in r])
def test_every_registered_part_loads_and_has_its_methods(key, name):
    part = plugins.load(key, name)
    if key == "extract.probe":
        assert inspect.iscoroutinefunction(part) and list(inspect.signature(part).parameters) == [
            "path", "children", "timeout_s"]
        return
    assert inspect.isclass(part)
    for attribute in REQUIRED[key]:
        assert hasattr(part, attribute), f"{part.__name__} lacks {attribute}"
    if key == "extract.grabber":
        assert inspect.iscoroutinefunction(part.decode) and inspect.iscoroutinefunction(part.close)
