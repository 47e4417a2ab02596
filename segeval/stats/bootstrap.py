"""Bootstrap confidence intervals and paired significance for dataset-level metrics.

What is resampled
-----------------
Images (or whole groups of images, a cluster bootstrap) are drawn with
replacement, as many as there are. Each draw is a weight vector (how often each
image was drawn, a ``np.bincount`` of the drawn indices); the resampled dataset
counts are ``weights @ unit_counts``, one matrix product for a block of
resamples, and every metric is recomputed from those summed counts by the
report's own functions (:func:`segeval.core.metrics.class_metrics` and
:func:`~segeval.core.metrics.summary_arrays`, one row per resample), so the
estimate is bit-identical to the report's value.

Determinism
-----------
Resamples are generated in fixed blocks of ``block_size``; block ``i`` draws
from ``np.random.default_rng(SeedSequence(seed, spawn_key=(i,)))`` (the
``i``-th child of ``SeedSequence(seed).spawn``). ``jobs`` only decides which
thread computes a block, so results are identical for any ``jobs``. Units are
ordered by key (images) or group name, so the row order of the table does not
matter either.

Intervals
---------
``"percentile"``: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
quantiles (linear interpolation) of the resampled statistic. ``"bca"``
(default): bias-corrected and accelerated (Efron & Tibshirani 1993, 14.3), the
bias from the share of resamples below the estimate (ties count half), the
acceleration from the jackknife over the resampled units (leave one image, or
one group, out). Both follow ``scipy.stats.bootstrap`` to floating-point
precision when given the same draws. Resamples where a statistic is undefined
(NaN: a class absent from every drawn image) are left out and counted.

Paired p-value
--------------
For a difference ``d = candidate - baseline`` with resampled values ``d*``:
``p = min(1, 2 min(1 + #{d* <= 0}, 1 + #{d* >= 0}) / (B + 1))`` with ``B`` the
defined resamples; the two-sided percentile-bootstrap p-value with the ``+1``
correction that keeps it above 0 (the smallest p is ``2 / (B + 1)``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from segeval.core.metrics import (
    DATASET_SUMMARY_METRICS,
    REGISTRY,
    MetricOptions,
    class_metrics,
    summary_arrays,
)
from segeval.errors import IncomparableReportsError, UsageError
from segeval.stats.groups import require_groups
from segeval.stats.table import ImageCountTable
from segeval.wording import counted

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "MIN_TRUSTED_UNITS",
    "BootstrapResult",
    "Decision",
    "Difference",
    "Interval",
    "Method",
    "PairedBootstrapResult",
    "StatisticFn",
    "bootstrap_ci",
    "check_max_drop",
    "max_drop_bound",
    "p_value",
    "paired_bootstrap",
    "require_improvement",
    "resample_weights",
]

Method = Literal["bca", "percentile"]

#: A vectorised statistic: resampled ``(R, C)`` tp, fp, fn -> name to ``(R,)`` or ``(R, C)``.
StatisticFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Mapping[str, np.ndarray]]

#: Resamples per block; part of the seed's meaning (another size draws other resamples).
DEFAULT_BLOCK_SIZE = 250

#: Below this many resampled units (images or groups) an interval only reflects the
#: few units it saw (2 groups allow 3 distinct resamples); callers warn.
MIN_TRUSTED_UNITS = 10

_PER_CLASS = ("iou", "dice")
_EXACT_LIMIT = 2**53  # float64 sums of integers stay exact below this
_NORMAL = statistics.NormalDist()


def _ndtr(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# ------------------------------------------------------------------ results


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _from_json_float(value: float | None) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval.

    Attributes
    ----------
    estimate : float
        The statistic on the full dataset (NaN when undefined).
    low, high : float
        Interval bounds (NaN when undefined).
    undefined : int
        Resamples where the statistic was undefined and left out.
    """

    estimate: float
    low: float
    high: float
    undefined: int = 0

    def format(self, digits: int = 3) -> str:
        """``0.712 [0.698, 0.727]``.

        Examples
        --------
        >>> Interval(0.7123, 0.6981, 0.7266).format()
        '0.712 [0.698, 0.727]'
        """
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN is null)."""
        return {
            "estimate": _json_float(self.estimate),
            "low": _json_float(self.low),
            "high": _json_float(self.high),
            "undefined_resamples": self.undefined,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        """Inverse of :meth:`to_dict`.

        Examples
        --------
        >>> interval = Interval(0.7, 0.6, float("nan"), 3)
        >>> Interval.from_dict(interval.to_dict()).format()
        '0.700 [0.600, nan]'
        """
        return cls(
            _from_json_float(data["estimate"]),
            _from_json_float(data["low"]),
            _from_json_float(data["high"]),
            int(data.get("undefined_resamples", 0)),
        )


@dataclass(frozen=True)
class Difference(Interval):
    """The interval of ``candidate - baseline`` with a two-sided p-value.

    Attributes
    ----------
    baseline, candidate : float
        The statistic of each side on the shared images.
    p_value : float
        Two-sided bootstrap p-value (see the module notes).
    """

    baseline: float = math.nan
    candidate: float = math.nan
    p_value: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN is null)."""
        return {
            **super().to_dict(),
            "baseline": _json_float(self.baseline),
            "candidate": _json_float(self.candidate),
            "p_value": _json_float(self.p_value),
        }


