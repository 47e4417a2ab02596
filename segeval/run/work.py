"""The unit of work of every run: read a ground-truth mask, count its predictions.

:class:`PairReader` reads and aligns one pair; :func:`count_tasks` counts a
chunk of :class:`ImageTask` (one ground-truth image, one or several
submissions' predictions of it) into a :class:`TaskResult`. ``score`` and
``batch`` both run it, on the executors of :mod:`segeval.run.engine`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from segeval.core.confusion import ConfusionMatrix
from segeval.core.histogram import RawPairCounts
from segeval.errors import (
    ClassCountError,
    LabelRangeError,
    PredictedIgnoreError,
    SegevalError,
    ShapeMismatchError,
)
from segeval.inputs.pairing import MaskPair
from segeval.io import Geometry, ReadOptions, Volume, read_volume
from segeval.io.resize import resize_nearest
from segeval.io.storage import Location
from segeval.io.volume import DEFAULT_GEOMETRY_TOLERANCE, geometry_mismatch

if TYPE_CHECKING:  # the boundary and iIoU kernels load with the first pair that needs them
    from segeval.core.boundary import BoundaryOptions, BoundaryStats, Reference, SurfaceStats
    from segeval.core.instances import InstanceRow, InstanceRules

__all__ = [
    "BoundaryRows",
    "ImageCounts",
    "ImageTask",
    "InstanceWork",
    "PairReader",
    "TaskResult",
    "Work",
    "count_tasks",
    "merge_results",
]


@dataclass(frozen=True)
class PairReader:
    """How each side of a pair is read and aligned.

    Parameters
    ----------
    gt_read, pred_read : ReadOptions
        Colour tables, lossy input, NPZ key and pixel limit per side.
    resize_pred : bool, default False
        Resize a prediction of another size to its ground truth's size
        (nearest neighbour) instead of stopping with an error (images only).
    trust_gt_geometry : bool, default False
        Volumes: ignore the prediction's spacing and affine and use the
        ground truth's (the shapes must still agree).
    geometry_tolerance : float, default DEFAULT_GEOMETRY_TOLERANCE
        Volumes: the largest difference in spacing (mm) and affine entries at
        which the two grids count as one.
    """

    gt_read: ReadOptions = field(default_factory=ReadOptions)
    pred_read: ReadOptions = field(default_factory=ReadOptions)
    resize_pred: bool = False
    trust_gt_geometry: bool = False
    geometry_tolerance: float = DEFAULT_GEOMETRY_TOLERANCE

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
        gt = read_volume(pair.gt_path, self.gt_read)
        pred_mask, resized = self.read_prediction(pair, gt.labels, gt.geometry)
        return gt.labels, pred_mask, resized

    def read_prediction(
        self, pair: MaskPair, gt_mask: np.ndarray, gt_geometry: Geometry | None = None
    ) -> tuple[np.ndarray | None, bool]:
        """The prediction of a pair at its (already read) ground truth's size.

        Volumes must match their ground truth's grid: shape always, spacing and
        affine too unless ``trust_gt_geometry`` (or one side has no header).

        Returns
        -------
        pred_mask, resized

        Raises
        ------
        MaskReadError, ShapeMismatchError
        """
        if pair.pred_path is None:
            return None, False
        pred = read_volume(pair.pred_path, self.pred_read)
        pred_mask = pred.labels
        volume = gt_geometry is not None or pred.geometry is not None or gt_mask.ndim > 2
        if (volume or pred_mask.ndim != gt_mask.ndim) and pred_mask.shape != gt_mask.shape:
            raise ShapeMismatchError(
                f"{pair.pred_path}: prediction has shape {pred_mask.shape} but its ground "
                f"truth {pair.gt_path} has {gt_mask.shape}; resample the prediction onto the "
                "ground truth's grid (segeval does not resample volumes)."
            )
        if gt_geometry is not None and pred.geometry is not None and not self.trust_gt_geometry:
            mismatch = geometry_mismatch(gt_geometry, pred.geometry, self.geometry_tolerance)
            if mismatch is not None:
                raise ShapeMismatchError(
                    f"{pair.pred_path}: prediction has {mismatch} ({pair.gt_path}), beyond "
                    f"the tolerance {self.geometry_tolerance:g}; save the prediction with its "
                    "ground truth's header, or pass --trust-gt-geometry if only the header "
                    "is wrong."
                )
        if pred_mask.shape == gt_mask.shape:
            return pred_mask, False
        if not self.resize_pred:
            raise ShapeMismatchError(
                f"{pair.pred_path}: prediction is {_size(pred_mask)} but its ground truth "
                f"{pair.gt_path} is {_size(gt_mask)}; predict at the ground-truth resolution "
                "or pass --resize-pred nearest."
            )
        return resize_nearest(pred_mask, gt_mask.shape), True


ImageCounts = tuple[str, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ImageTask:
    """One ground-truth image and each submission's prediction of it.

    ``score`` has one submission (index 0); ``batch`` has one per submission,
    so each ground-truth mask is decoded once for all of them. ``instance_path``
    is the ground truth's instance map (with ``Work.instances``).
    """

    key: str
    gt_path: Location
    predictions: tuple[tuple[int, Location | None], ...]
    instance_path: Location | None = None


@dataclass(frozen=True)
class InstanceWork:
    """What iIoU needs beside the counting (``--gt-instances``).

    Attributes
    ----------
    rules : InstanceRules
        Average instance sizes, categories and category values of the classes.
    instance_class : mapping of int to int
        Raw label value of an instance id (``id // 1000``) -> its class, for the
        classes with instances.
    read : ReadOptions
        How instance maps are read (limits only: they hold ids, never colours).
    pred_raw : bool
        Predictions hold label-map values (not class ids), so the category values
        ignored in evaluation (Cityscapes caravan, trailer) can be seen.
    """

    rules: InstanceRules
    instance_class: Mapping[int, int]
    read: ReadOptions = field(default_factory=ReadOptions)
    pred_raw: bool = False


@dataclass(frozen=True)
class Work:
    """Everything a worker needs to count tasks (picklable for process workers).

    Attributes
    ----------
    reader : PairReader
        How each side is read and aligned.
    template : ConfusionMatrix
        An empty accumulator with the run's mapping and policies.
    per_image : bool
        Also return each image's TP / FP / FN.
    record_errors : bool
        Record a submission's error and go on with the others (batch) instead of
        raising it (score).
    boundary : BoundaryOptions, optional
        Also compute each pair's boundary statistics.
    instances : InstanceWork, optional
        Also compute each pair's iIoU row from its task's instance map.
    """

    reader: PairReader
    template: ConfusionMatrix
    per_image: bool = False
    record_errors: bool = False
    boundary: BoundaryOptions | None = None
    instances: InstanceWork | None = None

    def __post_init__(self) -> None:
        if self.boundary is not None:
            self.boundary.check_dependencies()


@dataclass
class TaskResult:
    """What counting a chunk of image tasks produced, per submission index.

    ``boundary`` and ``surface`` hold one row of boundary statistics per pair
    (with ``Work.boundary``), ``instances`` one iIoU row per pair (with
    ``Work.instances``), in task order: sufficient statistics, a few numbers
    per class, never pixels. ``seconds`` is the time spent reading and
    counting each submission's predictions (batch enforces its per-submission
    time limit with it).
    """

    counts: dict[int, ConfusionMatrix] = field(default_factory=dict)
    images: dict[int, list[ImageCounts]] = field(default_factory=lambda: defaultdict(list))
    resized: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    boundary: dict[int, list[BoundaryStats]] = field(default_factory=lambda: defaultdict(list))
    surface: dict[int, list[SurfaceStats]] = field(default_factory=lambda: defaultdict(list))
    instances: dict[int, list[InstanceRow]] = field(default_factory=lambda: defaultdict(list))
    band_widths: set[int] = field(default_factory=set)
    seconds: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    distance_units: set[str] = field(default_factory=set)
    pairs: int = 0


@dataclass
class BoundaryRows:
    """One submission's boundary and iIoU rows from every task result, in scoring order."""

    boundary: list[BoundaryStats] = field(default_factory=list)
    surface: list[SurfaceStats] = field(default_factory=list)
    band_widths: set[int] = field(default_factory=set)
    distance_units: set[str] = field(default_factory=set)
    instances: list[InstanceRow] = field(default_factory=list)

    def add(self, result: TaskResult, index: int) -> None:
        """Append the rows of submission ``index`` from one task result."""
        self.boundary += result.boundary.get(index, [])
        self.surface += result.surface.get(index, [])
        self.instances += result.instances.get(index, [])
        if index in result.boundary:
            self.band_widths |= result.band_widths
        if index in result.surface:
            self.distance_units |= result.distance_units


