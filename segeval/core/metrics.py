"""Metrics computed from confusion counts, and the registry that names them.

Everything here is a pure function of three per-class count vectors:

* ``tp[c]``: pixels of class c predicted as c (the diagonal),
* ``fp[c]``: pixels predicted as c whose ground truth is another class,
* ``fn[c]``: pixels of class c predicted as another class or as no class.

Naming follows the formulas in ``docs/metrics.md``: per-class arrays are
``iou``, ``dice``, ``precision``, ``recall``, ``fbeta``; summary values have
stable machine names (``miou``, ``pixel_accuracy``, ...) listed in
:data:`REGISTRY`, which the docs, the renderers and the quality gate all read.

Undefined values
----------------
A ratio whose denominator is 0 is undefined. When the class is absent from both
ground truth and prediction (``tp + fp + fn == 0``) every metric of that class
takes the ``empty`` policy value (NaN by default, left out of every mean). Any
other undefined ratio (precision of a class never predicted, recall of a class
absent from the ground truth) takes the ``zero_division`` value (NaN by
default). IoU and Dice of a class predicted but absent from the ground truth are
0: false positives are never free, unless ``gt_empty="nan"`` (MONAI's
``ignore_empty``) makes every metric of a class without ground truth undefined.

F-scores are computed from the counts by default, so they equal Dice at beta 1.
``fscore="precision_recall"`` computes them from precision and recall as
mmsegmentation does, where a class without true positives is 0/0 (undefined)
rather than 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from segeval.errors import UsageError

__all__ = [
    "DATASET_SUMMARY_METRICS",
    "PER_CLASS_METRICS",
    "REGISTRY",
    "ClassMetrics",
    "EmptyMean",
    "EmptyPolicy",
    "FScoreRule",
    "GtEmpty",
    "MetricOptions",
    "MetricResult",
    "MetricSpec",
    "RatioCounts",
    "ZeroDivision",
    "class_metrics",
    "compute_metrics",
    "counts_from_matrix",
    "empty_value",
    "included_classes",
    "normalize_matrix",
    "summary_arrays",
    "summary_metrics",
]

EmptyPolicy = Literal["nan", "zero", "one"]
ZeroDivision = Literal["nan", "zero"]
FScoreRule = Literal["counts", "precision_recall"]
GtEmpty = Literal["score", "nan"]
EmptyMean = Literal["nan", "zero"]

_POLICY_VALUE = {"nan": np.nan, "zero": 0.0, "one": 1.0}


def empty_value(policy: EmptyPolicy) -> float:
    """The value an ``--empty`` policy gives an undefined class (one rule for every metric).

    Examples
    --------
    >>> empty_value("zero"), empty_value("nan")
    (0.0, nan)
    """
    if policy not in _POLICY_VALUE:
        raise UsageError(f"empty must be nan, zero or one, got {policy!r}.")
    return float(_POLICY_VALUE[policy])


@dataclass(frozen=True)
class MetricOptions:
    """Choices that change metric values (all recorded in the report).

    Parameters
    ----------
    empty : {"nan", "zero", "one"}, default "nan"
        Score of a class with no ground-truth and no predicted pixels.
    zero_division : {"nan", "zero"}, default "nan"
        Value of any other 0/0 ratio (precision of a never-predicted class,
        recall of a class absent from the ground truth).
    beta : float, default 1.0
        Weight of recall in the F-beta score.
    exclude : frozenset of int, default empty
        Class indices reported but left out of summary means.
    fscore : {"counts", "precision_recall"}, default "counts"
        How F-scores are computed. ``counts``: (1 + b^2) TP / ((1 + b^2) TP +
        b^2 FN + FP), 0 for a class without true positives (F1 = Dice).
        ``precision_recall``: (1 + b^2) P R / (b^2 P + R), which is 0/0 for a
        class without true positives, so it takes ``zero_division`` (NaN:
        left out of the means, as mmsegmentation's mFscore does).
    gt_empty : {"score", "nan"}, default "score"
        A class with no ground-truth pixels but some predicted ones: scored (IoU
        = Dice = 0, false positives are never free) or undefined, NaN for every
        metric (MONAI's ``ignore_empty=True``).
    empty_mean : {"nan", "zero"}, default "nan"
        Value of a mean over images that no image defines (a class absent from
        every image): NaN, or 0 as MONAI's reductions report it.
    """

    empty: EmptyPolicy = "nan"
    zero_division: ZeroDivision = "nan"
    beta: float = 1.0
    exclude: frozenset[int] = field(default_factory=frozenset)
    fscore: FScoreRule = "counts"
    gt_empty: GtEmpty = "score"
    empty_mean: EmptyMean = "nan"

    def __post_init__(self) -> None:
        empty_value(self.empty)
        if self.zero_division not in ("nan", "zero"):
            raise UsageError(f"zero_division must be nan or zero, got {self.zero_division!r}.")
        if not self.beta > 0 or not np.isfinite(self.beta):
            raise UsageError(f"beta must be a positive number, got {self.beta}.")
        if self.fscore not in ("counts", "precision_recall"):
            raise UsageError(f"fscore must be counts or precision_recall, got {self.fscore!r}.")
        if self.gt_empty not in ("score", "nan"):
            raise UsageError(f"gt_empty must be score or nan, got {self.gt_empty!r}.")
        if self.empty_mean not in ("nan", "zero"):
            raise UsageError(f"empty_mean must be nan or zero, got {self.empty_mean!r}.")


@dataclass(frozen=True)
class ClassMetrics:
    """Per-class counts and metrics (arrays of length C, float64 metrics).

    ``values`` holds one array per per-class metric of :data:`REGISTRY`
    (:data:`PER_CLASS_METRICS`), by name; ``iou``, ``dice``... read it.
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    values: Mapping[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    @property
    def iou(self) -> np.ndarray:
        """Per-class IoU."""
        return self.values["iou"]

    @property
    def dice(self) -> np.ndarray:
        """Per-class Dice (F1)."""
        return self.values["dice"]

    @property
    def precision(self) -> np.ndarray:
        """Per-class precision."""
        return self.values["precision"]

    @property
    def recall(self) -> np.ndarray:
        """Per-class recall (class accuracy)."""
        return self.values["recall"]

    @property
    def fbeta(self) -> np.ndarray:
        """Per-class F-beta."""
        return self.values["fbeta"]

    @property
    def support(self) -> np.ndarray:
        """Ground-truth pixels per class (``tp + fn``)."""
        return np.asarray(self.tp + self.fn)

    @property
    def predicted(self) -> np.ndarray:
        """Predicted pixels per class (``tp + fp``)."""
        return np.asarray(self.tp + self.fp)

    @property
    def absent(self) -> np.ndarray:
        """Classes with no ground-truth and no predicted pixels."""
        return np.asarray((self.tp + self.fp + self.fn) == 0)


def counts_from_matrix(
    counts: np.ndarray, missed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a confusion matrix into per-class TP, FP and FN.

    Parameters
    ----------
    counts : numpy.ndarray of shape (C, C)
        Rows = ground truth, columns = prediction.
    missed : numpy.ndarray of shape (C,), optional
        Ground-truth pixels predicted as no class (they add to FN only).

    Returns
    -------
    tp, fp, fn : numpy.ndarray
        uint64 arrays of length C.

    Examples
    --------
    >>> tp, fp, fn = counts_from_matrix(np.array([[3, 1], [2, 4]], dtype=np.uint64))
    >>> tp.tolist(), fp.tolist(), fn.tolist()
    ([3, 4], [2, 1], [1, 2])
    """
    matrix = np.asarray(counts, dtype=np.uint64)
    tp = np.diagonal(matrix).copy()
    fn = matrix.sum(axis=1, dtype=np.uint64) - tp
    fp = matrix.sum(axis=0, dtype=np.uint64) - tp
    if missed is not None:
        fn = fn + np.asarray(missed, dtype=np.uint64)
    return tp, fp, fn


def _ratio(ratio: Ratio, counts: RatioCounts, options: MetricOptions) -> np.ndarray:
    """One per-class metric with the undefined-value policies applied."""
    numerator, denominator = ratio(counts)
    num = numerator.astype(np.float64)
    den = denominator.astype(np.float64)
    out = np.full(num.shape, _POLICY_VALUE[options.zero_division])
    np.divide(num, den, out=out, where=den > 0)
    if options.gt_empty == "nan":
        out[(counts.tp + counts.fn) == 0] = np.nan
    out[(counts.tp + counts.fp + counts.fn) == 0] = _POLICY_VALUE[options.empty]
    return out


def _ratio_counts(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, options: MetricOptions, beta: float
) -> RatioCounts:
    return RatioCounts(
        tp.astype(np.float64), fp.astype(np.float64), fn.astype(np.float64), beta**2, options.fscore
    )


def class_metrics(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, options: MetricOptions | None = None
) -> ClassMetrics:
    """Per-class IoU, Dice, precision, recall and F-beta from counts.

    Parameters
    ----------
    tp, fp, fn : numpy.ndarray of shape (C,) or (R, C)
        Per-class true positives, false positives, false negatives; with a
        leading axis, one count vector per row (a bootstrap's resamples), each
        scored on its own.
    options : MetricOptions, optional
        Empty-class policy, zero division, beta.

    Returns
    -------
    ClassMetrics
        Arrays of the same shape as the counts.

    Notes
    -----
    IoU = TP / (TP + FP + FN); Dice = 2 TP / (2 TP + FP + FN);
    precision = TP / (TP + FP); recall = TP / (TP + FN);
    F-beta = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP).

    Examples
    --------
    >>> m = class_metrics(np.array([2, 0, 0]), np.array([1, 1, 0]), np.array([1, 0, 0]))
    >>> m.iou
    array([0.5, 0. , nan])
    >>> m.dice
    array([0.66666667, 0.        ,        nan])
    >>> class_metrics(np.array([[2, 1], [4, 0]]), np.zeros((2, 2)), np.ones((2, 2))).iou
    array([[0.66666667, 0.5       ],
           [0.8       , 0.        ]])
    """
    options = options or MetricOptions()
    # Integer counts (exact below 2**53 when given as float sums) keep support and
    # totals exact before the one conversion to float64.
    tp, fp, fn = (np.asarray(v, dtype=np.uint64) for v in (tp, fp, fn))
    counts = _ratio_counts(tp, fp, fn, options, options.beta)
    values = {}
    for name in PER_CLASS_METRICS:
        ratio = REGISTRY[name].ratio
        assert ratio is not None
        values[name] = _ratio(ratio, counts, options)
    return ClassMetrics(tp=tp, fp=fp, fn=fn, values=values)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` where the denominator is positive, else NaN."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _sum_where(keep: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """Row sums of each ``(R, C)`` array over the entries where ``keep`` is True.

    Each row is summed as numpy sums the 1-D array ``row[keep_row]`` (the same
    pairwise order), so row ``r`` of a batch gets exactly the float that scoring
    that row alone gets: one definition, bit-identical on both paths.
    """
    rows = keep.shape[0]
    sums = [np.zeros(rows) for _ in arrays]
    if rows == 1:
        for out, values in zip(sums, arrays, strict=True):
            out[0] = values[0][keep[0]].sum()
        return sums
    kept = keep.sum(axis=-1)
    order = np.argsort(~keep, axis=-1, kind="stable")  # kept entries first, in order
    for width in np.unique(kept):
        if width == 0:
            continue
        selected = kept == width
        columns = order[selected, :width]
        for out, values in zip(sums, arrays, strict=True):
            kept_values = np.take_along_axis(values[selected], columns, axis=-1)
            out[selected] = np.ascontiguousarray(kept_values).sum(axis=-1)
    return sums


def _nanmean(values: np.ndarray) -> np.ndarray:
    defined = ~np.isnan(values)
    (total,) = _sum_where(defined, values)
    return _divide(total, defined.sum(axis=-1))


def _nan_weighted(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    weight, weighted = _sum_where(~np.isnan(values), weights, values * weights)
    return _divide(weighted, weight)


def _nanmin(values: np.ndarray) -> np.ndarray:
    defined = ~np.isnan(values)
    smallest = np.where(defined, values, np.inf).min(axis=-1, initial=np.inf)
    return np.where(defined.any(axis=-1), smallest, np.nan)


def summary_arrays(
    metrics: ClassMetrics, options: MetricOptions | None = None
) -> dict[str, np.ndarray]:
    """Every dataset summary metric, for one count vector or a batch of them.

    The single definition of the summary formulas: :func:`summary_metrics`
    (the report) and the bootstrap (:mod:`segeval.stats`, one row per resample)
    both call it, and row ``r`` of a batch is bit-identical to scoring row ``r``
    alone.

    Parameters
    ----------
    metrics : ClassMetrics
        As returned by :func:`class_metrics`, with counts of shape ``(C,)`` or
        ``(R, C)``.
    options : MetricOptions, optional
        ``exclude`` removes classes from the means (not from pixel accuracy or
        kappa, which describe the whole matrix).

    Returns
    -------
    dict of str to numpy.ndarray
        Every summary metric of :data:`DATASET_SUMMARY_METRICS`, in registry
        order, as float64 arrays of the counts' leading shape (``()`` or
        ``(R,)``), NaN where undefined.

    Examples
    --------
    >>> batch = class_metrics(np.array([[2, 3], [4, 0]]), np.array([[1, 0], [0, 0]]),
    ...                       np.array([[0, 1], [0, 0]]))
    >>> summary_arrays(batch)["miou"].round(4)
    array([0.7083, 1.    ])
    """
    options = options or MetricOptions()
    leading = metrics.tp.shape[:-1]
    num_classes = metrics.tp.shape[-1]
    included = included_classes(num_classes, options)

    def rows(values: np.ndarray, columns: np.ndarray | slice = slice(None)) -> np.ndarray:
        # C order: numpy sums a C-ordered row in the order it sums a 1-D array
        # (selecting columns of a 2-D array can give F order, and other floats).
        as_rows = np.asarray(values, dtype=np.float64).reshape(-1, num_classes)
        return np.ascontiguousarray(as_rows[:, columns])

    support, predicted = rows(metrics.support), rows(metrics.predicted)
    iou, dice = rows(metrics.iou, included), rows(metrics.dice, included)
    precision, recall = rows(metrics.precision, included), rows(metrics.recall, included)
    fbeta = rows(metrics.fbeta, included)
    # F1 is Dice when computed from the counts; from precision and recall it is the
    # F-score at beta 1, undefined for a class without true positives.
    f1 = dice
    if options.fscore != "counts":
        counts = _ratio_counts(metrics.tp, metrics.fp, metrics.fn, options, beta=1.0)
        f1 = rows(_ratio(_fbeta, counts, options), included)

    total = support.sum(axis=-1)
    tp_sum = rows(metrics.tp).sum(axis=-1)
    inc_support = rows(metrics.support, included)
    inc_tp = rows(metrics.tp, included).sum(axis=-1)
    inc_fp = rows(metrics.fp, included).sum(axis=-1)
    inc_fn = rows(metrics.fn, included).sum(axis=-1)
    beta2 = options.beta**2

    scored = total > 0
    safe_total = np.where(scored, total, 1.0)[:, None]
    expected_agreement = np.where(
        scored, ((support / safe_total) * (predicted / safe_total)).sum(axis=-1), 0.0
    )
    observed_agreement = _divide(tp_sum, total)
    weighted_iou = inc_support * iou
    weighted_iou_sum = np.where(np.isnan(weighted_iou), 0.0, weighted_iou).sum(axis=-1)

    summary = {
        "pixel_accuracy": observed_agreement,
        "mean_accuracy": _nanmean(recall),
        "miou": _nanmean(iou),
        "mdice": _nanmean(dice),
        "fwiou": _divide(weighted_iou_sum, inc_support.sum(axis=-1)),
        "kappa": np.where(
            scored,
            _divide(observed_agreement - expected_agreement, 1.0 - expected_agreement),
            np.nan,
        ),
        "min_iou": _nanmin(iou),
        "min_dice": _nanmin(dice),
        "macro_precision": _nanmean(precision),
        "macro_recall": _nanmean(recall),
        "macro_f1": _nanmean(f1),
        "macro_fbeta": _nanmean(fbeta),
        "micro_iou": _divide(inc_tp, inc_tp + inc_fp + inc_fn),
        "micro_precision": _divide(inc_tp, inc_tp + inc_fp),
        "micro_recall": _divide(inc_tp, inc_tp + inc_fn),
        "micro_f1": _divide(2 * inc_tp, 2 * inc_tp + inc_fp + inc_fn),
        "micro_fbeta": _divide(
            (1 + beta2) * inc_tp, (1 + beta2) * inc_tp + beta2 * inc_fn + inc_fp
        ),
        "weighted_precision": _nan_weighted(precision, inc_support),
        "weighted_recall": _nan_weighted(recall, inc_support),
        "weighted_f1": _nan_weighted(f1, inc_support),
        "weighted_fbeta": _nan_weighted(fbeta, inc_support),
        "generalized_dice": _generalized_dice(
            rows(metrics.tp, included), inc_support, rows(metrics.predicted, included)
        ),
    }
    return {name: values.reshape(leading) for name, values in summary.items()}


def _generalized_dice(tp: np.ndarray, support: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Sudre et al.'s generalised Dice with MONAI 1.6's rules, one value per row.

    Weights ``1 / support**2``; a class absent from the ground truth (infinite
    weight) takes the largest finite weight of its row (1 if none); a row whose
    weighted denominator is 0 scores 1 (``GeneralizedDiceScore`` with its defaults,
    summed over classes).
    """
    with np.errstate(divide="ignore"):
        weights = 1.0 / (support * support)
    infinite = np.isinf(weights)
    finite_max = np.where(infinite, 0.0, weights).max(axis=-1, initial=0.0)
    fill = np.where(finite_max > 0, finite_max, 1.0)
    weights = np.where(infinite, fill[:, None], weights)
    numerator = 2.0 * (weights * tp).sum(axis=-1)
    denominator = (weights * (support + predicted)).sum(axis=-1)
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 1.0)


def summary_metrics(
    metrics: ClassMetrics, options: MetricOptions | None = None
) -> dict[str, float]:
    """Dataset summary metrics from per-class metrics.

    Parameters
    ----------
    metrics : ClassMetrics
        As returned by :func:`class_metrics` for one count vector.
    options : MetricOptions, optional
        ``exclude`` removes classes from the means (not from pixel accuracy or
        kappa, which describe the whole matrix).

    Returns
    -------
    dict of str to float
        Every summary metric of :data:`REGISTRY`, NaN where undefined: the
        values of :func:`summary_arrays`, as floats.

    Examples
    --------
    >>> m = class_metrics(np.array([2, 3]), np.array([1, 0]), np.array([0, 1]))
    >>> s = summary_metrics(m)
    >>> round(s["miou"], 4), round(s["pixel_accuracy"], 4)
    (0.7083, 0.8333)
    """
    if metrics.tp.ndim != 1:
        raise UsageError(
            f"summary_metrics scores one count vector, got counts of shape {metrics.tp.shape}; "
            "use summary_arrays for a batch."
        )
    return {name: float(value) for name, value in summary_arrays(metrics, options).items()}


@dataclass(frozen=True)
class MetricResult:
    """Per-class metrics, summary metrics and which classes the means used."""

    per_class: ClassMetrics
    summary: dict[str, float]
    included: np.ndarray

    @property
    def classes_averaged(self) -> int:
        """Classes that entered the mIoU (included and not NaN)."""
        return int(np.count_nonzero(self.included & ~np.isnan(self.per_class.iou)))

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (lists, floats; undefined values are None).

        Examples
        --------
        >>> result = compute_metrics(np.array([2, 0]), np.array([1, 0]), np.array([0, 0]))
        >>> result.to_dict()["per_class"]["iou"]
        [0.6666666666666666, None]
        """

        def plain(values: Iterable[float]) -> list[float | None]:
            return [None if math.isnan(v) else float(v) for v in values]

        per_class: dict[str, Any] = {
            name: plain(values) for name, values in self.per_class.values.items()
        }
        per_class.update(
            {name: getattr(self.per_class, name).tolist() for name in ("tp", "fp", "fn")}
        )
        return {
            "summary": {name: None if math.isnan(v) else v for name, v in self.summary.items()},
            "per_class": per_class,
            "included": self.included.tolist(),
            "classes_averaged": self.classes_averaged,
        }


def compute_metrics(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, options: MetricOptions | None = None
) -> MetricResult:
    """Per-class and summary metrics in one call.

    Parameters
    ----------
    tp, fp, fn : numpy.ndarray
        Per-class counts.
    options : MetricOptions, optional
        Policies and exclusions.

    Returns
    -------
    MetricResult

    Examples
    --------
    >>> result = compute_metrics(np.array([2, 3, 0]), np.array([1, 0, 0]), np.array([0, 1, 0]))
    >>> result.classes_averaged, round(result.summary["miou"], 4)
    (2, 0.7083)
    """
    options = options or MetricOptions()
    per_class = class_metrics(tp, fp, fn, options)
    return MetricResult(
        per_class=per_class,
        summary=summary_metrics(per_class, options),
        included=included_classes(per_class.tp.shape[0], options),
    )


def normalize_matrix(
    counts: np.ndarray, missed: np.ndarray | None = None, how: str = "gt"
) -> np.ndarray:
    """Normalise a confusion matrix by ground-truth rows, prediction columns or total.

    Parameters
    ----------
    counts : numpy.ndarray of shape (C, C)
        Rows = ground truth, columns = prediction.
    missed : numpy.ndarray of shape (C,), optional
        Pixels predicted as no class; they count in row sums and the total.
    how : {"gt", "pred", "all"}
        Divide by each row's support, each column's sum, or the grand total.

    Returns
    -------
    numpy.ndarray
        float64 matrix; rows or columns with a zero sum are NaN.

    Examples
    --------
    >>> normalize_matrix(np.array([[3, 1], [0, 4]]), how="gt")
    array([[0.75, 0.25],
           [0.  , 1.  ]])
    """
    matrix = np.asarray(counts, dtype=np.float64)
    extra = np.zeros(matrix.shape[0]) if missed is None else np.asarray(missed, dtype=np.float64)
    if how == "gt":
        denominator = (matrix.sum(axis=1) + extra)[:, None]
    elif how == "pred":
        denominator = matrix.sum(axis=0)[None, :]
    elif how == "all":
        denominator = np.array(matrix.sum() + extra.sum())
    else:
        raise UsageError(f"normalize must be gt, pred or all, got {how!r}.")
    out = np.full(matrix.shape, np.nan)
    np.divide(matrix, denominator, out=out, where=np.broadcast_to(denominator > 0, matrix.shape))
    return out


def included_classes(num_classes: int, options: MetricOptions | None = None) -> np.ndarray:
    """Boolean mask of the classes that enter summary means.

    Examples
    --------
    >>> included_classes(3, MetricOptions(exclude=frozenset({0}))).tolist()
    [False, True, True]
    """
    options = options or MetricOptions()
    included = np.ones(num_classes, dtype=bool)
    included[[c for c in options.exclude if 0 <= c < num_classes]] = False
    return included


# ----------------------------------------------------------------- registry


@dataclass(frozen=True)
class RatioCounts:
    """Per-class counts as floats, what a per-class metric's ratio is made of."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    beta2: float = 1.0
    fscore: FScoreRule = "counts"

    @property
    def tn(self) -> np.ndarray:
        """Scored pixels neither in the class nor predicted as it (per row of a batch)."""
        scored = self.tp.sum(axis=-1, keepdims=True) + self.fn.sum(axis=-1, keepdims=True)
        return np.asarray(scored - self.tp - self.fp - self.fn)


Ratio = Callable[[RatioCounts], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric is called, how it is computed and which way is better.

    Attributes
    ----------
    name : str
        Stable machine name (``miou``; per-class metrics are addressed as
        ``iou[CLASS]``).
    title : str
        Short display label (``mIoU``).
    formula : str
        One line, as in ``docs/metrics.md``.
    higher_is_better : bool
        Direction used by the quality gate and by comparisons.
    per_class : bool
        True for metrics that exist once per class.
    per_image : bool
        True for means over images (present only with per-image aggregation).
    zero_is_best : bool
        A signed metric whose best value is 0 (a relative volume difference):
        the gate, comparisons and ranking use its absolute value.
    per_category : bool
        True for scores of class groups (present only when the class definition
        declares categories); with ``per_class`` it is addressed ``NAME[CATEGORY]``.
    ratio : callable, optional
        For a dataset-level per-class metric: ``counts -> (numerator,
        denominator)``; :func:`class_metrics` applies the undefined-value
        policies to it. Adding such a metric is one registry entry.
    class_values : bool
        A summary metric whose per-class values carry the same name: ``hd95``
        is the mean over classes, ``hd95[road]`` one class's value.
    option : str, optional
        The score option that computes it (``--boundary``,
        ``--surface-distances``); None for metrics every report has.
    """

    name: str
    title: str
    formula: str
    higher_is_better: bool = True
    per_class: bool = False
    per_image: bool = False
    ratio: Ratio | None = field(default=None, compare=False)
    per_category: bool = False
    zero_is_best: bool = False
    class_values: bool = False
    option: str | None = None

    def badness(self, value: float) -> float:
        """What "worse" grows with: -value, value, or |value| for a zero-is-best metric.

        Examples
        --------
        >>> REGISTRY["miou"].badness(0.8), REGISTRY["rvd"].badness(-0.2)
        (-0.8, 0.2)
        """
        if self.zero_is_best:
            return abs(value)
        return -value if self.higher_is_better else value

    @property
    def by_class(self) -> bool:
        """True when the metric is addressed per class, as ``NAME[CLASS]``."""
        return self.per_class or self.class_values

    def forms(self) -> list[str]:
        """How the gate addresses it: ``miou``, ``iou[CLASS]``, or both for ``hd95``.

        Examples
        --------
        >>> REGISTRY["hd95"].forms(), REGISTRY["biou"].forms()
        (['hd95', 'hd95[CLASS]'], ['biou[CLASS]'])
        """
        forms = [] if self.per_class else [self.name]
        return forms + ([f"{self.name}[CLASS]"] if self.by_class else [])


_PER_IMAGE_PREFIXES = ("image_", "samplewise_", "pooled_")


def _specs(entries: Iterable[tuple[str, str, str, bool | Ratio]]) -> Mapping[str, MetricSpec]:
    # Every metric segeval computes today is better when higher; a lower-is-better
    # metric (a distance, a loss) sets higher_is_better=False here.
    return {
        name: MetricSpec(
            name,
            title,
            formula,
            higher_is_better=True,
            per_class=per_class is not False,
            per_image=name.startswith(_PER_IMAGE_PREFIXES),
            ratio=None if isinstance(per_class, bool) else per_class,
            per_category=name.startswith("category_"),
            zero_is_best=name in _ZERO_IS_BEST,
        )
        for name, title, formula, per_class in entries
    }


_ZERO_IS_BEST = frozenset({"rvd"})


def _fbeta(c: RatioCounts) -> tuple[np.ndarray, np.ndarray]:
    weighted_tp = (1 + c.beta2) * c.tp
    denominator = weighted_tp + c.beta2 * c.fn + c.fp
    if c.fscore == "precision_recall":
        # (1 + b^2) P R / (b^2 P + R) equals the counts' ratio when TP > 0; with TP = 0,
        # P and R are each 0 or 0/0, so the F-score is 0/0 (mmsegmentation's NaN).
        denominator = np.where(c.tp > 0, denominator, 0.0)
    return weighted_tp, denominator


# The metrics of the confusion matrix and of per-image counts. A per-class
# metric's last field is its ratio; True marks per-class means over images;
# False a summary.
_COUNT_METRICS: Mapping[str, MetricSpec] = _specs(
    [
        ("iou", "IoU", "TP / (TP + FP + FN)", lambda c: (c.tp, c.tp + c.fp + c.fn)),
        (
            "dice",
            "Dice",
            "2 TP / (2 TP + FP + FN)  (= F1)",
            lambda c: (2 * c.tp, 2 * c.tp + c.fp + c.fn),
        ),
        ("precision", "Precision", "TP / (TP + FP)", lambda c: (c.tp, c.tp + c.fp)),
        ("recall", "Recall", "TP / (TP + FN)  (class accuracy)", lambda c: (c.tp, c.tp + c.fn)),
        ("fbeta", "F-beta", "(1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)", _fbeta),
        ("specificity", "Specificity", "TN / (TN + FP)", lambda c: (c.tn, c.tn + c.fp)),
        (
            "volume_similarity",
            "Vol. similarity",
            "1 - |FN - FP| / (2 TP + FP + FN)",
            lambda c: (2 * c.tp + c.fp + c.fn - abs(c.fn - c.fp), 2 * c.tp + c.fp + c.fn),
        ),
        (
            "rvd",
            "RVD",
            "(predicted - GT volume) / GT volume = (FP - FN) / (TP + FN); best 0",
            lambda c: (c.fp - c.fn, c.tp + c.fn),
        ),
        (
            "category_iou",
            "Category IoU",
            "IoU of the merged counts of a category's classes (Cityscapes categories)",
            True,
        ),
        ("category_miou", "Category mIoU", "mean over categories of category_iou", False),
        ("pixel_accuracy", "Pixel acc.", "sum TP / scored pixels", False),
        ("mean_accuracy", "Mean acc.", "mean over classes of recall", False),
        ("miou", "mIoU", "mean over classes of IoU", False),
        ("mdice", "mDice", "mean over classes of Dice", False),
        ("fwiou", "FW IoU", "sum over classes of (support / total support) x IoU", False),
        ("kappa", "Kappa", "(p_o - p_e) / (1 - p_e) over the whole matrix", False),
        ("min_iou", "Min IoU", "smallest class IoU", False),
        ("min_dice", "Min Dice", "smallest class Dice", False),
        ("macro_precision", "Macro precision", "mean over classes of precision", False),
        ("macro_recall", "Macro recall", "mean over classes of recall", False),
        ("macro_f1", "Macro F1", "mean over classes of F1 (= mDice from counts)", False),
        ("macro_fbeta", "Macro F-beta", "mean over classes of F-beta", False),
        ("micro_iou", "Micro IoU", "sum TP / sum (TP + FP + FN)", False),
        ("micro_precision", "Micro precision", "sum TP / sum (TP + FP)", False),
        ("micro_recall", "Micro recall", "sum TP / sum (TP + FN)", False),
        ("micro_f1", "Micro F1", "2 sum TP / (2 sum TP + sum FP + sum FN)", False),
        (
            "micro_fbeta",
            "Micro F-beta",
            "(1 + b^2) sum TP / ((1 + b^2) sum TP + b^2 sum FN + sum FP)",
            False,
        ),
        ("weighted_precision", "Weighted precision", "support-weighted mean of precision", False),
        ("weighted_recall", "Weighted recall", "support-weighted mean of recall", False),
        ("weighted_f1", "Weighted F1", "support-weighted mean of F1", False),
        ("weighted_fbeta", "Weighted F-beta", "support-weighted mean of F-beta", False),
        (
            "generalized_dice",
            "Generalized Dice",
            "2 sum_c w_c TP_c / sum_c w_c (2 TP_c + FP_c + FN_c), w_c = 1 / (TP_c + FN_c)^2 "
            "(Sudre 2017; MONAI's rules for absent classes), on the summed counts",
            False,
        ),
        (
            "image_iou",
            "IoU (img)",
            "mean over images of the class IoU, undefined images skipped",
            True,
        ),
        (
            "image_dice",
            "Dice (img)",
            "mean over images of the class Dice, undefined images skipped",
            True,
        ),
        ("image_pixel_accuracy", "Pixel acc. (img)", "mean over images of pixel accuracy", False),
        (
            "image_generalized_dice",
            "Gen. Dice (img)",
            "mean over images of each image's generalized_dice (MONAI GeneralizedDiceScore)",
            False,
        ),
        ("image_miou", "mIoU (img)", "mean over classes of image_iou (nnU-Net)", False),
        ("image_mdice", "mDice (img)", "mean over classes of image_dice (nnU-Net)", False),
        (
            "samplewise_miou",
            "mIoU (samplewise)",
            "mean over images of each image's mIoU (MONAI MeanIoU)",
            False,
        ),
        (
            "samplewise_mdice",
            "mDice (samplewise)",
            "mean over images of each image's mDice (MONAI DiceMetric, torchmetrics DiceScore)",
            False,
        ),
        (
            "pooled_miou",
            "mIoU (pooled)",
            "mean over all defined (image, class) IoUs (torchmetrics MeanIoU)",
            False,
        ),
        (
            "pooled_mdice",
            "mDice (pooled)",
            "mean over all defined (image, class) Dice values",
            False,
        ),
    ]
)


def _boundary_specs() -> Mapping[str, MetricSpec]:
    # Boundary metrics need per-image work beyond the confusion matrix, so each
    # names the option that computes it; distances are better when lower.
    boundary, surface = "--boundary", "--surface-distances"
    specs = [
        MetricSpec(
            "biou",
            "Boundary IoU",
            "sum over images |band(G) & band(P)| / sum |band(G) | band(P)|, bands of width d "
            "(Cheng et al. 2021)",
            per_class=True,
            option=boundary,
        ),
        MetricSpec("mean_biou", "mBIoU", "mean over classes of biou", option=boundary),
        MetricSpec(
            "bf",
            "BF",
            "mean over images of the class's boundary F1 (MATLAB bfscore: tolerance 0.75 % of "
            "the diagonal)",
            per_class=True,
            option=boundary,
        ),
        MetricSpec(
            "mean_bf",
            "Mean BF",
            "mean over images of each image's mean BF over classes (MATLAB MeanBFScore)",
            option=boundary,
        ),
        MetricSpec(
            "hd",
            "HD",
            "Hausdorff distance max(max d_PG, max d_GP); per class mean over images, "
            "summary mean over classes",
            higher_is_better=False,
            class_values=True,
            option=surface,
        ),
        MetricSpec(
            "hd95",
            "HD95",
            "max(q95(d_PG), q95(d_GP)) (MONAI; --hd95 medpy: q95 of both pooled); per class "
            "mean over images, summary mean over classes",
            higher_is_better=False,
            class_values=True,
            option=surface,
        ),
        MetricSpec(
            "assd",
            "ASSD",
            "mean of d_PG and d_GP pooled; per class mean over images, summary mean over classes",
            higher_is_better=False,
            class_values=True,
            option=surface,
        ),
        MetricSpec(
            "nsd",
            "NSD",
            "(#{d_PG <= tau} + #{d_GP <= tau}) / (|d_PG| + |d_GP|); per class mean over "
            "images, summary mean over classes",
            class_values=True,
            option=surface,
        ),
    ]
    return {spec.name: spec for spec in specs}


def _instance_specs() -> Mapping[str, MetricSpec]:
    # iIoU weighs each ground-truth instance by its size, so it needs the instance
    # maps (--gt-instances) beyond the confusion matrix (segeval.core.instances).
    instances = "--gt-instances"
    weighted = (
        "sum w TP / (sum w TP + FP + sum w FN), w = average instance size of the class / "
        "size of the instance, FP unweighted"
    )
    specs = [
        MetricSpec(
            "iiou",
            "iIoU",
            f"instance-level IoU (Cityscapes): {weighted}",
            per_class=True,
            option=instances,
        ),
        MetricSpec("miiou", "miIoU", "mean over classes with instances of iiou", option=instances),
        MetricSpec(
            "category_iiou",
            "Category iIoU",
            "iiou of a category whose classes all have instances, its classes merged",
            per_class=True,
            per_category=True,
            option=instances,
        ),
        MetricSpec(
            "category_miiou",
            "Category miIoU",
            "mean over categories of category_iiou",
            per_category=True,
            option=instances,
        ),
    ]
    return {spec.name: spec for spec in specs}


#: Every metric segeval computes, by machine name.
REGISTRY: Mapping[str, MetricSpec] = {
    **_COUNT_METRICS,
    **_boundary_specs(),
    **_instance_specs(),
}

#: The dataset-level per-class metrics, in registry order (report columns, CSV rows).
PER_CLASS_METRICS: tuple[str, ...] = tuple(
    name for name, spec in REGISTRY.items() if spec.ratio is not None
)

#: The summary metrics computed from summed counts (:func:`summary_arrays`), in
#: registry order; the per-image means (``image_*``, ...), the category scores
#: (``category_*``, from merged class counts) and the boundary metrics (from
#: per-image boundary statistics, ``spec.option``) are not among them.
DATASET_SUMMARY_METRICS: tuple[str, ...] = tuple(
    name
    for name, spec in REGISTRY.items()
    if not spec.per_class and not spec.per_image and not spec.per_category and not spec.option
)
