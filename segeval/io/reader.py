"""Dispatch a mask file to the reader for its format, by content."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from segeval.errors import MaskReadError
from segeval.io.arrays import read_npy, read_npz
from segeval.io.colors import ColorTable
from segeval.io.files import DEFAULT_MAX_MASK_BYTES, read_regular_file
from segeval.io.image import read_image
from segeval.io.storage import Location, RemotePath

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MASK_SUFFIXES",
    "ReadOptions",
    "decode_mask",
    "read_mask",
    "sniff_format",
]

#: Default limit on the pixels of one mask (``--max-pixels``), read from the
#: header before decoding: a 138-byte PNG may declare 60000 x 60000 pixels.
DEFAULT_MAX_PIXELS = 100_000_000

#: File name suffixes (lower case) that pairing treats as masks; anything else is skipped.
MASK_SUFFIXES = frozenset({".png", ".npy", ".npz", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg"})

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\x93NUMPY", "npy"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"PK\x03\x04", "npz"),
    (b"PK\x05\x06", "npz"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
    (b"GIF8", "gif"),
    (b"RIFF", "webp"),
)

_IMAGE_FORMATS = frozenset({"png", "tiff", "bmp", "jpeg"})


@dataclass(frozen=True)
class ReadOptions:
    """How mask files are read.

    Parameters
    ----------
    colors : ColorTable, optional
        Colour -> label value, for RGB/RGBA masks. Without it colour masks are
        refused.
    unknown_color : {"error", "ignore"}, default "error"
        A colour not in the table: an error listing the unknown colours, or
        ``unknown_value``.
    unknown_value : int, default 255
        The label given to unknown colours under ``unknown_color="ignore"`` (an
        ignore value).
    allow_lossy : bool, default False
        Read JPEG masks (colours mapped to the nearest table colour).
    npz_key : str, optional
        The array to use from an NPZ file holding several.
    max_pixels : int or None, default DEFAULT_MAX_PIXELS
        Refuse images larger than this, from the header, before decoding
        (None: no limit, for trusted files).
    max_bytes : int or None, default DEFAULT_MAX_MASK_BYTES
        Refuse files larger than this, before reading them (None: no limit).
    """

    colors: ColorTable | None = None
    unknown_color: Literal["error", "ignore"] = "error"
    unknown_value: int = 255
    allow_lossy: bool = False
    npz_key: str | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_bytes: int | None = DEFAULT_MAX_MASK_BYTES


def sniff_format(head: bytes) -> str:
    """Name the file format from the first bytes of a file.

    Parameters
    ----------
    head : bytes
        At least the first 8 bytes of the file.

    Returns
    -------
    str
        ``"png"``, ``"npy"``, ``"npz"``, ``"jpeg"``, ``"tiff"``, ``"bmp"``,
        ``"gif"``, ``"webp"``, ``"empty"`` or ``"unknown"``.

    Examples
    --------
    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n")
    'png'
    >>> sniff_format(b"hello")
    'unknown'
    """
    if not head:
        return "empty"
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return "unknown"


def read_mask(
    path: str | os.PathLike[str] | RemotePath, options: ReadOptions | None = None
) -> np.ndarray:
    """Read one label mask as a 2-D integer array of raw label values.

    The format comes from the file's content; a ``.png`` holding a JPEG is
    reported as a JPEG.

    Parameters
    ----------
    path : str, path-like or RemotePath
        A local file, or an object in a store (read in one request).
        PNG (modes ``1``, ``L``, ``P``, ``I;16``, ``I``, and ``RGB``/``RGBA`` with
        a colour table), TIFF (8/16/32-bit integer, single page), BMP, NPY (2-D
        integer array), NPZ (one array, or ``options.npz_key``).
    options : ReadOptions, optional
        Colour table, lossy input, NPZ key, pixel and byte limits.

    Returns
    -------
    numpy.ndarray
        Shape ``(height, width)``; ``uint8`` for 1-bit, 8-bit and palette images
        (palette indices, never colours), ``uint16`` for 16-bit images, the
        stored integer dtype for arrays, label values for colour masks.

    Raises
    ------
    MaskReadError
        Missing, empty, truncated or unsupported files, anything but a regular
        file (a FIFO, a device), colour masks without a colour table, unknown
        colours, floating-point data, too many pixels or bytes, no pixels.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.array([[0, 1], [2, 255]], dtype=np.uint8)).save(folder / "m.png")
    >>> read_mask(folder / "m.png")
    array([[  0,   1],
           [  2, 255]], dtype=uint8)
    """
    options = options or ReadOptions()
    if isinstance(path, RemotePath):
        # An object in a store: one request for its bytes, on the machine that reads.
        data = path.read_bytes(max_bytes=options.max_bytes)
        return decode_mask(data, path, options)
    path = Path(path)
    data = read_regular_file(path, max_bytes=options.max_bytes)
    return decode_mask(data, path, options)


def decode_mask(data: bytes, path: Location, options: ReadOptions) -> np.ndarray:
    """Decode the bytes of a mask file (read by :func:`read_mask`) into raw labels.

    Parameters
    ----------
    data : bytes
        The whole file.
    path : Location
        Where it came from (a path or a URL), for messages.
    options : ReadOptions

    Returns
    -------
    numpy.ndarray
        As :func:`read_mask`; never empty.

    Raises
    ------
    MaskReadError
        As :func:`read_mask`.
    """
    file_format = sniff_format(data[:16])
    if file_format == "jpeg" and not options.allow_lossy:
        raise MaskReadError(
            f"{path}: this is a JPEG file; lossy compression corrupts label values at "
            "every edge, so save label masks as PNG (or pass --allow-lossy to map "
            "colours to the nearest known colour)."
        )
    if file_format in _IMAGE_FORMATS:
        labels = read_image(path, file_format, options, data)
    elif file_format == "npy":
        labels = read_npy(path, options.max_pixels, data)
    elif file_format == "npz":
        labels = read_npz(path, options.npz_key, options.max_pixels, data)
    elif file_format == "empty":
        raise MaskReadError(f"{path}: the file is empty; write the mask again.")
    else:
        raise MaskReadError(
            f"{path}: unsupported mask format ({file_format}); save label masks as PNG, "
            "TIFF, BMP, or a 2-D integer NPY/NPZ array."
        )
    if labels.size == 0:
        raise MaskReadError(
            f"{path}: the mask holds no pixels (shape {labels.shape}); write the mask again."
        )
    return labels
