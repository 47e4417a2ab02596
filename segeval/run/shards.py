"""Shards: score one slice of a dataset anywhere, merge the slices into one report.

``segeval score ... --shard I/N --save-state part-I.segeval`` scores the I-th
of N slices of the sorted pairing (contiguous, sizes within one image of each
other, the same on every machine that lists the same folders) and saves its
*state*: the exact integer counts, per-image counts with ``--per-image`` or
``--ci``, each image's boundary statistics with ``--boundary`` or
``--surface-distances``, each image's iIoU row with ``--gt-instances``, and
what the report needs besides. ``segeval merge part-*.segeval`` adds the
counts up and puts the per-image rows back in scoring order. Counts are
integers and every float of a row is written with its shortest exact repr
(``"inf"`` and ``null`` for infinite and undefined distances); iIoU's weighted
sums are taken with :func:`math.fsum`, exactly rounded in any order. So the
merged report is the one a single run gives, bit for bit (only
``elapsed_seconds`` differs: the parts' sum).

A state file is JSON: ``{"format", "checksum", "state"}``, where ``checksum``
is the SHA-256 of the canonical JSON of ``state``. Merging refuses a damaged
file, a part made with other settings, folders or segeval version (the
settings fingerprint, :meth:`ScoreOptions.fingerprint`, which covers the
boundary options), other ``--ci`` settings, other instance maps (or none), a
missing or duplicated shard, an image covered twice, and a state file of
another format version, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from segeval._version import __version__
from segeval.core.confusion import ConfusionMatrix
from segeval.core.per_image import ImageCountSpool
from segeval.errors import SegevalError, UsageError
from segeval.inputs.pairing import InstanceSource
from segeval.io.storage import Location, RemotePath, location
from segeval.notices import Notice
from segeval.numbers import json_value, value_from_json
from segeval.outputs.atomic import read_text, write_text_atomic
from segeval.report import PairingSummary, Report
from segeval.run.evaluate import (
    ImageSink,
    ProgressCallback,
    count_folders,
    images_digest,
    pairing_summary,
    report_from_counts,
)
from segeval.run.options import Execution, ReportSettings, ScoreOptions
from segeval.run.work import BoundaryRows
from segeval.wording import counted

if TYPE_CHECKING:  # boundary and iIoU kernels, the bootstrap load only for runs that use them
    from segeval.core.instances import InstanceRow
    from segeval.intervals import IntervalOptions

__all__ = [
    "STATE_FORMAT",
    "Shard",
    "ShardState",
    "StateError",
    "evaluate_shard",
    "load_state",
    "merge_states",
    "save_state",
]

#: The ``format`` of a state file; a new version changes the name. v2 added
#: each image's boundary statistics and the ``--ci`` settings, v3 each image's
#: iIoU row and the instance maps' folder and suffix.
STATE_FORMAT = "segeval/state/v3"


class StateError(SegevalError):
    """A shard state file that is damaged, foreign, missing or duplicated."""


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (1-based) of ``count`` slices of the sorted pairing.

    Examples
    --------
    >>> shard = Shard.parse("2/3")
    >>> [shard.select(tuple(range(7)))], str(shard)
    ([(2, 3)], '2/3')
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise UsageError(
                f"--shard {self.index}/{self.count}: I must be between 1 and N "
                "(shards are numbered from 1)."
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` as a shard."""
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if found is None:
            raise UsageError(f"--shard {text!r}: expected I/N, e.g. 1/4 (the first of 4 shards).")
        return cls(int(found.group(1)), int(found.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, pairs: tuple[Any, ...]) -> tuple[Any, ...]:
        """This shard's contiguous slice of the sorted pairs."""
        start = (self.index - 1) * len(pairs) // self.count
        end = self.index * len(pairs) // self.count
        return pairs[start:end]


@dataclass(frozen=True)
class ShardState:
    """The exact partial statistics of one shard, and what the report needs besides.

    Attributes
    ----------
    shard : Shard
    fingerprint : str
        :meth:`ScoreOptions.fingerprint` of the run (includes the version).
    inputs : dict of str to str
        The prediction and ground-truth folders as given.
    all_images : int
        Images of the whole run (every shard).
    all_images_digest : str
        :func:`~segeval.run.evaluate.images_digest` of every key of the run.
    keys : tuple of str
        The images this shard covered, in order.
    settings : ReportSettings
    pairing : PairingSummary
        The whole pairing's summary; ``resized`` counts this shard's.
    warnings : tuple of Notice
        The pairing's warnings and the findings about the folders.
    counts : ConfusionMatrix
    images : list of (key, tp, fp, fn)
        Per-image counts, with ``settings.per_image`` or ``settings.image_counts``.
    elapsed_seconds : float
    boundary_rows : BoundaryRows
        Each image's boundary statistics, in scoring order (with ``settings.boundary``),
        and its iIoU row (with ``settings.instances``).
    intervals : IntervalOptions, optional
        The run's ``--ci`` settings: :func:`merge_states` adds the intervals.
    instance_maps : InstanceSource, optional
        Where the run's instance maps were (``--gt-instances``: the folder as
        opened, the suffix that keyed them); None without them.
    """

    shard: Shard
    fingerprint: str
    inputs: Mapping[str, str]
    all_images: int
    all_images_digest: str
    keys: tuple[str, ...]
    settings: ReportSettings
    pairing: PairingSummary
    warnings: tuple[Notice, ...]
    counts: ConfusionMatrix
    images: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]
    elapsed_seconds: float
    boundary_rows: BoundaryRows = field(default_factory=BoundaryRows)
    intervals: IntervalOptions | None = None
    instance_maps: InstanceSource | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``state`` object of the file."""
        counts = self.counts
        return {
            "segeval_version": __version__,
            "shard": {"index": self.shard.index, "count": self.shard.count},
            "fingerprint": self.fingerprint,
            "inputs": dict(self.inputs),
            "all_images": self.all_images,
            "all_images_digest": self.all_images_digest,
            "keys": list(self.keys),
            "settings": self.settings.to_dict(),
            "pairing": self.pairing.to_dict(),
            "warnings": [notice.to_dict() for notice in self.warnings],
            "counts": {
                "num_classes_inferred": counts.num_classes_inferred,
                "ignore_values": sorted(counts.ignore_values),
                "out_of_range": counts.out_of_range,
                "matrix": counts.counts.tolist(),
                "missed": counts.missed.tolist(),
                "ignored_pixels": counts.ignored_pixels,
                "pred_ignore_pixels": counts.pred_ignore_pixels,
                "out_of_range_pixels": counts.out_of_range_pixels,
                "num_images": counts.num_images,
            },
            "images": [
                [key, tp.tolist(), fp.tolist(), fn.tolist()] for key, tp, fp, fn in self.images
            ],
            "elapsed_seconds": self.elapsed_seconds,
            "boundary": _rows_to_dict(self.boundary_rows, self.settings, counts.num_classes),
            "intervals": None if self.intervals is None else _intervals_to_dict(self.intervals),
            "instances": _instances_to_dict(self.instance_maps, self.boundary_rows.instances),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardState:
        """Inverse of :meth:`to_dict`."""
        saved = data["counts"]
        size = len(saved["matrix"])
        counts = ConfusionMatrix.from_counts(
            np.array(saved["matrix"], dtype=np.uint64).reshape(size, size),
            np.array(saved["missed"], dtype=np.uint64),
            ignore_index=saved["ignore_values"],
        )
        counts.num_classes_inferred = bool(saved["num_classes_inferred"])
        counts.out_of_range = saved["out_of_range"]
        counts.ignored_pixels = int(saved["ignored_pixels"])
        counts.pred_ignore_pixels = int(saved["pred_ignore_pixels"])
        counts.out_of_range_pixels = int(saved["out_of_range_pixels"])
        counts.num_images = int(saved["num_images"])
        keys = tuple(str(key) for key in data["keys"])
        settings = ReportSettings.from_dict(data["settings"])
        instance_maps, instance_rows = _instances_from_dict(data["instances"], settings, keys)
        boundary_rows = _rows_from_dict(data["boundary"], settings, keys)
        boundary_rows.instances = instance_rows
        return cls(
            shard=Shard(int(data["shard"]["index"]), int(data["shard"]["count"])),
            fingerprint=str(data["fingerprint"]),
            inputs={str(k): str(v) for k, v in data["inputs"].items()},
            all_images=int(data["all_images"]),
            all_images_digest=str(data["all_images_digest"]),
            keys=keys,
            settings=settings,
            pairing=PairingSummary.from_dict(data["pairing"]),
            warnings=tuple(Notice.from_dict(notice) for notice in data["warnings"]),
            counts=counts,
            images=[
                (str(key), _counts(tp), _counts(fp), _counts(fn))
                for key, tp, fp, fn in data["images"]
            ],
            elapsed_seconds=float(data["elapsed_seconds"]),
            boundary_rows=boundary_rows,
            intervals=_intervals_from_dict(data["intervals"]),
            instance_maps=instance_maps,
        )

    def to_text(self) -> str:
        """The state file's content (JSON, checksummed)."""
        state = self.to_dict()
        return json.dumps(
            {"format": STATE_FORMAT, "checksum": _checksum(state), "state": state},
            allow_nan=False,
        )

    @classmethod
    def from_text(cls, text: str, name: str) -> ShardState:
        """Read a state file's content; ``name`` is named in errors.

        Raises
        ------
        StateError
            Not a state file, another format version, a checksum that does not match.
        """
        try:
            document = json.loads(text)
        except ValueError as err:
            raise StateError(f"{name}: not a segeval state file ({err}).") from err
        found = document.get("format") if isinstance(document, dict) else None
        if found != STATE_FORMAT:
            if isinstance(found, str) and re.fullmatch(r"segeval/state/v\d+", found):
                raise StateError(
                    f"{name}: a {found} state file, written by another segeval version; this "
                    f"one reads {STATE_FORMAT} only, so score this shard again with it."
                )
            raise StateError(
                f"{name}: expected a {STATE_FORMAT} state file, found format {found!r}; "
                "write it with 'segeval score --save-state' of this version."
            )
        state = document.get("state")
        if not isinstance(state, dict) or document.get("checksum") != _checksum(state):
            raise StateError(
                f"{name}: the checksum does not match the content; the file is damaged or "
                "was edited, so score this shard again."
            )
        try:
            return cls.from_dict(state)
        except (KeyError, TypeError, ValueError) as err:
            raise StateError(f"{name}: malformed state ({type(err).__name__}: {err}).") from err


