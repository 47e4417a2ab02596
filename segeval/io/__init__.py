"""Reading label masks from files.

This package owns one job: turn a mask file into a 2-D integer array of raw
label values, or raise :class:`~segeval.errors.MaskReadError` saying what the
file holds and what to do. It knows nothing about classes, pairing or metrics.

The format is chosen from the file's first bytes, not from its extension, so a
``.png`` that is really a JPEG is reported as such.
"""

from __future__ import annotations

from segeval.io.colors import ColorTable
from segeval.io.reader import MASK_SUFFIXES, ReadOptions, read_mask, sniff_format

__all__ = ["MASK_SUFFIXES", "ColorTable", "ReadOptions", "read_mask", "sniff_format"]
