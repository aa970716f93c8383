"""`format: jpeg`: libjpeg-turbo at the IJG quality scale (what Pillow's `quality=` and OpenCV's
`IMWRITE_JPEG_QUALITY` mean; ffmpeg's `-q:v` is another scale and cannot give quality-95 tables), from
the decoder's YUV 4:2:0 planes as they are (no colour conversion on the way), GIL released."""

from __future__ import annotations

import simplejpeg

from dfdx.extract.frame import Frame

FORMAT_ID = "jpeg-ijg/yuv420/bt601-full/v1"


def encode_jpeg(raw: bytes, width: int, height: int, quality: int) -> bytes:
    y, u, v = Frame(width, height, raw).planes()
    return simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality=quality)


class JpegEncoder:
    extension = ".jpg"
    format_id = FORMAT_ID

    def __init__(self, quality: int) -> None:
        self.quality = quality

    def encode(self, frame: Frame) -> bytes:
        return encode_jpeg(frame.data, frame.width, frame.height, self.quality)
