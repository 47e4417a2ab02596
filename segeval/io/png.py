"""PNG specifics: the header, and the fast decoder when it is installed.

Decoding is most of the time of a run, and PNG decoders differ by 1.4 x on
label maps (measured in ``benchmarks/``: imagecodecs, built on libdeflate, is
the fastest of Pillow, pyspng, OpenCV and imagecodecs). imagecodecs is an
optional dependency (``pip install segeval[fast]``); without it, or with
``SEGEVAL_DECODER=pillow``, Pillow decodes everything.

The fast path is used only where it returns exactly what Pillow returns:
8 and 16-bit grayscale, and RGB/RGBA for colour masks. Palette images (whose
indices imagecodecs would turn into colours), bit depths below 8, and
grayscale with a transparency chunk go to Pillow. Any decoding error also falls
back to Pillow, whose message then names the problem.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import numpy as np

__all__ = [
    "PngHeader",
    "active_decoder",
    "check_png_structure",
    "fast_decode",
    "parse_png_header",
]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRAY, RGB_COLOR, PALETTE, GRAY_ALPHA, RGBA_COLOR = 0, 2, 3, 4, 6


@dataclass(frozen=True)
class PngHeader:
    """The IHDR fields that decide how a PNG is read."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    interlaced: bool = False


_CHANNELS = {GRAY: 1, RGB_COLOR: 3, PALETTE: 1, GRAY_ALPHA: 2, RGBA_COLOR: 4}
# Adam7 passes: (first row, first column, row step, column step).
_ADAM7 = (
    (0, 0, 8, 8),
    (0, 4, 8, 8),
    (4, 0, 8, 4),
    (0, 2, 4, 4),
    (2, 0, 4, 2),
    (0, 1, 2, 2),
    (1, 0, 2, 1),
)


def _filtered_size(header: PngHeader) -> int:
    """Bytes of filtered image data the IDAT stream must inflate to."""
    bits = header.bit_depth * _CHANNELS.get(header.color_type, 1)

    def rows_size(rows: int, columns: int) -> int:
        return 0 if rows == 0 or columns == 0 else rows * (1 + (columns * bits + 7) // 8)

    if not header.interlaced:
        return rows_size(header.height, header.width)
    return sum(
        rows_size(
            max(0, (header.height - row + row_step - 1) // row_step),
            max(0, (header.width - column + column_step - 1) // column_step),
        )
        for row, column, row_step, column_step in _ADAM7
    )


def check_png_structure(data: bytes, header: PngHeader, *, complete: bool) -> str | None:
    """Why a PNG must be refused whichever decoder reads it, or None.

    Parameters
    ----------
    data : bytes
        The whole file.
    header : PngHeader
    complete : bool
        Also inflate the image data and check it covers every row (Pillow fills
        a stream that ends early with zero rows, the fast decoder refuses it).

    Returns
    -------
    str or None
        ``"animated"`` (an APNG: which frame is the mask?), ``"truncated"``, or None.

    Examples
    --------
    >>> import zlib
    >>> def chunk(kind, payload):
    ...     return struct.pack(">I", len(payload)) + kind + payload + bytes(4)
    >>> ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0))
    >>> rows = zlib.compress(bytes([0, 1, 1]))  # one of the two rows
    >>> png = _SIGNATURE + ihdr + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    >>> check_png_structure(png, PngHeader(2, 2, 8, 0), complete=True)
    'truncated'
    """
    position, idat = len(_SIGNATURE), []
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind == b"acTL":
            return "animated"
        if kind == b"IDAT":
            if not complete:
                return None  # acTL must come before the image data
            idat.append(data[position + 8 : position + 8 + length])
        elif kind == b"IEND":
            break
        position += 12 + length
    if complete:
        expected = _filtered_size(header)
        inflater = zlib.decompressobj()
        inflated = 0
        for part in idat:
            try:
                inflated += len(inflater.decompress(part, max(1, expected + 1 - inflated)))
            except zlib.error:
                return "truncated"
            if inflated > expected:
                break
        if inflated < expected:
            return "truncated"
    return None


def parse_png_header(head: bytes) -> PngHeader | None:
    """Read the IHDR chunk from the first 33 bytes of a PNG (None if malformed).

    Examples
    --------
    >>> head = _SIGNATURE + struct.pack(">I4sIIBBBBB", 13, b"IHDR", 640, 480, 8, 0, 0, 0, 0)
    >>> parse_png_header(head)
    PngHeader(width=640, height=480, bit_depth=8, color_type=0, interlaced=False)
    """
    if len(head) < 29 or not head.startswith(_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height, bit_depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return PngHeader(width, height, bit_depth, color_type, interlaced=interlace == 1)


def gray_scale_factor(header: PngHeader) -> int:
    """Pillow stretches 2 and 4-bit grayscale to 0..255; this undoes it.

    A 2-bit mask holding labels 0..3 decodes as 0, 85, 170, 255; dividing by 85
    gives the labels back exactly.

    Examples
    --------
    >>> gray_scale_factor(PngHeader(1, 1, 2, GRAY)), gray_scale_factor(PngHeader(1, 1, 8, GRAY))
    (85, 1)
    """
    if header.color_type == GRAY and header.bit_depth in (2, 4):
        return 255 // ((1 << header.bit_depth) - 1)
    return 1


@cache
def _imagecodecs() -> ModuleType | None:
    if os.environ.get("SEGEVAL_DECODER", "").lower() == "pillow":
        return None
    try:
        import imagecodecs
    except ImportError:
        return None
    return imagecodecs if hasattr(imagecodecs, "png_decode") else None


def active_decoder() -> str:
    """Which library decodes PNG label masks here, with its version.

    Examples
    --------
    >>> active_decoder().split()[0] in ("imagecodecs", "pillow")
    True
    """
    codecs = _imagecodecs()
    if codecs is not None:
        return f"imagecodecs {codecs.__version__} (Pillow for palette and low-bit-depth PNGs)"
    import PIL

    return f"pillow {PIL.__version__}"


def fast_decode(data: bytes, header: PngHeader, has_colors: bool) -> np.ndarray | None:
    """Decode with imagecodecs where it matches Pillow exactly; None to fall back.

    Parameters
    ----------
    data : bytes
        The whole PNG file.
    header : PngHeader
        Its parsed header.
    has_colors : bool
        A colour table is available, so RGB/RGBA images are worth decoding.
    """
    codecs = _imagecodecs()
    if codecs is None:
        return None
    expected_channels = {GRAY: 1, RGB_COLOR: 3, RGBA_COLOR: 4}.get(header.color_type)
    if expected_channels is None or header.bit_depth not in (8, 16):
        return None
    if expected_channels > 1 and (not has_colors or header.bit_depth != 8):
        return None
    try:
        pixels = np.asarray(codecs.png_decode(data))
    except Exception:  # any decoder failure: Pillow reads it and names the problem
        return None
    expected_shape: tuple[int, ...] = (header.height, header.width)
    if expected_channels > 1:
        expected_shape = (*expected_shape, expected_channels)
    if pixels.shape != expected_shape:  # e.g. a transparency chunk added an alpha plane
        return None
    return pixels
