"""Every dataset-level metric for many count vectors at once (one row per resample).

:func:`batch_metrics` is :func:`segeval.core.metrics.compute_metrics` over a leading
axis: row ``r`` of its output equals ``compute_metrics(tp[r], fp[r], fn[r])``
for every summary metric and for per-class IoU and Dice, under the same
:class:`~segeval.core.metrics.MetricOptions` (the tests hold it to that). Calling the
scalar function 2,000 times would dominate a bootstrap; this computes each
formula once over an ``(R, C)`` array.

Summary metrics of per-image aggregation (``image_*``, ``samplewise_*``,
``pooled_*``) are means over images, not functions of summed counts, and are not
computed here.
"""

from __future__ import annotations

import numpy as np

from segeval.core.metrics import REGISTRY, MetricOptions, included_classes

__all__ = ["DATASET_SUMMARY_METRICS", "batch_metrics"]

_POLICY_VALUE = {"nan": np.nan, "zero": 0.0, "one": 1.0}

#: Summary metrics computed from summed counts, in registry order.
DATASET_SUMMARY_METRICS: tuple[str, ...] = tuple(
    name for name, spec in REGISTRY.items() if not spec.per_class and not spec.per_image
)


def _divide(numerator: np.ndarray, denominator: np.ndarray, fill: float) -> np.ndarray:
    out = np.full(np.broadcast(numerator, denominator).shape, fill)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _ratio(
    numerator: np.ndarray, denominator: np.ndarray, absent: np.ndarray, options: MetricOptions
) -> np.ndarray:
    out = _divide(numerator, denominator, _POLICY_VALUE[options.zero_division])
    out[absent] = _POLICY_VALUE[options.empty]
    return out


def _nanmean(values: np.ndarray) -> np.ndarray:
    defined = ~np.isnan(values)
    total = np.where(defined, values, 0.0).sum(axis=-1)
    return _divide(total, defined.sum(axis=-1).astype(np.float64), np.nan)


def _nanmin(values: np.ndarray) -> np.ndarray:
    defined = ~np.isnan(values)
    smallest = np.where(defined, values, np.inf).min(axis=-1, initial=np.inf)
    return np.where(defined.any(axis=-1), smallest, np.nan)


def _nan_weighted(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    defined = ~np.isnan(values)
    kept = np.where(defined, weights, 0.0)
    return _divide((np.where(defined, values, 0.0) * kept).sum(axis=-1), kept.sum(axis=-1), np.nan)


def batch_metrics(
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    options: MetricOptions | None = None,
) -> dict[str, np.ndarray]:
    """Summary metrics and per-class IoU / Dice for each row of ``(R, C)`` counts.

    Parameters
    ----------
    tp, fp, fn : numpy.ndarray of shape (R, C)
        Summed counts of each resample (any real dtype; float64 holds integer
        sums exactly up to 2**53).
    options : MetricOptions, optional
        Empty-class policy, zero division, beta, excluded classes.

    Returns
    -------
    dict of str to numpy.ndarray
        Every name of :data:`DATASET_SUMMARY_METRICS` as an ``(R,)`` float64
        array, plus ``"iou"`` and ``"dice"`` as ``(R, C)`` arrays.

    Examples
    --------
    >>> out = batch_metrics(np.array([[2, 3], [4, 0]]), np.array([[1, 0], [0, 0]]),
    ...                     np.array([[0, 1], [0, 0]]))
    >>> out["miou"].round(4).tolist(), out["iou"][1].tolist()
    ([0.7083, 1.0], [1.0, nan])
    """
    options = options or MetricOptions()
    tp_f, fp_f, fn_f = (np.atleast_2d(np.asarray(v, dtype=np.float64)) for v in (tp, fp, fn))
    absent = (tp_f + fp_f + fn_f) == 0
    beta2 = options.beta**2
    iou = _ratio(tp_f, tp_f + fp_f + fn_f, absent, options)
    dice = _ratio(2 * tp_f, 2 * tp_f + fp_f + fn_f, absent, options)
    precision = _ratio(tp_f, tp_f + fp_f, absent, options)
    recall = _ratio(tp_f, tp_f + fn_f, absent, options)
    fbeta = _ratio((1 + beta2) * tp_f, (1 + beta2) * tp_f + beta2 * fn_f + fp_f, absent, options)

    included = included_classes(tp_f.shape[-1], options)
    support = tp_f + fn_f
    predicted = tp_f + fp_f
    total = support.sum(axis=-1)
    tp_sum = tp_f.sum(axis=-1)
    inc_support = support[:, included]
    inc_tp = tp_f[:, included].sum(axis=-1)
    inc_fp = fp_f[:, included].sum(axis=-1)
    inc_fn = fn_f[:, included].sum(axis=-1)
    inc_iou, inc_dice = iou[:, included], dice[:, included]
    has_pixels = total > 0
    safe_total = np.where(has_pixels, total, 1.0)[:, None]
    expected = np.where(
        has_pixels, ((support / safe_total) * (predicted / safe_total)).sum(axis=-1), 0.0
    )
    observed = _divide(tp_sum, total, np.nan)
    kappa = np.where(has_pixels, _divide(observed - expected, 1.0 - expected, np.nan), np.nan)
    weighted_iou = np.where(np.isnan(inc_iou), 0.0, inc_support * inc_iou).sum(axis=-1)

    return {
        "pixel_accuracy": observed,
        "mean_accuracy": _nanmean(recall[:, included]),
        "miou": _nanmean(inc_iou),
        "mdice": _nanmean(inc_dice),
        "fwiou": _divide(weighted_iou, inc_support.sum(axis=-1), np.nan),
        "kappa": kappa,
        "min_iou": _nanmin(inc_iou),
        "min_dice": _nanmin(inc_dice),
        "macro_precision": _nanmean(precision[:, included]),
        "macro_recall": _nanmean(recall[:, included]),
        "macro_f1": _nanmean(inc_dice),
        "macro_fbeta": _nanmean(fbeta[:, included]),
        "micro_iou": _divide(inc_tp, inc_tp + inc_fp + inc_fn, np.nan),
        "micro_precision": _divide(inc_tp, inc_tp + inc_fp, np.nan),
        "micro_recall": _divide(inc_tp, inc_tp + inc_fn, np.nan),
        "micro_f1": _divide(2 * inc_tp, 2 * inc_tp + inc_fp + inc_fn, np.nan),
        "micro_fbeta": _divide(
            (1 + beta2) * inc_tp, (1 + beta2) * inc_tp + beta2 * inc_fn + inc_fp, np.nan
        ),
        "weighted_precision": _nan_weighted(precision[:, included], inc_support),
        "weighted_recall": _nan_weighted(recall[:, included], inc_support),
        "weighted_f1": _nan_weighted(inc_dice, inc_support),
        "weighted_fbeta": _nan_weighted(fbeta[:, included], inc_support),
        "iou": iou,
        "dice": dice,
    }