@dataclass(frozen=True)
class _Meta:
    method: str
    confidence: float
    n_resamples: int
    seed: int
    block_size: int
    unit: str
    num_units: int
    num_images: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "confidence": self.confidence,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "block_size": self.block_size,
            "unit": self.unit,
            "num_units": self.num_units,
            "num_images": self.num_images,
        }

    @staticmethod
    def _settings(data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "method": str(data["method"]),
            "confidence": float(data["confidence"]),
            "n_resamples": int(data["n_resamples"]),
            "seed": int(data["seed"]),
            "block_size": int(data["block_size"]),
            "unit": str(data["unit"]),
            "num_units": int(data["num_units"]),
            "num_images": int(data["num_images"]),
        }

    @property
    def few_units(self) -> bool:
        """True when fewer units were resampled than an interval can be trusted with."""
        return self.num_units < MIN_TRUSTED_UNITS

    def describe(self) -> str:
        """One line: what was resampled, how, and the seed.

        Examples
        --------
        >>> _Meta("bca", 0.95, 2000, 18, 250, "image", 233, 233).describe()
        '95% BCa bootstrap over 233 images, 2,000 resamples, seed 18'
        """
        method = "BCa" if self.method == "bca" else self.method
        units = f"{self.num_units} {self.unit}s"
        if self.unit != "image":
            units += f" ({counted(self.num_images, 'image')})"
        return (
            f"{self.confidence:.0%} {method} bootstrap over {units}, "
            f"{self.n_resamples:,} resamples, seed {self.seed}"
        )


@dataclass(frozen=True)
class BootstrapResult(_Meta):
    """Intervals of every summary metric and every per-class IoU / Dice.

    Attributes
    ----------
    method : str
        ``"bca"`` or ``"percentile"``.
    confidence : float
    n_resamples : int
    seed : int
        The seed used (drawn from the OS and recorded when none was given).
    block_size : int
    unit : str
        ``"image"`` or ``"group"``: what was resampled.
    num_units, num_images : int
        Units resampled and images they hold.
    summary : dict of str to Interval
    per_class : dict of str to tuple of Interval
        ``"iou"`` and ``"dice"`` (or a custom statistic's 2-D outputs), one per class.
    """

    summary: Mapping[str, Interval]
    per_class: Mapping[str, tuple[Interval, ...]]
    grouping: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: settings, ``summary`` and ``classes`` intervals."""
        return {
            **super().to_dict(),
            "grouping": self.grouping or None,
            "summary": {name: value.to_dict() for name, value in self.summary.items()},
            "classes": {
                name: [value.to_dict() for value in values]
                for name, values in self.per_class.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BootstrapResult:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        KeyError, TypeError, ValueError
            A field is missing or malformed.
        """
        return cls(
            **cls._settings(data),
            summary={name: Interval.from_dict(value) for name, value in data["summary"].items()},
            per_class={
                name: tuple(Interval.from_dict(value) for value in values)
                for name, values in data["classes"].items()
            },
            grouping=str(data.get("grouping") or ""),
        )