def _counts(values: Sequence[int]) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


def _floats_to_json(values: np.ndarray) -> list[float | str | None]:
    """Every value exactly (JSON numbers are Python's round-tripping repr), inf as "inf"."""
    return [json_value(value) for value in values.ravel().tolist()]


def _floats_from_json(values: Sequence[Any], shape: tuple[int, ...]) -> np.ndarray:
    return np.array([value_from_json(value) for value in values], dtype=np.float64).reshape(shape)


def _ints(values: Any, shape: tuple[int, ...], dtype: type[np.integer[Any]]) -> np.ndarray:
    array = np.array(values, dtype=np.int64)
    if array.size != math.prod(shape):
        raise ValueError(f"expected {math.prod(shape)} counts, found {array.size}")
    return array.reshape(shape).astype(dtype)


def _rows_to_dict(
    rows: BoundaryRows, settings: ReportSettings, num_classes: int
) -> dict[str, Any] | None:
    """A shard's boundary rows, padded to its class count (as a run pads them)."""
    options = settings.boundary
    if options is None:
        return None
    from segeval.core.boundary import BoundaryStats, SurfaceStats

    saved: dict[str, Any] = {
        "band_widths": sorted(rows.band_widths),
        "distance_units": sorted(rows.distance_units),
        "classes": num_classes,
    }
    if options.boundary:
        stats = BoundaryStats.concatenate(rows.boundary, num_classes)
        saved["boundary"] = {
            "intersection": stats.intersection.ravel().tolist(),
            "union": stats.union.ravel().tolist(),
            "bf_counts": stats.bf_counts.ravel().tolist(),
        }
    if options.surface:
        surface = (
            SurfaceStats.concatenate(rows.surface, num_classes)
            if rows.surface  # an empty shard's rows still carry the run's tolerance
            else SurfaceStats.empty(num_classes, options.nsd_tolerance)
        )
        saved["surface"] = {
            "nsd_tolerance": surface.nsd_tolerance,
            "values": _floats_to_json(surface.values),
            "status": surface.status.ravel().tolist(),
            "diagonal": _floats_to_json(surface.diagonal),
        }
    return saved


