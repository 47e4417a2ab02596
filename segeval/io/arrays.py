"""Read label masks stored as NumPy arrays (``.npy``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segeval.errors import MaskReadError

__all__ = ["as_label_array", "read_npy"]


def read_npy(path: Path) -> np.ndarray:
    """Load a 2-D integer array from an NPY file (pickles are refused).

    Parameters
    ----------
    path : pathlib.Path
        An ``.npy`` file.

    Returns
    -------
    numpy.ndarray
        The array, 2-D with an integer dtype.

    Raises
    ------
    MaskReadError
        Object arrays, truncated files, float or complex arrays, other shapes.
    """
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise MaskReadError(
            f"{path}: cannot load the NPY array ({err}); save it with numpy.save "
            "as a plain integer array."
        ) from err
    return as_label_array(labels, source=str(path))


def as_label_array(labels: np.ndarray, source: str) -> np.ndarray:
    """Check that an array holds 2-D integer labels and return it.

    A trailing or leading axis of length 1 (``(H, W, 1)`` or ``(1, H, W)``) is
    dropped; booleans become ``uint8``.

    Parameters
    ----------
    labels : numpy.ndarray
        The array as loaded.
    source : str
        What to name in an error message (a path, or a path and key).

    Returns
    -------
    numpy.ndarray
        A 2-D integer array.

    Raises
    ------
    MaskReadError
        Non-integer dtypes and arrays that are not 2-D.

    Examples
    --------
    >>> as_label_array(np.zeros((2, 3, 1), dtype=np.int64), "x").shape
    (2, 3)
    """
    if labels.ndim == 3 and 1 in (labels.shape[0], labels.shape[-1]):
        labels = labels.reshape(labels.shape[1:] if labels.shape[0] == 1 else labels.shape[:-1])
    if labels.ndim != 2:
        raise MaskReadError(
            f"{source}: expected a 2-D label array, got shape {labels.shape}; "
            "save one (height, width) array of class ids per file."
        )
    if labels.dtype == np.bool_:
        return labels.astype(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer):
        raise MaskReadError(
            f"{source}: expected integer class ids, got dtype {labels.dtype}; "
            "convert with array.astype(numpy.uint8) (or uint16) after rounding "
            "or argmax."
        )
    return labels
