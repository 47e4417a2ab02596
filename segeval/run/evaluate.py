"""Orchestration: pair two folders, read every pair, accumulate, report.

:func:`evaluate` is the library entry point behind ``segeval score``. It never
prints; progress goes to an optional ``on_progress(done, total)`` callback and
per-image rows to an optional :class:`ImageSink`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from segeval.core.confusion import ConfusionMatrix
from segeval.core.metrics import MetricOptions, included_classes
from segeval.core.per_image import ImageCountSpool, ImageMeans, ImageResult, image_results
from segeval.errors import SegevalError, UsageError
from segeval.inputs.pairing import (
    CheckedPairing,
    MaskPair,
    check_pairing,
    pair_folders,
    pair_instances,
)
from segeval.io.storage import Location, RemotePath, location
from segeval.notices import Notice
from segeval.report import InstanceResults, PairingSummary, Report, build_report
from segeval.run.diagnostics import diagnose_counts, diagnose_folders
from segeval.run.engine import ThreadExecutor, WorkerCrash, default_jobs
from segeval.run.options import Execution, ReportSettings, ScoreOptions
from segeval.run.work import BoundaryRows, ImageTask, Work, count_tasks

if TYPE_CHECKING:  # loaded by the runs that use them (start-up: a plain score does not)
    from segeval.boundary_report import BoundaryResults
    from segeval.core.instances import InstanceRow

__all__ = [
    "Counted",
    "ImageSink",
    "ProgressCallback",
    "count_folders",
    "evaluate",
    "finish_report",
    "images_digest",
    "instance_paths",
    "pairing_summary",
    "report_from_counts",
]

ProgressCallback = Callable[[int, int], None]


class ImageSink(Protocol):
    """Receives per-image results (for instance a file writer)."""

    def begin(self, class_names: Sequence[str]) -> None:
        """Called once, with the final class names, before the first row."""

    def write(self, result: ImageResult) -> None:
        """Called once per image, in pairing order."""


def evaluate(
    pred_dir: str | os.PathLike[str] | RemotePath,
    gt_dir: str | os.PathLike[str] | RemotePath,
    options: ScoreOptions | None = None,
    *,
    execution: Execution | None = None,
    on_progress: ProgressCallback | None = None,
    image_sink: ImageSink | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Report:
    """Score a folder of predicted masks against a folder of ground-truth masks.

    Parameters
    ----------
    pred_dir, gt_dir : str, path-like or RemotePath
        Folders (or object-store URLs such as ``s3://bucket/gt``) of predicted
        and ground-truth label masks, paired by relative path without extension.
    options : ScoreOptions, optional
        Classes, ignore values, metric policies, pairing rules, aggregation.
    execution : Execution, optional
        Workers, block size and executor (default: threads on every core).
        Never changes a number.
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` as tasks of pairs finish.
    image_sink : ImageSink, optional
        Receives one :class:`ImageResult` per image when the run ends (images
        are then counted one by one even without ``options.per_image``, which
        alone decides whether the report carries means over images).
    storage_options : mapping, optional
        fsspec options for URLs (endpoint, credentials): the folders' and the
        instance maps' (``options.gt_instances``); see :mod:`segeval.io.storage`.

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
    with ImageCountSpool() as spool:
        counted = count_folders(
            location(pred_dir, storage_options),
            location(gt_dir, storage_options),
            options,
            spool,
            execution=execution,
            on_progress=on_progress,
            image_counts=image_sink is not None,
            storage_options=storage_options,
        )
        return finish_report(
            options, counted.accumulator, counted.checked, resized=counted.resized, spool=spool,
            image_sink=image_sink, started=started, notices=counted.notices,
            boundary_rows=counted.boundary_rows,
        )  # fmt: skip


@dataclass
class Counted:
    """What counting the pairs of two folders (or one shard of them) produced.

    Attributes
    ----------
    accumulator : ConfusionMatrix
        The counts of the pairs scored.
    checked : CheckedPairing
        The whole pairing of the two folders.
    pairs : tuple of MaskPair
        The pairs scored (all of ``checked.pairs``, or one shard's).
    resized : int
        Predictions resized.
    notices : tuple of Notice
        Findings about the folders, made before scoring.
    boundary_rows : BoundaryRows
        Every pair's boundary statistics (with ``options.boundary``).
    """

    accumulator: ConfusionMatrix
    checked: CheckedPairing
    pairs: tuple[MaskPair, ...]
    resized: int
    notices: tuple[Notice, ...] = ()
    boundary_rows: BoundaryRows = field(default_factory=BoundaryRows)


#: Pick the pairs to score from the whole sorted pairing (a shard's slice).
PairSelector = Callable[[tuple[MaskPair, ...]], tuple[MaskPair, ...]]


def count_folders(
    pred_dir: Location,
    gt_dir: Location,
    options: ScoreOptions,
    spool: ImageCountSpool,
    *,
    execution: Execution | None = None,
    on_progress: ProgressCallback | None = None,
    select: PairSelector | None = None,
    image_counts: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> Counted:
    """Pair two folders and count the pairs (per-image counts go to ``spool``).

    Parameters
    ----------
    pred_dir, gt_dir : Location
    options : ScoreOptions
    spool : ImageCountSpool
        Receives each image's counts in pairing order (with ``options.per_image``).
    execution : Execution, optional
    on_progress : callable, optional
        ``on_progress(done, total)`` in pairs, as tasks finish.
    select : callable, optional
        Chooses the pairs to score from the whole pairing (a shard).
    image_counts : bool, default False
        Spool each image's counts even when the options do not need them (a
        sink of per-image rows does).
    storage_options : mapping, optional
        fsspec options for the instance maps' URL (``options.gt_instances``),
        as the folders' URLs were opened with.

    Returns
    -------
    Counted
    """
    execution = execution or Execution()
    accumulator = options.new_accumulator(execution.chunk_pixels)
    known = options.resolved_num_classes()
    if known is not None:
        # Known classes: check --exclude-class names now rather than after the run.
        options.final_metric_options(options.class_names_for(known))
    # Refused before pairing lists it as ground truth.
    _instance_folder(options, gt_dir, storage_options)
    checked = check_pairing(
        pair_folders(pred_dir, gt_dir, options.pairing),
        gt_dir=gt_dir,
        pred_dir=pred_dir,
        missing=options.missing,
        strict=options.strict,
    )
    pairs = checked.pairs if select is None else select(checked.pairs)
    per_image = options.counts_per_image or image_counts
    work = Work(
        options.pair_reader(), accumulator.copy_empty(), per_image, boundary=options.boundary,
        instances=options.instance_work(),
    )  # fmt: skip
    executor = execution.executor or ThreadExecutor(execution.jobs or default_jobs())
    instances = instance_paths(options, gt_dir, pairs, storage_options)
    tasks = [
        ImageTask(pair.key, pair.gt_path, ((0, pair.pred_path),), instances.get(pair.key))
        for pair in pairs
    ]
    chunks = executor.chunk(tasks)
    resized = done = 0
    boundary_rows = BoundaryRows()

    def finished(index: int) -> None:
        nonlocal done
        done += len(chunks[index])
        if on_progress is not None:
            on_progress(done, len(tasks))

    for result in executor.run(partial(count_tasks, work), chunks, on_done=finished):
        if isinstance(result, WorkerCrash):
            raise SegevalError(f"{result.message} while scoring {pred_dir}.")
        if 0 in result.counts:
            accumulator += result.counts[0]
        resized += result.resized.get(0, 0)
        for image in result.images.get(0, []):
            spool.append(*image)
        boundary_rows.add(result, 0)
    notices = tuple(diagnose_folders(pred_dir, gt_dir))
    return Counted(accumulator, checked, pairs, resized, notices, boundary_rows)


def instance_paths(
    options: ScoreOptions,
    gt_dir: Location,
    pairs: Sequence[MaskPair],
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, Location]:
    """Each ground truth's instance map, by key (empty without ``options.gt_instances``).

    Parameters
    ----------
    options : ScoreOptions
    gt_dir : Location
        The ground truth (the instance maps' folder unless ``gt_instances.folder``).
    pairs : sequence of MaskPair
        The pairs whose ground truth needs its instance map.
    storage_options : mapping, optional
        fsspec options for a ``gt_instances.folder`` given as a URL.

    Raises
    ------
    UsageError
        Instance maps in the ground-truth folder keyed as the ground truth is
        (no suffix tells them apart).
    PairingError
        A ground-truth file without its instance map (named), or two maps for one.
    """
    folder = _instance_folder(options, gt_dir, storage_options)
    if folder is None:
        return {}
    suffix = options.instance_suffix()
    # Looked up by the ground truth's keys: a --gt-glob written for the ground truth's
    # names (*_labelIds.png) must not hide the instance maps.
    return pair_instances(pairs, folder, suffix=suffix, flat=options.pairing.flat)


def _instance_folder(
    options: ScoreOptions, gt_dir: Location, storage_options: Mapping[str, Any] | None = None
) -> Location | None:
    """The folder of the instance maps, refused where they would pass for ground truth."""
    source = options.gt_instances
    if source is None:
        return None
    folder = gt_dir if source.folder is None else location(source.folder, storage_options)
    if str(folder).rstrip("/") == str(gt_dir).rstrip("/") and (
        options.pairing.gt_suffix is None or options.instance_suffix() is None
    ):
        raise UsageError(
            f"{gt_dir}: the instance maps would be keyed like the ground truth in its own "
            "folder; pass --gt-suffix (Cityscapes: _gtFine_labelIds.png) and "
            "--gt-instance-suffix (_gtFine_instanceIds.png), or --gt-instances DIR."
        )
    return folder


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
        ``options.image_counts``, or for a sink).
    image_sink : ImageSink, optional
        Receives the per-image rows (whether or not the report has per-image means).
    started : float
        ``time.perf_counter()`` when the run began.
    notices : sequence of Notice
        Findings made before scoring (they come after the pairing's).
    boundary_rows : BoundaryRows, optional
        Every pair's boundary statistics (with ``options.boundary``).
    """
    return report_from_counts(
        options.report_settings(),
        accumulator,
        pairing=pairing_summary(options, checked, resized),
        warnings=[*checked.warnings, *notices],
        boundary_rows=boundary_rows,
        spool=spool,
        image_sink=image_sink,
        elapsed_seconds=time.perf_counter() - started,
    )


def pairing_summary(options: ScoreOptions, checked: CheckedPairing, resized: int) -> PairingSummary:
    """What the pairing set aside, for the report."""
    return PairingSummary(
        missing_policy=options.missing,
        missing=len(checked.missing),
        extra=len(checked.extra),
        skipped_files=checked.skipped_files,
        resized=resized,
        images_digest=images_digest(pair.key for pair in checked.pairs),
    )


def report_from_counts(
    settings: ReportSettings,
    accumulator: ConfusionMatrix,
    *,
    pairing: PairingSummary,
    warnings: Sequence[Notice],
    spool: ImageCountSpool,
    image_sink: ImageSink | None = None,
    elapsed_seconds: float = 0.0,
    boundary_rows: BoundaryRows | None = None,
) -> Report:
    """The report of counted pairs (one run, or merged shards).

    Parameters
    ----------
    settings : ReportSettings
        Class names, metric policies and what the report records.
    accumulator : ConfusionMatrix
    pairing : PairingSummary
        Its ``resized`` adds a warning.
    warnings : sequence of Notice
        The pairing's warnings and the findings made before scoring; the
        findings from the counts (:func:`~segeval.run.diagnostics.diagnose_counts`)
        follow them.
    spool : ImageCountSpool
        Per-image counts (read with ``settings.per_image`` or
        ``settings.image_counts``, or for a sink).
    image_sink : ImageSink, optional
        Receives the per-image rows (whether or not the report has per-image means).
    elapsed_seconds : float
    boundary_rows : BoundaryRows, optional
        Every pair's boundary statistics (with ``settings.boundary``).
    """
    class_names = settings.names_for(accumulator.num_classes)
    metric_options = settings.metric_options_for(class_names)
    boundary = None
    if settings.boundary is not None:
        from segeval.boundary_report import boundary_results

        rows = boundary_rows or BoundaryRows()
        boundary = boundary_results(
            settings.boundary, accumulator.num_classes, metric_options,
            boundary=rows.boundary, surface=rows.surface, band_widths=sorted(rows.band_widths),
            distance_units=rows.distance_units,
        )  # fmt: skip
    rows = boundary_rows or BoundaryRows()
    instances = (
        None if settings.instances is None else InstanceResults(settings.instances, rows.instances)
    )
    image_means = None
    if settings.per_image or image_sink is not None:
        image_means = _image_means(
            spool, class_names, metric_options, image_sink, boundary, instances
        )
        if not settings.per_image:
            image_means = None  # the rows were for the sink only
    image_counts = None
    if settings.image_counts:
        from segeval.stats.table import ImageCountTable

        num_classes = len(class_names)
        image_counts = ImageCountTable.from_rows(spool.read(num_classes), num_classes)
    all_warnings = list(warnings)
    if pairing.resized:
        all_warnings.append(
            Notice(
                "resized", f"predictions resized to their ground truth's size: {pairing.resized}."
            )
        )
    all_warnings += diagnose_counts(accumulator, settings)
    return build_report(
        accumulator,
        instances=instances,
        class_names=class_names,
        metric_options=metric_options,
        image_means=image_means,
        image_counts=image_counts,
        boundary=boundary,
        reduce_zero_label=settings.reduce_zero_label,
        convention=settings.convention,
        classes_source=settings.classes_source,
        class_ids=settings.class_ids,
        categories=settings.categories,
        pairing=pairing,
        warnings=all_warnings,
        elapsed_seconds=elapsed_seconds,
    )


def images_digest(keys: Iterable[str]) -> str:
    """SHA-256 of image keys, one per line in order (a report's ``images_digest``).

    Examples
    --------
    >>> images_digest(["a", "b"]) == images_digest(iter(["a", "b"]))
    True
    """
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
    instances: InstanceResults | None = None,
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
    instance_rows = iter(()) if instances is None else iter(instances.rows)
    for result in image_results(spool, len(class_names), metric_options):
        means.add(result)
        image = next(boundary_images, None)
        if image is not None:
            if image.key != result.key:  # both are in scoring order
                raise AssertionError(f"per-image rows out of step: {image.key} vs {result.key}")
            result = replace(result, boundary=image.per_class, boundary_summary=image.summary)
        if instances is not None:
            result = _with_image_iiou(result, next(instance_rows, None), instances)
        image_sink.write(result)
    return means


def _with_image_iiou(
    result: ImageResult, row: InstanceRow | None, instances: InstanceResults
) -> ImageResult:
    """The image's row with its own iIoU (its weighted sums and its FP)."""
    if row is None or row.key != result.key or result.fp is None:  # both in scoring order
        found = None if row is None else row.key
        raise AssertionError(f"per-image iIoU rows out of step: {found} vs {result.key}")
    from segeval.core.instances import image_iiou

    scores = image_iiou(row, result.fp, instances.rules)
    return replace(result, iiou=scores.class_iiou, miiou=scores.miiou)