def merge_results(first: TaskResult, second: TaskResult) -> TaskResult:
    """``first`` then ``second`` as one result (the combine of a reduction).

    Counts add; per-image rows keep their order (``first``'s, then ``second``'s).

    Examples
    --------
    >>> one, two = TaskResult(pairs=2), TaskResult(pairs=3)
    >>> one.resized[0], two.resized[0] = 1, 1
    >>> merged = merge_results(one, two)
    >>> merged.pairs, dict(merged.resized)
    (5, {0: 2})
    """
    merged = TaskResult(pairs=first.pairs + second.pairs)
    for part in (first, second):
        for index, counts in part.counts.items():
            if index in merged.counts:
                merged.counts[index] += counts
            else:
                merged.counts[index] = counts.copy_empty()
                merged.counts[index] += counts
        for index, images in part.images.items():
            merged.images[index].extend(images)
        for index, resized in part.resized.items():
            merged.resized[index] += resized
        for index, seconds in part.seconds.items():
            merged.seconds[index] += seconds
        for index, messages in part.errors.items():
            merged.errors[index].extend(messages)
        for index, rows in part.boundary.items():
            merged.boundary[index].extend(rows)
        for index, surface_rows in part.surface.items():
            merged.surface[index].extend(surface_rows)
        for index, instance_rows in part.instances.items():
            merged.instances[index].extend(instance_rows)
        merged.band_widths |= part.band_widths
        merged.distance_units |= part.distance_units
    return merged


