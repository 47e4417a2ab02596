"""Orchestration: pair two folders, read every pair, accumulate, report.

:func:`evaluate` is the library entry point behind ``segeval score``. It never
prints; progress goes to an optional ``on_progress(done, total)`` callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from segeval.classes import default_class_names, resolve_class
from segeval.confusion import DEFAULT_CHUNK_PIXELS, ConfusionMatrix, OutOfRange
from segeval.errors import LabelRangeError, ShapeMismatchError, UsageError
from segeval.io import read_mask
from segeval.labels import LabelMapping
from segeval.metrics import MetricOptions, counts_from_matrix, included_classes
from segeval.pairing import MaskPair, PairingOptions, check_pairing, pair_folders
from segeval.per_image import ImageCountSpool, ImageMeans, ImageResult, score_images
from segeval.report import Report, build_report

__all__ = ["ImageSink", "ProgressCallback", "ScoreOptions", "evaluate", "score_pair"]

ProgressCallback = Callable[[int, int], None]


class ImageSink(Protocol):
    """Receives per-image results (for instance a file writer)."""

    def begin(self, class_names: Sequence[str]) -> None:
        """Called once, with the final class names, before the first row."""

    def write(self, result: ImageResult) -> None:
        """Called once per image, in pairing order."""


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
        Empty-class policy, zero division, beta (its ``exclude`` is set from
        ``exclude_classes``).
    exclude_classes : sequence of str
        Class names or ids reported but left out of summary means.
    out_of_range : {"error", "miss"}, default "error"
        What a prediction outside the classes is.
    reduce_zero_label : bool, default False
        ADE20K convention, on both sides: 0 is ignored, every other label minus 1.
    per_image : bool, default False
        Also score every image on its own and report means over images.
    convention : str, optional
        Name of the convention preset these options came from (recorded only).
    pairing : PairingOptions
        How files are found and keyed.
    chunk_pixels : int
        Pixels per row block in the accumulator.
    """

    num_classes: int | None = None
    class_names: Sequence[str] | None = None
    ignore_index: Sequence[int] = (255,)
    metric_options: MetricOptions = field(default_factory=MetricOptions)
    exclude_classes: Sequence[str] = ()
    out_of_range: OutOfRange = "error"
    reduce_zero_label: bool = False
    per_image: bool = False
    convention: str | None = None
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
        num_classes = self.resolved_num_classes()
        ignore_values = set(self.ignore_index)
        if self.reduce_zero_label:
            ignore_values.add(0)
        mapping = LabelMapping(
            num_classes or 1, ignore_values=ignore_values, offset=int(self.reduce_zero_label)
        )
        return ConfusionMatrix(
            mapping=mapping,
            infer_num_classes=num_classes is None,
            out_of_range=self.out_of_range,
            chunk_pixels=self.chunk_pixels,
        )

    def final_metric_options(self, class_names: Sequence[str]) -> MetricOptions:
        """Metric options with ``exclude_classes`` resolved against the class names."""
        excluded = frozenset(resolve_class(str(ref), class_names) for ref in self.exclude_classes)
        return replace(self.metric_options, exclude=excluded)


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
            "check --num-classes, or pass --out-of-range miss to count such pixels as "
            "misses of their ground-truth class",
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
    image_sink: ImageSink | None = None,
) -> Report:
    """Score a folder of predicted masks against a folder of ground-truth masks.

    Parameters
    ----------
    pred_dir, gt_dir : str or path-like
        Folders of predicted and ground-truth label masks, paired by relative
        path without extension.
    options : ScoreOptions, optional
        Classes, ignore values, metric policies, pairing rules, aggregation.
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` after each pair.
    image_sink : ImageSink, optional
        With ``options.per_image``, receives one :class:`ImageResult` per image.

    Returns
    -------
    Report
        Dataset-level metrics (one confusion matrix over all pixels), plus the
        means over images when ``options.per_image`` is set.

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
    if options.class_names is not None or options.num_classes is not None:
        # Known classes: check --exclude-class names now rather than after the run.
        options.final_metric_options(_class_names(options, accumulator.mapping.num_classes))
    pairs = check_pairing(
        pair_folders(pred_dir, gt_dir, options.pairing), gt_dir=gt_dir, pred_dir=pred_dir
    )
    with ImageCountSpool() as spool:
        for done, pair in enumerate(pairs, start=1):
            pair_counts = score_pair(pair, accumulator)
            if options.per_image:
                spool.append(pair.key, *counts_from_matrix(pair_counts.counts, pair_counts.missed))
            if on_progress is not None:
                on_progress(done, len(pairs))
        class_names = _class_names(options, accumulator.num_classes)
        metric_options = options.final_metric_options(class_names)
        image_means = None
        if options.per_image:
            image_means = _score_images(spool, class_names, metric_options, image_sink)
    return build_report(
        accumulator,
        class_names=class_names,
        metric_options=metric_options,
        image_means=image_means,
        reduce_zero_label=options.reduce_zero_label,
        convention=options.convention,
        elapsed_seconds=time.perf_counter() - started,
    )


def _class_names(options: ScoreOptions, num_classes: int) -> tuple[str, ...]:
    if options.class_names is not None:
        return tuple(options.class_names)
    return default_class_names(num_classes)


def _score_images(
    spool: ImageCountSpool,
    class_names: Sequence[str],
    metric_options: MetricOptions,
    image_sink: ImageSink | None,
) -> ImageMeans:
    means = ImageMeans(included_classes(len(class_names), metric_options))
    if image_sink is not None:
        image_sink.begin(class_names)
    for result in score_images(spool, len(class_names), metric_options):
        means.add(result)
        if image_sink is not None:
            image_sink.write(result)
    return means