def _rows_from_dict(
    data: Mapping[str, Any] | None, settings: ReportSettings, keys: tuple[str, ...]
) -> BoundaryRows:
    """Inverse of :func:`_rows_to_dict`: one row per key of the shard."""
    options = settings.boundary
    if options is None or data is None:
        if (options is None) != (data is None):
            raise ValueError("boundary statistics do not match the boundary settings")
        return BoundaryRows()
    from segeval.core.boundary import BoundaryStats, SurfaceStats

    num_classes, count = int(data["classes"]), len(keys)
    rows = BoundaryRows(
        band_widths={int(width) for width in data["band_widths"]},
        distance_units={str(unit) for unit in data["distance_units"]},
    )
    if options.boundary:
        saved = data["boundary"]
        rows.boundary.append(
            BoundaryStats(
                num_classes,
                keys,
                _ints(saved["intersection"], (count, num_classes), np.int64),
                _ints(saved["union"], (count, num_classes), np.int64),
                _ints(saved["bf_counts"], (count, num_classes, 4), np.int64),
            )
        )
    if options.surface:
        saved = data["surface"]
        values = saved["values"]
        columns = SurfaceStats.empty(1, 1.0).values.shape[2]  # HD, both HD95s, ASSD, NSD
        rows.surface.append(
            SurfaceStats(
                num_classes,
                float(saved["nsd_tolerance"]),
                keys,
                _floats_from_json(values, (count, num_classes, columns)),
                _ints(saved["status"], (count, num_classes), np.int8),
                _floats_from_json(saved["diagonal"], (count,)),
            )
        )
    return rows


