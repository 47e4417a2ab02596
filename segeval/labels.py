"""How raw mask values become class indices.

A :class:`LabelMapping` turns each raw value found in a mask into a *code*:

* ``0 .. C-1``: the class index,
* ``C`` (:attr:`LabelMapping.ignore_code`): an ignore value. On the ground-truth
  side the pixel is dropped; on the prediction side it predicts no class, so it
  is a miss of the ground-truth class,
* ``C + 1`` (:attr:`LabelMapping.invalid_code`): a value outside the classes
  (out of range, or absent from a label map whose unmapped values are errors).

The mapping is applied through a lookup table, so identity mappings, ignore ids,
many-to-one label maps (Cityscapes labelIds to trainIds) and ADE20K's
``reduce_zero_label`` all cost one gather, or nothing at all on the uint8 fast
path, where the table is applied to a 256 x 256 histogram instead of to pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from segeval.errors import UsageError

__all__ = ["LabelMapping", "Unmapped"]

Unmapped = Literal["error", "ignore"]

# Largest raw value covered by a lookup table; wider values go through `encode`'s
# comparison path.
_LUT_SIZE = 1 << 16


@dataclass(frozen=True)
class LabelMapping:
    """The rule that turns raw mask values into class codes.

    Parameters
    ----------
    num_classes : int
        Number of classes C scored (class indices ``0 .. C-1``).
    ignore_values : iterable of int, default ()
        Raw values that mean "not labelled" (dropped on the ground-truth side,
        a miss on the prediction side). They win over ``value_to_class``.
    value_to_class : mapping of int to int, optional
        Raw value -> class index (many-to-one allowed). ``None`` means a shift:
        raw value ``v`` is class ``v - offset``.
    unmapped : {"error", "ignore"}, default "error"
        What a raw value outside the classes is: an error, or an ignore value.
    offset : int, default 0
        With no ``value_to_class``, the raw value of class 0. ADE20K's
        ``reduce_zero_label`` is ``offset=1`` with 0 among the ignore values.

    Examples
    --------
    >>> mapping = LabelMapping(3, ignore_values=[255])
    >>> mapping.encode(np.array([0, 2, 255, 7]))
    array([0, 2, 3, 4], dtype=uint8)
    >>> reduce_zero = LabelMapping(2, ignore_values=[0, 255], offset=1)
    >>> reduce_zero.encode(np.array([0, 1, 2, 3]))
    array([2, 0, 1, 3], dtype=uint8)
    """

    num_classes: int
    ignore_values: frozenset[int] = field(default_factory=frozenset)
    value_to_class: Mapping[int, int] | None = None
    unmapped: Unmapped = "error"
    offset: int = 0

    def __init__(
        self,
        num_classes: int,
        *,
        ignore_values: Iterable[int] = (),
        value_to_class: Mapping[int, int] | None = None,
        unmapped: Unmapped = "error",
        offset: int = 0,
    ) -> None:
        if num_classes < 1:
            raise UsageError(f"num_classes must be at least 1, got {num_classes}.")
        if unmapped not in ("error", "ignore"):
            raise UsageError(f"unmapped must be 'error' or 'ignore', got {unmapped!r}.")
        table = None if value_to_class is None else dict(value_to_class)
        if table is not None:
            bad = sorted(cls for cls in table.values() if not 0 <= cls < num_classes)
            if bad:
                raise UsageError(
                    f"label map sends values to class {bad[0]}, outside 0..{num_classes - 1}."
                )
        object.__setattr__(self, "num_classes", int(num_classes))
        object.__setattr__(self, "ignore_values", frozenset(int(v) for v in ignore_values))
        object.__setattr__(self, "value_to_class", table)
        object.__setattr__(self, "unmapped", unmapped)
        object.__setattr__(self, "offset", int(offset))

    def with_num_classes(self, num_classes: int) -> LabelMapping:
        """The same rule for a different class count (used when inferring C).

        Examples
        --------
        >>> LabelMapping(2, ignore_values=[255]).with_num_classes(5).num_classes
        5
        """
        return LabelMapping(
            num_classes,
            ignore_values=self.ignore_values,
            value_to_class=self.value_to_class,
            unmapped=self.unmapped,
            offset=self.offset,
        )

    @property
    def is_shift(self) -> bool:
        """True when classes are raw values minus ``offset`` (no label map)."""
        return self.value_to_class is None

    @property
    def ignore_code(self) -> int:
        """Code of ignore values (``C``)."""
        return self.num_classes

    @property
    def invalid_code(self) -> int:
        """Code of values outside the classes (``C + 1``)."""
        return self.num_classes + 1

    @property
    def code_count(self) -> int:
        """Number of distinct codes (``C + 2``)."""
        return self.num_classes + 2

    @cached_property
    def _code_dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if self.code_count <= 256 else np.uint16

    def lut(self, size: int) -> np.ndarray:
        """Lookup table from raw values ``0 .. size-1`` to codes.

        Parameters
        ----------
        size : int
            256 for uint8 masks, 65536 for uint16 masks.

        Returns
        -------
        numpy.ndarray
            1-D array of codes (``uint8`` when C + 2 <= 256, else ``uint16``).
        """
        if size == 256:
            return self._lut_256
        if size == _LUT_SIZE:
            return self._lut_65536
        return self._build_lut(size)

    @cached_property
    def _lut_256(self) -> np.ndarray:
        return self._build_lut(256)

    @cached_property
    def _lut_65536(self) -> np.ndarray:
        return self._build_lut(_LUT_SIZE)

    def _build_lut(self, size: int) -> np.ndarray:
        unmapped_code = self.invalid_code if self.unmapped == "error" else self.ignore_code
        table = np.full(size, unmapped_code, dtype=self._code_dtype)
        if self.value_to_class is None:
            start, stop = min(size, self.offset), min(size, self.offset + self.num_classes)
            table[start:stop] = np.arange(stop - start, dtype=self._code_dtype)
        else:
            for value, cls in self.value_to_class.items():
                if 0 <= value < size:
                    table[value] = cls
        for value in self.ignore_values:
            if 0 <= value < size:
                table[value] = self.ignore_code
        return table

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Map an integer array of raw values to codes.

        Parameters
        ----------
        values : numpy.ndarray
            Raw label values of any integer dtype.

        Returns
        -------
        numpy.ndarray
            Codes, same shape.
        """
        if values.dtype == np.uint8:
            return np.asarray(self._lut_256[values])
        if values.dtype == np.uint16:
            return np.asarray(self._lut_65536[values])
        if values.size and values.min() >= 0 and values.max() < _LUT_SIZE:
            return self._lut_65536[values.astype(np.uint16)]
        return self._encode_wide(values)

    def _encode_wide(self, values: np.ndarray) -> np.ndarray:
        # Values beyond 16 bits (or negative): rare, so comparisons are fine here.
        unmapped_code = self.invalid_code if self.unmapped == "error" else self.ignore_code
        codes = np.full(values.shape, unmapped_code, dtype=self._code_dtype)
        if self.value_to_class is None:
            in_range = (values >= self.offset) & (values < self.offset + self.num_classes)
            codes[in_range] = values[in_range] - self.offset
        else:
            for value, cls in self.value_to_class.items():
                codes[values == value] = cls
        for value in self.ignore_values:
            codes[values == value] = self.ignore_code
        return codes

    def describe(self) -> str:
        """One phrase for error messages: which raw values are valid.

        Examples
        --------
        >>> LabelMapping(19, ignore_values=[255]).describe()
        'class ids 0..18 or ignore values 255'
        """
        if self.value_to_class is None:
            first = self.offset
            valid = f"class ids {first}..{first + self.num_classes - 1}"
        else:
            valid = "values listed in the label map"
        if self.ignore_values:
            ignored = ", ".join(str(v) for v in sorted(self.ignore_values))
            return f"{valid} or ignore values {ignored}"
        return valid
