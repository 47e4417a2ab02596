"""Reading label masks from files.

This package owns one job: turn a mask file into an integer array of raw
label values (2-D for images, 3-D for volumes, whose geometry
:func:`read_volume` returns too), or raise :class:`~segeval.errors.MaskReadError`
saying what the file holds and what to do. It knows nothing about classes, pairing or metrics.

The format is chosen from the file's first bytes, not from its extension, so a
``.png`` that is really a JPEG is reported as such. Files are opened only
through :func:`~segeval.io.files.read_regular_file` (regular files, never
blocking, within a byte limit), and images are checked against a pixel limit
from their header before decoding. Volume files pass the same regular-file and
byte checks, then their library opens them (memory-mapping uncompressed
NIfTI) after a voxel limit read from their header.
"""

from __future__ import annotations

from segeval.io.colors import ColorTable
from segeval.io.files import DEFAULT_MAX_MASK_BYTES, read_regular_file
from segeval.io.reader import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_VOXELS,
    MASK_SUFFIXES,
    ReadOptions,
    decode_mask,
    mask_suffix,
    read_mask,
    read_volume,
    sniff_format,
)
from segeval.io.volume import Geometry, Volume

__all__ = [
    "DEFAULT_MAX_MASK_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_VOXELS",
    "MASK_SUFFIXES",
    "ColorTable",
    "Geometry",
    "ReadOptions",
    "Volume",
    "decode_mask",
    "mask_suffix",
    "read_mask",
    "read_regular_file",
    "read_volume",
    "sniff_format",
]
