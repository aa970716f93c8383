"""H.264 syntax that `probe: index` and the ffmpeg decoder's one-child path need, read as FFmpeg 5.1 reads
it: the avcC's parameter sets, the SPS (size, chroma, bit depth, colour, timing, reorder depth), the
start of the PPS and of a slice header, and whether a SEI carries a recovery point. What does not parse
cleanly, or what FFmpeg would refuse, raises `Doubt` (see dfdx.extract.mp4): ffprobe then decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from dfdx.extract.mp4 import Doubt

# --- H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1 and E.1.1) --------------------------------------------

HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


@dataclass(frozen=True, slots=True)
class Sps:
    chroma_format_idc: int
    bit_depth: int
    width: int  # cropped, as decoded
    height: int
    full_range: bool | None  # None: no video_signal_type in the VUI
    matrix: int | None  # matrix_coefficients; None: no colour description
    timing: tuple[int, int] | None  # (num_units_in_tick, time_scale)
    pic_struct_present: bool
    num_reorder_frames: int | None = None  # bitstream_restriction: frames the decoder holds back at most
    max_ref_frames: int = 0
    sps_id: int = 0


@dataclass(frozen=True, slots=True)
class Pps:
    pps_id: int
    sps_id: int
    ref_l0: int  # num_ref_idx_l0_default_active


def parse_pps(nal: bytes) -> Pps:
    """The start of a picture parameter set: what FFmpeg's h264 parser reads to mark keyframes."""
    b = _Bits(nal)
    if b.u(8) & 0x1F != 8:
        raise Doubt("not a picture parameter set")
    pps_id, sps_id = b.ue(), b.ue()
    b.u(2)  # entropy_coding_mode, bottom_field_pic_order_in_frame_present
    if b.ue() != 0:
        raise Doubt("slice groups (FMO)")
    ref_l0 = b.ue() + 1
    if pps_id >= 256 or sps_id >= 32 or ref_l0 > 32 or b.ue() + 1 > 32:
        raise Doubt("a picture parameter set out of range")
    return Pps(pps_id, sps_id, ref_l0)


def slice_start(nal: bytes) -> tuple[int, int]:
    """(slice_type, pic_parameter_set_id) of a coded slice NAL unit."""
    b = _Bits(nal)
    b.u(8)
    b.ue()  # first_mb_in_slice
    return b.ue(), b.ue()


def sei_has_recovery_point(nal: bytes) -> bool:
    """Whether a SEI NAL unit carries a recovery point (payload type 6): FFmpeg's h264 parser then marks
    the packet a keyframe. A message list that does not parse cleanly is a doubt."""
    rbsp = _Bits.rbsp(nal)
    at, found = 1, False
    while at < len(rbsp) - 1 or (at == len(rbsp) - 1 and rbsp[at] != 0x80):
        kind = size = 0
        for value in ("kind", "size"):
            total = 0
            while at < len(rbsp) and rbsp[at] == 0xFF:
                total, at = total + 255, at + 1
            if at >= len(rbsp):
                raise Doubt("a cut SEI message")
            total, at = total + rbsp[at], at + 1
            kind, size = (total, size) if value == "kind" else (kind, total)
        if at + size > len(rbsp):
            raise Doubt("a SEI message past its NAL unit")
        if kind == 6:
            if _Bits(b"\x00" + rbsp[at : at + size]).skip(8).ue() > 256:
                raise Doubt("a recovery point FFmpeg refuses")
            found = True
        elif kind == 5 and rbsp[at + 16 : at + 28] == b"x264 - core ":
            build = rbsp[at + 28 : at + 36].split(b" ")[0]
            if not build.isdigit() or int(build) < 44:  # FFmpeg then doubles the SPS frame rate's time scale
                raise Doubt("an x264 build older than 44")
        at += size
    return found


def parameter_sets(avcc: bytes) -> tuple[bytes, bytes]:
    """The one SPS and the one PPS of an avcC whose NAL units carry 4-byte lengths (what FFmpeg's h264
    parser then reads the packets with); anything else is a doubt."""
    if len(avcc) < 7 or avcc[0] != 1 or avcc[4] & 3 != 3 or avcc[5] & 0x1F != 1:
        raise Doubt("an avcC with other NAL lengths, or not exactly one SPS")
    sps_size = int.from_bytes(avcc[6:8], "big")
    at = 8 + sps_size
    if at + 3 > len(avcc) or avcc[at] != 1:
        raise Doubt("an avcC without exactly one PPS")
    pps_size = int.from_bytes(avcc[at + 1 : at + 3], "big")
    if at + 3 + pps_size > len(avcc):
        raise Doubt("a cut parameter set")
    return avcc[8:at], avcc[at + 3 : at + 3 + pps_size]


def first_sps(avcc: bytes) -> bytes:
    return parameter_sets(avcc)[0]


