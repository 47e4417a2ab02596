"""Orchestration of ``segeval loss``: pair score maps with masks, accumulate, report.

:func:`evaluate_losses` pairs a folder of stored scores (``.npy``/``.npz``,
``(C, H, W)``) with a folder of ground-truth masks by the rules of ``score``,
reads each mask as ``score`` does (presets, class definitions and ignore values
through :class:`~segeval.core.labels.LabelMapping`), and feeds each pair to a
:class:`~segeval.losses.LossAccumulator`. Chunks of pairs run on the engine's
executor (threads by default); each chunk returns an accumulator of per-image
statistics, and accumulators merge with ``+`` in input order, so the numbers do
not depend on ``--jobs``.

Memory: a score map is memory-mapped and read in row blocks; what one image
needs beyond that is stated in ``docs/losses.md`` ("Streaming and memory"), and
it is needed once per worker. Both folders may be prefixes in an object store:
the workers read the objects themselves, a score map then whole into memory
(:mod:`segeval.io.scores`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from segeval.core.labels import LabelMapping
from segeval.errors import (
    ChannelCountError,
    LabelRangeError,
    LossMemoryError,
    SegevalError,
    ShapeMismatchError,
    UsageError,
)
from segeval.inputs.pairing import MaskPair, check_pairing, pair_folders
from segeval.io import ReadOptions, read_mask
from segeval.io.scores import read_score_header, read_scores
from segeval.io.storage import Location, RemotePath, location
from segeval.loss_report import LossReport, LossRun
from segeval.losses.accumulator import LossAccumulator, lovasz_budget_message, lovasz_bytes
from segeval.losses.options import LossOptions
from segeval.notices import Notice
from segeval.report import PairingSummary
from segeval.run.engine import ThreadExecutor, WorkerCrash, default_jobs
from segeval.run.options import Execution, ScoreOptions
from segeval.wording import counted

__all__ = ["LossWork", "evaluate_losses", "loss_tasks", "read_target"]

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class LossWork:
    """Everything a worker needs to accumulate a chunk of pairs (picklable).

    Attributes
    ----------
    terms : mapping of str to float
        Loss terms and their weights.
    options : LossOptions
        With ``ignore_index`` set to the mapping's ignore code.
    channels : int
        Channels every score map must have (1: binary).
    calibration : bool
        Also accumulate ECE and Brier histograms.
    gt_read : ReadOptions
        How ground-truth masks are read (colours, lossy, NPZ key, size limit).
    mapping : LabelMapping
        Raw ground-truth value -> class (or the ignore code).
    npz_key : str or None
        Array to take from score ``.npz`` files holding several.
    max_pixels : int or None
        Refuse larger score maps (from the header).
    """

    terms: Mapping[str, float]
    options: LossOptions
    channels: int
    calibration: bool
    gt_read: ReadOptions
    mapping: LabelMapping
    npz_key: str | None = None
    max_pixels: int | None = None

    def new_accumulator(self) -> LossAccumulator:
        """An empty accumulator for these terms and options."""
        return LossAccumulator(
            self.terms,
            num_classes=self.channels,
            options=self.options,
            calibration=self.calibration,
        )


def read_target(path: Location, work: LossWork) -> np.ndarray:
    """A ground-truth mask as class codes: ``0..C-1``, the mapping's ignore code for unlabelled.

    Raises
    ------
    MaskReadError
        The file cannot be read as a label mask.
    LabelRangeError
        A raw value outside the classes and not an ignore value, naming the file.
    """
    raw = read_mask(path, work.gt_read)
    codes = work.mapping.encode(raw)
    if (codes == work.mapping.invalid_code).any():
        found = work.mapping.invalid_value_error("gt", raw)
        error = LabelRangeError(
            f"{path}: {found.message}; pass --num-classes (or class names) matching the "
            "score channels, or --ignore-index for an 'unlabelled' value."
        )
        error.side, error.label, error.pixel_count = "gt", found.label, found.pixel_count
        raise error
    return codes


def loss_tasks(work: LossWork, pairs: Sequence[MaskPair]) -> LossAccumulator:
    """Accumulate a chunk of pairs (what every worker runs); errors name the file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.array([[0, 1]], dtype=np.uint8)).save(root / "a.png")
    >>> np.save(root / "a.npy", np.array([[[2.0, -1.0]], [[0.0, 1.0]]], np.float32))
    >>> work = LossWork({"ce": 1.0}, LossOptions(ignore_index=2), 2, False, ReadOptions(),
    ...                 LabelMapping(2, ignore_values=[255]))
    >>> report = loss_tasks(work, [MaskPair("a", root / "a.png", root / "a.npy")]).result()
    >>> round(report.values["ce"], 6)
    0.126928
    """
    accumulator = work.new_accumulator()
    for pair in pairs:
        assert pair.pred_path is not None  # missing predictions never reach a worker
        target = read_target(pair.gt_path, work)
        scores = read_scores(pair.pred_path, work.npz_key, work.max_pixels)
        if scores.ndim in (2, 3) and scores.shape[-2:] != target.shape:
            raise ShapeMismatchError(
                f"{pair.pred_path}: scores of shape {scores.shape} (C, H, W) do not match "
                f"the ground truth {pair.gt_path} of shape {target.shape} (H, W); store the "
                "scores at the ground-truth resolution, channels first."
            )
        accumulator.add_image(scores, target, name=pair.key, source=str(pair.pred_path))
    return accumulator


def evaluate_losses(
    pred_dir: str | os.PathLike[str] | RemotePath,
    gt_dir: str | os.PathLike[str] | RemotePath,
    terms: Mapping[str, float] | Sequence[str],
    loss_options: LossOptions | None = None,
    options: ScoreOptions | None = None,
    *,
    calibration: bool = False,
    execution: Execution | None = None,
    on_progress: ProgressCallback | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> LossReport:
    """Loss terms and calibration of a folder of stored scores against ground-truth masks.

    Parameters
    ----------
    pred_dir : str, path-like or RemotePath
        Score maps, one ``.npy``/``.npz`` per image: ``(C, H, W)`` float16/32/64
        (``(1, H, W)`` or ``(H, W)``: binary); a folder or a URL prefix.
    gt_dir : str, path-like or RemotePath
        Ground-truth label masks, paired with the scores as ``score`` pairs
        (relative path without extension, suffixes, globs).
    terms : mapping of str to float, or sequence of str
        Loss terms (``ce``, ``bce``, ``focal``, ``dice``, ``jaccard``,
        ``lovasz``, ``boundary``) and their weights in the total.
    loss_options : LossOptions, optional
        Input kind, class weights, smoothing, focal parameters, convention,
        Lovasz mode and budget, calibration bins. Its ``ignore_index`` must be
        None: unlabelled pixels are the ground truth's ignore values.
    options : ScoreOptions, optional
        How the ground truth is read and paired: classes (count, names,
        definition, preset), ignore values, ``binary``, pairing rules,
        ``missing`` (``error`` or ``skip``), ``strict``, reading options.
    calibration : bool, default False
        Also compute the expected calibration error and the Brier score.
    execution : Execution, optional
        Workers and executor (threads on every core by default); never changes a number.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each chunk of pairs.
    storage_options : mapping, optional
        fsspec options for URLs given as strings (endpoint, credentials...).

    Returns
    -------
    LossReport
        With :attr:`~segeval.loss_report.LossReport.run` set.

    Raises
    ------
    SegevalError
        Pairing, reading, shape, channel, value and label problems, naming the file;
        a whole-set Lovasz over its budget (checked from the headers before any work).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for side in ("gt", "logits"):
    ...     (root / side).mkdir()
    >>> Image.fromarray(np.array([[0, 1, 255]], dtype=np.uint8)).save(root / "gt" / "a.png")
    >>> np.save(root / "logits" / "a.npy", np.array([[[2, -1, 0]], [[0, 1, 0]]], np.float32))
    >>> report = evaluate_losses(root / "logits", root / "gt", {"ce": 1.0, "dice": 0.5})
    >>> round(report.values["ce"], 6), report.pixels
    (0.126928, 2)
    """
    started = time.perf_counter()
    pred_dir = location(pred_dir, storage_options)
    gt_dir = location(gt_dir, storage_options)
    loss_options = loss_options or LossOptions()
    options = options or ScoreOptions()
    execution = execution or Execution()
    _check_options(loss_options, options)
    weights = dict(terms) if isinstance(terms, Mapping) else dict.fromkeys(terms, 1.0)
    LossAccumulator(weights, options=loss_options)  # term names, before any file is read
    checked = check_pairing(
        pair_folders(pred_dir, gt_dir, options.pairing),
        gt_dir=gt_dir,
        pred_dir=pred_dir,
        missing=options.missing,
        strict=options.strict,
    )
    pairs = [pair for pair in checked.pairs if pair.pred_path is not None]
    assert pairs[0].pred_path is not None
    first = pairs[0].pred_path
    channels = _channels(read_score_header(first, options.npz_key).shape, first)
    options, mapping = _classes(options, channels, first)
    loss_options = replace(loss_options, ignore_index=mapping.ignore_code)
    work = LossWork(
        weights,
        loss_options,
        channels,
        calibration,
        options.pair_reader().gt_read,
        mapping,
        options.npz_key,
        options.max_pixels,
    )
    try:
        total = work.new_accumulator()
    except UsageError as err:
        raise UsageError(f"{first}: {_channel_phrase(channels)}; {err.message}") from err
    if "lovasz" in weights and not loss_options.lovasz_per_image:
        _check_lovasz_budget(pairs, options.npz_key, loss_options.lovasz_budget_bytes)
    executor = execution.executor or ThreadExecutor(execution.jobs or default_jobs())
    chunks = executor.chunk(pairs)  # the executor's rule (a Dask task takes tens of images)
    done = 0
    for part in executor.run(partial(loss_tasks, work), chunks):
        if isinstance(part, WorkerCrash):
            raise SegevalError(f"{part.message} while computing losses on {pred_dir}.")
        total = total + part
        done += len(part.images)
        if on_progress is not None:
            on_progress(done, len(pairs))
    report = total.result()
    warnings = list(checked.warnings)
    if report.pixels == 0:
        warnings.append(
            Notice(
                "nothing-scored",
                "every ground-truth pixel carries an ignore value: every loss is undefined; "
                "check --ignore-index and the class definition.",
            )
        )
    run = LossRun(
        pred_dir=str(pred_dir),
        gt_dir=str(gt_dir),
        class_names=_class_names(options, channels),
        ignore_values=tuple(sorted(mapping.ignore_values)),
        classes_source=None if options.classes is None else options.classes.source,
        pairing=PairingSummary(
            missing_policy=options.missing,
            missing=len(checked.missing),
            extra=len(checked.extra),
            skipped_files=checked.skipped_files,
            images_digest=_digest(pair.key for pair in pairs),
        ),
        warnings=tuple(warnings),
        elapsed_seconds=time.perf_counter() - started,
    )
    return replace(report, run=run)


def _digest(keys: Iterable[str]) -> str:
    """SHA-256 of the image keys, one per line (as score reports write it)."""
    digest = hashlib.sha256()
    for key in keys:
        digest.update(key.encode("utf-8") + b"\n")
    return digest.hexdigest()


def _check_options(loss_options: LossOptions, options: ScoreOptions) -> None:
    if loss_options.ignore_index is not None:
        raise UsageError(
            "loss_options.ignore_index must be None for folders: unlabelled pixels are the "
            "ground truth's ignore values (ScoreOptions.ignore_index, --ignore-index)."
        )
    if options.missing == "empty":
        raise UsageError(
            "--missing empty scores a missing prediction as predicting nothing, which has no "
            "scores to compute a loss on; use --missing skip (or error)."
        )
    if options.resize_pred:
        raise UsageError("--resize-pred does not apply to scores; store them at full size.")


def _channels(shape: tuple[int, ...], path: Location) -> int:
    if len(shape) not in (2, 3) or 0 in shape:
        raise ShapeMismatchError(
            f"{path}: scores of shape {shape}; expected (C, H, W), or (H, W) for one binary "
            "channel."
        )
    return 1 if len(shape) == 2 else shape[0]


def _channel_phrase(channels: int) -> str:
    return f"scores have {channels} channel{'s' if channels != 1 else ''}"


def _classes(
    options: ScoreOptions, channels: int, first: Location
) -> tuple[ScoreOptions, LabelMapping]:
    """The class count from the scores' channels, checked against the options' own.

    One channel is binary: two classes in the ground truth (0 background, 1
    foreground), one score channel.
    """
    known = options.resolved_num_classes()
    wanted = 2 if channels == 1 else channels
    if known is not None and known != wanted:
        source = "--binary" if options.binary else _class_source(options)
        binary = " (1 channel: binary, 2 classes)" if channels == 1 else ""
        raise ChannelCountError(
            f"{first}: {_channel_phrase(channels)}{binary} but {source} gives "
            f"{counted(known, 'class')}; "
            "expected one channel per class (1 for binary)."
        )
    if known is None:
        options = replace(options, num_classes=wanted)
    return options, options.mapping("gt")


def _class_source(options: ScoreOptions) -> str:
    if options.classes is not None:
        return options.classes.source
    if options.class_names is not None:
        return "--class-names"
    return "--num-classes"


def _class_names(options: ScoreOptions, channels: int) -> tuple[str, ...]:
    names = tuple(options.class_names_for(2 if channels == 1 else channels))
    return names[1:] if channels == 1 else names


def _check_lovasz_budget(pairs: Sequence[MaskPair], npz_key: str | None, budget: int) -> None:
    """Refuse a whole-set Lovasz over its budget before any work, from the headers."""
    needed = 0
    for pair in pairs:
        assert pair.pred_path is not None
        needed += lovasz_bytes(read_score_header(pair.pred_path, npz_key).shape)
        if needed > budget:
            raise LossMemoryError(lovasz_budget_message(str(pair.pred_path), budget))