#: Codes (classes + 2) from which a chunk's uint8 pairs are summed into one raw
#: histogram instead of folded pair by pair. Measured (make bench, counting alone):
#: with 150 classes summing takes 0.32 ms per 512 x 512 pair against 0.44; with 19
#: classes the per-pair fold is a few hundred bins and summing was slower (2.85 ms
#: per 2048 x 1024 pair against 2.58: the 65536-bin table misses the cache).
SUMMED_MIN_CODES = 64


def count_tasks(work: Work, tasks: Sequence[ImageTask]) -> TaskResult:
    """Read and count a chunk of image tasks (what every worker runs).

    Without per-image output and with many classes (:data:`SUMMED_MIN_CODES`),
    the uint8 pairs of the chunk are summed into one raw pair histogram per
    submission and folded through the label tables once
    (:class:`~segeval.core.histogram.RawPairCounts`); any other pair is counted
    on its own. Both give the
    same numbers; a chunk whose sums hold an invalid value is counted again
    pair by pair, so its error names the file exactly as the per-pair path does.

    Parameters
    ----------
    work : Work
    tasks : sequence of ImageTask

    Returns
    -------
    TaskResult
        One summed matrix per submission (never one per pair unless
        ``work.per_image``), so a chunk returns small arrays, never pixels.

    Raises
    ------
    SegevalError
        The first error of a pair, naming its file (unless ``work.record_errors``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("gt.png", "pred.png"):
    ...     Image.fromarray(np.array([[0, 1]], dtype=np.uint8)).save(root / name)
    >>> task = ImageTask("a", root / "gt.png", ((0, root / "pred.png"),))
    >>> result = count_tasks(Work(PairReader(), ConfusionMatrix(2)), [task, task])
    >>> result.counts[0].counts.tolist(), result.pairs
    ([[2, 0], [0, 2]], 2)
    """
    if (
        work.per_image
        or work.boundary is not None
        or work.template.mapping.code_count < SUMMED_MIN_CODES
    ):
        # Each pair's own counts are needed (per-image rows), or its checks must
        # pass before its boundaries are measured, or there are too few classes
        # for the per-pair fold to matter.
        return _count_each_pair(work, tasks)
    sums: dict[int, RawPairCounts] = {}
    try:
        result = _count_each_pair(work, tasks, sums)
        for index, summed in sums.items():
            result.counts[index].add_raw_histogram(summed.histogram(), summed.pairs)
    except Exception:
        if all(_valid(work, sums).values()):
            raise  # the summed pairs are fine: this is the chunk's first error
        # An invalid value among the summed pairs: count them one by one to find
        # the file (and, in batch, to leave out exactly the pairs refused).
        return _count_each_pair(work, tasks)
    return result