class _Bits:
    def __init__(self, nal: bytes) -> None:
        rbsp = self.rbsp(nal)
        self.value, self.left = int.from_bytes(rbsp, "big"), len(rbsp) * 8

    @staticmethod
    def rbsp(nal: bytes) -> bytes:
        return nal.replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention

    def skip(self, n: int) -> _Bits:
        self.u(n)
        return self

    def trailing(self) -> bool:
        """Only rbsp_trailing_bits left: a one, then zeros to the byte's end."""
        return self.left >= 1 and self.value & ((1 << self.left) - 1) == 1 << (self.left - 1)

    def u(self, n: int) -> int:
        if n > self.left:
            raise Doubt("the sequence parameter set ends early")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        rest = self.value & ((1 << self.left) - 1)
        zeros = self.left - rest.bit_length()  # leading zero bits, then a one
        if not rest or zeros > 31:
            raise Doubt("a broken Exp-Golomb code")
        self.left -= zeros + 1
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def parse_sps(nal: bytes) -> Sps:
    b = _Bits(nal)
    if b.u(8) & 0x1F != 7:
        raise Doubt("not a sequence parameter set")
    profile = b.u(8)
    b.u(16)  # constraint flags, level
    sps_id = b.ue()
    chroma, depth = 1, 8
    if profile in HIGH_PROFILES:
        chroma = b.ue()
        if chroma == 3 and b.u(1):
            raise Doubt("separate colour planes")
        depth = b.ue() + 8
        if b.ue() + 8 != depth:
            raise Doubt("chroma and luma bit depths differ")
        b.u(1)  # qpprime_y_zero_transform_bypass
        if b.u(1):  # scaling matrices
            for i in range(8 if chroma != 3 else 12):
                if b.u(1):
                    last = nxt = 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt:
                            nxt = (last + b.se()) % 256
                        last = nxt or last
    if sps_id >= 32 or depth > 14 or chroma > 3 or b.ue() > 12:  # log2_max_frame_num_minus4
        raise Doubt("a sequence parameter set out of range")
    poc = b.ue()
    if poc > 2:
        raise Doubt("a picture order count type out of range")
    if poc == 0 and b.ue() > 12:
        raise Doubt("a picture order count length out of range")
    elif poc == 1:
        b.u(1), b.se(), b.se()
        for _ in range(b.ue()):
            b.se()
    max_ref_frames = b.ue()
    b.u(1)  # gaps_in_frame_num_allowed
    if max_ref_frames > 16:
        raise Doubt("too many reference frames")
    mbs_w, map_h = b.ue() + 1, b.ue() + 1
    if not b.u(1):
        raise Doubt("interlaced coding (fields)")
    b.u(1)  # direct_8x8_inference
    crop = [b.ue() for _ in range(4)] if b.u(1) else [0, 0, 0, 0]
    if crop[0] or crop[2]:
        raise Doubt("left or top cropping")  # ffmpeg may round those for alignment
    sub_w, sub_h = {1: (2, 2), 2: (2, 1), 3: (1, 1)}.get(chroma, (0, 0))
    if not sub_w:
        raise Doubt("monochrome video")
    width, height = 16 * mbs_w - sub_w * crop[1], 16 * map_h - sub_h * crop[3]
    full_range = matrix = timing = reorder = None
    pic_struct = False
    if b.u(1):  # vui_parameters_present_flag
        if b.u(1) and b.u(8) == 255:  # aspect_ratio_info, Extended_SAR
            b.u(32)
        if b.u(1):
            b.u(1)  # overscan
        if b.u(1):  # video_signal_type
            b.u(3)
            full_range = bool(b.u(1))
            if b.u(1):
                b.u(16)  # primaries, transfer
                matrix = b.u(8)
        if b.u(1):
            b.ue(), b.ue()  # chroma location
        if b.u(1):
            timing = (b.u(32), b.u(32))
            b.u(1)  # fixed_frame_rate
        hrd = [b.u(1) and _hrd(b) for _ in range(2)]
        if any(hrd):
            b.u(1)  # low_delay_hrd
        pic_struct = bool(b.u(1))
        if b.u(1):  # bitstream_restriction
            b.u(1), b.ue(), b.ue(), b.ue(), b.ue()  # mv over boundaries, bytes/bits denominators, mv lengths
            reorder = b.ue()
            b.ue()  # max_dec_frame_buffering
    if not b.trailing() or width > 16384 or height > 16384:
        raise Doubt("a sequence parameter set that does not end where it should")
    return Sps(chroma, depth, width, height, full_range, matrix, timing, pic_struct, reorder, max_ref_frames, sps_id)


def _hrd(b: _Bits) -> bool:
    count = b.ue() + 1
    b.u(8)  # bit_rate_scale, cpb_size_scale
    for _ in range(count):
        b.ue(), b.ue(), b.u(1)
    b.u(20)  # four 5-bit lengths
    return True
