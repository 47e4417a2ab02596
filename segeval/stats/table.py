"""The per-image count table that bootstrap resampling works from.

Every dataset-level metric segeval reports (``miou``, ``pixel_accuracy``,
``kappa``, the micro / macro / weighted families, per-class IoU and Dice) is a
pure function of the per-class TP, FP and FN summed over images (see
:mod:`segeval.core.metrics`); the scored pixels of an image are ``sum(tp + fn)``.
So one small integer table, images x (tp, fp, fn) x classes, is all a bootstrap
needs: resampling images is re-weighting rows of this table.

Memory is ``N x 3 x C x itemsize`` bytes, with the smallest unsigned dtype that
holds the largest count (uint32 for any image up to 4.29 gigapixels): 10,000
images x 150 classes take 10,000 x 3 x 150 x 4 B = 18 MB (9 MB as uint16 when no
count exceeds 65,535).

The JSON form (:meth:`ImageCountTable.to_dict`) stores the array as base64 of
the zlib-compressed little-endian bytes, plus its dtype and shape and the image
keys, so a report can carry it and ``compare`` can resample two reports later.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from segeval.errors import IncomparableReportsError, UsageError
from segeval.wording import are, counted

__all__ = ["TABLE_FORMAT", "CountVector", "ImageCountTable", "smallest_count_dtype"]

#: Format name carried by the JSON form of a table.
TABLE_FORMAT = "segeval/image-counts/v1"

#: One image's per-class counts, as a list or an array.
CountVector = Sequence[int] | np.ndarray

_DTYPES = (np.uint8, np.uint16, np.uint32, np.uint64)


def smallest_count_dtype(max_count: int) -> np.dtype[Any]:
    """The smallest unsigned integer dtype that holds ``max_count`` exactly.

    Parameters
    ----------
    max_count : int
        The largest count to store (non-negative).

    Returns
    -------
    numpy.dtype
        uint8, uint16, uint32 or uint64.

    Examples
    --------
    >>> smallest_count_dtype(255), smallest_count_dtype(480 * 360)
    (dtype('uint8'), dtype('uint32'))
    """
    for dtype in _DTYPES:
        if max_count <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise UsageError(f"a pixel count of {max_count} does not fit in 64 bits.")


@dataclass(frozen=True, eq=False)
class ImageCountTable:
    """Per-image, per-class TP / FP / FN counts, one row per image.

    Attributes
    ----------
    keys : tuple of str
        The pairing key of each image (relative path without extension), unique.
    counts : numpy.ndarray of shape (N, 3, C)
        ``counts[i, 0]`` = TP, ``counts[i, 1]`` = FP, ``counts[i, 2]`` = FN of
        image ``i``, in the smallest unsigned dtype that holds them.

    Examples
    --------
    >>> table = ImageCountTable.from_rows(
    ...     [("a", [3, 0], [1, 0], [0, 2]), ("b", [1, 1], [0, 0], [0, 0])]
    ... )
    >>> table.num_images, table.num_classes, table.counts.dtype
    (2, 2, dtype('uint8'))
    >>> table.tp.tolist(), table.scored_pixels.tolist()
    ([[3, 0], [1, 1]], [5, 2])
    >>> ImageCountTable.from_dict(table.to_dict()) == table
    True
    """

    keys: tuple[str, ...]
    counts: np.ndarray

    def __post_init__(self) -> None:
        if self.counts.ndim != 3 or self.counts.shape[1] != 3:
            raise UsageError(
                f"per-image counts must have shape (images, 3, classes), got {self.counts.shape}."
            )
        if self.counts.shape[0] != len(self.keys):
            raise UsageError(
                f"{counted(len(self.keys), 'image key')} for "
                f"{counted(self.counts.shape[0], 'row')} of counts."
            )
        if len(set(self.keys)) != len(self.keys):
            duplicates = sorted({key for key in self.keys if self.keys.count(key) > 1})
            raise UsageError(
                f"image keys must be unique, found duplicates: {', '.join(duplicates[:5])}."
            )

    @classmethod
    def from_arrays(
        cls, keys: Sequence[str], tp: np.ndarray, fp: np.ndarray, fn: np.ndarray
    ) -> ImageCountTable:
        """Build a table from three ``(N, C)`` count arrays.

        Parameters
        ----------
        keys : sequence of str
            One unique key per image.
        tp, fp, fn : numpy.ndarray of shape (N, C)
            Non-negative integer counts.

        Returns
        -------
        ImageCountTable

        Examples
        --------
        >>> tp, fp, fn = np.array([[2]]), np.array([[0]]), np.array([[1]])
        >>> ImageCountTable.from_arrays(["x"], tp, fp, fn).counts.tolist()
        [[[2], [0], [1]]]
        """
        stacked = np.stack([np.asarray(v) for v in (tp, fp, fn)], axis=1)
        if stacked.ndim != 3:
            raise UsageError(f"tp, fp and fn must be (images, classes) arrays, got {tp.shape}.")
        if stacked.size and (
            not np.issubdtype(stacked.dtype, np.integer) or int(stacked.min()) < 0
        ):
            raise UsageError("per-image counts must be non-negative integers.")
        max_count = int(stacked.max()) if stacked.size else 0
        return cls(tuple(keys), stacked.astype(smallest_count_dtype(max_count)))

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[tuple[str, CountVector, CountVector, CountVector]],
        num_classes: int | None = None,
    ) -> ImageCountTable:
        """Build a table from ``(key, tp, fp, fn)`` rows, one per image.

        This is exactly what :meth:`segeval.core.per_image.ImageCountSpool.read`
        yields, so a scorer that spools per-image counts can build the table
        with ``ImageCountTable.from_rows(spool.read(num_classes))``.

        Parameters
        ----------
        rows : iterable of (str, array, array, array)
            Key and per-class TP, FP, FN of each image.
        num_classes : int, optional
            Pad shorter rows with zeros to this many classes (default: longest row).

        Returns
        -------
        ImageCountTable

        Examples
        --------
        >>> ImageCountTable.from_rows([("a", [1], [0], [0])], num_classes=2).counts.tolist()
        [[[1, 0], [0, 0], [0, 0]]]
        """
        keys: list[str] = []
        vectors: list[list[np.ndarray]] = []
        for key, *counts in rows:
            keys.append(key)
            vectors.append([np.asarray(v, dtype=np.uint64) for v in counts])
        width = num_classes or max((v.shape[0] for row in vectors for v in row), default=0)
        full = np.zeros((len(keys), 3, width), dtype=np.uint64)
        for index, row in enumerate(vectors):
            for side, values in enumerate(row):
                if values.shape[0] > width:
                    raise UsageError(
                        f"image {keys[index]!r} has counts for "
                        f"{counted(values.shape[0], 'class')}, "
                        f"more than num_classes={width}."
                    )
                full[index, side, : values.shape[0]] = values
        return cls.from_arrays(keys, full[:, 0], full[:, 1], full[:, 2])

    @property
    def num_images(self) -> int:
        """Rows (images) in the table."""
        return int(self.counts.shape[0])

    @property
    def num_classes(self) -> int:
        """Classes (columns per count kind)."""
        return int(self.counts.shape[2])

    @property
    def tp(self) -> np.ndarray:
        """``(N, C)`` true positives."""
        return self.counts[:, 0]

    @property
    def fp(self) -> np.ndarray:
        """``(N, C)`` false positives."""
        return self.counts[:, 1]

    @property
    def fn(self) -> np.ndarray:
        """``(N, C)`` false negatives."""
        return self.counts[:, 2]

    @property
    def scored_pixels(self) -> np.ndarray:
        """``(N,)`` ground-truth pixels scored per image (``sum(tp + fn)``)."""
        return np.asarray(
            self.tp.sum(axis=1, dtype=np.uint64) + self.fn.sum(axis=1, dtype=np.uint64)
        )

    @property
    def nbytes(self) -> int:
        """Bytes held by the count array."""
        return int(self.counts.nbytes)

    def totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dataset TP, FP, FN per class (uint64), as the whole-dataset matrix gives them."""
        summed = self.counts.sum(axis=0, dtype=np.uint64)
        return summed[0], summed[1], summed[2]

    def select(self, keys: Sequence[str]) -> ImageCountTable:
        """The rows of ``keys``, in that order.

        Raises
        ------
        UsageError
            A key is not in the table.
        """
        index = {key: row for row, key in enumerate(self.keys)}
        missing = [key for key in keys if key not in index]
        if missing:
            raise UsageError(
                f"{counted(len(missing), 'image key')} {are(len(missing))} not in the count table: "
                f"{', '.join(missing[:5])}."
            )
        return ImageCountTable(tuple(keys), self.counts[[index[key] for key in keys]])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageCountTable):
            return NotImplemented
        return self.keys == other.keys and np.array_equal(self.counts, other.counts)

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """The compact JSON form.

        Returns
        -------
        dict
            ``format``, ``dtype`` (little-endian, e.g. ``"<u4"``), ``shape``
            ``[N, 3, C]``, ``layout``, ``keys`` and ``counts``: base64 of the
            zlib-compressed C-order little-endian bytes.
        """
        little = self.counts.astype(self.counts.dtype.newbyteorder("<"), copy=False)
        return {
            "format": TABLE_FORMAT,
            "dtype": little.dtype.str,
            "shape": list(self.counts.shape),
            "layout": "image, (tp, fp, fn), class",
            "keys": list(self.keys),
            "counts": base64.b64encode(
                zlib.compress(np.ascontiguousarray(little).tobytes(), 6)
            ).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageCountTable:
        """Read a table back from :meth:`to_dict`'s form.

        Raises
        ------
        IncomparableReportsError
            The document is not a count table or is corrupt.
        """
        if not isinstance(data, Mapping) or data.get("format") != TABLE_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise IncomparableReportsError(
                f"expected per-image counts in format {TABLE_FORMAT!r}, found {found!r}; "
                "score with --ci to store them."
            )
        try:
            dtype = np.dtype(str(data["dtype"]))
            shape = tuple(int(n) for n in data["shape"])
            raw = zlib.decompress(base64.b64decode(data["counts"], validate=True))
            keys = tuple(str(key) for key in data["keys"])
        except (KeyError, TypeError, ValueError, binascii.Error, zlib.error) as err:
            raise IncomparableReportsError(f"per-image counts are corrupt: {err}.") from err
        if dtype.kind != "u" or dtype.itemsize > 8 or len(shape) != 3:
            raise IncomparableReportsError(
                f"per-image counts must be an unsigned 3-D array, found {dtype.str} {shape}."
            )
        if len(raw) != int(np.prod(shape)) * dtype.itemsize:
            raise IncomparableReportsError(
                f"per-image counts hold {len(raw)} bytes, but shape {list(shape)} of "
                f"{dtype.str} needs {int(np.prod(shape)) * dtype.itemsize}; the report is "
                "truncated."
            )
        counts = np.frombuffer(raw, dtype=dtype).reshape(shape)
        return cls(keys, counts.astype(dtype.newbyteorder("="), copy=True))