def _instances_to_dict(
    source: InstanceSource | None, rows: Sequence[InstanceRow]
) -> dict[str, Any] | None:
    """The instance maps' folder and suffix, and one iIoU row per image (floats exactly)."""
    if source is None:
        return None
    return {
        "folder": source.folder,
        "suffix": source.suffix,
        "rows": [
            [
                row.key,
                _floats_to_json(row.class_tp),
                _floats_to_json(row.class_fn),
                _floats_to_json(row.category_tp),
                _floats_to_json(row.category_fn),
                row.category_extra_fp.tolist(),
            ]
            for row in rows
        ],
    }


def _instances_from_dict(
    data: Mapping[str, Any] | None, settings: ReportSettings, keys: tuple[str, ...]
) -> tuple[InstanceSource | None, list[InstanceRow]]:
    """Inverse of :func:`_instances_to_dict`: one row per key of the shard, in its order."""
    rules = settings.instances
    if rules is None or data is None:
        if (rules is None) != (data is None):
            raise ValueError("iIoU rows do not match the instance settings")
        return None, []
    from segeval.core.instances import InstanceRow

    num_classes, num_categories = len(rules.average_sizes), len(rules.instance_categories)
    rows = []
    for key, class_tp, class_fn, category_tp, category_fn, extra_fp in data["rows"]:
        rows.append(
            InstanceRow(
                class_tp=_floats_from_json(class_tp, (num_classes,)),
                class_fn=_floats_from_json(class_fn, (num_classes,)),
                category_tp=_floats_from_json(category_tp, (num_categories,)),
                category_fn=_floats_from_json(category_fn, (num_categories,)),
                category_extra_fp=_ints(extra_fp, (num_categories,), np.int64),
                key=str(key),
            )
        )
    if tuple(row.key for row in rows) != keys:
        raise ValueError("the iIoU rows are not one per image of the shard")
    folder, suffix = data["folder"], data["suffix"]
    source = InstanceSource(
        folder=None if folder is None else str(folder),
        suffix=None if suffix is None else str(suffix),
    )
    return source, rows


def _intervals_to_dict(options: IntervalOptions) -> dict[str, Any]:
    return {
        "confidence": options.confidence,
        "n_resamples": options.n_resamples,
        "method": options.method,
        "seed": options.seed,
        "group_by": options.group_by,
        "groups_csv": None if options.groups_csv is None else str(options.groups_csv),
    }


def _intervals_from_dict(data: Mapping[str, Any] | None) -> IntervalOptions | None:
    if data is None:
        return None
    from segeval.intervals import IntervalOptions

    seed, groups_csv = data["seed"], data["groups_csv"]
    return IntervalOptions(
        confidence=float(data["confidence"]),
        n_resamples=int(data["n_resamples"]),
        method=data["method"],
        seed=None if seed is None else int(seed),
        group_by=None if data["group_by"] is None else str(data["group_by"]),
        groups_csv=None if groups_csv is None else Path(groups_csv),
    )


