"""Checks of score arrays and targets, each failing with one clear message.

Shape and dtype checks run once per image; value checks (finite, sums to one)
run on each row block, so they never need the whole image in memory. Messages
name the image (file name when the caller gives one) and the first offending
pixel as ``(row, col)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from segeval.errors import (
    ChannelCountError,
    LabelRangeError,
    ScoreValueError,
    ShapeMismatchError,
)
from segeval.wording import are, counted

__all__ = [
    "check_channels",
    "check_finite",
    "check_probabilities",
    "check_target",
    "image_view",
]


def image_view(scores: npt.NDArray[Any], *, name: str) -> npt.NDArray[Any]:
    """One image's scores as ``(C, H, W)`` without copying (``(H, W)`` becomes ``(1, H, W)``).

    Examples
    --------
    >>> image_view(np.zeros((4, 5), dtype=np.float32), name="a.npy").shape
    (1, 4, 5)
    >>> image_view(np.zeros((2, 4, 5), dtype=np.int64), name="a.npy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.ScoreValueError: a.npy: scores have integer dtype int64; ...
    """
    if not np.issubdtype(scores.dtype, np.floating):
        raise ScoreValueError(
            f"{name}: scores have {_kind(scores.dtype)} dtype {scores.dtype}; expected float "
            f"logits or probabilities (was a label mask given as scores?)."
        )
    if scores.ndim == 2:
        return scores[None]
    if scores.ndim != 3:
        raise ShapeMismatchError(
            f"{name}: scores of shape {scores.shape}; expected (C, H, W), or (H, W) for "
            f"one binary channel."
        )
    return scores


def check_channels(shape: tuple[int, ...], num_classes: int, *, name: str) -> None:
    """Fail when the channel count differs from the number of classes."""
    if shape[0] != num_classes:
        raise ChannelCountError(
            f"{name}: scores have {counted(shape[0], 'channel')} (shape {shape}) but "
            f"{counted(num_classes, 'class')} {are(num_classes)} scored; expected one channel "
            "per class (1 for binary)."
        )


def check_target(
    target: npt.NDArray[Any],
    shape: tuple[int, ...],
    *,
    name: str,
    ignore_index: int | None = None,
) -> npt.NDArray[np.int64]:
    """Check a target against its scores; return class ids with ignored pixels as -1.

    Parameters
    ----------
    target : ndarray of int or bool, shape (H, W)
    shape : tuple
        The scores' ``(C, H, W)``. With ``C == 1`` the target must be 0/1.
    name : str
    ignore_index : int or None

    Returns
    -------
    ndarray of int64, shape (H, W)

    Examples
    --------
    >>> check_target(np.array([[0, 255], [2, 1]]), (3, 2, 2), name="m.png", ignore_index=255)
    array([[ 0, -1],
           [ 2,  1]])
    >>> check_target(np.array([[0, 3]]), (3, 1, 2), name="m.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.LabelRangeError: m.png: target value 3 at (row 0, col 1) (1 pixel) is ...
    """
    target = np.asarray(target)
    if target.shape != tuple(shape[1:]):
        raise ShapeMismatchError(
            f"{name}: scores of shape {tuple(shape)} (C, H, W) do not match the target of shape "
            f"{target.shape}; expected a target of shape {tuple(shape[1:])}."
        )
    if not (np.issubdtype(target.dtype, np.integer) or target.dtype == np.bool_):
        raise ScoreValueError(
            f"{name}: target has dtype {target.dtype}; expected integer class ids."
        )
    labels = target.astype(np.int64)
    ignored = labels == ignore_index if ignore_index is not None else None
    if ignored is not None:
        labels[ignored] = -1
    highest = max(1, shape[0] - 1)
    bad = (labels > highest) | ((labels < 0) if ignored is None else ((labels < 0) & ~ignored))
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        value = int(target[row, col])
        count = int(np.count_nonzero(target == value))
        error = LabelRangeError(
            f"{name}: target value {value} at (row {row}, col {col}) ({count} pixel"
            f"{'s' if count != 1 else ''}) is outside the classes 0..{highest} and is not the "
            f"ignore index ({'none' if ignore_index is None else ignore_index}); fix the mask "
            f"or pass --ignore-index {value}."
        )
        error.side, error.label, error.pixel_count = "gt", value, count
        raise error
    return labels


def check_finite(block: npt.NDArray[np.float64], *, name: str, row_offset: int = 0) -> None:
    """Fail on the first NaN or infinite score of a ``(C, rows, W)`` block."""
    finite = np.isfinite(block)
    if not finite.all():
        channel, row, col = (int(v) for v in np.argwhere(~finite)[0])
        raise ScoreValueError(
            f"{name}: non-finite score {block[channel, row, col]} at (row {row + row_offset}, "
            f"col {col}), channel {channel}; expected finite logits or probabilities."
        )


def check_probabilities(
    block: npt.NDArray[np.float64], atol: float, *, name: str, row_offset: int = 0
) -> None:
    """Fail unless every value is in [0, 1] and, with C > 1, each pixel sums to 1."""
    outside = (block < 0.0) | (block > 1.0)
    if outside.any():
        channel, row, col = (int(v) for v in np.argwhere(outside)[0])
        raise ScoreValueError(
            f"{name}: probability {block[channel, row, col]} at (row {row + row_offset}, "
            f"col {col}), channel {channel} is outside [0, 1]; pass --input logits if these "
            f"are logits."
        )
    if block.shape[0] == 1:
        return
    totals = block.sum(axis=0)
    off = np.abs(totals - 1.0) > atol
    if off.any():
        row, col = (int(v) for v in np.argwhere(off)[0])
        raise ScoreValueError(
            f"{name}: probabilities at (row {row + row_offset}, col {col}) sum to "
            f"{totals[row, col]:.6g}, not 1 (tolerance {atol:g}); pass --input logits if these "
            f"are logits."
        )


def _kind(dtype: np.dtype[Any]) -> str:
    return "boolean" if dtype == np.bool_ else "integer"
