"""Calibration of probability maps, streamed as mergeable histograms.

Top-label expected calibration error (Guo et al. 2017): each pixel's confidence
is its largest class probability, its accuracy 1 when that class (the first on
ties, as ``argmax``) is the ground truth. Confidences fall in ``n_bins``
equal-width bins ``(lo, hi]`` (0 goes to the first bin), and

    ECE = sum_b |sum of accuracies in b - sum of confidences in b| / pixels.

Brier score: the mean over pixels of ``sum_c (p_c - onehot_c)^2`` (Brier 1950;
scikit-learn >= 1.7 ``brier_score_loss`` on a probability matrix). For one
channel (binary) it is the mean of ``(p - y)^2``, scikit-learn's binary
``brier_score_loss``, which is half the two-class sum.

Both are sums over pixels, so a :class:`CalibrationHistogram` per image adds up
to the whole set's exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from segeval.loss_report import CalibrationResult

__all__ = ["CalibrationHistogram"]


@dataclass
class CalibrationHistogram:
    """Per-bin pixel count, confidence sum and accuracy sum, plus the Brier sum.

    Parameters
    ----------
    n_bins : int, default 15
        Equal-width confidence bins on [0, 1].

    Examples
    --------
    >>> hist = CalibrationHistogram(n_bins=2)
    >>> hist.update(np.array([[0.9, 0.4], [0.1, 0.6]]), np.array([0, 0]))
    >>> hist.counts.tolist(), round(hist.ece(), 6), round(hist.brier(), 6)
    ([0, 2], 0.25, 0.37)
    """

    n_bins: int = 15
    counts: npt.NDArray[np.int64] = field(init=False)
    confidence_sums: npt.NDArray[np.float64] = field(init=False)
    accuracy_sums: npt.NDArray[np.float64] = field(init=False)
    brier_sum: float = field(init=False, default=0.0)
    pixels: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.counts = np.zeros(self.n_bins, dtype=np.int64)
        self.confidence_sums = np.zeros(self.n_bins, dtype=np.float64)
        self.accuracy_sums = np.zeros(self.n_bins, dtype=np.float64)

    def update(self, probs: npt.NDArray[np.float64], labels: npt.NDArray[Any]) -> None:
        """Add pixels: ``probs`` (C, P) with C >= 2, or (1, P) for binary; ``labels`` (P,)."""
        labels = np.asarray(labels, dtype=np.intp)
        columns = np.arange(labels.shape[0])
        if probs.shape[0] == 1:
            positive = probs[0]
            truth = labels.astype(np.float64)
            predicted = (positive > 1.0 - positive).astype(np.intp)
            confidence = np.maximum(positive, 1.0 - positive)
            self.brier_sum += float(np.sum((positive - truth) ** 2))
        else:
            predicted = np.argmax(probs, axis=0)
            confidence = probs[predicted, columns]
            p_true = probs[labels, columns]
            squares = np.einsum("cp,cp->p", probs, probs) - p_true**2 + (1.0 - p_true) ** 2
            self.brier_sum += float(squares.sum())
        correct = (predicted == labels).astype(np.float64)
        edges = np.linspace(0.0, 1.0, self.n_bins + 1)
        bins = np.searchsorted(edges[1:-1], confidence, side="left")
        self.counts += np.bincount(bins, minlength=self.n_bins)
        self.confidence_sums += np.bincount(bins, weights=confidence, minlength=self.n_bins)
        self.accuracy_sums += np.bincount(bins, weights=correct, minlength=self.n_bins)
        self.pixels += int(labels.shape[0])

    def __add__(self, other: CalibrationHistogram) -> CalibrationHistogram:
        merged = CalibrationHistogram(self.n_bins)
        merged.counts = self.counts + other.counts
        merged.confidence_sums = self.confidence_sums + other.confidence_sums
        merged.accuracy_sums = self.accuracy_sums + other.accuracy_sums
        merged.brier_sum = self.brier_sum + other.brier_sum
        merged.pixels = self.pixels + other.pixels
        return merged

    def result(self) -> CalibrationResult:
        """Summarise: ECE, Brier, and mean confidence and accuracy per bin (NaN if empty)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            confidence = self.confidence_sums / self.counts
            accuracy = self.accuracy_sums / self.counts
        return CalibrationResult(
            ece=self.ece(),
            brier=self.brier(),
            pixels=self.pixels,
            bin_counts=tuple(int(c) for c in self.counts),
            bin_confidence=tuple(float(v) for v in confidence),
            bin_accuracy=tuple(float(v) for v in accuracy),
        )

    def ece(self) -> float:
        """Expected calibration error; NaN without pixels."""
        if self.pixels == 0:
            return float("nan")
        gaps = np.abs(self.accuracy_sums - self.confidence_sums)
        return float(gaps.sum() / self.pixels)

    def brier(self) -> float:
        """Brier score; NaN without pixels."""
        return self.brier_sum / self.pixels if self.pixels else float("nan")
