"""The confusion-matrix accumulator.

:class:`ConfusionMatrix` holds the only state an evaluation needs: a C x C
``uint64`` matrix (rows = ground truth, columns = prediction) plus a few pixel
counters. It is updated one mask pair at a time, never keeps per-pixel data, and
merges with ``+`` (integer sums), so partial matrices from parallel workers,
chunks or separate runs add up to exactly the whole.

Counting works on row blocks of at most ``chunk_pixels`` pixels, so temporaries
stay bounded however large the image. Two paths:

* uint8 masks (the common case): a joint histogram of *raw* values over a packed
  16-bit index ``gt << 8 | pred`` (65536 bins), summed over the blocks of a pair;
  the label mapping is then applied once to that 256 x 256 histogram instead of
  to every pixel.
* anything else (16-bit labels, NPY arrays, many classes): raw values are
  mapped to codes through :class:`~segeval.core.labels.LabelMapping` and the codes
  binned directly.

Ground-truth pixels with an ignore value are dropped. A prediction pixel with an
ignore value predicts no class: it is a miss (false negative) of the ground-truth
class, recorded in :attr:`ConfusionMatrix.missed` rather than in a column.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

from segeval.core.histogram import pair_histogram
from segeval.core.inputs import label_batch
from segeval.core.labels import DEFAULT_IGNORE, MAX_INFERRED_CLASSES, LabelMapping
from segeval.core.metrics import MetricOptions, MetricResult, compute_metrics, counts_from_matrix
from segeval.errors import CountOverflowError, ShapeMismatchError, UsageError

__all__ = [
    "DEFAULT_CHUNK_PIXELS",
    "MAX_INFERRED_CLASSES",
    "ConfusionMatrix",
    "OutOfRange",
    "PredIgnore",
]

OutOfRange = Literal["error", "miss"]
PredIgnore = Literal["miss", "error"]

#: Pixels per row block: bounds the temporaries of one update to about 20 MiB.
DEFAULT_CHUNK_PIXELS = 1 << 18


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
                f"{mapping.num_classes} classes."
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
        self.counts = np.zeros((size, size), dtype=np.uint64)
        self.missed = np.zeros(size, dtype=np.uint64)
        self.ignored_pixels = 0
        self.pred_ignore_pixels = 0
        self.out_of_range_pixels = 0
        self.num_images = 0

    def __repr__(self) -> str:
        inferred = ", inferred" if self.num_classes_inferred else ""
        return (
            f"ConfusionMatrix({self.num_classes} classes{inferred}, {self.num_images} "
            f"image{'' if self.num_images == 1 else 's'}, "
            f"{self.scored_pixels} scored pixels, ignore {sorted(self.ignore_values)})"
        )

    # ------------------------------------------------------------------ state

    @property
    def num_classes(self) -> int:
        """Number of classes C (so far, when inferred)."""
        return int(self.counts.shape[0])

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
        return int(self.counts.sum(dtype=np.uint64)) + int(self.missed.sum(dtype=np.uint64))

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
        tp, fp, fn = counts_from_matrix(self.counts, self.missed)
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
        result = cls(matrix.shape[0], ignore_index=ignore_index)
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
            other_counts, other_missed = _padded(other, self.num_classes)
        elif self.num_classes != other.num_classes:
            raise UsageError(
                f"cannot merge a {other.num_classes}-class matrix into a "
                f"{self.num_classes}-class one."
            )
        else:
            other_counts, other_missed = other.counts, other.missed
        safe = self._headroom_ok(other._total_bound())
        _add_exactly(self.counts, other_counts, safe)
        _add_exactly(self.missed, other_missed, safe)
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
        self.counts, self.missed = _padded(self, num_classes)
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

    def _update_one(self, pred: np.ndarray | None, target: np.ndarray) -> None:
        if pred is not None and target.shape != pred.shape:
            raise ShapeMismatchError(
                f"ground truth has shape {target.shape} but prediction has shape {pred.shape}."
            )
        if target.ndim != 2:
            raise ShapeMismatchError(f"expected 2-D masks, got shape {target.shape}.")
        if self.num_classes_inferred:
            codes = self._inferred_codes(pred, target)
        else:
            codes = self._codes(pred, target)
        self._absorb(codes, pred, target)

    def _total_bound(self) -> float:
        return float(self.counts.sum(dtype=np.float64)) + float(self.missed.sum(dtype=np.float64))

    def _headroom_ok(self, added: float) -> bool:
        """True when adding ``added`` pixels cannot wrap any cell (total far below 2**64)."""
        return self._total_bound() + added < 2.0**63

    def _row_blocks(self, mask: np.ndarray) -> Iterable[slice]:
        rows_per_block = max(1, self.chunk_pixels // max(1, mask.shape[1]))
        for start in range(0, mask.shape[0], rows_per_block):
            yield slice(start, start + rows_per_block)

    def _codes(self, pred: np.ndarray | None, target: np.ndarray) -> np.ndarray:
        """The pair's code histogram, counted block by block."""
        size = self._gt_mapping.code_count
        codes = np.zeros((size, size), dtype=np.int64)
        for rows in self._row_blocks(target):
            codes += self._gt_mapping.code_histogram(
                target[rows], None if pred is None else pred[rows], self._pred_mapping
            )
        return codes

    def _inferred_codes(self, pred: np.ndarray | None, target: np.ndarray) -> np.ndarray:
        """Grow to the classes the pair's values imply, then count it."""
        if pred is not None and target.dtype == pred.dtype == np.uint8:
            # One raw histogram gives both the values seen and the counts.
            raw = np.zeros(1 << 16, dtype=np.int64)
            for rows in self._row_blocks(target):
                raw += pair_histogram(target[rows], pred[rows])
            present = np.flatnonzero(raw)
            self._grow(max(
                self._gt_mapping.classes_needed(present >> 8),
                self._pred_mapping.classes_needed(present & 0xFF),
            ))  # fmt: skip
            return self._gt_mapping.fold_raw_histogram(raw, self._pred_mapping)
        needed = self._gt_mapping.classes_needed(target)
        if pred is not None:
            needed = max(needed, self._pred_mapping.classes_needed(pred))
        self._grow(needed)
        return self._codes(pred, target)

    def _absorb(self, codes: np.ndarray, pred: np.ndarray | None, target: np.ndarray) -> None:
        """Check a pair's code histogram and add it to the counts.

        Nothing is added when a check fails, so a refused pair leaves no trace.
        """
        split = self._gt_mapping.split(codes)
        if split.gt_invalid:
            raise self._gt_mapping.invalid_value_error("gt", target)
        if pred is not None and split.out_of_range.any() and self.out_of_range == "error":
            raise self._pred_mapping.invalid_value_error("pred", pred)
        if pred is not None and split.pred_ignore.any() and self.pred_ignore == "error":
            scored = self._gt_mapping.encode(target) < self.num_classes
            raise self._pred_mapping.predicted_ignore_error(pred, scored)
        # No cell can wrap while the total stays below 2**64 (the common case: one
        # comparison instead of one per cell).
        safe = self._headroom_ok(float(codes.sum()))
        _add_exactly(self.counts, split.classes, safe)
        _add_exactly(self.missed, split.pred_ignore + split.out_of_range, safe)
        self.ignored_pixels += split.gt_ignored
        self.pred_ignore_pixels += int(split.pred_ignore.sum()) if pred is not None else 0
        self.out_of_range_pixels += int(split.out_of_range.sum())
        self.num_images += 1


def _padded(matrix: ConfusionMatrix, size: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.zeros((size, size), dtype=np.uint64)
    missed = np.zeros(size, dtype=np.uint64)
    current = matrix.num_classes
    counts[:current, :current] = matrix.counts
    missed[:current] = matrix.missed
    return counts, missed


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
