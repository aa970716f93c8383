"""The JPEG encoder: IJG quality tables at any size."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from dfdx.extract.encoders.jpeg import encode_jpeg
from dfdx.extract.frame import frame_bytes


def test_encode_odd_sizes_at_ijg_quality():
    w, h = 161, 97
    raw = np.full(frame_bytes(w, h), 128, np.uint8).tobytes()
    jpeg = Image.open(io.BytesIO(encode_jpeg(raw, w, h, 95)))
    reference = io.BytesIO()
    Image.new("RGB", (8, 8)).save(reference, "JPEG", quality=95)
    assert jpeg.size == (w, h) and jpeg.quantization == Image.open(reference).quantization
