"""Orchestration: pair two folders, read every pair, accumulate, report.

:func:`evaluate` is the library entry point behind ``segeval score``. It never
prints; progress goes to an optional ``on_progress(done, total)`` callback and
per-image rows to an optional :class:`ImageSink`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from segeval._version import __version__
from segeval.classes import ClassDefinition, default_class_names, resolve_class
from segeval.confusion import DEFAULT_CHUNK_PIXELS, ConfusionMatrix, OutOfRange
from segeval.engine import Work, default_jobs, run_chunks
from segeval.errors import UsageError
from segeval.io import ReadOptions
from segeval.labels import LabelMapping
from segeval.metrics import MetricOptions, included_classes
from segeval.pairing import (
    CheckedPairing,
    MissingPolicy,
    PairingOptions,
    check_pairing,
    pair_folders,
)
from segeval.per_image import ImageCountSpool, ImageMeans, ImageResult, score_images
from segeval.report import PairingSummary, Report, build_report
from segeval.scoring import PairScorer

__all__ = [
    "ClassIds",
    "ImageSink",
    "ProgressCallback",
    "ScoreOptions",
    "evaluate",
    "finish_report",
]

ProgressCallback = Callable[[int, int], None]
ClassIds = Literal["none", "gt", "pred", "both"]


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
        Number of classes. Defaults to the class definition or the number of
        ``class_names``, else it is inferred from the largest label seen.
    class_names : sequence of str, optional
        One name per class (labels are class ids).
    classes : ClassDefinition, optional
        Names, label map, ignore values and colours (``--classes``, ``--preset``).
    class_ids : {"none", "gt", "pred", "both"}, default "none"
        Sides whose masks already hold class ids, so the definition's label map
        is not applied to them (Cityscapes trainIds, ADE20K 0..149).
    ignore_index : sequence of int, optional
        Raw values marking unlabelled pixels; default 255, or the class
        definition's own ignore values.
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
    missing : {"error", "skip", "empty"}, default "error"
        A ground-truth file without prediction: an error, left out, or scored as
        predicting nothing.
    strict : bool, default False
        Predictions without ground truth are an error, not a warning.
    resize_pred : bool, default False
        Resize predictions of another size to the ground truth (nearest neighbour).
    unknown_color : {"error", "ignore"}, default "error"
        A colour missing from the colour table: an error, or unlabelled.
    allow_lossy : bool, default False
        Read JPEG masks (nearest colour).
    npz_key : str, optional
        Array to read from NPZ files holding several.
    max_pixels : int, optional
        Refuse images with more pixels (checked from the header).
    jobs : int, optional
        Worker processes (default: every core this process may use; 1 scores in
        this process, without a pool). Results do not depend on it.
    chunk_pixels : int
        Pixels per row block in the accumulator.
    """

    num_classes: int | None = None
    class_names: Sequence[str] | None = None
    classes: ClassDefinition | None = None
    class_ids: ClassIds = "none"
    ignore_index: Sequence[int] | None = None
    metric_options: MetricOptions = field(default_factory=MetricOptions)
    exclude_classes: Sequence[str] = ()
    out_of_range: OutOfRange = "error"
    reduce_zero_label: bool = False
    per_image: bool = False
    convention: str | None = None
    pairing: PairingOptions = field(default_factory=PairingOptions)
    missing: MissingPolicy = "error"
    strict: bool = False
    resize_pred: bool = False
    unknown_color: Literal["error", "ignore"] = "error"
    allow_lossy: bool = False
    npz_key: str | None = None
    max_pixels: int | None = None
    jobs: int | None = None
    chunk_pixels: int = DEFAULT_CHUNK_PIXELS

    def validate(self) -> None:
        """Raise UsageError for options that contradict each other."""
        if self.classes is not None:
            if self.class_names is not None:
                raise UsageError(
                    "--class-names cannot be combined with --classes or --preset, which "
                    "name the classes themselves."
                )
            if self.num_classes is not None and self.num_classes != self.classes.num_classes:
                raise UsageError(
                    f"--num-classes {self.num_classes} disagrees with the "
                    f"{self.classes.num_classes} classes of {self.classes.source}."
                )
            if self.reduce_zero_label and self.classes.offset != 1:
                raise UsageError(
                    f"--reduce-zero-label cannot be combined with {self.classes.source}, "
                    "whose label map decides the values (the ade20k preset already reduces)."
                )
        elif self.class_ids != "none":
            raise UsageError(
                "--class-ids only applies with --classes or --preset (a label map to skip)."
            )
        elif (
            self.class_names is not None
            and self.num_classes is not None
            and self.num_classes != len(self.class_names)
        ):
            raise UsageError(
                f"--num-classes {self.num_classes} disagrees with the "
                f"{len(self.class_names)} class names given; drop one or fix the other."
            )

    def resolved_num_classes(self) -> int | None:
        """The class count, when known before scoring."""
        if self.classes is not None:
            return self.classes.num_classes
        if self.class_names is not None:
            return len(self.class_names)
        return self.num_classes

    def class_names_for(self, num_classes: int) -> tuple[str, ...]:
        """The class names (defaults for an inferred count)."""
        if self.classes is not None:
            return self.classes.names
        if self.class_names is not None:
            return tuple(self.class_names)
        return default_class_names(num_classes)

    def _holds_class_ids(self, side: str) -> bool:
        return self.class_ids in (side, "both")

    def mapping(self, side: Literal["gt", "pred"]) -> LabelMapping:
        """How raw values of one side become classes."""
        ignore = None if self.ignore_index is None else tuple(self.ignore_index)
        if self.classes is not None:
            return self.classes.mapping(class_ids=self._holds_class_ids(side), ignore=ignore)
        ignore_values = set((255,) if ignore is None else ignore)
        if self.reduce_zero_label:
            ignore_values.add(0)
        return LabelMapping(
            self.resolved_num_classes() or 1,
            ignore_values=ignore_values,
            offset=int(self.reduce_zero_label),
        )

    def new_accumulator(self) -> ConfusionMatrix:
        """An empty accumulator configured by these options."""
        self.validate()
        return ConfusionMatrix(
            mapping=self.mapping("gt"),
            pred_mapping=self.mapping("pred"),
            infer_num_classes=self.resolved_num_classes() is None,
            out_of_range=self.out_of_range,
            chunk_pixels=self.chunk_pixels,
        )

    def _read_options(self, side: Literal["gt", "pred"]) -> ReadOptions:
        colors = None
        if self.classes is not None:
            colors = self.classes.color_table(class_ids=self._holds_class_ids(side))
        return ReadOptions(
            colors=colors,
            unknown_color=self.unknown_color,
            unknown_value=min(self.mapping(side).ignore_values, default=255),
            allow_lossy=self.allow_lossy,
            npz_key=self.npz_key,
            max_pixels=self.max_pixels,
        )

    def pair_scorer(self) -> PairScorer:
        """How each pair is read and aligned."""
        return PairScorer(
            gt_read=self._read_options("gt"),
            pred_read=self._read_options("pred"),
            resize_pred=self.resize_pred,
        )

    def fingerprint(self) -> str:
        """A digest of every option that can change a report's numbers or contents.

        Two runs with equal fingerprints, on the same files, give the same report
        (batch scoring uses it to resume).
        """
        settings = {
            "version": __version__,
            "num_classes": self.num_classes,
            "class_names": None if self.class_names is None else list(self.class_names),
            "classes": None if self.classes is None else self.classes.to_dict(),
            "class_ids": self.class_ids,
            "ignore_index": None if self.ignore_index is None else list(self.ignore_index),
            "metric_options": [
                self.metric_options.empty,
                self.metric_options.zero_division,
                self.metric_options.beta,
            ],
            "exclude_classes": list(self.exclude_classes),
            "out_of_range": self.out_of_range,
            "reduce_zero_label": self.reduce_zero_label,
            "per_image": self.per_image,
            "convention": self.convention,
            "pairing": [
                self.pairing.pred_suffix,
                self.pairing.gt_suffix,
                self.pairing.pred_glob,
                self.pairing.gt_glob,
                self.pairing.flat,
            ],
            "missing": self.missing,
            "strict": self.strict,
            "resize_pred": self.resize_pred,
            "unknown_color": self.unknown_color,
            "allow_lossy": self.allow_lossy,
            "npz_key": self.npz_key,
            "max_pixels": self.max_pixels,
        }
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def final_metric_options(self, class_names: Sequence[str]) -> MetricOptions:
        """Metric options with ``exclude_classes`` resolved against the class names."""
        excluded = frozenset(resolve_class(str(ref), class_names) for ref in self.exclude_classes)
        return replace(self.metric_options, exclude=excluded)


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
    known = options.resolved_num_classes()
    if known is not None:
        # Known classes: check --exclude-class names now rather than after the run.
        options.final_metric_options(options.class_names_for(known))
    checked = check_pairing(
        pair_folders(pred_dir, gt_dir, options.pairing),
        gt_dir=gt_dir,
        pred_dir=pred_dir,
        missing=options.missing,
        strict=options.strict,
    )
    work = Work(options.pair_scorer(), accumulator.copy_empty(), options.per_image)
    jobs = options.jobs or default_jobs()
    resized = done = 0
    with ImageCountSpool() as spool:
        for chunk in run_chunks(work, checked.pairs, jobs):
            accumulator += chunk.counts
            resized += chunk.resized
            for image in chunk.images:
                spool.append(*image)
            done += chunk.pairs
            if on_progress is not None:
                on_progress(done, len(checked.pairs))
        return finish_report(
            options, accumulator, checked, resized=resized, spool=spool,
            image_sink=image_sink, started=started,
        )  # fmt: skip