def _valid(work: Work, sums: dict[int, RawPairCounts]) -> dict[int, bool]:
    """Whether each submission's summed pairs pass the label checks."""
    valid = {}
    for index, summed in sums.items():
        try:
            work.template.copy_empty().add_raw_histogram(summed.histogram(), summed.pairs)
        except LabelRangeError:
            valid[index] = False
        else:
            valid[index] = True
    return valid


def _count_each_pair(
    work: Work, tasks: Sequence[ImageTask], sums: dict[int, RawPairCounts] | None = None
) -> TaskResult:
    """Count the tasks; with ``sums``, uint8 pairs are only summed into it."""
    result = TaskResult()
    for task in tasks:
        gt = read_volume(task.gt_path, work.reader.gt_read)
        # The ground truth's boundaries, computed once for every submission's prediction;
        # on volumes distances are in millimetres (the header's spacing), on images pixels.
        references = _References(gt.labels, None if gt.geometry is None else gt.geometry.spacing)
        instances = _Instances(task, gt.labels)
        if work.instances is not None and task.predictions:
            # Read before any prediction, outside the per-pair guard: a missing, unreadable
            # or wrong-size instance map is the ground truth's fault and stops the run, like
            # an unreadable ground-truth mask; batch never blames a submission for it.
            instances.ids(work.instances.read)
        for index, pred_path in task.predictions:
            pair = MaskPair(task.key, task.gt_path, pred_path)
            total = result.counts.setdefault(index, work.template.copy_empty())
            started = time.perf_counter()
            try:
                pred_mask = _count_pair(work, pair, gt, total, result, index, sums)
                if work.boundary is not None:
                    _measure_boundaries(
                        work.boundary, pair, pred_mask, total, references, result, index
                    )
                if work.instances is not None:
                    result.instances[index].append(instances.row(work.instances, pred_mask, total))
            except Exception as err:
                if not work.record_errors:
                    raise
                # One submission's failure never stops the others.
                message = (
                    str(err) if isinstance(err, SegevalError) else f"{type(err).__name__}: {err}"
                )
                result.errors[index].append(message)
            result.seconds[index] += time.perf_counter() - started
            result.pairs += 1
    return result


def _count_pair(
    work: Work,
    pair: MaskPair,
    gt: Volume,
    total: ConfusionMatrix,
    result: TaskResult,
    index: int,
    sums: dict[int, RawPairCounts] | None = None,
) -> np.ndarray | None:
    """Count one pair; returns its prediction (None when missing) for the boundary work.

    With ``sums``, a uint8 image pair is only summed into its submission's raw
    histogram (checked when the chunk is folded).
    """
    gt_mask = gt.labels
    pred_mask, resized = work.reader.read_prediction(pair, gt_mask, gt.geometry)
    try:
        # update_case: a volume is one case (one per-image row), never a batch of slices.
        if work.per_image:
            own = total.copy_empty()
            own.update_case(pred_mask, gt_mask)
            total += own
            result.images[index].append((pair.key, *own.tp_fp_fn()))
        elif sums is not None and pred_mask is not None and _summable(gt_mask, pred_mask):
            summed = sums.get(index)
            if summed is None:
                summed = sums[index] = RawPairCounts(total.chunk_pixels)
            summed.add(gt_mask, pred_mask)
        else:
            total.update_case(pred_mask, gt_mask)
    except LabelRangeError as err:
        raise _locate(err, pair) from err
    result.resized[index] += resized
    return pred_mask


class _References:
    """One ground-truth image's prepared boundaries, by class count.

    The class count is fixed for a run except when it is inferred, where a later
    prediction may grow it; the reference is then prepared again.
    """

    def __init__(self, gt_mask: np.ndarray, spacing: tuple[float, ...] | None = None) -> None:
        self.gt_mask = gt_mask
        self.spacing = spacing
        self._by_classes: dict[int, Reference] = {}

    def get(self, total: ConfusionMatrix) -> Reference:
        from segeval.core.boundary import prepare_reference

        num_classes = total.num_classes
        if num_classes not in self._by_classes:
            # Codes C (ignore) and C + 1 (out of range: the counting already
            # refused it, or made it a miss) are "no class" for boundaries.
            self._by_classes[num_classes] = prepare_reference(
                total.mapping.encode(self.gt_mask),
                num_classes,
                ignore_values=(num_classes, num_classes + 1),
                spacing=self.spacing,
            )
        return self._by_classes[num_classes]