@dataclass(frozen=True)
class PairedBootstrapResult(_Meta):
    """Intervals and p-values of ``candidate - baseline`` on the shared images.

    Attributes
    ----------
    summary : dict of str to Difference
    per_class : dict of str to tuple of Difference
    only_baseline, only_candidate : tuple of str
        Keys left out because the other side does not have them.
    """

    summary: Mapping[str, Difference]
    per_class: Mapping[str, tuple[Difference, ...]]
    only_baseline: tuple[str, ...] = ()
    only_candidate: tuple[str, ...] = ()
    grouping: str = ""

    def difference(self, metric: str, class_index: int | None = None) -> Difference:
        """The difference of one metric (``class_index`` for per-class ones).

        Raises
        ------
        UsageError
            The metric was not computed.
        """
        if class_index is None and metric in self.summary:
            return self.summary[metric]
        if class_index is not None and metric in self.per_class:
            values = self.per_class[metric]
            if 0 <= class_index < len(values):
                return values[class_index]
        known = ", ".join([*self.summary, *(f"{name}[CLASS]" for name in self.per_class)])
        target = metric if class_index is None else f"{metric}[{class_index}]"
        raise UsageError(f"no bootstrap interval for {target!r}; computed: {known}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: settings, ``summary`` and ``classes`` differences."""
        return {
            **super().to_dict(),
            "grouping": self.grouping or None,
            "difference": "candidate - baseline",
            "only_baseline": len(self.only_baseline),
            "only_candidate": len(self.only_candidate),
            "summary": {name: value.to_dict() for name, value in self.summary.items()},
            "classes": {
                name: [value.to_dict() for value in values]
                for name, values in self.per_class.items()
            },
        }


# ------------------------------------------------------------------ resampling


def _block_rng(seed: int, block: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


def resample_weights(num_units: int, n_resamples: int, seed: int, block: int = 0) -> np.ndarray:
    """How often each unit is drawn in each resample of one block.

    Parameters
    ----------
    num_units : int
        Images or groups to draw from (each resample draws this many).
    n_resamples : int
        Resamples in the block.
    seed : int
    block : int, default 0
        Block index; its generator is ``default_rng(SeedSequence(seed, spawn_key=(block,)))``,
        drawing ``integers(0, num_units, (n_resamples, num_units))``.

    Returns
    -------
    numpy.ndarray of shape (n_resamples, num_units)
        float64 draw counts; every row sums to ``num_units``.

    Examples
    --------
    >>> w = resample_weights(4, 3, seed=0)
    >>> w.shape, w.sum(axis=1).tolist()
    ((3, 4), [4.0, 4.0, 4.0])
    """
    drawn = _block_rng(seed, block).integers(0, num_units, size=(n_resamples, num_units))
    offsets = (np.arange(n_resamples) * num_units)[:, None]
    counts = np.bincount((drawn + offsets).ravel(), minlength=n_resamples * num_units)
    return counts.reshape(n_resamples, num_units).astype(np.float64)


def _resampled_sums(
    unit_matrices: Sequence[np.ndarray],
    n_resamples: int,
    seed: int,
    block_size: int,
    jobs: int,
) -> list[np.ndarray]:
    num_units = unit_matrices[0].shape[0]
    starts = range(0, n_resamples, block_size)

    def block_sums(block: int) -> list[np.ndarray]:
        size = min(block_size, n_resamples - starts[block])
        weights = resample_weights(num_units, size, seed, block)
        return [weights @ matrix for matrix in unit_matrices]

    if jobs > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            blocks = list(pool.map(block_sums, range(len(starts))))
    else:
        blocks = [block_sums(block) for block in range(len(starts))]
    return [np.concatenate([block[side] for block in blocks]) for side in range(len(unit_matrices))]


def _unit_matrix(table: ImageCountTable, unit_of_image: np.ndarray, num_units: int) -> np.ndarray:
    flat = table.counts.reshape(table.num_images, -1)
    # Integer sums, then one conversion: exact while every resampled sum stays < 2**53.
    summed = np.zeros((num_units, flat.shape[1]), dtype=np.uint64)
    np.add.at(summed, unit_of_image, flat.astype(np.uint64))
    if num_units and int(summed.max(initial=0)) * num_units >= _EXACT_LIMIT:
        raise UsageError(
            "per-image counts too large for exact resampled sums (over 2**53 pixels); "
            "this dataset needs a wider accumulator."
        )
    return summed.astype(np.float64)


def _units(
    keys: Sequence[str], groups: Mapping[str, str] | None
) -> tuple[list[int], np.ndarray, int, str]:
    """Row order (by key), unit index of each ordered row, unit count, unit kind."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    if groups is None:
        return order, np.arange(len(keys)), len(keys), "image"
    require_groups(keys, groups)
    names = sorted({groups[keys[row]] for row in order})
    index = {name: unit for unit, name in enumerate(names)}
    return (
        order,
        np.array([index[groups[keys[row]]] for row in order], dtype=np.intp),
        len(names),
        "group",
    )


# ------------------------------------------------------------------ intervals


def _bca_levels(
    resampled: np.ndarray, estimate: float, jackknife: np.ndarray, alpha: float
) -> tuple[float, float]:
    count = resampled.shape[0]
    share = (np.count_nonzero(resampled < estimate) + np.count_nonzero(resampled <= estimate)) / (
        2 * count
    )
    # scipy returns NaN when the estimate lies outside every resample; clip to stay defined.
    share = min(max(share, 0.5 / count), 1 - 0.5 / count)
    z0 = _NORMAL.inv_cdf(share)
    jack = jackknife[~np.isnan(jackknife)]
    deviation = jack.mean() - jack if jack.size > 1 else np.zeros(1)
    spread = float((deviation**2).sum())
    acceleration = float((deviation**3).sum()) / (6 * spread**1.5) if spread > 0 else 0.0
    levels = []
    for z_alpha in (_NORMAL.inv_cdf(alpha), _NORMAL.inv_cdf(1 - alpha)):
        shifted = z0 + z_alpha
        denominator = 1 - acceleration * shifted
        levels.append(_ndtr(z0 + shifted / denominator) if denominator > 0 else math.nan)
    if not all(0 <= level <= 1 for level in levels):
        return alpha, 1 - alpha
    return levels[0], levels[1]


def _interval_bounds(
    resampled: np.ndarray,
    estimate: float,
    jackknife: np.ndarray | None,
    confidence: float,
    method: Method,
) -> tuple[float, float, int]:
    defined = resampled[~np.isnan(resampled)]
    undefined = int(resampled.shape[0] - defined.shape[0])
    if math.isnan(estimate) or defined.size == 0:
        return math.nan, math.nan, undefined
    alpha = (1 - confidence) / 2
    if method == "bca" and jackknife is not None:
        levels = _bca_levels(defined, estimate, jackknife, alpha)
    else:
        levels = (alpha, 1 - alpha)
    low, high = np.quantile(defined, levels)
    return float(low), float(high), undefined


def p_value(resampled_differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value of a difference being 0.

    ``min(1, 2 min(1 + #{d* <= 0}, 1 + #{d* >= 0}) / (B + 1))`` over the ``B``
    defined (non-NaN) resampled differences ``d*``.

    Parameters
    ----------
    resampled_differences : numpy.ndarray
        The difference in each resample.

    Returns
    -------
    float
        In ``[2 / (B + 1), 1]``; NaN when no resample is defined.

    Examples
    --------
    >>> p_value(np.zeros(99)), p_value(np.full(99, 0.01))
    (1.0, 0.02)
    """
    defined = resampled_differences[~np.isnan(resampled_differences)]
    if defined.size == 0:
        return math.nan
    at_or_below = int(np.count_nonzero(defined <= 0))
    at_or_above = int(np.count_nonzero(defined >= 0))
    return min(1.0, 2 * (1 + min(at_or_below, at_or_above)) / (int(defined.size) + 1))


# ------------------------------------------------------------------ statistic


def _statistic(
    metrics: Sequence[str] | None, options: MetricOptions | None, statistic: StatisticFn | None
) -> StatisticFn:
    if statistic is not None:
        if metrics is None:
            return statistic
        custom = statistic

        def selected(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> Mapping[str, np.ndarray]:
            values = custom(tp, fp, fn)
            return {name: values[name] for name in metrics}

        return selected
    names = list(DATASET_SUMMARY_METRICS) if metrics is None else list(metrics)
    known = (*DATASET_SUMMARY_METRICS, *_PER_CLASS)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UsageError(
            f"cannot bootstrap {', '.join(unknown)}: intervals exist for the dataset-level "
            f"metrics {', '.join(known)} (per-image means are not resampled yet)."
        )
    wanted = set(names) | (set(_PER_CLASS) if metrics is None else set())

    def segeval_metrics(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
        # The report's own formulas, one row per resample (segeval.core.metrics).
        per_class = class_metrics(tp, fp, fn, options)
        values = {
            **summary_arrays(per_class, options),
            "iou": per_class.iou,
            "dice": per_class.dice,
        }
        return {name: values[name] for name in (*names, *_PER_CLASS) if name in wanted}

    return segeval_metrics


def _evaluate(statistic: StatisticFn, sums: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    split = sums.reshape(sums.shape[0], 3, num_classes)
    values = statistic(split[:, 0], split[:, 1], split[:, 2])
    out: dict[str, np.ndarray] = {}
    for name, array in values.items():
        as_array = np.asarray(array, dtype=np.float64)
        if as_array.ndim not in (1, 2) or as_array.shape[0] != sums.shape[0]:
            raise UsageError(
                f"statistic {name!r} returned shape {as_array.shape}; expected "
                f"({sums.shape[0]},) or ({sums.shape[0]}, classes)."
            )
        out[name] = as_array
    return out


def _check_settings(
    confidence: float, n_resamples: int, method: str, jobs: int, block: int
) -> None:
    if not 0 < confidence < 1:
        raise UsageError(f"--ci must be between 0 and 1 (e.g. 0.95), got {confidence}.")
    if n_resamples < 2:
        raise UsageError(f"--bootstrap needs at least 2 resamples, got {n_resamples}.")
    if method not in ("bca", "percentile"):
        raise UsageError(f"bootstrap method must be bca or percentile, got {method!r}.")
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}.")
    if block < 1:
        raise UsageError(f"block_size must be at least 1, got {block}.")


def _seed(seed: int | None) -> int:
    if seed is None:
        # 32 bits of OS entropy: short enough to print and pass back as --seed.
        return int(np.random.SeedSequence().generate_state(1)[0])
    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {seed}.")
    return int(seed)


def _columns(values: np.ndarray) -> list[np.ndarray]:
    return (
        [values] if values.ndim == 1 else [values[:, column] for column in range(values.shape[1])]
    )


# ------------------------------------------------------------------ public API


def bootstrap_ci(
    table: ImageCountTable,
    metrics: Sequence[str] | None = None,
    *,
    options: MetricOptions | None = None,
    statistic: StatisticFn | None = None,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: Method = "bca",
    seed: int | None = None,
    groups: Mapping[str, str] | None = None,
    jobs: int = 1,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> BootstrapResult:
    """Confidence intervals of dataset-level metrics by resampling images or groups.

    Parameters
    ----------
    table : ImageCountTable
        Per-image counts.
    metrics : sequence of str, optional
        Summary metric names (and ``"iou"`` / ``"dice"`` for per-class
        intervals); default every dataset-level summary metric plus per-class
        IoU and Dice.
    options : MetricOptions, optional
        The policies the report used (empty classes, zero division, beta, exclusions).
    statistic : callable, optional
        Replaces segeval's metrics: ``statistic(tp, fp, fn)`` with ``(R, C)``
        resampled sums returns name -> ``(R,)`` (summary) or ``(R, C)`` (per class).
    confidence : float, default 0.95
    n_resamples : int, default 2000
    method : {"bca", "percentile"}, default "bca"
    seed : int, optional
        Fixes the draws; recorded in the result (drawn from the OS when omitted).
    groups : mapping of str to str, optional
        Image key -> group; whole groups are resampled and the BCa jackknife
        leaves one group out.
    jobs : int, default 1
        Threads computing blocks; the result does not depend on it.
    block_size : int, default 250
        Resamples per seeded block (changing it changes the draws).

    Returns
    -------
    BootstrapResult

    Raises
    ------
    UsageError
        Bad settings, unknown metric names, fewer than 2 units, keys without a group.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> tp = rng.integers(50, 100, size=(40, 2))
    >>> table = ImageCountTable.from_arrays([f"img{i:02d}" for i in range(40)], tp,
    ...                                     rng.integers(0, 30, size=(40, 2)),
    ...                                     rng.integers(0, 30, size=(40, 2)))
    >>> result = bootstrap_ci(table, ["miou", "iou"], seed=7, n_resamples=500)
    >>> interval = result.summary["miou"]
    >>> interval.low < interval.estimate < interval.high
    True
    >>> result.per_class["iou"][0].format()
    '0.702 [0.676, 0.732]'
    """
    _check_settings(confidence, n_resamples, method, jobs, block_size)
    evaluate = _statistic(metrics, options, statistic)
    resolved_seed = _seed(seed)
    order, unit_of_image, num_units, unit = _units(table.keys, groups)
    if num_units < 2:
        raise UsageError(f"a bootstrap needs at least 2 {unit}s to resample, found {num_units}.")
    ordered = ImageCountTable(tuple(table.keys[row] for row in order), table.counts[order])
    unit_counts = _unit_matrix(ordered, unit_of_image, num_units)
    total = unit_counts.sum(axis=0)
    (sums,) = _resampled_sums([unit_counts], n_resamples, resolved_seed, block_size, jobs)

    classes = table.num_classes
    estimates = _evaluate(evaluate, total[None, :], classes)
    resampled = _evaluate(evaluate, sums, classes)
    jackknife = _evaluate(evaluate, total - unit_counts, classes) if method == "bca" else None

    summary: dict[str, Interval] = {}
    per_class: dict[str, tuple[Interval, ...]] = {}
    for name, values in resampled.items():
        point = _columns(estimates[name])
        jack = _columns(jackknife[name]) if jackknife is not None else [None] * len(point)
        intervals = tuple(
            Interval(float(estimate[0]), *_interval_bounds(column, float(estimate[0]), j,
                                                           confidence, method))
            for column, estimate, j in zip(_columns(values), point, jack, strict=True)
        )  # fmt: skip
        if values.ndim == 1:
            summary[name] = intervals[0]
        else:
            per_class[name] = intervals
    return BootstrapResult(
        method=method,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=resolved_seed,
        block_size=block_size,
        unit=unit,
        num_units=num_units,
        num_images=table.num_images,
        summary=summary,
        per_class=per_class,
    )


def paired_bootstrap(
    baseline: ImageCountTable,
    candidate: ImageCountTable,
    metrics: Sequence[str] | None = None,
    *,
    options: MetricOptions | None = None,
    statistic: StatisticFn | None = None,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: Method = "bca",
    seed: int | None = None,
    groups: Mapping[str, str] | None = None,
    jobs: int = 1,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> PairedBootstrapResult:
    """Interval and p-value of ``candidate - baseline`` for every metric, on shared images.

    Both sides are resampled with the same draws (the same images, or groups, in
    each resample), so what the images have in common cancels out of the difference.

    Parameters
    ----------
    baseline, candidate : ImageCountTable
        Per-image counts of the two prediction sets, matched by image key;
        images only one side has are left out (and listed in the result).
    metrics, options, statistic, confidence, n_resamples, method, seed, groups, jobs, block_size
        As for :func:`bootstrap_ci`.

    Returns
    -------
    PairedBootstrapResult

    Raises
    ------
    IncomparableReportsError
        Different class counts, or fewer than 2 shared images.
    UsageError
        As for :func:`bootstrap_ci`.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> keys = [f"img{i:02d}" for i in range(60)]
    >>> tp, err = rng.integers(80, 100, size=(60, 2)), rng.integers(10, 30, size=(60, 2))
    >>> old = ImageCountTable.from_arrays(keys, tp, err, err)
    >>> new = ImageCountTable.from_arrays(keys, tp, err // 2, err // 2)
    >>> diff = paired_bootstrap(old, new, ["miou"], seed=1, n_resamples=999).summary["miou"]
    >>> diff.low > 0, diff.p_value
    (True, 0.002)
    >>> same = paired_bootstrap(old, old, ["miou"], seed=1, n_resamples=999).summary["miou"]
    >>> same.estimate, same.low, same.high, same.p_value
    (0.0, 0.0, 0.0, 1.0)
    """
    _check_settings(confidence, n_resamples, method, jobs, block_size)
    if baseline.num_classes != candidate.num_classes:
        raise IncomparableReportsError(
            f"baseline counts have {counted(baseline.num_classes, 'class')}, candidate counts "
            f"{candidate.num_classes}; score both with the same classes."
        )
    evaluate = _statistic(metrics, options, statistic)
    resolved_seed = _seed(seed)
    candidate_keys = set(candidate.keys)
    baseline_keys = set(baseline.keys)
    shared = sorted(baseline_keys & candidate_keys)
    if len(shared) < 2:
        raise IncomparableReportsError(
            f"the reports share {counted(len(shared), 'image')}; a paired bootstrap needs at "
            "least 2 "
            "images scored in both."
        )
    _, unit_of_image, num_units, unit = _units(shared, groups)
    if num_units < 2:
        raise UsageError(f"a bootstrap needs at least 2 {unit}s to resample, found {num_units}.")
    sides = [
        _unit_matrix(side.select(shared), unit_of_image, num_units)
        for side in (baseline, candidate)
    ]
    totals = [matrix.sum(axis=0) for matrix in sides]
    sums = _resampled_sums(sides, n_resamples, resolved_seed, block_size, jobs)

    classes = baseline.num_classes
    points = [_evaluate(evaluate, total[None, :], classes) for total in totals]
    resampled = [_evaluate(evaluate, side_sums, classes) for side_sums in sums]
    jackknife = (
        [
            _evaluate(evaluate, total - matrix, classes)
            for total, matrix in zip(totals, sides, strict=True)
        ]
        if method == "bca"
        else None
    )

    summary: dict[str, Difference] = {}
    per_class: dict[str, tuple[Difference, ...]] = {}
    for name in resampled[0]:
        before, after = _columns(points[0][name]), _columns(points[1][name])
        deltas = _columns(resampled[1][name] - resampled[0][name])
        jack: list[np.ndarray | None] = [None] * len(deltas)
        if jackknife is not None:
            jack = list(_columns(jackknife[1][name] - jackknife[0][name]))
        differences = []
        for old, new, delta, jack_delta in zip(before, after, deltas, jack, strict=True):
            estimate = float(new[0] - old[0])
            low, high, undefined = _interval_bounds(delta, estimate, jack_delta, confidence, method)
            differences.append(
                Difference(
                    estimate,
                    low,
                    high,
                    undefined,
                    baseline=float(old[0]),
                    candidate=float(new[0]),
                    p_value=p_value(delta) if not math.isnan(estimate) else math.nan,
                )
            )
        if resampled[0][name].ndim == 1:
            summary[name] = differences[0]
        else:
            per_class[name] = tuple(differences)
    return PairedBootstrapResult(
        method=method,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=resolved_seed,
        block_size=block_size,
        unit=unit,
        num_units=num_units,
        num_images=len(shared),
        summary=summary,
        per_class=per_class,
        only_baseline=tuple(sorted(baseline_keys - candidate_keys)),
        only_candidate=tuple(sorted(candidate_keys - baseline_keys)),
    )


# ------------------------------------------------------------------ decisions


@dataclass(frozen=True)
class Decision:
    """One significance-based gate check (the fields of ``segeval.gate.Check``).

    Attributes
    ----------
    name : str
        ``improvement miou`` or ``max-drop-ci miou``.
    value : float
        The interval bound judged.
    threshold : float
    comparison : str
        How ``value`` must relate to ``threshold`` to pass (``">"``, ``"<"``, ``"<="``).
    passed : bool
    note : str
    """

    name: str
    value: float
    threshold: float
    comparison: str
    passed: bool
    note: str = ""


def _higher_is_better(metric: str, higher_is_better: bool | None) -> bool:
    if higher_is_better is not None:
        return higher_is_better
    spec = REGISTRY.get(metric)
    return True if spec is None else spec.higher_is_better


def _label(metric: str, class_index: int | None) -> str:
    return metric if class_index is None else f"{metric}[{class_index}]"


def require_improvement(
    result: PairedBootstrapResult,
    metric: str,
    class_index: int | None = None,
    *,
    higher_is_better: bool | None = None,
) -> Decision:
    """Pass only if the candidate is better with the result's confidence.

    Better means the whole interval of ``candidate - baseline`` lies on the
    improving side of 0 (its low bound above 0 for a higher-is-better metric,
    per :data:`segeval.core.metrics.REGISTRY`, or its high bound below 0).

    Parameters
    ----------
    result : PairedBootstrapResult
    metric : str
        Registry name (``miou``) or a per-class one with ``class_index``.
    class_index : int, optional
    higher_is_better : bool, optional
        Overrides the registry (for custom statistics).

    Returns
    -------
    Decision

    Examples
    --------
    >>> diff = Difference(0.02, 0.005, 0.035, baseline=0.70, candidate=0.72, p_value=0.01)
    >>> result = PairedBootstrapResult("bca", 0.95, 2000, 0, 250, "image", 100, 100,
    ...                                summary={"miou": diff}, per_class={})
    >>> require_improvement(result, "miou").passed
    True
    """
    difference = result.difference(metric, class_index)
    higher = _higher_is_better(metric, higher_is_better)
    bound = difference.low if higher else difference.high
    note = (
        f"difference {difference.estimate:+.4f} "
        f"[{difference.low:+.4f}, {difference.high:+.4f}] at {result.confidence:.0%}, "
        f"p = {difference.p_value:.4g}"
    )
    if math.isnan(bound):
        return Decision(
            f"improvement {_label(metric, class_index)}", bound, 0.0, ">" if higher else "<",
            False, "undefined in a report or in every resample",
        )  # fmt: skip
    passed = bound > 0 if higher else bound < 0
    return Decision(
        f"improvement {_label(metric, class_index)}",
        bound,
        0.0,
        ">" if higher else "<",
        passed,
        note,
    )


def max_drop_bound(
    result: PairedBootstrapResult,
    metric: str,
    class_index: int | None = None,
    *,
    higher_is_better: bool | None = None,
) -> float:
    """The largest drop the interval allows: the pessimistic bound, as a drop.

    For a higher-is-better metric ``-low`` (a drop is positive), else ``high``.

    Examples
    --------
    >>> diff = Difference(-0.01, -0.03, 0.01)
    >>> result = PairedBootstrapResult("bca", 0.95, 2000, 0, 250, "image", 9, 9,
    ...                                summary={"miou": diff}, per_class={})
    >>> max_drop_bound(result, "miou")
    0.03
    """
    difference = result.difference(metric, class_index)
    return -difference.low if _higher_is_better(metric, higher_is_better) else difference.high


def check_max_drop(
    result: PairedBootstrapResult,
    metric: str,
    allowed: float,
    class_index: int | None = None,
    *,
    higher_is_better: bool | None = None,
) -> Decision:
    """``--max-drop-ci``: pass when even the pessimistic bound drops by at most ``allowed``.

    Examples
    --------
    >>> diff = Difference(-0.01, -0.03, 0.01)
    >>> result = PairedBootstrapResult("bca", 0.95, 2000, 0, 250, "image", 9, 9,
    ...                                summary={"miou": diff}, per_class={})
    >>> check_max_drop(result, "miou", 0.02).passed, check_max_drop(result, "miou", 0.05).passed
    (False, True)
    """
    if allowed < 0:
        raise UsageError(f"--max-drop-ci {metric}={allowed}: a drop is >= 0.")
    bound = max_drop_bound(result, metric, class_index, higher_is_better=higher_is_better)
    name = f"max-drop-ci {_label(metric, class_index)}"
    if math.isnan(bound):
        return Decision(name, bound, allowed, "<=", False, "undefined in a report or resample")
    difference = result.difference(metric, class_index)
    note = (
        f"difference {difference.estimate:+.4f} "
        f"[{difference.low:+.4f}, {difference.high:+.4f}] at {result.confidence:.0%}"
    )
    # The same few-ulp tolerance as the plain --max-drop check.
    return Decision(name, bound, allowed, "<=", bound <= allowed + 1e-12, note)
