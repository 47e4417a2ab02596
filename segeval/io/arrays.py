"""Read label masks stored as NumPy arrays (``.npy`` and ``.npz``)."""

from __future__ import annotations

import io
import math
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from segeval.errors import MaskReadError
from segeval.io.files import MAX_ARCHIVE_MEMBERS, zip_entry_count
from segeval.wording import counted

if TYPE_CHECKING:
    from segeval.io.storage import Location

__all__ = ["as_label_array", "read_npy", "read_npz"]


def _read_header(
    stream: IO[bytes],
    source: str,
    max_pixels: int | None,
    volumes: bool = False,
    max_voxels: int | None = None,
) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """Read an NPY header and refuse too many elements or non-integer data before loading.

    With ``volumes``, a 3-D array without an axis of length 1 is a volume,
    limited by ``max_voxels`` instead of ``max_pixels``.
    """
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    except Exception as err:  # numpy parses a hostile header: any failure is a verdict
        raise MaskReadError(f"{source}: cannot read the NPY header ({err}).") from err
    if dtype.hasobject:
        raise MaskReadError(
            f"{source}: the array holds Python objects (a pickle), which segeval never "
            "loads; save a plain integer array with numpy.save."
        )
    elements = math.prod(int(size) for size in shape)
    if volumes and len(shape) == 3 and 1 not in shape:
        if max_voxels is not None and elements > max_voxels:
            raise MaskReadError(
                f"{source}: the array declares shape {tuple(shape)} ({elements / 1e6:.1f} "
                f"million voxels), more than the limit of {max_voxels / 1e6:.1f} million; pass "
                "a larger --max-voxels if it is genuine."
            )
    elif max_pixels is not None and elements > max_pixels:
        raise MaskReadError(
            f"{source}: the array declares shape {tuple(shape)} ({elements / 1e6:.1f} million "
            f"values), more than the limit of {max_pixels / 1e6:.1f} megapixels; pass a larger "
            "--max-pixels if it is genuine."
        )
    return tuple(int(size) for size in shape), bool(fortran_order), dtype


def read_npy(
    path: Location,
    max_pixels: int | None,
    data: bytes,
    *,
    volumes: bool = False,
    max_voxels: int | None = None,
) -> np.ndarray:
    """Load a 2-D (or 3-D) integer array from the bytes of an NPY file (no pickles).

    The array is a view of ``data``: nothing is copied.

    Parameters
    ----------
    path : pathlib.Path
        The ``.npy`` file, named in messages.
    max_pixels : int or None
        Refuse arrays with more elements, from the header, before loading.
    data : bytes
        The file's content.
    volumes : bool, default False
        Accept 3-D arrays (volumes).
    max_voxels : int, optional
        With ``volumes``: refuse volumes with more elements, from the header.

    Returns
    -------
    numpy.ndarray
        The array, 2-D with an integer dtype.

    Raises
    ------
    MaskReadError
        Object arrays, truncated files, float or complex arrays, other shapes.

    Examples
    --------
    >>> buffer = io.BytesIO()
    >>> np.save(buffer, np.array([[0, 1], [2, 3]], dtype=np.uint8))
    >>> from pathlib import Path
    >>> read_npy(Path("m.npy"), None, buffer.getvalue())
    array([[0, 1],
           [2, 3]], dtype=uint8)
    """
    stream = io.BytesIO(data)
    shape, fortran_order, dtype = _read_header(stream, str(path), max_pixels, volumes, max_voxels)
    count = math.prod(shape)
    offset = stream.tell()
    if len(data) - offset < count * dtype.itemsize:
        raise MaskReadError(
            f"{path}: the NPY file is truncated (shape {shape} needs "
            f"{count * dtype.itemsize} bytes of data, it holds {len(data) - offset}); "
            "save it again with numpy.save."
        )
    labels = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    labels = labels.reshape(shape, order="F" if fortran_order else "C")
    return as_label_array(labels, source=str(path), volumes=volumes)


def read_npz(path: Location, key: str | None, max_pixels: int | None, data: bytes) -> np.ndarray:
    """Load one 2-D integer array from the bytes of an NPZ file.

    Parameters
    ----------
    path : pathlib.Path
        The ``.npz`` file, named in messages.
    key : str or None
        Which array; required when the file holds more than one.
    max_pixels : int or None
        Refuse arrays with more elements, from the header, before loading.
    data : bytes
        The file's content.

    Raises
    ------
    MaskReadError
        Missing key, several arrays and no key, members that are not arrays,
        more members than :data:`~segeval.io.files.MAX_ARCHIVE_MEMBERS`, bad arrays.

    Examples
    --------
    >>> buffer = io.BytesIO()
    >>> np.savez(buffer, labels=np.zeros((2, 2), dtype=np.uint8))
    >>> from pathlib import Path
    >>> read_npz(Path("m.npz"), None, None, buffer.getvalue()).shape
    (2, 2)
    """
    entries = zip_entry_count(data)
    if entries is not None and entries > MAX_ARCHIVE_MEMBERS:
        raise MaskReadError(
            f"{path}: the NPZ file declares {counted(entries, 'member')}, more than the "
            f"{MAX_ARCHIVE_MEMBERS} segeval reads; save one array per file."
        )
    try:
        import zipfile  # NPZ files only: start-up does not pay for it

        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {
                name.removesuffix(".npy"): name
                for name in archive.namelist()
                if not name.endswith("/")
            }
            if key is None:
                if len(members) != 1:
                    raise MaskReadError(
                        f"{path}: the NPZ file holds {len(members)} arrays "
                        f"({', '.join(sorted(members)[:10])}); pass --npz-key to choose one."
                    )
                key = next(iter(members))
            if key not in members:
                raise MaskReadError(
                    f"{path}: no array named {key!r} in the NPZ file; it holds "
                    f"{', '.join(sorted(members)[:10])}."
                )
            if not members[key].endswith(".npy"):
                raise MaskReadError(
                    f"{path}: member {members[key]!r} of the NPZ file is not an .npy array; "
                    "save the mask with numpy.savez."
                )
            source = f"{path}[{key}]"
            with archive.open(members[key]) as member:
                _read_header(member, source, max_pixels)
            with archive.open(members[key]) as member:
                labels = np.lib.format.read_array(member, allow_pickle=False)
    except MaskReadError:
        raise
    except Exception as err:  # zipfile, zlib and numpy on hostile bytes: any failure
        raise MaskReadError(
            f"{path}: cannot load the NPZ file ({type(err).__name__}: {err}); save it with "
            "numpy.savez."
        ) from err
    return as_label_array(labels, source=source)


def as_label_array(labels: np.ndarray, source: str, *, volumes: bool = False) -> np.ndarray:
    """Check that an array holds 2-D (or 3-D) integer labels and return it.

    A trailing or leading axis of length 1 (``(H, W, 1)`` or ``(1, H, W)``) is
    dropped; booleans become ``uint8``. Other 3-D arrays are volumes, accepted
    with ``volumes``.

    Parameters
    ----------
    labels : numpy.ndarray
        The array as loaded.
    source : str
        What to name in an error message (a path, or a path and key).
    volumes : bool, default False
        Accept 3-D arrays.

    Returns
    -------
    numpy.ndarray
        A 2-D (or 3-D) integer array.

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
    if labels.ndim != 2 and not (volumes and labels.ndim == 3):
        expected = "a 2-D or 3-D" if volumes else "a 2-D"
        raise MaskReadError(
            f"{source}: expected {expected} label array, got shape {labels.shape}; "
            "save one (height, width) array of class ids per file"
            + (", or one 3-D volume." if volumes else ".")
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
