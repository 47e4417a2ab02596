"""Orchestration: pair two folders, read every pair, accumulate, report.

:func:`evaluate` is the library entry point behind ``segeval score``. It never
prints; progress goes to an optional ``on_progress(done, total)`` callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segeval.confusion import DEFAULT_CHUNK_PIXELS, ConfusionMatrix, OutOfRange
from segeval.errors import LabelRangeError, ShapeMismatchError, UsageError
from segeval.io import read_mask
from segeval.metrics import MetricOptions
from segeval.pairing import MaskPair, PairingOptions, check_pairing, pair_folders
from segeval.report import Report, build_report

__all__ = ["ProgressCallback", "ScoreOptions", "evaluate", "score_pair"]

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class ScoreOptions:
    """Everything that shapes a scoring run.

    Parameters
    ----------
    num_classes : int, optional
        Number of classes. Defaults to the number of ``class_names``, else it is
        inferred from the largest label seen.
    class_names : sequence of str, optional
        One name per class.
    ignore_index : sequence of int, default (255,)
        Raw values marking unlabelled ground-truth pixels (dropped).
    metric_options : MetricOptions
        Empty-class policy, zero division, beta, excluded classes.
    out_of_range : {"error", "miss"}, default "error"
        What a prediction outside the classes is.
    pairing : PairingOptions
        How files are found and keyed.
    chunk_pixels : int
        Pixels per row block in the accumulator.
    """

    num_classes: int | None = None
    class_names: Sequence[str] | None = None
    ignore_index: Sequence[int] = (255,)
    metric_options: MetricOptions = field(default_factory=MetricOptions)
    out_of_range: OutOfRange = "error"
    pairing: PairingOptions = field(default_factory=PairingOptions)
    chunk_pixels: int = DEFAULT_CHUNK_PIXELS

    def resolved_num_classes(self) -> int | None:
        """The class count implied by ``num_classes`` and ``class_names``."""
        if self.class_names is None:
            return self.num_classes
        if self.num_classes is not None and self.num_classes != len(self.class_names):
            raise UsageError(
                f"--num-classes {self.num_classes} disagrees with the "
                f"{len(self.class_names)} class names given; drop one or fix the other."
            )
        return len(self.class_names)

    def new_accumulator(self) -> ConfusionMatrix:
        """An empty accumulator configured by these options."""
        return ConfusionMatrix(
            self.resolved_num_classes(),
            ignore_index=self.ignore_index,
            out_of_range=self.out_of_range,
            chunk_pixels=self.chunk_pixels,
        )


def score_pair(pair: MaskPair, accumulator: ConfusionMatrix) -> ConfusionMatrix:
    """Read one pair of masks and add it to the accumulator.

    Parameters
    ----------
    pair : MaskPair
        Ground-truth path and prediction path (``None``: predicts nothing).
    accumulator : ConfusionMatrix
        Updated in place.

    Returns
    -------
    ConfusionMatrix
        The pair's own counts.

    Raises
    ------
    MaskReadError, ShapeMismatchError, LabelRangeError
        With both file names where relevant.
    """
    gt_mask = read_mask(pair.gt_path)
    pred_mask = None if pair.pred_path is None else read_mask(pair.pred_path)
    if pred_mask is not None and pred_mask.shape != gt_mask.shape:
        raise ShapeMismatchError(
            f"{pair.pred_path}: prediction is {_size(pred_mask)} but its ground truth "
            f"{pair.gt_path} is {_size(gt_mask)}; predict at the ground-truth resolution."
        )
    try:
        return accumulator.update(gt_mask, pred_mask)
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
            "check --num-classes, or mark the value with --ignore-index if it means "
            "'no prediction'",
        )
    else:
        path, hint = (
            pair.gt_path,
            "pass --num-classes larger than it, or --ignore-index for an 'unlabelled' value",
        )
    located = LabelRangeError(f"{path}: {err.message}; {hint}.")
    located.side, located.label, located.pixel_count = err.side, err.label, err.pixel_count
    return located


def evaluate(
    pred_dir: str | Path,
    gt_dir: str | Path,
    options: ScoreOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Score a folder of predicted masks against a folder of ground-truth masks.

    Parameters
    ----------
    pred_dir, gt_dir : str or path-like
        Folders of predicted and ground-truth label masks, paired by relative
        path without extension.
    options : ScoreOptions, optional
        Classes, ignore values, metric policies, pairing rules.
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` after each pair.

    Returns
    -------
    Report
        Dataset-level metrics (one confusion matrix over all pixels).

    Raises
    ------
    SegevalError
        Any pairing, reading, shape or label problem, naming the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for side, mask in [("gt", [[0, 1], [1, 1]]), ("pred", [[0, 1], [0, 1]])]:
    ...     (root / side).mkdir()
    ...     Image.fromarray(np.array(mask, dtype=np.uint8)).save(root / side / "a.png")
    >>> report = evaluate(root / "pred", root / "gt")
    >>> round(report.summary["miou"], 4), report.config.num_classes_inferred
    (0.5833, True)
    """
    options = options or ScoreOptions()
    started = time.perf_counter()
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    accumulator = options.new_accumulator()
    pairing = pair_folders(pred_dir, gt_dir, options.pairing)
    pairs = check_pairing(pairing, gt_dir=gt_dir, pred_dir=pred_dir)
    for done, pair in enumerate(pairs, start=1):
        score_pair(pair, accumulator)
        if on_progress is not None:
            on_progress(done, len(pairs))
    return build_report(
        accumulator,
        class_names=options.class_names,
        metric_options=options.metric_options,
        elapsed_seconds=time.perf_counter() - started,
    )
