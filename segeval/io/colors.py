"""Colour masks: map RGB pixels to label values through a colour table.

Each pixel's colour is packed into one integer (``r << 16 | g << 8 | b``) and
looked up in the sorted table keys with one vectorised binary search; there is
no Python loop over pixels.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from segeval.errors import MaskReadError
from segeval.wording import are, counted

__all__ = ["RGB", "ColorTable"]

RGB = tuple[int, int, int]


def _pack(rgb: np.ndarray) -> np.ndarray:
    packed = rgb[..., 0].astype(np.uint32) << 16
    packed |= rgb[..., 1].astype(np.uint32) << 8
    packed |= rgb[..., 2]
    return packed


def _unpack(key: int) -> RGB:
    return ((key >> 16) & 0xFF, (key >> 8) & 0xFF, key & 0xFF)


class ColorTable:
    """Colour -> label value.

    Parameters
    ----------
    colors : mapping of (r, g, b) to int
        Each known colour and the label value it stands for.

    Examples
    --------
    >>> table = ColorTable({(0, 0, 0): 255, (128, 64, 128): 7})
    >>> rgb = np.array([[[128, 64, 128], [0, 0, 0]]], dtype=np.uint8)
    >>> table.apply(rgb, "m.png")
    array([[  7, 255]], dtype=uint8)
    """

    def __init__(self, colors: Mapping[RGB, int]) -> None:
        if not colors:
            raise ValueError("a colour table needs at least one colour")
        items = sorted(((r << 16) | (g << 8) | b, value) for (r, g, b), value in colors.items())
        self._keys = np.array([key for key, _ in items], dtype=np.uint32)
        largest = max(value for _, value in items)
        dtype = np.uint8 if largest <= 255 else np.uint16
        self._values = np.array([value for _, value in items], dtype=dtype)
        self.colors = dict(colors)

    def apply(
        self,
        rgb: np.ndarray,
        source: str,
        *,
        unknown: str = "error",
        unknown_value: int = 255,
    ) -> np.ndarray:
        """Map an ``(H, W, 3)`` or ``(H, W, 4)`` colour array to label values.

        Parameters
        ----------
        rgb : numpy.ndarray
            uint8 colour pixels (alpha, if any, is not used).
        source : str
            The file, for error messages.
        unknown : {"error", "ignore"}, default "error"
            A colour not in the table: an error listing up to 10 unknown colours
            with pixel counts, or ``unknown_value``.
        unknown_value : int, default 255
            Value given to unknown colours under ``unknown="ignore"``.

        Raises
        ------
        MaskReadError
            Unknown colours under ``unknown="error"``.
        """
        packed = _pack(rgb)
        position = np.searchsorted(self._keys, packed)
        np.minimum(position, self._keys.size - 1, out=position)
        known = self._keys[position] == packed
        labels = self._values[position]
        if not known.all():
            if unknown != "ignore":
                raise MaskReadError(self._unknown_message(packed[~known], source))
            labels = labels.astype(np.uint16) if unknown_value > 255 else labels
            labels[~known] = unknown_value
        return labels

    def _unknown_message(self, unknown_keys: np.ndarray, source: str) -> str:
        keys, counts = np.unique(unknown_keys, return_counts=True)
        order = np.argsort(-counts, kind="stable")[:10]
        listed = ", ".join(f"{list(_unpack(int(keys[i])))} ({int(counts[i])} px)" for i in order)
        more = f" and {keys.size - 10} more" if keys.size > 10 else ""
        return (
            f"{source}: {counted(keys.size, 'colour')} {are(keys.size)} not in the colour table: "
            f"{listed}{more}; "
            "add them to the class definition, or pass --unknown-color ignore."
        )

    def apply_nearest(self, rgb: np.ndarray) -> np.ndarray:
        """Map every pixel to the value of the nearest table colour (lossy input).

        Distances are computed once per distinct colour, not per pixel.
        """
        packed = _pack(rgb)
        distinct, inverse = np.unique(packed, return_inverse=True)
        table_rgb = np.array([_unpack(int(k)) for k in self._keys], dtype=np.int32)
        distinct_rgb = np.stack(
            [(distinct >> 16) & 0xFF, (distinct >> 8) & 0xFF, distinct & 0xFF], axis=-1
        ).astype(np.int32)
        distance = ((distinct_rgb[:, None, :] - table_rgb[None, :, :]) ** 2).sum(axis=-1)
        nearest = self._values[np.argmin(distance, axis=1)]
        return np.asarray(nearest[inverse].reshape(packed.shape))
