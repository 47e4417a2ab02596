"""Nearest-neighbour resizing of label masks (the only resampling labels allow)."""

from __future__ import annotations

import numpy as np

__all__ = ["resize_nearest"]


def _source_index(target: int, source: int) -> np.ndarray:
    # Sample at pixel centres: floor((i + 0.5) * source / target), in exact
    # integer arithmetic so that ties do not depend on float rounding.
    doubled = 2 * np.arange(target, dtype=np.int64) + 1
    return np.asarray((doubled * source) // (2 * target), dtype=np.intp)


def resize_nearest(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D label array to ``shape`` with nearest-neighbour sampling.

    No value is ever invented: every output pixel copies one input pixel.

    Parameters
    ----------
    labels : numpy.ndarray
        2-D array of any integer dtype.
    shape : (height, width)
        Target size.

    Returns
    -------
    numpy.ndarray
        Same dtype, shape ``shape``.

    Examples
    --------
    >>> resize_nearest(np.array([[1, 2], [3, 4]]), (4, 4))
    array([[1, 1, 2, 2],
           [1, 1, 2, 2],
           [3, 3, 4, 4],
           [3, 3, 4, 4]])
    """
    rows = _source_index(shape[0], labels.shape[0])
    columns = _source_index(shape[1], labels.shape[1])
    return np.asarray(labels[rows[:, None], columns[None, :]])
