"""Orchestration: pair two folders, read every pair, accumulate, report.

:func:`evaluate` is the library entry point behind ``segeval score``. It never
prints; progress goes to an optional ``on_progress(done, total)`` callback and
per-image rows to an optional :class:`ImageSink`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Protocol

from segeval.boundary_report import BoundaryResults, boundary_results
from segeval.core.confusion import ConfusionMatrix
from segeval.core.metrics import MetricOptions, included_classes
from segeval.core.per_image import ImageCountSpool, ImageMeans, ImageResult, image_results
from segeval.errors import SegevalError
from segeval.inputs.pairing import CheckedPairing, check_pairing, pair_folders
from segeval.notices import Notice
from segeval.report import PairingSummary, Report, build_report
from segeval.run.diagnostics import diagnose_counts, diagnose_folders
from segeval.run.engine import ThreadExecutor, WorkerCrash, chunked, default_jobs
from segeval.run.options import Execution, ScoreOptions
from segeval.run.work import BoundaryRows, ImageTask, Work, count_tasks
from segeval.stats.table import ImageCountTable

__all__ = ["ImageSink", "ProgressCallback", "evaluate", "finish_report"]

ProgressCallback = Callable[[int, int], None]


class ImageSink(Protocol):
    """Receives per-image results (for instance a file writer)."""

    def begin(self, class_names: Sequence[str]) -> None:
        """Called once, with the final class names, before the first row."""

    def write(self, result: ImageResult) -> None:
        """Called once per image, in pairing order (with its boundary values if computed)."""


def evaluate(
    pred_dir: str | Path,
    gt_dir: str | Path,
    options: ScoreOptions | None = None,
    *,
    execution: Execution | None = None,
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
    execution : Execution, optional
        Workers, block size and executor (default: threads on every core).
        Never changes a number.
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` after each pair.
    image_sink : ImageSink, optional
        Receives one :class:`ImageResult` per image when the run ends (images
        are then counted one by one even without ``options.per_image``, which
        alone decides whether the report carries means over images).

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
    execution = execution or Execution()
    started = time.perf_counter()
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    accumulator = options.new_accumulator(execution.chunk_pixels)
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
    # A sink (the HTML report's worst images) needs each image's counts too.
    per_image = options.counts_per_image or image_sink is not None
    work = Work(
        options.pair_reader(), accumulator.copy_empty(), per_image, boundary=options.boundary
    )
    jobs = execution.jobs or default_jobs()
    executor = execution.executor or ThreadExecutor(jobs)
    tasks = [ImageTask(pair.key, pair.gt_path, ((0, pair.pred_path),)) for pair in checked.pairs]
    resized = done = 0
    boundary_rows = BoundaryRows()
    with ImageCountSpool() as spool:
        for result in executor.run(partial(count_tasks, work), chunked(tasks, jobs)):
            if isinstance(result, WorkerCrash):
                raise SegevalError(f"{result.message} while scoring {pred_dir}.")
            if 0 in result.counts:
                accumulator += result.counts[0]
            resized += result.resized.get(0, 0)
            for image in result.images.get(0, []):
                spool.append(*image)
            boundary_rows.add(result, 0)
            done += result.pairs
            if on_progress is not None:
                on_progress(done, len(tasks))
        return finish_report(
            options, accumulator, checked, resized=resized, spool=spool,
            image_sink=image_sink, started=started, notices=diagnose_folders(pred_dir, gt_dir),
            boundary_rows=boundary_rows,
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
    notices: Sequence[Notice] = (),
    boundary_rows: BoundaryRows | None = None,
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
        Per-image counts (read only with ``options.per_image`` or
        ``options.image_counts``).
    image_sink : ImageSink, optional
        Receives the per-image rows (whether or not the report has per-image means).
    started : float
        ``time.perf_counter()`` when the run began.
    notices : sequence of Notice
        Findings made before scoring (they come first in the report).
    boundary_rows : BoundaryRows, optional
        Every pair's boundary statistics (with ``options.boundary``).
    """
    class_names = options.class_names_for(accumulator.num_classes)
    metric_options = options.final_metric_options(class_names)
    boundary = None
    if options.boundary is not None:
        rows = boundary_rows or BoundaryRows()
        boundary = boundary_results(
            options.boundary, accumulator.num_classes, metric_options,
            boundary=rows.boundary, surface=rows.surface, band_widths=sorted(rows.band_widths),
        )  # fmt: skip
    image_means = None
    if options.per_image or image_sink is not None:
        image_means = _image_means(spool, class_names, metric_options, image_sink, boundary)
        if not options.per_image:
            image_means = None  # the rows were for the sink only
    image_counts = None
    if options.image_counts:
        num_classes = len(class_names)
        image_counts = ImageCountTable.from_rows(spool.read(num_classes), num_classes)
    warnings = [*checked.warnings, *notices]
    if resized:
        warnings.append(
            Notice("resized", f"predictions resized to their ground truth's size: {resized}.")
        )
    warnings += diagnose_counts(accumulator, options)
    return build_report(
        accumulator,
        class_names=class_names,
        metric_options=metric_options,
        image_means=image_means,
        image_counts=image_counts,
        boundary=boundary,
        reduce_zero_label=options.reduce_zero_label
        or (options.classes is not None and options.classes.offset == 1),
        convention=options.convention,
        classes_source=None if options.classes is None else options.classes.source,
        class_ids=options.class_ids,
        categories=() if options.classes is None else options.classes.categories,
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
        # The key's bytes as on disk: names that are not UTF-8 carry surrogate escapes.
        digest.update(os.fsencode(key) + b"\n")
    return digest.hexdigest()


def _image_means(
    spool: ImageCountSpool,
    class_names: Sequence[str],
    metric_options: MetricOptions,
    image_sink: ImageSink | None,
    boundary: BoundaryResults | None,
) -> ImageMeans:
    means = ImageMeans(
        included_classes(len(class_names), metric_options), metric_options.empty_mean
    )
    if image_sink is None:
        for result in image_results(spool, len(class_names), metric_options):
            means.add(result)
        return means
    image_sink.begin(class_names)
    boundary_images = iter(()) if boundary is None else boundary.images()
    for result in image_results(spool, len(class_names), metric_options):
        means.add(result)
        image = next(boundary_images, None)
        if image is not None:
            if image.key != result.key:  # both are in scoring order
                raise AssertionError(f"per-image rows out of step: {image.key} vs {result.key}")
            result = replace(result, boundary=image.per_class, boundary_summary=image.summary)
        image_sink.write(result)
    return means