def _checksum(state: Mapping[str, Any]) -> str:
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def evaluate_shard(
    pred_dir: str | os.PathLike[str] | RemotePath,
    gt_dir: str | os.PathLike[str] | RemotePath,
    options: ScoreOptions,
    shard: Shard,
    *,
    execution: Execution | None = None,
    on_progress: ProgressCallback | None = None,
    image_sink: ImageSink | None = None,
    storage_options: Mapping[str, Any] | None = None,
    intervals: IntervalOptions | None = None,
) -> tuple[Report, ShardState]:
    """Score one shard of two folders: its own report, and its state to merge.

    Parameters are those of :func:`~segeval.run.evaluate.evaluate`, plus the
    shard and the ``--ci`` settings, which the state records so that
    :func:`merge_states` adds the intervals of the whole run. The report
    covers the shard's images only and carries no intervals.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from segeval.core.boundary import BoundaryOptions
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for side in ("gt", "pred"):
    ...     (root / side).mkdir()
    ...     for name, value in (("a", 0), ("b", 1), ("c", 1)):
    ...         mask = np.zeros((4, 4), dtype=np.uint8); mask[1:3, 1:3] = value
    ...         Image.fromarray(mask).save(root / side / f"{name}.png")
    >>> options = ScoreOptions(num_classes=2, boundary=BoundaryOptions(surface=True))
    >>> parts = [
    ...     evaluate_shard(root / "pred", root / "gt", options, Shard(i, 2))[1] for i in (1, 2)
    ... ]
    >>> [part.keys for part in parts]
    [('a',), ('b', 'c')]
    >>> merged = merge_states([("1", parts[0]), ("2", parts[1])])
    >>> merged.confusion_matrix.tolist(), merged.boundary.values["hd95"]
    ([[40, 0], [0, 8]], 0.0)
    """
    started = time.perf_counter()
    pred, gt = location(pred_dir, storage_options), location(gt_dir, storage_options)
    with ImageCountSpool() as spool:
        counted = count_folders(
            pred, gt, options, spool, execution=execution, on_progress=on_progress,
            select=shard.select, image_counts=image_sink is not None,
            storage_options=storage_options,
        )  # fmt: skip
        whole = pairing_summary(options, counted.checked, counted.resized)
        own = replace(whole, images_digest=images_digest(pair.key for pair in counted.pairs))
        settings = options.report_settings()
        images = (
            list(spool.read(counted.accumulator.num_classes)) if options.counts_per_image else []
        )
        elapsed = time.perf_counter() - started
        warnings = (*counted.checked.warnings, *counted.notices)
        report = report_from_counts(
            settings, counted.accumulator, pairing=own, warnings=warnings,
            spool=spool, image_sink=image_sink, elapsed_seconds=elapsed,
            boundary_rows=counted.boundary_rows,
        )  # fmt: skip
    state = ShardState(
        shard=shard,
        fingerprint=options.fingerprint(),
        inputs={"pred": str(pred), "gt": str(gt)},
        all_images=len(counted.checked.pairs),
        all_images_digest=whole.images_digest,
        keys=tuple(pair.key for pair in counted.pairs),
        settings=settings,
        pairing=whole,
        warnings=warnings,
        counts=counted.accumulator,
        images=images,
        elapsed_seconds=elapsed,
        boundary_rows=counted.boundary_rows,
        intervals=intervals,
        instance_maps=_instance_maps(options, gt, storage_options),
    )
    return report, state


def _instance_maps(
    options: ScoreOptions, gt: Location, storage_options: Mapping[str, Any] | None
) -> InstanceSource | None:
    """The folder the instance maps were read from and the suffix that keyed them."""
    source = options.gt_instances
    if source is None:
        return None
    folder = gt if source.folder is None else location(source.folder, storage_options)
    return InstanceSource(folder=str(folder), suffix=options.instance_suffix())


def load_state(path: Location) -> ShardState:
    """Read and check one state file (local path or URL).

    Raises
    ------
    StateError
        Missing, damaged or not a state file.
    """
    try:
        text = read_text(path)
    except (OSError, SegevalError) as err:
        raise StateError(f"{path}: cannot read the state file ({err}).") from err
    return ShardState.from_text(text, str(path))


