"""Reading label masks from files.

This package owns one job: turn a mask file into a 2-D integer array of raw
label values, or raise :class:`~segeval.errors.MaskReadError` saying what the
file holds and what to do. It knows nothing about classes, pairing or metrics.

The format is chosen from the file's first bytes, not from its extension, so a
``.png`` that is really a JPEG is reported as such. Files are opened only
through :func:`~segeval.io.files.read_regular_file` (regular files, never
blocking, within a byte limit), and images are checked against a pixel limit
from their header before decoding.
"""

from __future__ import annotations

from segeval.io.colors import ColorTable
from segeval.io.files import DEFAULT_MAX_MASK_BYTES, read_regular_file
from segeval.io.reader import (
    DEFAULT_MAX_PIXELS,
    MASK_SUFFIXES,
    ReadOptions,
    decode_mask,
    read_mask,
    sniff_format,
)

__all__ = [
    "DEFAULT_MAX_MASK_BYTES",
    "DEFAULT_MAX_PIXELS",
    "MASK_SUFFIXES",
    "ColorTable",
    "ReadOptions",
    "decode_mask",
    "read_mask",
    "read_regular_file",
    "sniff_format",
]
