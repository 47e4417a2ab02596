"""Read one mask pair, align it, and count it: the unit of work of every run.

A :class:`PairScorer` is small and picklable, so the same object drives the
in-process loop, parallel workers and batch scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from segeval.confusion import ConfusionMatrix
from segeval.errors import LabelRangeError, ShapeMismatchError
from segeval.io import ReadOptions, read_mask
from segeval.io.resize import resize_nearest
from segeval.pairing import MaskPair

__all__ = ["PairScorer", "ScoredPair"]


@dataclass(frozen=True)
class ScoredPair:
    """How one pair was read, and its own counts when they were asked for."""

    counts: ConfusionMatrix | None
    resized: bool


@dataclass(frozen=True)
class PairScorer:
    """How each side of a pair is read and aligned.

    Parameters
    ----------
    gt_read, pred_read : ReadOptions
        Colour tables, lossy input, NPZ key and pixel limit per side.
    resize_pred : bool, default False
        Resize a prediction of another size to its ground truth's size
        (nearest neighbour) instead of stopping with an error.
    """

    gt_read: ReadOptions = field(default_factory=ReadOptions)
    pred_read: ReadOptions = field(default_factory=ReadOptions)
    resize_pred: bool = False

    def read(self, pair: MaskPair) -> tuple[np.ndarray, np.ndarray | None, bool]:
        """Both masks of a pair, the prediction at the ground truth's size.

        Returns
        -------
        gt_mask, pred_mask, resized
            ``pred_mask`` is ``None`` when the prediction is missing.

        Raises
        ------
        MaskReadError, ShapeMismatchError
        """
        gt_mask = read_mask(pair.gt_path, self.gt_read)
        pred_mask, resized = self.read_prediction(pair, gt_mask)
        return gt_mask, pred_mask, resized

    def read_prediction(
        self, pair: MaskPair, gt_mask: np.ndarray
    ) -> tuple[np.ndarray | None, bool]:
        """The prediction of a pair at its (already read) ground truth's size.

        Returns
        -------
        pred_mask, resized

        Raises
        ------
        MaskReadError, ShapeMismatchError
        """
        if pair.pred_path is None:
            return None, False
        pred_mask = read_mask(pair.pred_path, self.pred_read)
        if pred_mask.shape == gt_mask.shape:
            return pred_mask, False
        if not self.resize_pred:
            raise ShapeMismatchError(
                f"{pair.pred_path}: prediction is {_size(pred_mask)} but its ground truth "
                f"{pair.gt_path} is {_size(gt_mask)}; predict at the ground-truth resolution "
                "or pass --resize-pred nearest."
            )
        return resize_nearest(pred_mask, gt_mask.shape), True

    def score(
        self, pair: MaskPair, accumulator: ConfusionMatrix, *, own_counts: bool = True
    ) -> ScoredPair:
        """Read a pair and add it to ``accumulator``.

        Parameters
        ----------
        pair : MaskPair
        accumulator : ConfusionMatrix
            Updated in place.
        own_counts : bool, default True
            Also return the pair's own matrix (for per-image results).

        Raises
        ------
        MaskReadError, ShapeMismatchError, LabelRangeError
            Naming the file(s).
        """
        gt_mask = read_mask(pair.gt_path, self.gt_read)
        return self.score_prediction(pair, gt_mask, accumulator, own_counts=own_counts)

    def score_prediction(
        self,
        pair: MaskPair,
        gt_mask: np.ndarray,
        accumulator: ConfusionMatrix,
        *,
        own_counts: bool = True,
    ) -> ScoredPair:
        """Read a pair's prediction and count it against an already read ground truth.

        Batch scoring reads each ground-truth mask once and calls this for every
        submission.
        """
        pred_mask, resized = self.read_prediction(pair, gt_mask)
        try:
            if not own_counts:
                accumulator.update(pred_mask, gt_mask)
                return ScoredPair(None, resized)
            own = accumulator.copy_empty()
            own.update(pred_mask, gt_mask)
            accumulator += own
            return ScoredPair(own, resized)
        except LabelRangeError as err:
            raise _locate(err, pair) from err


def _size(mask: np.ndarray) -> str:
    height, width = mask.shape[:2]
    return f"{width}x{height} (width x height)"


def _locate(err: LabelRangeError, pair: MaskPair) -> LabelRangeError:
    """Prefix a label error with the offending file and say what to do."""
    if err.side == "pred":
        path, hint = (
            pair.pred_path,
            "check --num-classes, or pass --out-of-range miss to count such pixels as "
            "misses of their ground-truth class",
        )
    else:
        path, hint = (
            pair.gt_path,
            "pass --num-classes larger than it, or --ignore-index for an "
            "'unlabelled' value (segeval inspect shows every value in a folder)",
        )
    located = LabelRangeError(f"{path}: {err.message}; {hint}.")
    located.side, located.label, located.pixel_count = err.side, err.label, err.pixel_count
    return located
