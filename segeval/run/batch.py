"""Batch scoring: many submissions against one ground truth, ranked.

Work is organised by ground-truth image: a worker reads one ground-truth mask
and counts every submission's prediction for it, so each ground-truth mask is
decoded once per batch rather than once per submission. Each submission
accumulates its own confusion matrix; its report is built exactly as ``score``
builds it (:func:`segeval.run.evaluate.finish_report`), so the numbers agree.

A submission that fails (unsafe archive, missing files, unreadable or wrong-size
masks, labels out of range, even a crashed worker process) is marked invalid
with its first error and an error count, and the batch goes on. Archives are
unpacked by :mod:`segeval.inputs.submissions` into a private temporary folder that is
removed afterwards.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from segeval.core.confusion import ConfusionMatrix
from segeval.core.metrics import REGISTRY
from segeval.core.per_image import ImageCountSpool
from segeval.errors import SegevalError, ThresholdError, UsageError
from segeval.inputs.digest import folder_digest
from segeval.inputs.pairing import (
    CheckedPairing,
    GroundTruthListing,
    check_pairing,
    list_ground_truth,
    pair_with_listing,
)
from segeval.inputs.submissions import Submission, discover_submissions, prepare_submission
from segeval.leaderboard import Leaderboard, SubmissionResult, rank
from segeval.run.batch_store import load_stored, store_result
from segeval.run.engine import ProcessExecutor, WorkerCrash, chunked, default_jobs
from segeval.run.evaluate import finish_report
from segeval.run.options import Execution, ScoreOptions
from segeval.run.work import BoundaryRows, ImageCounts, ImageTask, TaskResult, Work, count_tasks

__all__ = ["BatchOptions", "run_batch"]

#: Default limit on pixels per predicted image (decompression bombs).
DEFAULT_MAX_PIXELS = 100_000_000

#: Default limit on the total uncompressed size of one archive.
DEFAULT_MAX_ARCHIVE_BYTES = 4 * 2**30

BatchProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class BatchOptions:
    """How a batch is scored and ranked.

    Parameters
    ----------
    score : ScoreOptions
        Applied to every submission (classes, presets, pairing, conventions...).
        ``max_pixels`` defaults to :data:`DEFAULT_MAX_PIXELS` for predictions.
    rank_by : str, default "miou"
        A summary metric of the registry.
    max_archive_bytes : int
        Limit on the total uncompressed size of an archive.
    output_dir : pathlib.Path, optional
        Write each submission's full score report there.
    resume : bool, default False
        Reuse reports in ``output_dir`` made with the same settings from the
        same submission content.
    strict : bool, default False
        Predictions without ground truth make a submission invalid (the CLI
        also exits 1 when any submission is invalid).
    execution : Execution
        Worker processes and block size (never changes a number).
    """

    score: ScoreOptions = field(default_factory=ScoreOptions)
    rank_by: str = "miou"
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    output_dir: Path | None = None
    resume: bool = False
    strict: bool = False
    execution: Execution = field(default_factory=Execution)


# ----------------------------------------------------------------- workers


def _run_tasks(
    work: Work, tasks: Sequence[Sequence[ImageTask]], jobs: int, progress: Callable[[int], None]
) -> list[TaskResult]:
    """Count every task in worker processes; isolate submissions if a worker dies."""
    results = []
    outcomes = ProcessExecutor(jobs).run(partial(count_tasks, work), tasks)
    for chunk, result in zip(tasks, outcomes, strict=True):
        results.append(_isolated(work, chunk) if isinstance(result, WorkerCrash) else result)
        progress(sum(len(task.predictions) for task in chunk))
    return results


def _isolated(work: Work, chunk: Sequence[ImageTask]) -> TaskResult:
    """Count a chunk one submission at a time, each in its own process."""
    merged = TaskResult()
    submissions = sorted({index for task in chunk for index, _ in task.predictions})
    for submission in submissions:
        own = [ImageTask(task.key, task.gt_path, _only(task, submission)) for task in chunk]
        (part,) = ProcessExecutor(1).run(partial(count_tasks, work), [own])
        if isinstance(part, WorkerCrash):
            keys = ", ".join(task.key for task in own[:3])
            merged.errors[submission].append(
                f"the worker process crashed while reading this submission's masks "
                f"(among {keys}{', ...' if len(own) > 3 else ''})"
            )
            continue
        merged.counts.update(part.counts)
        merged.images.update(part.images)
        merged.resized.update(part.resized)
        merged.boundary.update(part.boundary)
        merged.surface.update(part.surface)
        merged.band_widths |= part.band_widths
        for index, messages in part.errors.items():
            merged.errors[index].extend(messages)
    return merged


def _only(task: ImageTask, submission: int) -> tuple[tuple[int, Path | None], ...]:
    return tuple(prediction for prediction in task.predictions if prediction[0] == submission)


# --------------------------------------------------------------- the batch


@dataclass
class _Prepared:
    result: SubmissionResult
    submission: Submission
    folder: Path | None = None
    scratch: Path | None = None
    checked: CheckedPairing | None = None


def _relative(message: str, prepared: _Prepared) -> str:
    """Name files as '<submission>/path' rather than by their temporary location."""
    for root in (prepared.folder, prepared.scratch):
        if root is not None:
            message = message.replace(f"{root}/", f"{prepared.result.name}/")
    return message


def _check_rank_metric(name: str, score: ScoreOptions) -> None:
    spec = REGISTRY.get(name)
    if spec is None or spec.per_class:
        valid = ", ".join(n for n, s in REGISTRY.items() if not s.per_class)
        raise ThresholdError(f"--rank-by {name!r}: use a summary metric: {valid}.")
    computed = {
        "--boundary": score.boundary is not None and score.boundary.boundary,
        "--surface-distances": score.boundary is not None and score.boundary.surface,
    }
    if spec.option is not None and not computed[spec.option]:
        raise ThresholdError(f"--rank-by {name}: it is computed with {spec.option}; pass it.")


def run_batch(
    submissions_dir: str | Path,
    gt_dir: str | Path,
    options: BatchOptions | None = None,
    *,
    on_progress: BatchProgress | None = None,
) -> Leaderboard:
    """Score every submission under ``submissions_dir`` against ``gt_dir`` and rank them.

    Parameters
    ----------
    submissions_dir : str or path-like
        One child per submission: a folder or a .zip / .tar / .tar.gz archive.
    gt_dir : str or path-like
        The ground-truth masks (trusted).
    options : BatchOptions, optional
    on_progress : callable, optional
        ``on_progress(done, total)`` in (image, submission) pairs.

    Returns
    -------
    Leaderboard

    Raises
    ------
    SegevalError
        Only for problems of the batch itself (missing folders, unreadable
        ground truth, bad options); a submission's problems make it invalid.
    """
    options = options or BatchOptions()
    started = time.perf_counter()
    _check_rank_metric(options.rank_by, options.score)
    score = options.score
    if score.max_pixels is None:
        score = replace(score, max_pixels=DEFAULT_MAX_PIXELS)
    score = replace(score, strict=options.strict or score.strict)
    submissions_dir, gt_dir = Path(submissions_dir), Path(gt_dir)
    if not submissions_dir.is_dir():
        raise UsageError(f"{submissions_dir}: not a folder; pass a folder of submissions.")
    if options.output_dir is not None:
        options.output_dir.mkdir(parents=True, exist_ok=True)
        for inside in (submissions_dir, gt_dir):
            if options.output_dir.resolve().is_relative_to(inside.resolve()):
                raise UsageError(
                    f"--output-dir {options.output_dir} is inside the input folder {inside}."
                )
    submissions, ignored = discover_submissions(submissions_dir)
    ground_truth = list_ground_truth(gt_dir, score.pairing)
    if not ground_truth.by_key:
        raise UsageError(f"{gt_dir}: no ground-truth mask files found.")
    # Settings and the ground truth's content: replacing the ground truth invalidates --resume.
    digest = score.fingerprint()
    if options.output_dir is not None:
        digest += ":" + folder_digest(gt_dir)
    reader = score.pair_reader()
    reader = replace(reader, gt_read=replace(reader.gt_read, max_pixels=None))  # trusted
    template = score.new_accumulator(options.execution.chunk_pixels)
    work = Work(
        reader, template, score.counts_per_image, record_errors=True, boundary=score.boundary
    )
    # At least one worker process: workers isolate crashes.
    jobs = max(1, options.execution.jobs or default_jobs())

    with tempfile.TemporaryDirectory(prefix="segeval-batch-") as temporary:
        prepared = _prepare_all(submissions, Path(temporary), ground_truth, score, options, digest)
        tasks = chunked(_image_tasks(prepared), jobs)
        total = sum(len(task.predictions) for chunk in tasks for task in chunk)
        done = 0

        def progress(items: int) -> None:
            nonlocal done
            done += items
            if on_progress is not None:
                on_progress(done, total)

        results = _run_tasks(work, tasks, jobs, progress) if tasks else []
        for index, item in enumerate(prepared):
            rows = None
            if item.result.status == "ok" and not item.result.resumed:
                rows = _finish(index, item, results, template, score, started)
            if options.output_dir is not None:
                store_result(
                    item.result, options.output_dir, digest, item.submission.fingerprint(),
                    image_rows=rows if score.per_image else None,
                )  # fmt: skip
    ranked = rank([item.result for item in prepared], options.rank_by)
    return Leaderboard(
        entries=tuple(ranked),
        rank_by=options.rank_by,
        gt_dir=str(gt_dir),
        images=len(ground_truth.by_key),
        ignored_children=tuple(child.name for child in ignored),
        settings_digest=digest,
        elapsed_seconds=time.perf_counter() - started,
    )


def _prepare_all(
    submissions: Sequence[Submission],
    temporary: Path,
    ground_truth: GroundTruthListing,
    score: ScoreOptions,
    options: BatchOptions,
    digest: str,
) -> list[_Prepared]:
    prepared = []
    for number, submission in enumerate(submissions):
        item = _Prepared(SubmissionResult(submission.name, submission.source.name), submission)
        prepared.append(item)
        if (
            options.resume
            and options.output_dir is not None
            and load_stored(item.result, options.output_dir, digest, submission.fingerprint())
        ):
            continue
        item.scratch = temporary / str(number)
        item.scratch.mkdir()
        try:
            item.folder, item.result.skipped_files = prepare_submission(
                submission, item.scratch, options.max_archive_bytes
            )
            pairing = pair_with_listing(item.folder, ground_truth, score.pairing)
            # Files the pairing left out of the submission (the ground truth's are not its own).
            item.result.skipped_files += pairing.skipped_files - ground_truth.skipped
            item.checked = check_pairing(
                pairing,
                gt_dir=Path("ground truth"),
                pred_dir=Path(submission.name),
                missing=score.missing,
                strict=score.strict,
            )
        except SegevalError as err:
            item.result.status, item.result.reason = "invalid", _relative(str(err), item)
            item.result.errors = 1
    return prepared


def _image_tasks(prepared: Sequence[_Prepared]) -> list[ImageTask]:
    """One task per ground-truth image, with every valid submission's prediction of it."""
    by_key: dict[str, tuple[Path, list[tuple[int, Path | None]]]] = {}
    for index, item in enumerate(prepared):
        if item.result.status != "ok" or item.checked is None:
            continue
        for pair in item.checked.pairs:
            by_key.setdefault(pair.key, (pair.gt_path, []))[1].append((index, pair.pred_path))
    return [
        ImageTask(key, gt_path, tuple(predictions))
        for key, (gt_path, predictions) in sorted(by_key.items())
    ]


def _finish(
    index: int,
    item: _Prepared,
    results: Sequence[TaskResult],
    template: ConfusionMatrix,
    score: ScoreOptions,
    started: float,
) -> list[ImageCounts]:
    """Build a submission's report; returns its per-image counts (for --resume)."""
    errors = [message for result in results for message in result.errors.get(index, [])]
    if errors:
        item.result.status = "invalid"
        item.result.reason = _relative(errors[0], item)
        item.result.errors = len(errors)
        return []
    assert item.checked is not None
    accumulator = template.copy_empty()
    rows: list[ImageCounts] = []
    boundary_rows = BoundaryRows()
    with ImageCountSpool() as spool:
        for result in results:
            if index in result.counts:
                accumulator += result.counts[index]
            for image in result.images.get(index, []):
                spool.append(*image)
                rows.append(image)
            boundary_rows.add(result, index)
        resized = sum(result.resized.get(index, 0) for result in results)
        item.result.report = finish_report(
            score, accumulator, item.checked, resized=resized, spool=spool, started=started,
            boundary_rows=boundary_rows,
        )  # fmt: skip
    return rows