def finish_report(
    options: ScoreOptions,
    accumulator: ConfusionMatrix,
    checked: CheckedPairing,
    *,
    resized: int,
    spool: ImageCountSpool,
    image_sink: ImageSink | None = None,
    started: float,
) -> Report:
    """The report of a scored folder (shared by ``score`` and ``batch``).

    Parameters
    ----------
    options : ScoreOptions
    accumulator : ConfusionMatrix
        Every pair's counts.
    checked : CheckedPairing
        What was paired, skipped and found extra.
    resized : int
        Predictions resized.
    spool : ImageCountSpool
        Per-image counts (read only with ``options.per_image``).
    image_sink : ImageSink, optional
        Receives the per-image rows.
    started : float
        ``time.perf_counter()`` when the run began.
    """
    class_names = options.class_names_for(accumulator.num_classes)
    metric_options = options.final_metric_options(class_names)
    image_means = None
    if options.per_image:
        image_means = _score_images(spool, class_names, metric_options, image_sink)
    warnings = list(checked.warnings)
    if resized:
        warnings.append(f"predictions resized to their ground truth's size: {resized}.")
    return build_report(
        accumulator,
        class_names=class_names,
        metric_options=metric_options,
        image_means=image_means,
        reduce_zero_label=options.reduce_zero_label
        or (options.classes is not None and options.classes.offset == 1),
        convention=options.convention,
        classes_source=None if options.classes is None else options.classes.source,
        class_ids=options.class_ids,
        pairing=PairingSummary(
            missing_policy=options.missing,
            missing=len(checked.missing),
            extra=len(checked.extra),
            skipped_files=checked.skipped_files,
            resized=resized,
            images_digest=_digest(pair.key for pair in checked.pairs),
        ),
        warnings=warnings,
        elapsed_seconds=time.perf_counter() - started,
    )


def _digest(keys: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for key in keys:
        digest.update(key.encode("utf-8") + b"\n")
    return digest.hexdigest()


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
