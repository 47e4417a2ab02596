"""Dispatch a mask file to the reader for its format, by content."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from segeval.errors import MaskReadError
from segeval.io.arrays import read_npy
from segeval.io.image import read_image

__all__ = ["MASK_SUFFIXES", "read_mask", "sniff_format"]

#: File name suffixes (lower case) that pairing treats as masks; anything else is skipped.
MASK_SUFFIXES = frozenset({".png", ".npy"})

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\x93NUMPY", "npy"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"PK\x03\x04", "npz"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
    (b"GIF8", "gif"),
    (b"RIFF", "webp"),
)


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


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one label mask as a 2-D integer array of raw label values.

    Parameters
    ----------
    path : str or path-like
        A PNG (modes ``1``, ``L``, ``P``, ``I;16``, ``I``) or NPY (2-D integer
        array) file.

    Returns
    -------
    numpy.ndarray
        Shape ``(height, width)``; dtype ``uint8`` for 1-bit, 8-bit and palette
        PNGs (palette indices, never colours), ``uint16`` for 16-bit PNGs, the
        stored integer dtype for NPY.

    Raises
    ------
    MaskReadError
        The file is missing, truncated, of an unsupported format, holds colour
        or floating-point data, or is not 2-D.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.array([[0, 1], [2, 255]], dtype=np.uint8)).save(folder / "m.png")
    >>> read_mask(folder / "m.png")
    array([[  0,   1],
           [  2, 255]], dtype=uint8)
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(16)
    except OSError as err:
        raise MaskReadError(f"{path}: cannot open the file ({err.strerror or err}).") from err
    file_format = sniff_format(head)
    if file_format == "png":
        return read_image(path)
    if file_format == "npy":
        return read_npy(path)
    if file_format == "empty":
        raise MaskReadError(f"{path}: the file is empty; write the mask again.")
    if file_format == "jpeg":
        raise MaskReadError(
            f"{path}: this is a JPEG file; lossy compression corrupts label values, "
            "so save label masks as PNG."
        )
    raise MaskReadError(
        f"{path}: unsupported mask format ({file_format}); "
        "save label masks as PNG or as a 2-D integer NPY array."
    )
