"""Read label masks stored as NumPy arrays (``.npy`` and ``.npz``)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from segeval.errors import MaskReadError

__all__ = ["as_label_array", "read_npy", "read_npz"]


def _check_header(stream: IO[bytes], source: str, max_pixels: int | None) -> None:
    """Read an NPY header (shape only) and refuse too many elements before loading."""
    if max_pixels is None:
        return
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _, _ = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, OSError) as err:
        raise MaskReadError(f"{source}: cannot read the NPY header ({err}).") from err
    elements = int(np.prod(shape, dtype=np.int64))
    if elements > max_pixels:
        raise MaskReadError(
            f"{source}: the array declares shape {tuple(shape)} ({elements / 1e6:.1f} million "
            f"values), more than the limit of {max_pixels / 1e6:.1f} megapixels; pass a larger "
            "--max-pixels if it is genuine."
        )


def read_npy(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """Load a 2-D integer array from an NPY file (pickles are refused).

    Parameters
    ----------
    path : pathlib.Path
        An ``.npy`` file.
    max_pixels : int, optional
        Refuse arrays with more elements, from the header, before loading.

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
        with path.open("rb") as stream:
            _check_header(stream, str(path), max_pixels)
        labels = np.load(path, allow_pickle=False)
    except MaskReadError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise MaskReadError(
            f"{path}: cannot load the NPY array ({err}); save it with numpy.save "
            "as a plain integer array."
        ) from err
    return as_label_array(labels, source=str(path))


def read_npz(path: Path, key: str | None = None, max_pixels: int | None = None) -> np.ndarray:
    """Load one 2-D integer array from an NPZ file.

    Parameters
    ----------
    path : pathlib.Path
        An ``.npz`` file.
    key : str, optional
        Which array; required when the file holds more than one.
    max_pixels : int, optional
        Refuse arrays with more elements, from the header, before loading.

    Raises
    ------
    MaskReadError
        Missing key, several arrays and no key, bad arrays.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name.removesuffix(".npy") for name in archive.namelist()]
            if key is None:
                if len(names) != 1:
                    raise MaskReadError(
                        f"{path}: the NPZ file holds {len(names)} arrays "
                        f"({', '.join(sorted(names)[:10])}); pass --npz-key to choose one."
                    )
                key = names[0]
            if key not in names:
                raise MaskReadError(
                    f"{path}: no array named {key!r} in the NPZ file; it holds "
                    f"{', '.join(sorted(names)[:10])}."
                )
            with archive.open(f"{key}.npy") as member:
                _check_header(member, f"{path}[{key}]", max_pixels)
            with archive.open(f"{key}.npy") as member:
                labels = np.lib.format.read_array(member, allow_pickle=False)
    except MaskReadError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise MaskReadError(
            f"{path}: cannot load the NPZ file ({err}); save it with numpy.savez."
        ) from err
    return as_label_array(labels, source=f"{path}[{key}]")


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
