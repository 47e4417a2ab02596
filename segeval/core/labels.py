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
from typing import Any, Literal

import numpy as np

from segeval.core.histogram import code_histogram, code_pairs, compact_pairs
from segeval.defaults import DEFAULT_MAX_CLASSES
from segeval.errors import LabelRangeError, PredictedIgnoreError, UsageError, format_bytes
from segeval.wording import counted

__all__ = [
    "DEFAULT_IGNORE",
    "DEFAULT_MAX_CLASSES",
    "CodeCounts",
    "LabelMapping",
    "Unmapped",
    "class_limit_problem",
    "matrix_bytes",
]

Unmapped = Literal["error", "ignore"]

#: The raw value that marks unlabelled pixels when nothing else is said.
DEFAULT_IGNORE = 255


def matrix_bytes(num_classes: int) -> int:
    """Bytes of one C x C confusion matrix of uint64 counts.

    Examples
    --------
    >>> matrix_bytes(65536) == 32 * 2**30
    True
    """
    return 8 * num_classes * num_classes


def class_limit_problem(num_classes: int, max_classes: int) -> str | None:
    """Describe a class count over the limit, with the memory it would need (None if fine).

    Examples
    --------
    >>> class_limit_problem(19, 1024) is None
    True
    >>> print(class_limit_problem(65536, 1024))  # doctest: +ELLIPSIS
    65536 classes need a 65536 x 65536 confusion matrix of 32.0 GiB ... of 1024 classes ...
    """
    if num_classes <= max_classes:
        return None
    return (
        f"{counted(num_classes, 'class')} need a {num_classes} x {num_classes} confusion matrix of "
        f"{format_bytes(matrix_bytes(num_classes))} (one per worker and per submission), "
        f"more than the limit of {counted(max_classes, 'class')} "
        f"({format_bytes(matrix_bytes(max_classes))})"
    )


