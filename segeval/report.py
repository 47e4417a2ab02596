"""The result of a scoring run, and its JSON form.

A :class:`Report` is an immutable record of everything a run produced: the
configuration that shaped the numbers, per-class results, summary metrics, the
raw confusion matrix and pixel counters. :meth:`Report.to_dict` gives the JSON
document (schema ``segeval/score/v1``) and :meth:`Report.from_dict` reads it
back, so saved reports can be compared later.

Scored with confidence intervals (``score --ci``), a report also carries its
``intervals`` (:class:`~segeval.stats.BootstrapResult`) and, compactly, the
per-image counts they were resampled from (``image_counts``,
:class:`~segeval.stats.ImageCountTable`), so that two saved reports can be
compared with a paired bootstrap later (``compare --ci``). Both sections are
optional: readers of older reports see none.

In the JSON form undefined values (NaN) are ``null`` and floats keep full
precision; counts are exact integers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from segeval._version import __version__
from segeval.core.confusion import ConfusionMatrix
from segeval.core.metrics import (
    PER_CLASS_METRICS,
    REGISTRY,
    MetricOptions,
    counts_from_matrix,
    normalize_matrix,
)
from segeval.core.per_image import ImageMeans
from segeval.errors import IncomparableReportsError
from segeval.inputs.classes import default_class_names
from segeval.notices import Notice
from segeval.wording import counted

if TYPE_CHECKING:  # imported where a report carries them: only --ci runs resample
    from segeval.boundary_report import BoundaryResults, BoundarySummary
    from segeval.checks import GateResult
    from segeval.core.instances import InstanceRow, InstanceRules
    from segeval.stats.bootstrap import BootstrapResult
    from segeval.stats.table import ImageCountTable

__all__ = [
    "SCHEMA",
    "CategoryResult",
    "ClassResult",
    "InstanceResults",
    "PairingSummary",
    "Report",
    "ScoreConfig",
    "build_report",
]

#: Schema name carried by every score report.
SCHEMA = "segeval/score/v1"


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _from_json_float(value: Any) -> float:
    """A metric value: a finite number, or null for undefined."""
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a finite number or null, got {str(value)[:40]!r}")
    return float(value)


_UINT64_LIMIT = 2**64


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {str(value)[:40]!r}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= _UINT64_LIMIT:
        raise ValueError(f"expected an integer, got {str(value)[:40]!r}")
    return value


def _count(value: Any) -> int:
    """A pixel count: a non-negative integer that fits in uint64 (never a float or a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT64_LIMIT:
        raise ValueError(f"expected a pixel count (an integer 0..2**64-1), got {str(value)[:40]!r}")
    return value


@dataclass(frozen=True)
class ScoreConfig:
    """The settings that shaped a report's numbers.

    Attributes
    ----------
    num_classes : int
        Number of classes scored.
    num_classes_inferred : bool
        True when the class count came from the largest label seen.
    class_names : tuple of str
        One name per class.
    ignore_index : tuple of int
        Raw ground-truth values treated as unlabelled.
    aggregation : str
        ``"dataset"`` (one matrix over all pixels of all images) or
        ``"dataset+image"`` (also every image on its own, then means over images).
    metric_options : MetricOptions
        Empty-class policy, zero division, beta, excluded classes, F-score rule,
        classes without ground truth, means over no image.
    out_of_range : str
        ``"error"`` or ``"miss"``.
    pred_ignore : str
        ``"miss"`` or ``"error"``: what a prediction equal to an ignore value is.
    reduce_zero_label : bool
        Whether label 0 was ignored and every other label lowered by 1.
    convention : str or None
        The ``--convention`` preset these settings came from, if any.
    classes : str or None
        Where the class definition came from (``preset cityscapes``, a file).
    class_ids : str
        Sides whose masks held class ids rather than label-map values.
    categories : tuple of str
        One category name per class ("" for none), or empty without categories.
    gt_instances : bool
        Whether instance maps were given, so the report carries iIoU.
    """

    num_classes: int
    num_classes_inferred: bool
    class_names: tuple[str, ...]
    ignore_index: tuple[int, ...]
    aggregation: str = "dataset"
    metric_options: MetricOptions = field(default_factory=MetricOptions)
    out_of_range: str = "error"
    pred_ignore: str = "miss"
    reduce_zero_label: bool = False
    convention: str | None = None
    classes: str | None = None
    class_ids: str = "none"
    categories: tuple[str, ...] = ()
    gt_instances: bool = False

    @property
    def per_image(self) -> bool:
        """True when the report carries per-image means."""
        return self.aggregation == "dataset+image"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        options = self.metric_options
        return {
            "num_classes": self.num_classes,
            "num_classes_inferred": self.num_classes_inferred,
            "class_names": list(self.class_names),
            "ignore_index": list(self.ignore_index),
            "aggregation": self.aggregation,
            "convention": self.convention,
            "empty": options.empty,
            "zero_division": options.zero_division,
            "beta": options.beta,
            "exclude_classes": sorted(options.exclude),
            "fscore": options.fscore,
            "gt_empty": options.gt_empty,
            "empty_mean": options.empty_mean,
            "out_of_range": self.out_of_range,
            "pred_ignore": self.pred_ignore,
            "reduce_zero_label": self.reduce_zero_label,
            "classes": self.classes,
            "class_ids": self.class_ids,
            "categories": list(self.categories),
            # Only when given: reports without instance maps keep their earlier form.
            **({"gt_instances": True} if self.gt_instances else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(
            num_classes=_count(data["num_classes"]),
            num_classes_inferred=bool(data["num_classes_inferred"]),
            class_names=tuple(_text(name) for name in data["class_names"]),
            ignore_index=tuple(_integer(v) for v in data["ignore_index"]),
            aggregation=str(data["aggregation"]),
            metric_options=MetricOptions(
                empty=data["empty"],
                zero_division=data["zero_division"],
                beta=float(data["beta"]),
                exclude=frozenset(int(v) for v in data["exclude_classes"]),
                # Reports written before these policies existed used the defaults.
                fscore=data.get("fscore", "counts"),
                gt_empty=data.get("gt_empty", "score"),
                empty_mean=data.get("empty_mean", "nan"),
            ),
            out_of_range=str(data["out_of_range"]),
            pred_ignore=str(data.get("pred_ignore", "miss")),
            reduce_zero_label=bool(data.get("reduce_zero_label", False)),
            convention=data.get("convention"),
            classes=data.get("classes"),
            class_ids=str(data.get("class_ids", "none")),
            categories=tuple(_text(name) for name in data.get("categories", ())),
            gt_instances=bool(data.get("gt_instances", False)),
        )


@dataclass(frozen=True)
class PairingSummary:
    """What pairing and reading set aside or changed.

    Attributes
    ----------
    missing_policy : str
        ``error``, ``skip`` or ``empty``.
    missing : int
        Ground-truth files without prediction (skipped, or scored as empty).
    extra : int
        Predictions without ground truth (not scored).
    skipped_files : int
        Hidden and non-mask files in the two folders.
    resized : int
        Predictions resized to their ground truth's size.
    images_digest : str
        SHA-256 of the scored image keys, one per line in order: two reports
        scored the same images exactly when their digests are equal.
    """

    missing_policy: str = "error"
    missing: int = 0
    extra: int = 0
    skipped_files: int = 0
    resized: int = 0
    images_digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PairingSummary:
        """Inverse of :meth:`to_dict`."""
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True)
class ClassResult:
    """Metrics and counts of one class.

    ``metrics`` holds every dataset-level per-class metric of the registry
    (:data:`~segeval.core.metrics.PER_CLASS_METRICS`) by name, and ``iiou``
    when instance maps were given (:data:`EXTRA_CLASS_METRICS`); ``iou``, ``dice``,
    ``precision``, ``recall`` and ``fbeta`` read it. The ``image_*`` fields are
    set only with per-image aggregation: the mean over images of this class's
    IoU and Dice, and how many images counted (those where it was defined).
    ``boundary`` holds the boundary metrics by registry name (``biou``, ``bf``,
    ``hd``, ``hd95``, ``assd``, ``nsd``; distances may be infinite) and
    ``boundary_counts`` the counts behind them, when they were computed.
    """

    id: int
    name: str
    included: bool
    metrics: Mapping[str, float]
    support: int
    predicted: int
    tp: int
    fp: int
    fn: int
    image_iou: float | None = None
    image_dice: float | None = None
    image_iou_images: int | None = None
    image_dice_images: int | None = None
    boundary: Mapping[str, float] = field(default_factory=dict)
    boundary_counts: Mapping[str, int] = field(default_factory=dict)

    _COUNTS = ("support", "predicted", "tp", "fp", "fn")

    def value(self, metric: str) -> float:
        """A per-class metric by registry name (NaN when undefined or absent)."""
        if metric in self.metrics:
            return self.metrics[metric]
        if metric in self.boundary:
            return self.boundary[metric]
        found = getattr(self, metric, None) if metric.startswith("image_") else None
        return math.nan if found is None else float(found)

    @property
    def iou(self) -> float:
        """IoU of this class."""
        return self.metrics["iou"]

    @property
    def dice(self) -> float:
        """Dice of this class."""
        return self.metrics["dice"]

    @property
    def precision(self) -> float:
        """Precision of this class."""
        return self.metrics["precision"]

    @property
    def recall(self) -> float:
        """Recall of this class."""
        return self.metrics["recall"]

    @property
    def fbeta(self) -> float:
        """F-beta of this class."""
        return self.metrics["fbeta"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        result: dict[str, Any] = {"id": self.id, "name": self.name, "included": self.included}
        result.update({name: _json_float(value) for name, value in self.metrics.items()})
        result.update({name: getattr(self, name) for name in self._COUNTS})
        if self.image_iou is not None and self.image_dice is not None:
            result["image_iou"] = _json_float(self.image_iou)
            result["image_dice"] = _json_float(self.image_dice)
            result["image_iou_images"] = self.image_iou_images
            result["image_dice_images"] = self.image_dice_images
        if self.boundary:
            from segeval.boundary_report import class_boundary_to_dict

            result["boundary"] = class_boundary_to_dict(self.boundary, self.boundary_counts)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassResult:
        """Inverse of :meth:`to_dict`."""
        metrics = {name: _from_json_float(data[name]) for name in PER_CLASS_METRICS}
        metrics |= {
            name: _from_json_float(data[name]) for name in EXTRA_CLASS_METRICS if name in data
        }
        counts: dict[str, Any] = {name: _count(data[name]) for name in cls._COUNTS}
        per_image: dict[str, Any] = {}
        if "image_iou" in data:
            per_image = {
                "image_iou": _from_json_float(data["image_iou"]),
                "image_dice": _from_json_float(data["image_dice"]),
                "image_iou_images": _count(data["image_iou_images"]),
                "image_dice_images": _count(data["image_dice_images"]),
            }
        if "boundary" in data:
            from segeval.boundary_report import class_boundary_from_dict

            per_image["boundary"], per_image["boundary_counts"] = class_boundary_from_dict(
                data["boundary"]
            )
        return cls(
            id=_count(data["id"]),
            name=str(data["name"]),
            included=bool(data["included"]),
            metrics=metrics,
            **counts,
            **per_image,
        )


#: Per-class metrics kept in ``ClassResult.metrics`` beside the ratios of the
#: counts, computed from more than the confusion matrix (instance maps).
EXTRA_CLASS_METRICS = ("iiou",)


@dataclass(frozen=True)
class CategoryResult:
    """IoU and counts of one category (its classes merged), and its iIoU when computed.

    ``iiou`` is None without instance maps, NaN for a category whose classes do
    not all have instances.
    """

    name: str
    iou: float
    tp: int
    fp: int
    fn: int
    iiou: float | None = None

    def value(self, metric: str) -> float:
        """``category_iou`` or ``category_iiou`` of this category (NaN when absent)."""
        if metric == "category_iiou":
            return math.nan if self.iiou is None else self.iiou
        return self.iou

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        result = {"name": self.name, "iou": _json_float(self.iou), "tp": self.tp, "fp": self.fp,
                  "fn": self.fn}  # fmt: skip
        if self.iiou is not None:
            result["iiou"] = _json_float(self.iiou)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=_text(data["name"]),
            iou=_from_json_float(data["iou"]),
            tp=_count(data["tp"]),
            fp=_count(data["fp"]),
            fn=_count(data["fn"]),
            iiou=_from_json_float(data["iiou"]) if "iiou" in data else None,
        )


@dataclass(frozen=True)
class InstanceResults:
    """What iIoU is computed from: the class rules and one row per scored pair.

    Examples
    --------
    >>> from segeval.core.instances import InstanceRules
    >>> rules = InstanceRules((float("nan"), 4.0))
    >>> InstanceResults(rules, []).rules.average_sizes
    (nan, 4.0)
    """

    rules: InstanceRules
    rows: Sequence[InstanceRow]


def _with_instances(
    instances: InstanceResults,
    classes: tuple[ClassResult, ...],
    categories: tuple[CategoryResult, ...],
    summary: dict[str, float],
) -> tuple[tuple[ClassResult, ...], tuple[CategoryResult, ...]]:
    """Add iIoU to the class and category results and ``miiou``, ``category_miiou`` to summary."""
    class_fp = np.array([result.fp for result in classes], dtype=np.float64)
    category_fp = {result.name: result.fp for result in categories}
    for name in instances.rules.instance_categories:
        category_fp.setdefault(name, 0)
    from segeval.core.instances import instance_scores  # iIoU runs only

    scores = instance_scores(instances.rows, class_fp, category_fp, instances.rules)
    summary["miiou"] = scores.miiou
    classes = tuple(
        replace(result, metrics={**result.metrics, "iiou": float(scores.class_iiou[index])})
        for index, result in enumerate(classes)
    )
    by_name = dict(zip(scores.category_names, scores.category_iiou.tolist(), strict=True))
    categories = tuple(
        replace(result, iiou=float(by_name.get(result.name, math.nan))) for result in categories
    )
    if categories:
        summary["category_miiou"] = scores.category_miiou
    return classes, categories


def _category_results(
    counts: np.ndarray, missed: np.ndarray, config: ScoreConfig
) -> tuple[tuple[CategoryResult, ...], float]:
    if not config.categories:
        return (), math.nan
    from segeval.core.categories import category_scores  # class definitions with categories

    scores = category_scores(counts, missed, config.categories, config.metric_options)
    results = tuple(
        CategoryResult(name, float(scores.iou[i]), int(scores.tp[i]), int(scores.fp[i]),
                       int(scores.fn[i]))
        for i, name in enumerate(scores.names)
    )  # fmt: skip
    return results, scores.miou


@dataclass(frozen=True)
class Report:
    """Everything one scoring run produced.

    Attributes
    ----------
    config : ScoreConfig
    classes : tuple of ClassResult
        One per class, in class-index order.
    summary : dict of str to float
        Dataset-level summary metrics by registry name (NaN when undefined).
    classes_averaged : int
        Classes that entered the means.
    confusion_matrix : numpy.ndarray
        ``(C, C)`` uint64, rows = ground truth, columns = prediction.
    missed : numpy.ndarray
        ``(C,)`` uint64: scored pixels predicted as no class.
    num_images : int
    scored_pixels, ignored_pixels, pred_ignore_pixels, out_of_range_pixels : int
    elapsed_seconds : float
    segeval_version : str
    pairing : PairingSummary
    warnings : tuple of Notice
    gate : GateResult or None
    categories : tuple of CategoryResult
        Scores of the class definition's categories (empty without them).
    image_counts : ImageCountTable or None
        Every image's per-class TP, FP and FN (scored with ``image_counts``).
    intervals : BootstrapResult or None
        Confidence intervals of the summary and per-class IoU / Dice.
    boundary : BoundarySummary or None
        Boundary metrics settings, means and empty cases (``--boundary``,
        ``--surface-distances``); per-class values are in ``classes``.
    """

    config: ScoreConfig
    classes: tuple[ClassResult, ...]
    summary: dict[str, float]
    classes_averaged: int
    confusion_matrix: np.ndarray
    missed: np.ndarray
    num_images: int
    scored_pixels: int
    ignored_pixels: int
    pred_ignore_pixels: int
    out_of_range_pixels: int
    elapsed_seconds: float
    segeval_version: str
    pairing: PairingSummary = field(default_factory=PairingSummary)
    warnings: tuple[Notice, ...] = ()
    gate: GateResult | None = None
    categories: tuple[CategoryResult, ...] = ()
    image_counts: ImageCountTable | None = None
    intervals: BootstrapResult | None = None
    boundary: BoundarySummary | None = None

    def summary_value(self, name: str) -> float:
        """A summary metric by registry name, boundary metrics included (NaN when absent).

        Examples
        --------
        >>> report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
        >>> report.summary_value("miou"), report.summary_value("hd95")
        (0.775, nan)
        """
        if name in self.summary:
            return self.summary[name]
        if self.boundary is not None and name in self.boundary.values:
            return self.boundary.values[name]
        return math.nan

    def offers(self, name: str) -> bool:
        """Whether this report computed a registry metric (per-image, boundary or always).

        Examples
        --------
        >>> report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
        >>> report.offers("miou"), report.offers("image_miou"), report.offers("mean_biou")
        (True, False, False)
        """
        spec = REGISTRY[name]
        if spec.per_image:
            return self.config.per_image
        if spec.per_category and not self.categories:
            return False
        if spec.option == "--gt-instances":
            return self.config.gt_instances
        if spec.option is None:
            return True
        if self.boundary is None:
            return False
        options = self.boundary.options
        return options.boundary if spec.option == "--boundary" else options.surface

    def normalized_matrix(self, how: str) -> np.ndarray:
        """The confusion matrix divided by GT rows (``"gt"``), columns (``"pred"``) or total."""
        return normalize_matrix(self.confusion_matrix, self.missed, how)

    def to_dict(self, *, normalize: str = "none") -> dict[str, Any]:
        """The JSON document (schema ``segeval/score/v1``).

        Parameters
        ----------
        normalize : {"none", "gt", "pred", "all"}, default "none"
            Also include the normalised matrix.
        """
        matrix: dict[str, Any] = {
            "rows": "ground truth",
            "columns": "prediction",
            "counts": self.confusion_matrix.astype(np.uint64).tolist(),
            "missed": self.missed.astype(np.uint64).tolist(),
        }
        if normalize != "none":
            matrix["normalize"] = normalize
            matrix["normalized"] = [
                [_json_float(v) for v in row] for row in self.normalized_matrix(normalize).tolist()
            ]
        return {
            "schema": SCHEMA,
            "segeval_version": self.segeval_version,
            "config": self.config.to_dict(),
            "num_images": self.num_images,
            "pixels": {
                "scored": self.scored_pixels,
                "ignored": self.ignored_pixels,
                "pred_ignore": self.pred_ignore_pixels,
                "out_of_range": self.out_of_range_pixels,
            },
            "pairing": self.pairing.to_dict(),
            "warnings": [warning.to_dict() for warning in self.warnings],
            "classes_averaged": self.classes_averaged,
            "summary": {name: _json_float(value) for name, value in self.summary.items()},
            **({} if self.boundary is None else {"boundary": self.boundary.to_dict()}),
            "classes": [result.to_dict() for result in self.classes],
            **(
                {"categories": [result.to_dict() for result in self.categories]}
                if self.categories
                else {}
            ),
            **({} if self.intervals is None else {"intervals": self.intervals.to_dict()}),
            "confusion_matrix": matrix,
            **({} if self.gate is None else {"gate": self.gate.to_dict()}),
            **({} if self.image_counts is None else {"image_counts": self.image_counts.to_dict()}),
            "elapsed_seconds": self.elapsed_seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """Read a report back from its JSON document.

        Raises
        ------
        IncomparableReportsError
            The document is not a ``segeval/score/v1`` report.
        KeyError, TypeError, ValueError
            A damaged report: a missing field, a value of the wrong type, a count
            that is not an integer in 0..2**64-1, shapes that disagree.
        """
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, Mapping) else type(data).__name__
            raise IncomparableReportsError(
                f"expected a {SCHEMA} report, found schema {found!r}; pass the JSON "
                "written by 'segeval score --format json'."
            )
        pixels = data["pixels"]
        matrix = data["confusion_matrix"]
        counts = [[_count(v) for v in row] for row in matrix["counts"]]
        missed = [_count(v) for v in matrix["missed"]]
        from segeval.boundary_report import BoundarySummary
        from segeval.checks import GateResult
        from segeval.stats.bootstrap import BootstrapResult
        from segeval.stats.table import ImageCountTable

        report = cls(
            config=ScoreConfig.from_dict(data["config"]),
            classes=tuple(ClassResult.from_dict(entry) for entry in data["classes"]),
            summary={name: _from_json_float(value) for name, value in data["summary"].items()},
            classes_averaged=int(data["classes_averaged"]),
            confusion_matrix=np.array(counts, dtype=np.uint64).reshape(len(counts), -1),
            missed=np.array(missed, dtype=np.uint64),
            num_images=_count(data["num_images"]),
            scored_pixels=_count(pixels["scored"]),
            ignored_pixels=_count(pixels["ignored"]),
            pred_ignore_pixels=_count(pixels["pred_ignore"]),
            out_of_range_pixels=_count(pixels["out_of_range"]),
            elapsed_seconds=float(data["elapsed_seconds"]),
            segeval_version=str(data["segeval_version"]),
            pairing=PairingSummary.from_dict(data.get("pairing", {})),
            warnings=tuple(Notice.from_dict(item) for item in data.get("warnings", ())),
            gate=None if data.get("gate") is None else GateResult.from_dict(data["gate"]),
            categories=tuple(CategoryResult.from_dict(item) for item in data.get("categories", ())),
            image_counts=None
            if data.get("image_counts") is None
            else ImageCountTable.from_dict(data["image_counts"]),
            intervals=None
            if data.get("intervals") is None
            else BootstrapResult.from_dict(data["intervals"]),
            boundary=None
            if data.get("boundary") is None
            else BoundarySummary.from_dict(data["boundary"]),
        )
        report._check_shapes()
        return report

    def _check_shapes(self) -> None:
        size = self.config.num_classes
        shapes = {
            "config.class_names": len(self.config.class_names),
            "classes": len(self.classes),
            "confusion_matrix.counts rows": self.confusion_matrix.shape[0],
            "confusion_matrix.counts columns": self.confusion_matrix.shape[1],
            "confusion_matrix.missed": self.missed.shape[0],
        }
        for what, found in shapes.items():
            if found != size:
                raise ValueError(
                    f"{what} has {counted(found, 'entry')} for {counted(size, 'class')}"
                )
        for index, result in enumerate(self.classes):
            if result.id != index:
                raise ValueError(f"classes[{index}] has id {result.id}")
            if result.boundary and self.boundary is None:
                raise ValueError(f"classes[{index}] has boundary values but the report has none")
            for name in result.boundary:
                if name not in REGISTRY or REGISTRY[name].option is None:
                    raise ValueError(f"classes[{index}].boundary holds an unknown metric {name!r}")
        total = int(self.confusion_matrix.sum(dtype=object)) + int(self.missed.sum(dtype=object))
        if total != self.scored_pixels:
            raise ValueError(
                f"pixels.scored is {self.scored_pixels} but the confusion matrix holds {total}"
            )
        if self.image_counts is not None:
            self._check_image_counts(self.image_counts)

    def _check_image_counts(self, table: ImageCountTable) -> None:
        """Per-image counts must add up to the confusion matrix: compare --ci resamples them."""
        if (table.num_images, table.num_classes) != (self.num_images, self.config.num_classes):
            raise ValueError(
                f"image_counts holds {counted(table.num_images, 'image')} x "
                f"{counted(table.num_classes, 'class')}, "
                f"the report {self.num_images} x {self.config.num_classes}"
            )
        expected = counts_from_matrix(self.confusion_matrix, self.missed)
        for name, summed, whole in zip(("tp", "fp", "fn"), table.totals(), expected, strict=True):
            if not np.array_equal(summed, whole):
                raise ValueError(f"image_counts' {name} do not add up to the confusion matrix's")

    def recomputed(self) -> Report:
        """This report with every dataset-level metric recomputed from its counts.

        The stored values are compared with the recomputed ones first: a report
        whose numbers disagree with its own confusion matrix (edited by hand,
        damaged) is refused rather than trusted. Means over images, which need
        per-image counts, are kept as stored, and so are boundary metrics
        (computed from per-image boundary statistics a report does not carry;
        :meth:`from_dict` has checked they are numbers, ``"inf"`` or null).

        Raises
        ------
        IncomparableReportsError
            A stored metric disagrees with the counts.

        Examples
        --------
        >>> report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
        >>> forged = Report.from_dict({**report.to_dict(), "summary": {"miou": 0.99}})
        >>> forged.recomputed()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        segeval.errors.IncomparableReportsError: summary.miou is 0.99 but the report's ...
        """
        config = self.config
        matrix = ConfusionMatrix.from_counts(
            self.confusion_matrix, self.missed, ignore_index=config.ignore_index
        )
        fresh = matrix.metrics(config.metric_options)
        for name, value in self.summary.items():
            if name in fresh.summary:
                _agree(f"summary.{name}", value, fresh.summary[name])
        for index, result in enumerate(self.classes):
            for name, value in result.metrics.items():
                if name in fresh.per_class.values:
                    _agree(f"{result.name}.{name}", value, fresh.per_class.values[name][index])
        categories, category_miou = _category_results(self.confusion_matrix, self.missed, config)
        stored_categories = {result.name: result.iou for result in self.categories}
        for category in categories:
            if category.name in stored_categories:
                _agree(
                    f"category {category.name}.iou", stored_categories[category.name], category.iou
                )
        summary = {**self.summary, **fresh.summary}
        if categories:
            _agree("summary.category_miou", summary.get("category_miou", math.nan), category_miou)
            summary["category_miou"] = category_miou
        # iIoU needs the instance maps: kept as stored, like the boundary metrics.
        stored_iiou = {result.name: result.iiou for result in self.categories}
        categories = tuple(
            replace(category, iiou=stored_iiou.get(category.name)) for category in categories
        )
        classes = tuple(
            replace(
                result,
                metrics={
                    **result.metrics,
                    **{
                        name: float(values[index])
                        for name, values in fresh.per_class.values.items()
                    },
                },
            )
            for index, result in enumerate(self.classes)
        )
        return replace(
            self,
            summary=summary,
            classes=classes,
            classes_averaged=fresh.classes_averaged,
            categories=categories,
        )


def _agree(where: str, stored: float, counted: float) -> None:
    same = (math.isnan(stored) and math.isnan(counted)) or math.isclose(
        stored, counted, rel_tol=1e-9, abs_tol=1e-12
    )
    if not same:
        raise IncomparableReportsError(
            f"{where} is {stored!r} but the report's confusion matrix gives {counted!r}; the "
            "report was edited or damaged, so score again."
        )


def build_report(
    matrix: ConfusionMatrix,
    *,
    class_names: Sequence[str] | None = None,
    metric_options: MetricOptions | None = None,
    image_means: ImageMeans | None = None,
    image_counts: ImageCountTable | None = None,
    boundary: BoundaryResults | None = None,
    reduce_zero_label: bool = False,
    convention: str | None = None,
    classes_source: str | None = None,
    class_ids: str = "none",
    categories: Sequence[str] = (),
    pairing: PairingSummary | None = None,
    warnings: Sequence[Notice] = (),
    elapsed_seconds: float = 0.0,
    instances: InstanceResults | None = None,
) -> Report:
    """Compute every metric of an accumulated matrix and wrap it in a Report.

    Parameters
    ----------
    matrix : ConfusionMatrix
        The accumulated counts.
    class_names : sequence of str, optional
        One per class; defaults to ``class_0, class_1, ...``.
    metric_options : MetricOptions, optional
        Policies, beta, excluded classes.
    image_means : ImageMeans, optional
        Per-image means, when images were also scored one by one.
    image_counts : ImageCountTable, optional
        Every image's counts, kept in the report for confidence intervals.
    boundary : BoundaryResults, optional
        Boundary metrics, when they were computed.
    reduce_zero_label : bool, default False
        Recorded in the configuration.
    convention : str, optional
        Name of the convention preset used, recorded in the configuration.
    classes_source : str, optional
        Where the class definition came from, recorded in the configuration.
    class_ids : str, default "none"
        Sides whose masks held class ids, recorded in the configuration.
    categories : sequence of str
        One category name per class ("" for none): the classes of each category
        are also scored merged (``category_iou``, ``category_miou``).
    pairing : PairingSummary, optional
        What pairing set aside.
    warnings : sequence of Notice
        Lines the caller should show (extra predictions, skipped images).
    elapsed_seconds : float, default 0.0
        Wall time of the run.
    instances : InstanceResults, optional
        Every pair's iIoU row and the rules behind them (instance maps given):
        adds ``iiou`` per class and category, ``miiou`` and ``category_miiou``.

    Returns
    -------
    Report

    Examples
    --------
    >>> cm = ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]]))
    >>> report = build_report(cm, class_names=["road", "car"])
    >>> report.classes[1].name, report.classes[1].iou
    ('car', 0.8)
    >>> report.to_dict()["schema"]
    'segeval/score/v1'
    """
    options = metric_options or MetricOptions()
    result = matrix.metrics(options)
    per_class = result.per_class
    names = (
        tuple(class_names) if class_names is not None else default_class_names(matrix.num_classes)
    )
    summary = dict(result.summary)
    per_image: list[dict[str, Any]] = [{} for _ in range(matrix.num_classes)]
    if boundary is not None:
        for index in range(matrix.num_classes):
            per_image[index]["boundary"] = boundary.per_class[index]
            per_image[index]["boundary_counts"] = boundary.class_counts[index]
    if image_means is not None:
        summary.update(image_means.summary())
        for index in range(matrix.num_classes):
            per_image[index] |= {
                "image_iou": float(image_means.iou[index]),
                "image_dice": float(image_means.dice[index]),
                "image_iou_images": int(image_means.iou_images[index]),
                "image_dice_images": int(image_means.dice_images[index]),
            }
    classes = tuple(
        ClassResult(
            id=index,
            name=names[index],
            included=bool(result.included[index]),
            metrics={name: float(values[index]) for name, values in per_class.values.items()},
            support=int(per_class.support[index]),
            predicted=int(per_class.predicted[index]),
            tp=int(per_class.tp[index]),
            fp=int(per_class.fp[index]),
            fn=int(per_class.fn[index]),
            **per_image[index],
        )
        for index in range(matrix.num_classes)
    )
    config = ScoreConfig(
        num_classes=matrix.num_classes,
        num_classes_inferred=matrix.num_classes_inferred,
        class_names=names,
        ignore_index=tuple(sorted(matrix.ignore_values)),
        aggregation="dataset" if image_means is None else "dataset+image",
        metric_options=options,
        out_of_range=matrix.out_of_range,
        pred_ignore=matrix.pred_ignore,
        reduce_zero_label=reduce_zero_label,
        convention=convention,
        classes=classes_source,
        class_ids=class_ids,
        categories=tuple(categories),
        gt_instances=instances is not None,
    )
    category_results, category_miou = _category_results(matrix.counts, matrix.missed, config)
    if category_results:
        summary["category_miou"] = category_miou
    if instances is not None:
        classes, category_results = _with_instances(instances, classes, category_results, summary)
    return Report(
        config=config,
        classes=classes,
        summary=summary,
        classes_averaged=result.classes_averaged,
        confusion_matrix=matrix.counts.copy(),
        missed=matrix.missed.copy(),
        num_images=matrix.num_images,
        scored_pixels=matrix.scored_pixels,
        ignored_pixels=matrix.ignored_pixels,
        pred_ignore_pixels=matrix.pred_ignore_pixels,
        out_of_range_pixels=matrix.out_of_range_pixels,
        elapsed_seconds=elapsed_seconds,
        segeval_version=__version__,
        pairing=pairing or PairingSummary(),
        warnings=tuple(warnings),
        categories=category_results,
        image_counts=image_counts,
        boundary=None if boundary is None else boundary.summary,
    )
