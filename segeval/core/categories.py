"""Scores of class groups (Cityscapes categories): the classes of a group merged into one.

A category's pixels are those of its classes: true positives are predictions
of any class of the category on ground truth of any class of it, false
negatives its ground-truth pixels predicted as another category or as no class,
false positives predictions of it on ground truth of another category. This is
the official Cityscapes evaluator's ``getIouScoreForCategory`` computed from
segeval's counts (its ignored labels are segeval's ignore values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segeval.core.metrics import MetricOptions, class_metrics

__all__ = ["CategoryScores", "category_names", "category_scores"]


def category_names(categories: Sequence[str]) -> tuple[str, ...]:
    """The categories in order of first appearance (classes without one are left out).

    Examples
    --------
    >>> category_names(["flat", "flat", "", "sky"])
    ('flat', 'sky')
    """
    return tuple(dict.fromkeys(name for name in categories if name))


@dataclass(frozen=True)
class CategoryScores:
    """Per-category counts and IoU (arrays in :func:`category_names` order)."""

    names: tuple[str, ...]
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    iou: np.ndarray

    @property
    def miou(self) -> float:
        """Mean IoU over categories with a defined IoU (NaN if none)."""
        defined = self.iou[~np.isnan(self.iou)]
        return float(defined.mean()) if defined.size else float("nan")


def category_scores(
    counts: np.ndarray,
    missed: np.ndarray,
    categories: Sequence[str],
    options: MetricOptions | None = None,
) -> CategoryScores:
    """Merge the classes of each category and score the merged counts.

    Parameters
    ----------
    counts : numpy.ndarray of shape (C, C)
        The confusion matrix, rows = ground truth.
    missed : numpy.ndarray of shape (C,)
        Ground-truth pixels predicted as no class (false negatives).
    categories : sequence of str
        One category name per class ("" for a class in none).
    options : MetricOptions, optional
        The undefined-value policies (a category absent from both sides takes
        ``empty``).

    Returns
    -------
    CategoryScores

    Examples
    --------
    >>> counts = np.array([[5, 1, 0], [2, 4, 0], [0, 1, 3]])
    >>> scores = category_scores(counts, np.array([0, 0, 1]), ["flat", "flat", "sky"])
    >>> scores.names, scores.tp.tolist(), scores.fn.tolist(), scores.fp.tolist()
    (('flat', 'sky'), [12, 3], [0, 2], [1, 0])
    >>> scores.iou.tolist()
    [0.9230769230769231, 0.6]
    """
    names = category_names(categories)
    matrix = np.asarray(counts, dtype=np.uint64)
    missed = np.asarray(missed, dtype=np.uint64)
    tp, fp, fn = (np.zeros(len(names), dtype=np.uint64) for _ in range(3))
    labels = np.asarray(categories, dtype=object)
    for index, name in enumerate(names):
        inside = labels == name
        block = matrix[inside][:, inside].sum(dtype=np.uint64)
        tp[index] = block
        fn[index] = (
            matrix[inside].sum(dtype=np.uint64) + missed[inside].sum(dtype=np.uint64) - block
        )
        fp[index] = matrix[~inside][:, inside].sum(dtype=np.uint64)
    iou = class_metrics(tp, fp, fn, options).iou if names else np.zeros(0)
    return CategoryScores(names=names, tp=tp, fp=fp, fn=fn, iou=iou)