@dataclass(frozen=True)
class CodeCounts:
    """A (C+2) x (C+2) code histogram split by what its cells mean.

    Attributes
    ----------
    classes : numpy.ndarray
        ``(C, C)`` int64: ground-truth class by predicted class.
    pred_ignore : numpy.ndarray
        ``(C,)`` int64: pixels of each ground-truth class predicted as an ignore value.
    out_of_range : numpy.ndarray
        ``(C,)`` int64: pixels of each ground-truth class predicted outside the classes.
    gt_ignored : int
        Ground-truth pixels carrying an ignore value (dropped).
    gt_invalid : bool
        Some ground-truth value is outside the classes.
    """

    classes: np.ndarray
    pred_ignore: np.ndarray
    out_of_range: np.ndarray
    gt_ignored: int
    gt_invalid: bool


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
    binary : bool, default False
        Binary masks: 0 is class 0 and any other value (1, 255, ...) is class
        1, except ignore values. Needs ``num_classes=2``.

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
    binary: bool = False

    def __init__(
        self,
        num_classes: int,
        *,
        ignore_values: Iterable[int] = (),
        value_to_class: Mapping[int, int] | None = None,
        unmapped: Unmapped = "error",
        offset: int = 0,
        binary: bool = False,
    ) -> None:
        if binary and (num_classes != 2 or value_to_class is not None or offset):
            raise UsageError("binary masks have exactly 2 classes and no label map or offset.")
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
        object.__setattr__(self, "binary", bool(binary))

    def grown(self, num_classes: int) -> LabelMapping:
        """The same rule for a different class count (used when inferring C).

        Examples
        --------
        >>> LabelMapping(2, ignore_values=[255]).grown(5).num_classes
        5
        """
        return LabelMapping(
            num_classes,
            ignore_values=self.ignore_values,
            value_to_class=self.value_to_class,
            unmapped=self.unmapped,
            offset=self.offset,
            binary=self.binary,
        )

    @property
    def is_shift(self) -> bool:
        """True when classes are raw values minus ``offset`` (no label map)."""
        return self.value_to_class is None and not self.binary

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

    @cached_property
    def _lut_256(self) -> np.ndarray:
        return self._build_lut(256)

    @cached_property
    def _lut_65536(self) -> np.ndarray:
        return self._build_lut(_LUT_SIZE)

    def _build_lut(self, size: int) -> np.ndarray:
        unmapped_code = self.invalid_code if self.unmapped == "error" else self.ignore_code
        table = np.full(size, unmapped_code, dtype=self._code_dtype)
        if self.binary:
            table[:] = 1
            table[0] = 0
        elif self.value_to_class is None:
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
        if self.binary:
            codes[:] = values != 0
        elif self.value_to_class is None:
            in_range = (values >= self.offset) & (values < self.offset + self.num_classes)
            codes[in_range] = values[in_range] - self.offset
        else:
            for value, cls in self.value_to_class.items():
                codes[values == value] = cls
        for value in self.ignore_values:
            codes[values == value] = self.ignore_code
        return codes

    def table_for(self, dtype: np.dtype[Any]) -> np.ndarray | None:
        """The lookup table for masks of this dtype, or None (encode values instead).

        Examples
        --------
        >>> LabelMapping(2).table_for(np.dtype(np.uint8)).shape
        (256,)
        >>> LabelMapping(2).table_for(np.dtype(np.int64)) is None
        True
        """
        if dtype == np.uint8:
            return self._lut_256
        if dtype == np.uint16:
            return self._lut_65536
        return None

    def _lookup(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Raw values with their table, or codes when no table covers the dtype."""
        table = self.table_for(block.dtype)
        return (block, table) if table is not None else (self.encode(block), None)

    def code_histogram(
        self, gt_block: np.ndarray, pred_block: np.ndarray | None, pred_rule: LabelMapping
    ) -> np.ndarray:
        """Histogram of (ground-truth code, predicted code) over a block pair.

        Parameters
        ----------
        gt_block : numpy.ndarray
            Raw ground-truth values, read with this mapping.
        pred_block : numpy.ndarray or None
            Raw predicted values, read with ``pred_rule``; None means no
            prediction (every pixel predicts the ignore code).
        pred_rule : LabelMapping
            The prediction side's rule (same class count).

        Returns
        -------
        numpy.ndarray
            int64 ``(C+2, C+2)``; :meth:`split` tells what its cells mean.

        Examples
        --------
        >>> rule = LabelMapping(2, ignore_values=[255])
        >>> gt, pred = np.array([[0, 1, 255]], np.uint8), np.array([[0, 0, 1]], np.uint8)
        >>> rule.code_histogram(gt, pred, rule)[:2, :2].tolist()
        [[1, 0], [1, 0]]
        """
        gt_values, gt_table = self._lookup(gt_block)
        pred_values, pred_table = (
            (None, None) if pred_block is None else pred_rule._lookup(pred_block)
        )
        return code_histogram(
            gt_values, pred_values, gt_table, pred_table, self.code_count, self.ignore_code
        )

    def code_pairs(
        self, gt_block: np.ndarray, pred_block: np.ndarray | None, pred_rule: LabelMapping
    ) -> tuple[np.ndarray, np.ndarray]:
        """The (ground-truth code, predicted code) pairs of a block, counted sparsely.

        What :meth:`code_histogram` counts, as the distinct keys
        ``gt_code * (C + 2) + pred_code`` and their pixel counts: for many classes,
        where a dense ``(C+2, C+2)`` histogram per block would dwarf the block.

        Examples
        --------
        >>> rule = LabelMapping(2, ignore_values=[255])
        >>> gt, pred = np.array([[0, 1, 1]], np.uint8), np.array([[0, 0, 0]], np.uint8)
        >>> keys, counts = rule.code_pairs(gt, pred, rule)
        >>> keys.tolist(), counts.tolist()
        ([0, 4], [1, 2])
        """
        gt_values, gt_table = self._lookup(gt_block)
        pred_values, pred_table = (
            (None, None) if pred_block is None else pred_rule._lookup(pred_block)
        )
        return code_pairs(
            gt_values, pred_values, gt_table, pred_table, self.code_count, self.ignore_code
        )

    def fold_raw_pairs(
        self, raw: np.ndarray, pred_rule: LabelMapping
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`fold_raw_histogram` as sparse keys and counts (see :meth:`code_pairs`).

        Examples
        --------
        >>> rule = LabelMapping(2, ignore_values=[255])
        >>> raw = np.zeros(1 << 16, np.int64)
        >>> raw[(1 << 8) | 0] = 5
        >>> [values.tolist() for values in rule.fold_raw_pairs(raw, rule)]
        [[4], [5]]
        """
        present = np.flatnonzero(raw)
        keys = self._lut_256[present >> 8].astype(np.int64) * self.code_count
        keys += pred_rule._lut_256[present & 0xFF]
        return compact_pairs(keys, raw[present])

    def fold_raw_histogram(self, raw: np.ndarray, pred_rule: LabelMapping) -> np.ndarray:
        """Map a 65536-bin histogram of raw uint8 pairs (``gt << 8 | pred``) to codes.

        Only the non-zero bins are looked up, so this costs the same for 2 or
        250 classes, and integer sums keep it exact at any count.

        Examples
        --------
        >>> rule = LabelMapping(2, ignore_values=[255])
        >>> raw = np.zeros(1 << 16, np.int64)
        >>> raw[(1 << 8) | 0] = 5
        >>> rule.fold_raw_histogram(raw, rule)[1, 0]
        np.int64(5)
        """
        present = np.flatnonzero(raw)
        gt_codes = self._lut_256[present >> 8]
        pred_codes = pred_rule._lut_256[present & 0xFF]
        size = self.code_count
        codes = np.zeros(size * size, dtype=np.int64)
        np.add.at(codes, gt_codes.astype(np.intp) * size + pred_codes, raw[present])
        return codes.reshape(size, size)

    def raw_values_error(
        self, side: Literal["gt", "pred"], raw: np.ndarray
    ) -> LabelRangeError | None:
        """The error for the first value of one side of a raw pair histogram outside this rule.

        Parameters
        ----------
        side : {"gt", "pred"}
            Which side of ``raw`` (indexed ``gt << 8 | pred``) to check.
        raw : numpy.ndarray
            65536 counts of raw uint8 pairs.

        Returns
        -------
        LabelRangeError or None
            None when every value of that side is valid.

        Examples
        --------
        >>> raw = np.zeros(1 << 16, np.int64)
        >>> raw[[(0 << 8) | 7, (1 << 8) | 7]] = 2, 1
        >>> LabelMapping(2).raw_values_error("pred", raw).message
        'prediction label 7 (3 pixels) is outside class ids 0..1'
        """
        by_value = raw.reshape(256, 256).sum(axis=1 if side == "gt" else 0)
        invalid = (by_value > 0) & (self._lut_256 == self.invalid_code)
        values = np.flatnonzero(invalid)
        if values.size == 0:
            return None
        return self._invalid_error(side, values, by_value[values])

    def split(self, codes: np.ndarray) -> CodeCounts:
        """Split a code histogram into class counts, misses and ignored pixels.

        Examples
        --------
        >>> rule = LabelMapping(1)
        >>> counts = rule.split(np.array([[4, 1, 2], [3, 0, 0], [0, 0, 0]]))
        >>> counts.classes.tolist(), counts.pred_ignore.tolist(), counts.gt_ignored
        ([[4]], [1], 3)
        """
        size, ignore, invalid = self.num_classes, self.ignore_code, self.invalid_code
        return CodeCounts(
            classes=codes[:size, :size],
            pred_ignore=codes[:size, ignore],
            out_of_range=codes[:size, invalid],
            gt_ignored=int(codes[ignore].sum()),
            gt_invalid=bool(codes[invalid].any()),
        )

    def classes_needed(self, values: np.ndarray) -> int:
        """The class count implied by raw values (for an inferred class count).

        Parameters
        ----------
        values : numpy.ndarray
            Raw label values seen (any shape; a row block of a mask, or the
            distinct values of one).

        Returns
        -------
        int
            ``largest labelled value - offset + 1`` (at least 1); ignore
            values do not count. The caller applies the class limit.

        Raises
        ------
        LabelRangeError
            A labelled value below the first class id.

        Examples
        --------
        >>> LabelMapping(1, ignore_values=[255]).classes_needed(np.array([0, 3, 255]))
        4
        """
        ignored = list(self.ignore_values)
        labelled = values[~np.isin(values, ignored)] if ignored else values
        if labelled.size == 0:
            return 1
        if labelled.min() < self.offset:
            raise LabelRangeError(
                f"label {int(labelled.min())} found, below the first class id "
                f"{self.offset}; pass --ignore-index if it marks unlabelled pixels."
            )
        return int(labelled.max()) - self.offset + 1

    def invalid_value_error(self, side: Literal["gt", "pred"], mask: np.ndarray) -> LabelRangeError:
        """Describe the first raw value of ``mask`` outside this rule (errors only).

        Examples
        --------
        >>> LabelMapping(2).invalid_value_error("pred", np.array([[0, 7, 7]])).message
        'prediction label 7 (2 pixels) is outside class ids 0..1'
        """
        codes = self.encode(mask)
        values, pixel_counts = np.unique(mask[codes == self.invalid_code], return_counts=True)
        return self._invalid_error(side, values, pixel_counts)

    def _invalid_error(
        self, side: Literal["gt", "pred"], values: np.ndarray, pixel_counts: np.ndarray
    ) -> LabelRangeError:
        label, pixel_count = int(values[0]), int(pixel_counts[0])
        others = f" (and {len(values) - 1} other invalid values)" if len(values) > 1 else ""
        name = "ground truth" if side == "gt" else "prediction"
        error = LabelRangeError(
            f"{name} label {label} ({counted(pixel_count, 'pixel')}){others} is outside "
            f"{self.describe()}"
        )
        error.side, error.label, error.pixel_count = side, label, pixel_count
        return error

    def predicted_ignore_error(self, mask: np.ndarray, scored: np.ndarray) -> PredictedIgnoreError:
        """Describe the first ignore value predicted on a scored pixel (errors only).

        Parameters
        ----------
        mask : numpy.ndarray
            The raw prediction.
        scored : numpy.ndarray of bool
            Pixels whose ground truth is a class.

        Examples
        --------
        >>> mapping = LabelMapping(2, ignore_values=[255])
        >>> pred = np.array([[255, 255, 0]])
        >>> mapping.predicted_ignore_error(pred, np.array([[True, False, True]])).message
        'prediction holds the ignore value 255 on 1 scored pixel'
        """
        predicted = mask[scored & (self.encode(mask) == self.ignore_code)]
        values, pixel_counts = np.unique(predicted, return_counts=True)
        return self._predicted_ignore(values, pixel_counts)

    def raw_predicted_ignore_error(
        self, raw: np.ndarray, gt_rule: LabelMapping
    ) -> PredictedIgnoreError | None:
        """:meth:`predicted_ignore_error` from a raw pair histogram (``gt << 8 | pred``).

        Examples
        --------
        >>> rule = LabelMapping(2, ignore_values=[255])
        >>> raw = np.zeros(1 << 16, np.int64)
        >>> raw[[(0 << 8) | 255, (255 << 8) | 255]] = 3, 7  # the second is not scored
        >>> rule.raw_predicted_ignore_error(raw, rule).message
        'prediction holds the ignore value 255 on 3 scored pixels'
        """
        present = np.flatnonzero(raw)
        scored = gt_rule._lut_256[present >> 8] < gt_rule.num_classes
        ignored = scored & (self._lut_256[present & 0xFF] == self.ignore_code)
        by_value = np.zeros(256, dtype=np.int64)
        np.add.at(by_value, present[ignored] & 0xFF, raw[present[ignored]])
        values = np.flatnonzero(by_value)
        return self._predicted_ignore(values, by_value[values]) if values.size else None

    def _predicted_ignore(
        self, values: np.ndarray, pixel_counts: np.ndarray
    ) -> PredictedIgnoreError:
        label, pixel_count = int(values[0]), int(pixel_counts[0])
        others = f" (and {len(values) - 1} other ignore values)" if len(values) > 1 else ""
        pixels = "pixel" if pixel_count == 1 else "pixels"
        error = PredictedIgnoreError(
            f"prediction holds the ignore value {label} on {pixel_count} scored {pixels}{others}"
        )
        error.side, error.label, error.pixel_count = "pred", label, pixel_count
        return error

    def describe(self) -> str:
        """One phrase for error messages: which raw values are valid.

        Examples
        --------
        >>> LabelMapping(19, ignore_values=[255]).describe()
        'class ids 0..18 or ignore values 255'
        """
        if self.binary:
            valid = "0 (background) or any other value (foreground)"
        elif self.value_to_class is None:
            first = self.offset
            valid = f"class ids {first}..{first + self.num_classes - 1}"
        else:
            valid = "values listed in the label map"
        if self.ignore_values:
            ignored = ", ".join(str(v) for v in sorted(self.ignore_values))
            return f"{valid} or ignore values {ignored}"
        return valid
