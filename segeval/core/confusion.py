"""The confusion-matrix accumulator.

:class:`ConfusionMatrix` holds the only state an evaluation needs: a C x C
``uint64`` matrix (rows = ground truth, columns = prediction) plus a few pixel
counters. It is updated one mask pair at a time, never keeps per-pixel data, and
merges with ``+`` (integer sums), so partial matrices from parallel workers,
chunks or separate runs add up to exactly the whole.

Counting works on blocks of at most ``chunk_pixels`` pixels (rows of an image,
slabs of a volume, cut along the axis that is outermost in memory), so
temporaries stay bounded however large the image or volume. Two paths:

* uint8 masks (the common case): a joint histogram of *raw* values over a packed
  16-bit index ``gt << 8 | pred`` (65536 bins), summed over the blocks of a pair;
  the label mapping is then applied once to that 256 x 256 histogram instead of
  to every pixel.
* anything else (16-bit labels, NPY arrays, many classes): raw values are
  mapped to codes through :class:`~segeval.core.labels.LabelMapping` and the codes
  binned directly.
* many uint8 pairs at once (a run without per-image output):
  :class:`~segeval.core.histogram.RawPairCounts` sums the raw pairs of a whole
  chunk of images and :meth:`ConfusionMatrix.add_raw_histogram` folds them
  through the label tables once, with the same checks.

Ground-truth pixels with an ignore value are dropped. A prediction pixel with an
ignore value predicts no class: it is a miss (false negative) of the ground-truth
class, recorded in :attr:`ConfusionMatrix.missed` rather than in a column.

Many classes: above :data:`DENSE_MAX_CLASSES` the counts are kept sparsely (one
entry per (ground truth, prediction) pair that occurred) and each pair is counted
sparsely, so no C x C array is allocated per pair, per worker task or per
submission; :attr:`ConfusionMatrix.counts` builds the dense matrix on demand, for
the report. The class count is bounded by ``max_classes`` (default
:data:`~segeval.core.labels.DEFAULT_MAX_CLASSES`), given or inferred, and the
error says how much memory the matrix would need.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np

from segeval.core.histogram import compact_pairs, pair_histogram
from segeval.core.inputs import label_batch
from segeval.core.labels import (
    DEFAULT_IGNORE,
    DEFAULT_MAX_CLASSES,
    LabelMapping,
    class_limit_problem,
)
from segeval.core.metrics import MetricOptions, MetricResult, compute_metrics, counts_from_matrix
from segeval.errors import (
    ClassCountError,
    CountOverflowError,
    LabelRangeError,
    ShapeMismatchError,
    UsageError,
)
from segeval.wording import counted

__all__ = [
    "DEFAULT_CHUNK_PIXELS",
    "DEFAULT_MAX_CLASSES",
    "DENSE_MAX_CLASSES",
    "ConfusionMatrix",
    "OutOfRange",
    "PredIgnore",
]

OutOfRange = Literal["error", "miss"]
PredIgnore = Literal["miss", "error"]
#: What a refused pair holds: an invalid ground-truth or predicted value, or a
#: predicted ignore value under ``pred_ignore="error"``.
_Problem = Literal["gt", "pred", "pred_ignore"]

#: Pixels per row block: bounds the temporaries of one update to about 20 MiB.
DEFAULT_CHUNK_PIXELS = 1 << 18

#: Above this many classes counts are kept and counted sparsely (a dense
#: (C+2) x (C+2) histogram per pair stops being small).
DENSE_MAX_CLASSES = 256

# Sparse keys: ground-truth class << 32 | predicted class, independent of C, so a
# growing (inferred) class count never re-keys them.
_KEY_SHIFT = 32
_KEY_MASK = (1 << _KEY_SHIFT) - 1


class ConfusionMatrix:
    """Confusion-matrix accumulator over label masks.

    Parameters
    ----------
    num_classes : int, optional
        Number of classes C. When omitted (and no ``mapping`` is given) it is
        inferred: the matrix grows to the largest non-ignored label seen + 1.
    ignore_index : iterable of int, default (255,)
        Raw values that mark unlabelled pixels. Ignored when ``mapping`` is given.
    mapping : LabelMapping, optional
        Full control over how raw values become classes (label maps, several
        ignore values, unmapped values).
    out_of_range : {"error", "miss"}, default "error"
        A prediction value outside the classes raises
        :class:`~segeval.errors.LabelRangeError`, or counts as a miss of the
        ground-truth class (mmsegmentation's behaviour).
    pred_ignore : {"miss", "error"}, default "miss"
        A prediction equal to an ignore value on a scored pixel: a miss of the
        ground-truth class, or a :class:`~segeval.errors.PredictedIgnoreError`
        (for conventions whose tool cannot score it the same way).
    chunk_pixels : int, default DEFAULT_CHUNK_PIXELS
        Pixels per row block when counting.
    max_classes : int, default DEFAULT_MAX_CLASSES
        Refuse more classes than this, given or inferred (the message says how
        much memory the matrix would need).

    Attributes
    ----------
    counts : numpy.ndarray
        ``(C, C)`` uint64, rows = ground truth, columns = prediction.
    missed : numpy.ndarray
        ``(C,)`` uint64: ground-truth pixels of each class whose prediction was no
        class (an ignore value, an out-of-range value under ``out_of_range="miss"``,
        or no prediction at all).
    ignored_pixels : int
        Ground-truth pixels dropped because they carry an ignore value.
    pred_ignore_pixels : int
        Scored pixels whose prediction carried an ignore value (part of ``missed``).
    out_of_range_pixels : int
        Scored pixels whose prediction was out of range (part of ``missed``).
    num_images : int
        Number of mask pairs added.

    Examples
    --------
    >>> gt = np.array([[0, 0, 1], [1, 2, 255]], dtype=np.uint8)
    >>> pred = np.array([[0, 1, 1], [1, 2, 0]], dtype=np.uint8)
    >>> cm = ConfusionMatrix(num_classes=3)
    >>> cm.update(pred, gt)
    >>> cm.counts
    array([[1, 1, 0],
           [0, 2, 0],
           [0, 0, 1]], dtype=uint64)
    >>> cm.ignored_pixels
    1
    >>> both = cm + cm
    >>> int(both.counts.sum())
    10
    """

    def __init__(
        self,
        num_classes: int | None = None,
        *,
        ignore_index: int | Iterable[int] | None = (DEFAULT_IGNORE,),
        mapping: LabelMapping | None = None,
        pred_mapping: LabelMapping | None = None,
        infer_num_classes: bool | None = None,
        out_of_range: OutOfRange = "error",
        pred_ignore: PredIgnore = "miss",
        chunk_pixels: int = DEFAULT_CHUNK_PIXELS,
        max_classes: int = DEFAULT_MAX_CLASSES,
    ) -> None:
        if out_of_range not in ("error", "miss"):
            raise UsageError(f"out_of_range must be 'error' or 'miss', got {out_of_range!r}.")
        if pred_ignore not in ("miss", "error"):
            raise UsageError(f"pred_ignore must be 'miss' or 'error', got {pred_ignore!r}.")
        if chunk_pixels < 1:
            raise UsageError(f"chunk_pixels must be positive, got {chunk_pixels}.")
        if isinstance(ignore_index, int | np.integer):
            ignore_index = (int(ignore_index),)
        if mapping is None:
            mapping = LabelMapping(num_classes or 1, ignore_values=ignore_index or ())
        elif num_classes is not None and num_classes != mapping.num_classes:
            raise UsageError(
                f"num_classes={num_classes} disagrees with the mapping's "
                f"{counted(mapping.num_classes, 'class')}."
            )
        pred_mapping = pred_mapping or mapping
        if pred_mapping.num_classes != mapping.num_classes:
            raise UsageError("the ground-truth and prediction mappings differ in class count.")
        if infer_num_classes is None:
            infer_num_classes = (
                num_classes is None and mapping.num_classes == 1 and mapping.is_shift
            )
        if infer_num_classes and not (mapping.is_shift and pred_mapping.is_shift):
            raise UsageError("the class count can only be inferred without a label map.")
        problem = class_limit_problem(0 if infer_num_classes else mapping.num_classes, max_classes)
        if problem is not None:
            raise UsageError(f"{problem}; pass a larger --max-classes if that is intended.")
        self.max_classes = max_classes
        self._gt_mapping = mapping
        self._pred_mapping = pred_mapping
        self.num_classes_inferred = bool(infer_num_classes)
        self.out_of_range: OutOfRange = out_of_range
        self.pred_ignore: PredIgnore = pred_ignore
        self.chunk_pixels = chunk_pixels
        self.reset()

    def reset(self) -> None:
        """Forget every count (an inferred class count starts again from zero).

        Examples
        --------
        >>> cm = ConfusionMatrix(2)
        >>> cm.update(np.array([[1]]), np.array([[1]]))
        >>> cm.reset()
        >>> cm.num_images, int(cm.counts.sum())
        (0, 0)
        """
        size = 0 if self.num_classes_inferred else self._gt_mapping.num_classes
        self._size = size
        # Dense (C, C) counts, or sparse keys (sorted, distinct) and their counts.
        self._dense: np.ndarray | None = None
        self._keys = np.zeros(0, dtype=np.int64)
        self._values = np.zeros(0, dtype=np.uint64)
        if size <= DENSE_MAX_CLASSES:
            self._dense = np.zeros((size, size), dtype=np.uint64)
        self.missed = np.zeros(size, dtype=np.uint64)
        self.ignored_pixels = 0
        self.pred_ignore_pixels = 0
        self.out_of_range_pixels = 0
        self.num_images = 0

    def __repr__(self) -> str:
        inferred = ", inferred" if self.num_classes_inferred else ""
        return (
            f"ConfusionMatrix({counted(self.num_classes, 'class')}{inferred}, {self.num_images} "
            f"image{'' if self.num_images == 1 else 's'}, "
            f"{counted(self.scored_pixels, 'scored pixel')}, ignore {sorted(self.ignore_values)})"
        )

    # ------------------------------------------------------------------ state

    @property
    def num_classes(self) -> int:
        """Number of classes C (so far, when inferred)."""
        return self._size

    @property
    def counts(self) -> np.ndarray:
        """``(C, C)`` uint64, rows = ground truth, columns = prediction.

        Built on demand when the counts are kept sparsely (many classes).
        """
        if self._dense is not None:
            return self._dense
        dense = np.zeros((self._size, self._size), dtype=np.uint64)
        dense[self._keys >> _KEY_SHIFT, self._keys & _KEY_MASK] = self._values
        return dense

    @counts.setter
    def counts(self, value: np.ndarray) -> None:
        matrix = np.asarray(value, dtype=np.uint64)
        self._size = int(matrix.shape[0])
        self._dense = matrix
        self._keys = np.zeros(0, dtype=np.int64)
        self._values = np.zeros(0, dtype=np.uint64)

    @property
    def is_sparse(self) -> bool:
        """True when the counts are kept sparsely (more than DENSE_MAX_CLASSES classes)."""
        return self._dense is None

    def _pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The nonzero counts as sparse keys and values, whatever the storage."""
        if self._dense is None:
            return self._keys, self._values
        rows, columns = np.nonzero(self._dense)
        keys = (rows.astype(np.int64) << _KEY_SHIFT) | columns
        return keys, self._dense[rows, columns]

    def _to_sparse(self) -> None:
        if self._dense is not None:
            self._keys, self._values = self._pairs()
            self._dense = None

    def _add_pairs(self, keys: np.ndarray, values: np.ndarray, safe: bool) -> None:
        """Add sparse counts (keys ``gt << 32 | pred``) to the sparse storage, exactly."""
        if not keys.size:
            return
        all_keys = np.concatenate((self._keys, keys))
        if safe:
            all_values = np.concatenate((self._values, values.astype(np.uint64)))
            self._keys, self._values = compact_pairs(all_keys, all_values)
            return
        # Near 2**64: sum as Python integers and refuse to wrap, like _add_exactly.
        exact = np.concatenate((self._values.astype(object), values.astype(object)))
        self._keys, totals = compact_pairs(all_keys, exact)
        if any(total > _UINT64_MAX for total in totals):
            raise CountOverflowError(
                "a count would exceed 2**64 - 1 pixels and wrap around; split the data "
                "into several matrices."
            )
        self._values = totals.astype(np.uint64)

    def tp_fp_fn(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-class TP, FP and FN (uint64, length C), from either storage.

        Examples
        --------
        >>> cm = ConfusionMatrix.from_counts(np.array([[3, 1], [2, 4]]))
        >>> [values.tolist() for values in cm.tp_fp_fn()]
        [[3, 4], [2, 1], [1, 2]]
        """
        if self._dense is not None:
            return counts_from_matrix(self._dense, self.missed)
        rows, columns = self._keys >> _KEY_SHIFT, self._keys & _KEY_MASK
        tp, row_sums, column_sums = (np.zeros(self._size, dtype=np.uint64) for _ in range(3))
        diagonal = rows == columns
        np.add.at(tp, rows[diagonal], self._values[diagonal])
        np.add.at(row_sums, rows, self._values)
        np.add.at(column_sums, columns, self._values)
        return tp, column_sums - tp, row_sums - tp + self.missed

    @property
    def mapping(self) -> LabelMapping:
        """How ground-truth raw values become classes."""
        return self._gt_mapping

    @property
    def pred_mapping(self) -> LabelMapping:
        """How predicted raw values become classes."""
        return self._pred_mapping

    @property
    def ignore_values(self) -> frozenset[int]:
        """Raw ground-truth values treated as unlabelled."""
        return self._gt_mapping.ignore_values

    @property
    def scored_pixels(self) -> int:
        """Ground-truth pixels that were scored (everything not ignored)."""
        counted = self._values if self._dense is None else self._dense
        return int(counted.sum(dtype=np.uint64)) + int(self.missed.sum(dtype=np.uint64))

    def metrics(self, options: MetricOptions | None = None) -> MetricResult:
        """Per-class and summary metrics of the counts so far.

        Parameters
        ----------
        options : MetricOptions, optional
            Empty-class policy, zero division, beta, excluded classes.

        Returns
        -------
        MetricResult

        Examples
        --------
        >>> cm = ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]]))
        >>> cm.metrics().per_class.iou
        array([0.75, 0.8 ])
        """
        tp, fp, fn = self.tp_fp_fn()
        return compute_metrics(tp, fp, fn, options)

    def copy_empty(self) -> ConfusionMatrix:
        """A new, empty accumulator with the same settings."""
        return ConfusionMatrix(
            mapping=self._gt_mapping,
            pred_mapping=self._pred_mapping,
            infer_num_classes=self.num_classes_inferred,
            out_of_range=self.out_of_range,
            pred_ignore=self.pred_ignore,
            chunk_pixels=self.chunk_pixels,
            max_classes=self.max_classes,
        )

    @classmethod
    def from_counts(
        cls,
        counts: np.ndarray,
        missed: np.ndarray | None = None,
        *,
        ignore_index: Iterable[int] | None = (DEFAULT_IGNORE,),
    ) -> ConfusionMatrix:
        """Build an accumulator from an existing count matrix.

        Parameters
        ----------
        counts : array-like of shape (C, C)
            Non-negative integer counts, rows = ground truth.
        missed : array-like of shape (C,), optional
            Ground-truth pixels predicted as no class.
        ignore_index : iterable of int, default (255,)
            Recorded for merging and reporting.

        Returns
        -------
        ConfusionMatrix

        Examples
        --------
        >>> cm = ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]]))
        >>> cm.scored_pixels
        8
        """
        matrix = np.asarray(counts)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 1:
            raise UsageError(f"counts must be a square (C, C) matrix, got shape {matrix.shape}.")
        if np.any(matrix < 0):
            raise UsageError("counts must be non-negative.")
        result = cls(matrix.shape[0], ignore_index=ignore_index, max_classes=matrix.shape[0])
        result.counts = matrix.astype(np.uint64)
        if missed is not None:
            result.missed = np.asarray(missed).astype(np.uint64).reshape(matrix.shape[0])
        return result

    # ---------------------------------------------------------------- merging

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        total = self.copy_empty()
        total += self
        total += other
        return total

    def __radd__(self, other: object) -> ConfusionMatrix:
        """``sum(matrices)`` starts from 0."""
        if isinstance(other, int) and other == 0:
            return self + self.copy_empty()
        return NotImplemented

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        if not isinstance(other, ConfusionMatrix):
            return NotImplemented
        if (
            self.out_of_range != other.out_of_range
            or self.pred_ignore != other.pred_ignore
            or not self._same_rule(other)
        ):
            raise UsageError(
                "cannot merge confusion matrices with different ignore values, label "
                "mappings, out-of-range or predicted-ignore policies."
            )
        if self.num_classes_inferred or other.num_classes_inferred:
            self._grow(other.num_classes)
        elif self.num_classes != other.num_classes:
            raise UsageError(
                f"cannot merge a {other.num_classes}-class matrix into a "
                f"{self.num_classes}-class one."
            )
        safe = self._headroom_ok(other._total_bound())
        size = other.num_classes
        if self._dense is not None and other._dense is not None:
            _add_exactly(self._dense[:size, :size], other._dense, safe)  # a view: in place
        else:
            self._to_sparse()
            self._add_pairs(*other._pairs(), safe)
        _add_exactly(self.missed[:size], other.missed, safe)
        self.ignored_pixels += other.ignored_pixels
        self.pred_ignore_pixels += other.pred_ignore_pixels
        self.out_of_range_pixels += other.out_of_range_pixels
        self.num_images += other.num_images
        return self

    def _same_rule(self, other: ConfusionMatrix) -> bool:
        if other._gt_mapping is self._gt_mapping and other._pred_mapping is self._pred_mapping:
            return True  # the common case: a pair counted with this accumulator's mappings
        size = max(self._gt_mapping.num_classes, other._gt_mapping.num_classes)
        return all(
            mine.grown(size) == theirs.grown(size)
            for mine, theirs in (
                (self._gt_mapping, other._gt_mapping),
                (self._pred_mapping, other._pred_mapping),
            )
        )

    def _grow(self, num_classes: int) -> None:
        if num_classes <= self.num_classes:
            return
        missed = np.zeros(num_classes, dtype=np.uint64)
        missed[: self._size] = self.missed
        self.missed = missed
        if num_classes > DENSE_MAX_CLASSES:
            self._to_sparse()
        elif self._dense is not None:
            counts = np.zeros((num_classes, num_classes), dtype=np.uint64)
            counts[: self._size, : self._size] = self._dense
            self._dense = counts
        self._size = num_classes
        self._gt_mapping = self._gt_mapping.grown(num_classes)
        self._pred_mapping = self._pred_mapping.grown(num_classes)

    # --------------------------------------------------------------- counting

    def update(self, pred: Any, target: Any) -> None:
        """Add masks: prediction first, ground truth second (as torchmetrics orders them).

        Parameters
        ----------
        pred : array-like or None
            Raw predicted labels: ``(H, W)`` for one image or ``(N, H, W)`` for
            N images, of any integer or bool dtype; a numpy array, a nested
            list, or a host tensor (torch, JAX, CuPy) read through
            ``__array__`` / DLPack. ``None`` means the prediction is missing:
            every scored pixel is a miss.
        target : array-like
            Raw ground-truth labels, the same shape.

        Raises
        ------
        UsageError
            Float (probability), complex or object arrays, GPU tensors, other
            shapes.
        ShapeMismatchError
            The two differ in shape.
        LabelRangeError
            A label outside the classes (see ``out_of_range``); nothing of this
            call is added.

        Examples
        --------
        >>> cm = ConfusionMatrix(2)
        >>> cm.update(pred=np.array([[1, 1]], np.uint8), target=np.array([[0, 1]], np.uint8))
        >>> cm.counts.tolist(), cm.num_images
        ([[0, 1], [0, 1]], 1)
        >>> cm.update([[[0, 0]], [[1, 1]]], [[[0, 1]], [[1, 1]]])  # a batch of two images
        >>> cm.num_images
        3
        """
        if (
            isinstance(target, np.ndarray)
            and target.ndim == 2
            and (pred is None or (isinstance(pred, np.ndarray) and pred.ndim == 2))
            and np.issubdtype(target.dtype, np.integer)
            and (pred is None or np.issubdtype(pred.dtype, np.integer))
        ):
            self._update_one(pred, target)  # the scoring loop's case: no conversion
            return
        targets = label_batch(target, "target")
        preds = None if pred is None else label_batch(pred, "pred")
        if preds is not None and preds.shape != targets.shape:
            raise ShapeMismatchError(
                f"ground truth has shape {np.shape(target)} but prediction has shape "
                f"{np.shape(pred)}."
            )
        if len(targets) == 1:
            self._update_one(None if preds is None else preds[0], targets[0])
            return
        batch = self.copy_empty()  # all of the batch or nothing
        for index, one_target in enumerate(targets):
            batch._update_one(None if preds is None else preds[index], one_target)
        self += batch

    def update_case(self, pred: np.ndarray | None, target: np.ndarray) -> None:
        """Add one case of any number of axes (an image, a volume) as one item.

        :meth:`update` reads a 3-D array as a batch of images; a 3-D medical
        volume is one case (one per-case row), which this method counts as such.
        Counting streams over slabs along the array's outermost axis in memory,
        so a memory-mapped or Fortran-ordered volume is never copied whole.

        Parameters
        ----------
        pred : numpy.ndarray or None
            Raw predicted labels, integer or bool, 2-D or more; ``None`` when
            the prediction is missing.
        target : numpy.ndarray
            Raw ground-truth labels, the same shape.

        Raises
        ------
        UsageError
            Non-integer arrays, fewer than 2 axes.
        ShapeMismatchError, LabelRangeError
            As :meth:`update`.

        Examples
        --------
        >>> cm = ConfusionMatrix(2)
        >>> volume = np.zeros((2, 3, 4), dtype=np.uint8)
        >>> volume[1] = 1
        >>> cm.update_case(volume, volume)
        >>> cm.counts.tolist(), cm.num_images
        ([[12, 0], [0, 12]], 1)
        """
        for role, mask in (("target", target), ("pred", pred)):
            if mask is None:
                continue
            if not isinstance(mask, np.ndarray) or mask.ndim < 2:
                raise UsageError(
                    f"{role}: expected an array of 2 or more axes, got "
                    f"{getattr(mask, 'shape', type(mask).__name__)}."
                )
            if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == np.bool_):
                raise UsageError(f"{role}: expected integer class ids, got dtype {mask.dtype}.")
        self._update_one(
            None if pred is None else _as_integer(pred), _as_integer(target), any_ndim=True
        )

    def _update_one(
        self, pred: np.ndarray | None, target: np.ndarray, *, any_ndim: bool = False
    ) -> None:
        if pred is not None and target.shape != pred.shape:
            raise ShapeMismatchError(
                f"ground truth has shape {target.shape} but prediction has shape {pred.shape}."
            )
        if target.ndim != 2 and not any_ndim:
            raise ShapeMismatchError(f"expected 2-D masks, got shape {target.shape}.")
        raw = self._grow_to_fit(pred, target) if self.num_classes_inferred else None
        gt_rule, pred_rule = self._gt_mapping, self._pred_mapping
        refuse = self._pair_refusal(pred, target)
        if self._dense is not None:
            codes = gt_rule.fold_raw_histogram(raw, pred_rule) if raw is not None else None
            codes = self._codes(pred, target) if codes is None else codes
            self._absorb(codes, refuse, has_pred=pred is not None, images=1)
            return
        if raw is not None:
            keys, pixel_counts = gt_rule.fold_raw_pairs(raw, pred_rule)
        else:
            keys, pixel_counts = self._code_pairs(pred, target)
        self._absorb_pairs(keys, pixel_counts, refuse, has_pred=pred is not None, images=1)

    def _total_bound(self) -> float:
        counted = self._values if self._dense is None else self._dense
        return float(counted.sum(dtype=np.float64)) + float(self.missed.sum(dtype=np.float64))

    def _headroom_ok(self, added: float) -> bool:
        """True when adding ``added`` pixels cannot wrap any cell (total far below 2**64)."""
        return self._total_bound() + added < 2.0**63

    def _row_blocks(self, mask: np.ndarray) -> Iterable[tuple[slice | int, ...]]:
        """Index tuples of blocks of at most ``chunk_pixels`` elements (one at least).

        Rows of an image; slabs of a volume along the axis outermost in memory
        (the first for C order, the last for NIfTI's Fortran order), so each
        block is contiguous or nearly so. Axes too large for one block are cut
        one index at a time, then the next axis inwards.
        """
        shape = mask.shape
        outer_first = sorted(range(mask.ndim), key=lambda axis: -abs(mask.strides[axis]))
        # The first position whose inner axes fit in a block is cut in steps;
        # the axes before it are taken one index at a time.
        position = next(
            place
            for place in range(mask.ndim)
            if math.prod(shape[a] for a in outer_first[place + 1 :]) <= self.chunk_pixels
        )
        axis = outer_first[position]
        inner = math.prod(shape[a] for a in outer_first[position + 1 :])
        step = max(1, self.chunk_pixels // max(1, inner))
        outer_axes = outer_first[:position]
        for outer_index in itertools.product(*(range(shape[a]) for a in outer_axes)):
            for start in range(0, shape[axis], step):
                index: list[slice | int] = [slice(None)] * mask.ndim
                for outer_axis, value in zip(outer_axes, outer_index, strict=True):
                    index[outer_axis] = value
                index[axis] = slice(start, start + step)
                yield tuple(index)

    def _codes(self, pred: np.ndarray | None, target: np.ndarray) -> np.ndarray:
        """The pair's code histogram, counted block by block."""
        size = self._gt_mapping.code_count
        codes = np.zeros((size, size), dtype=np.int64)
        for rows in self._row_blocks(target):
            codes += self._gt_mapping.code_histogram(
                target[rows], None if pred is None else pred[rows], self._pred_mapping
            )
        return codes

    def _code_pairs(
        self, pred: np.ndarray | None, target: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The pair's code pairs, counted sparsely block by block (many classes)."""
        keys, pixel_counts = [], []
        for rows in self._row_blocks(target):
            block_keys, block_counts = self._gt_mapping.code_pairs(
                target[rows], None if pred is None else pred[rows], self._pred_mapping
            )
            keys.append(block_keys)
            pixel_counts.append(block_counts)
        return compact_pairs(np.concatenate(keys), np.concatenate(pixel_counts))

    def _grow_to_fit(self, pred: np.ndarray | None, target: np.ndarray) -> np.ndarray | None:
        """Grow to the classes the pair's values imply (within the limit).

        Returns the raw histogram of a uint8 pair, which gives both the values
        seen and the counts, so the pair is not read twice.
        """
        if pred is not None and target.dtype == pred.dtype == np.uint8:
            raw = np.zeros(1 << 16, dtype=np.int64)
            for rows in self._row_blocks(target):
                raw += pair_histogram(target[rows], pred[rows])
            present = np.flatnonzero(raw)
            gt_needed = self._gt_mapping.classes_needed(present >> 8)
            pred_needed = self._pred_mapping.classes_needed(present & 0xFF)
        else:
            raw = None
            # Row blocks keep the temporaries bounded for any mask size and dtype.
            gt_needed = max(
                self._gt_mapping.classes_needed(target[rows]) for rows in self._row_blocks(target)
            )
            pred_needed = 1
            if pred is not None:
                pred_needed = max(
                    self._pred_mapping.classes_needed(pred[rows]) for rows in self._row_blocks(pred)
                )
        self._check_inferred(gt_needed, "gt")
        self._check_inferred(pred_needed, "pred")
        self._grow(max(gt_needed, pred_needed))
        return raw

    def _check_inferred(self, needed: int, side: Literal["gt", "pred"]) -> None:
        problem = class_limit_problem(needed, self.max_classes)
        if problem is None:
            return
        label = needed - 1 + self._gt_mapping.offset
        name = "ground truth" if side == "gt" else "prediction"
        error = ClassCountError(
            f"{name} label {label} would mean {counted(needed, 'class')}: {problem}; pass "
            "--num-classes "
            "(or class names) and --max-classes if that is intended, or --ignore-index if "
            "it marks unlabelled pixels"
        )
        error.side, error.label = side, label
        raise error

    def add_raw_histogram(self, raw: np.ndarray, images: int) -> None:
        """Add the counts of ``images`` uint8 pairs summed into one raw pair histogram.

        The chunk-summed path of a run: :class:`~segeval.core.histogram.RawPairCounts`
        counts many pairs into one 65536-bin histogram (indexed ``gt << 8 | pred``)
        and it is folded through the label tables here, once, instead of once
        per pair. The checks are those of :meth:`update`, over all the pairs at
        once: nothing is added when one fails, and the error cannot name a
        pair (count the pairs one by one to find it).

        Parameters
        ----------
        raw : numpy.ndarray
            int64 counts, shape (65536,).
        images : int
            Number of pairs behind the counts.

        Raises
        ------
        LabelRangeError
            A value outside the classes (see ``out_of_range``).

        Examples
        --------
        >>> from segeval.core.histogram import RawPairCounts
        >>> summed = RawPairCounts()
        >>> for _ in range(3):
        ...     summed.add(np.array([[0, 1, 255]], np.uint8), np.array([[0, 0, 1]], np.uint8))
        >>> cm = ConfusionMatrix(2)
        >>> cm.add_raw_histogram(summed.histogram(), summed.pairs)
        >>> cm.counts.tolist(), cm.ignored_pixels, cm.num_images
        ([[3, 0], [3, 0]], 3, 3)
        """
        gt_rule, pred_rule = self._gt_mapping, self._pred_mapping
        if self.num_classes_inferred:
            present = np.flatnonzero(raw)
            gt_needed = gt_rule.classes_needed(present >> 8)
            pred_needed = pred_rule.classes_needed(present & 0xFF)
            self._check_inferred(gt_needed, "gt")
            self._check_inferred(pred_needed, "pred")
            self._grow(max(gt_needed, pred_needed))
            gt_rule, pred_rule = self._gt_mapping, self._pred_mapping

        def refuse(problem: _Problem) -> LabelRangeError:
            error = (
                pred_rule.raw_predicted_ignore_error(raw, gt_rule)
                if problem == "pred_ignore"
                else (gt_rule if problem == "gt" else pred_rule).raw_values_error(problem, raw)
            )
            assert error is not None  # the codes say a value of that kind is there
            return error

        if self._dense is not None:
            codes = gt_rule.fold_raw_histogram(raw, pred_rule)
            self._absorb(codes, refuse, has_pred=True, images=images)
        else:
            keys, pixel_counts = gt_rule.fold_raw_pairs(raw, pred_rule)
            self._absorb_pairs(keys, pixel_counts, refuse, has_pred=True, images=images)

    def _pair_refusal(
        self, pred: np.ndarray | None, target: np.ndarray
    ) -> Callable[[_Problem], LabelRangeError]:
        """What builds the error of one refused pair, from its masks."""

        def refuse(problem: _Problem) -> LabelRangeError:
            if problem == "gt":
                return self._gt_mapping.invalid_value_error("gt", target)
            assert pred is not None
            if problem == "pred":
                return self._pred_mapping.invalid_value_error("pred", pred)
            scored = self._gt_mapping.encode(target) < self.num_classes
            return self._pred_mapping.predicted_ignore_error(pred, scored)

        return refuse

    def _absorb(
        self,
        codes: np.ndarray,
        refuse: Callable[[_Problem], LabelRangeError],
        *,
        has_pred: bool,
        images: int,
    ) -> None:
        """Check a code histogram and add it to the counts.

        Nothing is added when a check fails, so refused pairs leave no trace;
        ``refuse(problem)`` builds the error naming the offending value.
        """
        split = self._gt_mapping.split(codes)
        if split.gt_invalid:
            raise refuse("gt")
        if has_pred and split.out_of_range.any() and self.out_of_range == "error":
            raise refuse("pred")
        if has_pred and split.pred_ignore.any() and self.pred_ignore == "error":
            raise refuse("pred_ignore")
        # No cell can wrap while the total stays below 2**64 (the common case: one
        # comparison instead of one per cell).
        safe = self._headroom_ok(float(codes.sum()))
        assert self._dense is not None
        _add_exactly(self._dense, split.classes, safe)
        _add_exactly(self.missed, split.pred_ignore + split.out_of_range, safe)
        self.ignored_pixels += split.gt_ignored
        self.pred_ignore_pixels += int(split.pred_ignore.sum()) if has_pred else 0
        self.out_of_range_pixels += int(split.out_of_range.sum())
        self.num_images += images

    def _absorb_pairs(
        self,
        keys: np.ndarray,
        pixel_counts: np.ndarray,
        refuse: Callable[[_Problem], LabelRangeError],
        *,
        has_pred: bool,
        images: int,
    ) -> None:
        """:meth:`_absorb` for sparse code pairs (keys ``gt_code * (C+2) + pred_code``)."""
        rule = self._gt_mapping
        gt_codes, pred_codes = np.divmod(keys, rule.code_count)
        if (gt_codes == rule.invalid_code).any():
            raise refuse("gt")
        scored = gt_codes < rule.num_classes
        out_of_range = scored & (pred_codes == rule.invalid_code)
        if has_pred and out_of_range.any() and self.out_of_range == "error":
            raise refuse("pred")
        pred_ignore = scored & (pred_codes == rule.ignore_code)
        if has_pred and pred_ignore.any() and self.pred_ignore == "error":
            raise refuse("pred_ignore")
        classes = scored & (pred_codes < rule.num_classes)
        safe = self._headroom_ok(float(pixel_counts.sum()))
        self._add_pairs(
            (gt_codes[classes] << _KEY_SHIFT) | pred_codes[classes], pixel_counts[classes], safe
        )
        missed = pred_ignore | out_of_range
        per_class = np.zeros(self._size, dtype=np.int64)
        np.add.at(per_class, gt_codes[missed], pixel_counts[missed])
        _add_exactly(self.missed, per_class, safe)
        self.ignored_pixels += int(pixel_counts[gt_codes == rule.ignore_code].sum())
        if has_pred:
            self.pred_ignore_pixels += int(pixel_counts[pred_ignore].sum())
        self.out_of_range_pixels += int(pixel_counts[out_of_range].sum())
        self.num_images += images


def _as_integer(mask: np.ndarray) -> np.ndarray:
    return mask.view(np.uint8) if mask.dtype == np.bool_ else mask


_UINT64_MAX = np.iinfo(np.uint64).max


def _add_exactly(total: np.ndarray, addend: np.ndarray, safe: bool = False) -> None:
    """``total += addend`` in uint64, refusing to wrap around (counts stay exact).

    ``safe`` says the caller knows no cell can wrap (the grand total stays below
    2**64), which skips the per-cell check.
    """
    addend = np.asarray(addend)
    if not safe and addend.size and int(addend.max(initial=0)) > 0:
        headroom = _UINT64_MAX - total
        if np.any(addend.astype(np.uint64, copy=False) > headroom):
            raise CountOverflowError(
                "a count would exceed 2**64 - 1 pixels and wrap around; split the data "
                "into several matrices."
            )
    # Non-negative int64 into uint64: in-place, without a converted copy.
    np.add(total, addend, out=total, casting="unsafe")