def merge_states(
    parts: Sequence[tuple[str, ShardState]],
    image_sink: ImageSink | None = None,
    *,
    jobs: int = 1,
) -> Report:
    """The report of a whole run from the states of all its shards.

    Parameters
    ----------
    parts : sequence of (name, ShardState)
        Every shard's state, in any order; names are used in errors.
    image_sink : ImageSink, optional
        Receives the per-image rows (runs with per-image scoring).
    jobs : int, default 1
        Threads for the bootstrap of runs scored with ``--ci``; the intervals
        do not depend on it.

    Returns
    -------
    Report
        The report one run gives: counts summed, per-image counts, boundary
        and iIoU rows in scoring order, intervals when the parts record
        ``--ci`` settings.

    Raises
    ------
    StateError
        Parts made with other settings, inputs or instance maps, a missing or
        duplicated shard, an image covered twice or not at all.
    """
    if not parts:
        raise UsageError("merge needs at least one state file.")
    first_name, first = parts[0]
    by_index: dict[int, tuple[str, ShardState]] = {}
    for name, state in parts:
        _check_same_run(name, state, first_name, first)
        if state.shard.index in by_index:
            other = by_index[state.shard.index][0]
            raise StateError(f"{name}: shard {state.shard} is also {other}; pass each shard once.")
        by_index[state.shard.index] = (name, state)
    missing = [index for index in range(1, first.shard.count + 1) if index not in by_index]
    if missing:
        names = ", ".join(f"{index}/{first.shard.count}" for index in missing)
        raise StateError(
            f"shard {names} {'is' if len(missing) == 1 else 'are'} missing: {len(parts)} of "
            f"{first.shard.count} parts given; score {'it' if len(missing) == 1 else 'them'} "
            "with --shard and --save-state, then merge all parts."
        )
    ordered = [by_index[index] for index in sorted(by_index)]
    seen: dict[str, str] = {}
    for name, state in ordered:
        for key in state.keys:
            if key in seen:
                raise StateError(f"{name}: image {key!r} is also covered by {seen[key]}.")
            seen[key] = name
    if images_digest(key for _, state in ordered for key in state.keys) != first.all_images_digest:
        raise StateError(
            f"the parts cover {counted(len(seen), 'image')}, not the {first.all_images} of the run "
            f"they were made from ({first_name}); score the shards again with one listing."
        )
    total = first.counts.copy_empty()
    rows = BoundaryRows()
    for _, state in ordered:
        total += state.counts
        rows.boundary += state.boundary_rows.boundary
        rows.surface += state.boundary_rows.surface
        rows.instances += state.boundary_rows.instances
        rows.band_widths |= state.boundary_rows.band_widths
        rows.distance_units |= state.boundary_rows.distance_units
    resized = sum(state.pairing.resized for _, state in ordered)
    with ImageCountSpool() as spool:
        for _, state in ordered:
            for image in state.images:
                spool.append(*image)
        report = report_from_counts(
            first.settings,
            total,
            pairing=replace(first.pairing, resized=resized),
            warnings=first.warnings,
            spool=spool,
            image_sink=image_sink,
            elapsed_seconds=sum(state.elapsed_seconds for _, state in ordered),
            boundary_rows=rows,
        )
    if first.intervals is not None:
        from segeval.intervals import with_intervals

        report = with_intervals(report, first.intervals, jobs=jobs)
    return report


def _check_same_run(name: str, state: ShardState, first_name: str, first: ShardState) -> None:
    # Before the fingerprint (which covers them too), to say what differs.
    if state.instance_maps != first.instance_maps:
        raise StateError(
            f"{name}: scored {_described(state.instance_maps)}, but {first_name} "
            f"{_described(first.instance_maps)}; score every shard with the same "
            "--gt-instances and --gt-instance-suffix."
        )
    if state.fingerprint != first.fingerprint:
        raise StateError(
            f"{name}: made with other settings than {first_name} (settings digest "
            f"{state.fingerprint[:12]} vs {first.fingerprint[:12]}: options or segeval "
            "version differ); merge parts of one run only."
        )
    if state.intervals != first.intervals:
        raise StateError(
            f"{name}: made with other --ci settings than {first_name}; score every shard "
            "with the same --ci, --bootstrap, --seed, --ci-method and grouping."
        )
    if state.inputs != first.inputs or state.all_images_digest != first.all_images_digest:
        raise StateError(
            f"{name}: made from other folders or images than {first_name} "
            f"({state.inputs['pred']} against {state.inputs['gt']}, "
            f"{counted(state.all_images, 'image')}); merge parts of one run only."
        )
    if state.shard.count != first.shard.count:
        raise StateError(
            f"{name}: shard {state.shard} of a run cut in {state.shard.count}, but "
            f"{first_name} is one of {first.shard.count}; merge parts of one run only."
        )


def _described(source: InstanceSource | None) -> str:
    if source is None:
        return "without instance maps (no --gt-instances)"
    keyed = "their extension" if source.suffix is None else repr(source.suffix)
    return f"with the instance maps of {source.folder} keyed by {keyed}"


def save_state(state: ShardState, path: Location) -> None:
    """Write a state file atomically (local path or URL)."""
    write_text_atomic(path, state.to_text())