class _Instances:
    """One ground-truth image's instance map, read once for every submission's prediction."""

    def __init__(self, task: ImageTask, gt_mask: np.ndarray) -> None:
        self.task = task
        self.gt_mask = gt_mask
        self._ids: np.ndarray | None = None

    def ids(self, read: ReadOptions) -> np.ndarray:
        if self._ids is None:
            path = self.task.instance_path
            if path is None:
                raise SegevalError(
                    f"{self.task.gt_path}: no instance map was paired with this ground truth; "
                    "pass --gt-instances."
                )
            ids = read_volume(path, read).labels
            if ids.shape != self.gt_mask.shape:
                raise ShapeMismatchError(
                    f"{path}: instance map has shape {ids.shape} but its ground truth "
                    f"{self.task.gt_path} has {self.gt_mask.shape}; pair each ground truth with "
                    "its own instance map (--gt-instances, --gt-instance-suffix)."
                )
            self._ids = ids
        return self._ids

    def row(
        self, options: InstanceWork, pred_mask: np.ndarray | None, total: ConfusionMatrix
    ) -> InstanceRow:
        """The iIoU row of one prediction of this image (a missing one predicts nothing)."""
        ids = self.ids(options.read)
        gt_classes = total.mapping.encode(self.gt_mask)
        if pred_mask is None:
            pred_classes = np.full(ids.shape, total.num_classes, dtype=np.int64)
        else:
            pred_classes = total.pred_mapping.encode(pred_mask)
        from segeval.core.instances import instance_row

        pred_raw = pred_mask if options.pred_raw else None
        row = instance_row(
            ids, gt_classes, pred_classes, pred_raw, options.rules, options.instance_class
        )
        return replace(row, key=self.task.key)


def _measure_boundaries(
    options: BoundaryOptions,
    pair: MaskPair,
    pred_mask: np.ndarray | None,
    total: ConfusionMatrix,
    references: _References,
    result: TaskResult,
    index: int,
) -> None:
    """Boundary statistics of a pair the confusion matrix has just accepted."""
    from segeval.core.boundary import boundary_stats, prepare_prediction, surface_stats

    reference = references.get(total)
    num_classes = reference.num_classes
    if pred_mask is None:  # --missing empty: the prediction holds no class anywhere
        pred_codes = np.full(reference.shape, num_classes, dtype=reference.gt.codes.dtype)
    else:
        pred_codes = total.pred_mapping.encode(pred_mask)
    prediction = prepare_prediction(reference, pred_codes)
    if options.boundary:
        width = options.band_width(reference.shape)
        result.band_widths.add(width)
        result.boundary[index].append(
            boundary_stats(
                reference,
                prediction,
                width=width,
                bf_fraction=options.bf_fraction,
                key=pair.key,
            )
        )
    if options.surface:
        # Volumes with a header measure in millimetres; images and bare arrays in pixels.
        result.distance_units.add("pixels" if references.spacing is None else "mm")
        result.surface[index].append(
            surface_stats(reference, prediction, nsd_tolerance=options.nsd_tolerance, key=pair.key)
        )


def _summable(gt_mask: np.ndarray, pred_mask: np.ndarray) -> bool:
    """A pair the chunk-summed path counts: two uint8 masks of one 2-D shape."""
    return (
        gt_mask.dtype == pred_mask.dtype == np.uint8
        and gt_mask.ndim == 2
        and gt_mask.shape == pred_mask.shape
    )


def _size(mask: np.ndarray) -> str:
    height, width = mask.shape[:2]
    return f"{width}x{height} (width x height)"


def _locate(err: LabelRangeError, pair: MaskPair) -> LabelRangeError:
    """Prefix a label error with the offending file and say what to do."""
    if isinstance(err, ClassCountError):  # says what to do already
        path = pair.pred_path if err.side == "pred" else pair.gt_path
        located: LabelRangeError = ClassCountError(f"{path}: {err.message}.")
        located.side, located.label = err.side, err.label
        return located
    if isinstance(err, PredictedIgnoreError):
        path, hint = (
            pair.pred_path,
            "--pred-ignore error (set by --convention torchmetrics, whose MulticlassJaccardIndex "
            "puts such a pixel in another class's cell or fails) refuses it; pass "
            "--pred-ignore miss to count it as a miss of its ground-truth class",
        )
    elif err.side == "pred":
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
    located = type(err)(f"{path}: {err.message}; {hint}.")
    located.side, located.label, located.pixel_count = err.side, err.label, err.pixel_count
    return located
