"""Instance-level IoU (iIoU): the Cityscapes measure that weighs each object by its size.

For every ground-truth instance of a class with instances (Cityscapes
``instanceIds`` images: ``labelId * 1000 + k``), its true positives and false
negatives are weighted by ``average instance size of the class / size of this
instance``, so that large and small objects count alike; false positives are
unweighted (they belong to no instance). Per class and per category (a category
whose classes all have instances):

    iIoU = sum(w TP) / (sum(w TP) + FP + sum(w FN))

This is cityscapesScripts 2.3.0's ``getInstanceIouScoreForLabel`` and
``getInstanceIouScoreForCategory`` (``evalPixelLevelSemanticLabeling.py``),
including its category rule: a prediction of any label of the category, also
one ignored in evaluation (caravan, trailer), is a true positive of the
category's instance, and such predictions on other categories' ground truth are
its false positives. Per-image rows are summed with :func:`math.fsum`, so the
result does not depend on the order images are counted in.

The average instance sizes come from the class definition; the ``cityscapes``
preset carries the official table, ``args.avgClassSize`` of cityscapesScripts
2.3.0's ``evaluation/evalPixelLevelSemanticLabeling.py`` (docs/metrics.md,
"Instance-level IoU").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "InstanceRow",
    "InstanceRules",
    "InstanceScores",
    "image_iiou",
    "instance_row",
    "instance_scores",
]


@dataclass(frozen=True)
class InstanceRules:
    """What a class definition says about instances.

    Attributes
    ----------
    average_sizes : tuple of float
        Per class, the average instance size in pixels (NaN: no instances).
    categories : tuple of str
        Per class, its category ("" for none).
    category_values : mapping of str to tuple of int
        Raw label values of a category that are ignored in evaluation but still
        belong to it (Cityscapes: caravan 29, trailer 30 for vehicle).
    """

    average_sizes: tuple[float, ...]
    categories: tuple[str, ...] = ()
    category_values: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a class without instances has ``null`` as its size).

        Examples
        --------
        >>> rules = InstanceRules((float("nan"), 4.5), ("flat", "vehicle"), {"vehicle": (29,)})
        >>> rules.to_dict()["average_sizes"], rules.to_dict()["category_values"]
        ([None, 4.5], {'vehicle': [29]})
        >>> InstanceRules.from_dict(rules.to_dict()).to_dict() == rules.to_dict()
        True
        """
        return {
            "average_sizes": [None if math.isnan(size) else size for size in self.average_sizes],
            "categories": list(self.categories),
            "category_values": {
                name: list(values) for name, values in self.category_values.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceRules:
        """Inverse of :meth:`to_dict`."""
        return cls(
            average_sizes=tuple(
                math.nan if size is None else float(size) for size in data["average_sizes"]
            ),
            categories=tuple(str(name) for name in data["categories"]),
            category_values={
                str(name): tuple(int(value) for value in values)
                for name, values in data["category_values"].items()
            },
        )

    @property
    def instance_categories(self) -> tuple[str, ...]:
        """Categories whose classes all have instances, in order of first appearance."""
        found: dict[str, bool] = {}
        for name, size in zip(self.categories, self.average_sizes, strict=True):
            if name:
                found[name] = found.get(name, True) and not math.isnan(size)
        return tuple(name for name, ok in found.items() if ok)


@dataclass(frozen=True)
class InstanceRow:
    """One image's weighted counts (floats) and extra category false positives.

    ``key`` is the image's pairing key (set by the worker, so per-image rows can
    be checked to line up with the image's counts).
    """

    class_tp: np.ndarray
    class_fn: np.ndarray
    category_tp: np.ndarray
    category_fn: np.ndarray
    category_extra_fp: np.ndarray
    key: str = ""


def instance_row(
    instance_ids: np.ndarray,
    gt_classes: np.ndarray,
    pred_classes: np.ndarray,
    pred_raw: np.ndarray | None,
    rules: InstanceRules,
    instance_class: Mapping[int, int],
) -> InstanceRow:
    """Weighted counts of one image.

    Parameters
    ----------
    instance_ids : numpy.ndarray
        The instance map (``label value * 1000 + k``; values below 1000 are no
        instance).
    gt_classes, pred_classes : numpy.ndarray
        Class codes of the ground truth and the prediction (C and above: none).
    pred_raw : numpy.ndarray or None
        The prediction's raw label values when they are label-map values (for
        the category values ignored in evaluation); None for class ids.
    rules : InstanceRules
    instance_class : mapping of int to int
        Raw label value -> class, for the values whose class has instances.

    Examples
    --------
    >>> rules = InstanceRules((float("nan"), 4.0), ("a", "b"))
    >>> ids = np.array([[0, 26001, 26001, 26002]])
    >>> row = instance_row(ids, np.array([[0, 1, 1, 1]]), np.array([[0, 1, 0, 1]]), None,
    ...                    rules, {26: 1})
    >>> row.class_tp.tolist(), row.class_fn.tolist()
    ([0.0, 6.0], [0.0, 2.0])
    """
    num_classes = len(rules.average_sizes)
    names = rules.instance_categories
    class_tp: list[list[float]] = [[] for _ in range(num_classes)]
    class_fn: list[list[float]] = [[] for _ in range(num_classes)]
    category_tp: list[list[float]] = [[] for _ in names]
    category_fn: list[list[float]] = [[] for _ in names]
    in_category = {}
    for k, name in enumerate(names):
        members = np.array([cat == name for cat in rules.categories] + [False, False])
        mask = members[np.minimum(pred_classes, num_classes + 1)]
        extra = rules.category_values.get(name, ())
        if pred_raw is not None and extra:
            mask = mask | np.isin(pred_raw, extra)
        in_category[k] = mask
    ids = np.unique(instance_ids[instance_ids > 1000])
    for instance in ids.tolist():
        label = int(instance) // 1000
        cls = instance_class.get(label)
        if cls is None:
            continue  # a label without instances or ignored in evaluation
        where = instance_ids == instance
        size = int(np.count_nonzero(where))
        weight = rules.average_sizes[cls] / size
        tp = int(np.count_nonzero(pred_classes[where] == cls))
        class_tp[cls].append(tp * weight)
        class_fn[cls].append((size - tp) * weight)
        name = rules.categories[cls] if rules.categories else ""
        if name in names:
            k = names.index(name)
            category_hits = int(np.count_nonzero(in_category[k][where]))
            category_tp[k].append(category_hits * weight)
            category_fn[k].append((size - category_hits) * weight)
    extra_fp = np.zeros(len(names), dtype=np.int64)
    if pred_raw is not None:
        valid = gt_classes < num_classes
        for k, name in enumerate(names):
            extra = rules.category_values.get(name, ())
            if not extra:
                continue
            members = np.array([cat == name for cat in rules.categories] + [False, False])
            other = valid & ~members[np.minimum(gt_classes, num_classes + 1)]
            extra_fp[k] = int(np.count_nonzero(other & np.isin(pred_raw, extra)))
    return InstanceRow(
        class_tp=np.array([math.fsum(v) for v in class_tp]),
        class_fn=np.array([math.fsum(v) for v in class_fn]),
        category_tp=np.array([math.fsum(v) for v in category_tp]),
        category_fn=np.array([math.fsum(v) for v in category_fn]),
        category_extra_fp=extra_fp,
    )


@dataclass(frozen=True)
class InstanceScores:
    """iIoU per class (NaN for classes without instances) and per instance category."""

    class_iiou: np.ndarray
    category_names: tuple[str, ...]
    category_iiou: np.ndarray

    @property
    def miiou(self) -> float:
        """Mean over classes with a defined iIoU."""
        return _nanmean(self.class_iiou)

    @property
    def category_miiou(self) -> float:
        """Mean over instance categories with a defined iIoU."""
        return _nanmean(self.category_iiou)


def _nanmean(values: np.ndarray) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else math.nan


def instance_scores(
    rows: Sequence[InstanceRow],
    class_fp: np.ndarray,
    category_fp: Mapping[str, int],
    rules: InstanceRules,
) -> InstanceScores:
    """iIoU from every image's row and the confusion matrix's false positives.

    Parameters
    ----------
    rows : sequence of InstanceRow
    class_fp : numpy.ndarray
        FP per class from the confusion matrix.
    category_fp : mapping of str to int
        FP per category from the merged confusion matrix (category IoU's FP).
    rules : InstanceRules
    """
    num_classes = len(rules.average_sizes)
    names = rules.instance_categories

    def summed(attribute: str, size: int) -> np.ndarray:
        return np.array(
            [math.fsum(float(getattr(row, attribute)[i]) for row in rows) for i in range(size)]
        )

    class_tp, class_fn = summed("class_tp", num_classes), summed("class_fn", num_classes)
    category_tp, category_fn = summed("category_tp", len(names)), summed("category_fn", len(names))
    extra = np.array(
        [sum(int(row.category_extra_fp[k]) for row in rows) for k in range(len(names))]
    )
    class_iiou = _class_iiou(class_tp, class_fp, class_fn, rules)
    category_iiou = np.full(len(names), math.nan)
    for k, name in enumerate(names):
        denominator = category_tp[k] + float(category_fp[name] + extra[k]) + category_fn[k]
        if denominator > 0:
            category_iiou[k] = category_tp[k] / denominator
    return InstanceScores(class_iiou, names, category_iiou)


def _class_iiou(
    class_tp: np.ndarray, class_fp: np.ndarray, class_fn: np.ndarray, rules: InstanceRules
) -> np.ndarray:
    """w TP / (w TP + FP + w FN) per class; NaN without instances or with nothing to count."""
    class_iiou = np.full(len(rules.average_sizes), math.nan)
    for cls, size in enumerate(rules.average_sizes):
        if math.isnan(size):
            continue
        denominator = float(class_tp[cls]) + float(class_fp[cls]) + float(class_fn[cls])
        if denominator > 0:
            class_iiou[cls] = float(class_tp[cls]) / denominator
    return class_iiou


def image_iiou(row: InstanceRow, class_fp: np.ndarray, rules: InstanceRules) -> InstanceScores:
    """One image's iIoU per class and its mean, the image scored on its own.

    The dataset formula over this image alone: per class, the image's weighted
    TP / (weighted TP + its FP + weighted FN), NaN for a class without instances
    or with none of the three in this image; the mean skips NaN (``miiou``).
    Categories are left out (``category_names`` is empty): their false positives
    need the image's category confusion, which per-image counts do not keep.

    Parameters
    ----------
    row : InstanceRow
        The image's weighted counts.
    class_fp : numpy.ndarray
        The image's FP per class (from its confusion counts).
    rules : InstanceRules

    Examples
    --------
    >>> rules = InstanceRules((float("nan"), 4.0, 2.0))
    >>> row = InstanceRow(np.array([0.0, 6.0, 0.0]), np.array([0.0, 2.0, 0.0]),
    ...                   np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))
    >>> scores = image_iiou(row, np.array([0, 2, 0]), rules)
    >>> scores.class_iiou.tolist(), scores.miiou
    ([nan, 0.6, nan], 0.6)
    """
    class_iiou = _class_iiou(row.class_tp, class_fp, row.class_fn, rules)
    return InstanceScores(class_iiou, (), np.zeros(0))
