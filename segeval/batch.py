"""Batch scoring: many submissions against one ground truth, ranked.

Work is organised by ground-truth image: a worker reads one ground-truth mask
and counts every submission's prediction for it, so each ground-truth mask is
decoded once per batch rather than once per submission. Each submission
accumulates its own confusion matrix; its report is built exactly as ``score``
builds it (:func:`segeval.evaluate.finish_report`), so the numbers agree.

A submission that fails (unsafe archive, missing files, unreadable or wrong-size
masks, labels out of range, even a crashed worker process) is marked invalid
with its first error and an error count, and the batch goes on. Archives are
unpacked by :mod:`segeval.submissions` into a private temporary folder that is
removed afterwards.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from segeval.atomic import write_text_atomic
from segeval.confusion import ConfusionMatrix
from segeval.engine import ImageCounts, default_jobs, tune_allocator
from segeval.errors import SegevalError, ThresholdError, UsageError
from segeval.evaluate import ScoreOptions, finish_report
from segeval.io import read_mask
from segeval.metrics import REGISTRY, counts_from_matrix
from segeval.pairing import (
    CheckedPairing,
    GroundTruthListing,
    MaskPair,
    check_pairing,
    list_ground_truth,
    pair_with_listing,
)
from segeval.per_image import ImageCountSpool
from segeval.report import Report
from segeval.scoring import PairScorer
from segeval.submissions import Submission, discover_submissions, prepare_submission

__all__ = [
    "BATCH_SCHEMA",
    "BatchOptions",
    "Entry",
    "Leaderboard",
    "run_batch",
]

#: Schema name of the leaderboard JSON.
BATCH_SCHEMA = "segeval/batch/v1"

#: Summary metrics that break ties, in order, after the ranking metric.
TIE_BREAKERS = ("miou", "mdice", "pixel_accuracy", "mean_accuracy", "fwiou")

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
    """

    score: ScoreOptions = field(default_factory=ScoreOptions)
    rank_by: str = "miou"
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    output_dir: Path | None = None
    resume: bool = False
    strict: bool = False


@dataclass
class Entry:
    """One submission's line of the leaderboard."""

    name: str
    source: str
    status: Literal["ok", "invalid"] = "ok"
    report: Report | None = None
    reason: str = ""
    errors: int = 0
    skipped_files: int = 0
    resumed: bool = False
    rank: int | None = None

    def to_dict(self, metrics: Sequence[str]) -> dict[str, Any]:
        """JSON-ready form (headline metrics, null when invalid or undefined)."""
        values: dict[str, float | None] = {}
        for name in metrics:
            value = math.nan if self.report is None else self.report.summary.get(name, math.nan)
            values[name] = None if math.isnan(value) else value
        return {
            "rank": self.rank,
            "name": self.name,
            "source": self.source,
            "status": self.status,
            "metrics": values,
            "reason": self.reason or None,
            "errors": self.errors,
            "skipped_files": self.skipped_files,
            "resumed": self.resumed,
        }


@dataclass(frozen=True)
class Leaderboard:
    """The ranked result of a batch."""

    entries: tuple[Entry, ...]
    rank_by: str
    gt_dir: str
    images: int
    ignored_children: tuple[str, ...]
    settings_digest: str
    elapsed_seconds: float

    @property
    def metrics(self) -> tuple[str, ...]:
        """The headline metrics shown for every submission."""
        return tuple(dict.fromkeys((self.rank_by, *TIE_BREAKERS[:3])))

    @property
    def invalid(self) -> tuple[Entry, ...]:
        """Submissions that could not be scored."""
        return tuple(entry for entry in self.entries if entry.status == "invalid")

    def to_dict(self) -> dict[str, Any]:
        """The leaderboard JSON document (schema ``segeval/batch/v1``)."""
        from segeval._version import __version__

        return {
            "schema": BATCH_SCHEMA,
            "segeval_version": __version__,
            "gt_dir": self.gt_dir,
            "images": self.images,
            "rank_by": self.rank_by,
            "metrics": list(self.metrics),
            "settings_digest": self.settings_digest,
            "submissions": [entry.to_dict(self.metrics) for entry in self.entries],
            "ignored_children": list(self.ignored_children),
            "elapsed_seconds": self.elapsed_seconds,
        }


# ----------------------------------------------------------------- workers


@dataclass(frozen=True)
class _Work:
    scorer: PairScorer
    template: ConfusionMatrix
    per_image: bool


# One ground-truth image and, for each submission, its prediction of it.
_Task = list[tuple[str, Path, list[tuple[int, Path | None]]]]


@dataclass
class _ChunkResult:
    counts: dict[int, ConfusionMatrix] = field(default_factory=dict)
    images: dict[int, list[ImageCounts]] = field(default_factory=lambda: defaultdict(list))
    resized: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))


def _score_task(work: _Work, task: _Task) -> _ChunkResult:
    """Read each ground-truth mask once and count every submission against it."""
    result = _ChunkResult()
    for key, gt_path, predictions in task:
        gt_mask = read_mask(gt_path, work.scorer.gt_read)  # the ground truth is trusted
        for index, pred_path in predictions:
            pair = MaskPair(key, gt_path, pred_path)
            total = result.counts.setdefault(index, work.template.copy_empty())
            try:
                scored = work.scorer.score_prediction(
                    pair, gt_mask, total, own_counts=work.per_image
                )
            except Exception as err:  # one submission's failure never stops the others
                message = (
                    str(err) if isinstance(err, SegevalError) else f"{type(err).__name__}: {err}"
                )
                result.errors[index].append(message)
                continue
            result.resized[index] += scored.resized
            if scored.counts is not None:
                counts = counts_from_matrix(scored.counts.counts, scored.counts.missed)
                result.images[index].append((key, *counts))
    return result


def _executor(jobs: int) -> ProcessPoolExecutor:
    context = (
        multiprocessing.get_context("fork")
        if sys.platform.startswith("linux")
        else multiprocessing.get_context()
    )
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=tune_allocator)


def _run_tasks(
    work: _Work, tasks: Sequence[_Task], jobs: int, progress: Callable[[int], None]
) -> list[_ChunkResult]:
    """Run every task in worker processes; isolate submissions if a worker dies."""
    results: list[_ChunkResult | None] = [None] * len(tasks)
    broken = False
    with _executor(jobs) as executor:
        futures: list[Future[_ChunkResult]] = [executor.submit(_score_task, work, t) for t in tasks]
        for index, future in enumerate(futures):
            try:
                results[index] = future.result()
            except BrokenProcessPool:
                broken = True
                break
            progress(len(tasks[index]))
    if broken:
        for index, task in enumerate(tasks):
            if results[index] is None:
                results[index] = _isolated(work, task)
                progress(len(task))
    return [result for result in results if result is not None]


def _isolated(work: _Work, task: _Task) -> _ChunkResult:
    """Score a task one submission at a time, each in its own process."""
    merged = _ChunkResult()
    submissions = sorted({index for _, _, predictions in task for index, _ in predictions})
    for submission in submissions:
        own = [
            (key, gt, [(i, p) for i, p in predictions if i == submission])
            for key, gt, predictions in task
        ]
        try:
            with _executor(1) as executor:
                part = executor.submit(_score_task, work, own).result()
        except BrokenProcessPool:
            merged.errors[submission].append(
                f"the worker process crashed while reading this submission's masks "
                f"(among {', '.join(key for key, _, _ in own[:3])}"
                f"{', ...' if len(own) > 3 else ''})"
            )
            continue
        merged.counts.update(part.counts)
        merged.images.update(part.images)
        merged.resized.update(part.resized)
        for key, messages in part.errors.items():
            merged.errors[key].extend(messages)
    return merged


# --------------------------------------------------------------- the batch


@dataclass
class _Prepared:
    entry: Entry
    submission: Submission
    folder: Path | None = None
    scratch: Path | None = None
    checked: CheckedPairing | None = None


def _relative(message: str, prepared: _Prepared) -> str:
    """Name files as '<submission>/path' rather than by their temporary location."""
    for root in (prepared.folder, prepared.scratch):
        if root is not None:
            message = message.replace(f"{root}/", f"{prepared.entry.name}/")
    return message


def _record_path(output_dir: Path, name: str, status: str) -> Path:
    return output_dir / (f"{name}.json" if status == "ok" else f"{name}.invalid.json")


def _resume(prepared: _Prepared, options: BatchOptions, digest: str, fingerprint: str) -> bool:
    """Reuse a stored result made with these settings from this content."""
    if options.output_dir is None:
        return False
    for status in ("ok", "invalid"):
        path = _record_path(options.output_dir, prepared.entry.name, status)
        if not path.is_file():
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            batch = document["batch"]
            if batch["settings_digest"] != digest or batch["submission_digest"] != fingerprint:
                return False
            entry = prepared.entry
            entry.resumed = True
            if status == "ok":
                entry.report = Report.from_dict(document)
            else:
                entry.status, entry.reason = "invalid", document["reason"]
                entry.errors = int(document["errors"])
            entry.skipped_files = int(batch.get("skipped_files", 0))
            return True
        except (OSError, ValueError, KeyError, TypeError, SegevalError):
            return False  # unreadable or older: score it again
    return False


def _store(entry: Entry, options: BatchOptions, digest: str, fingerprint: str) -> None:
    if options.output_dir is None or entry.resumed:
        return
    batch = {
        "submission": entry.name,
        "source": entry.source,
        "settings_digest": digest,
        "submission_digest": fingerprint,
        "skipped_files": entry.skipped_files,
    }
    if entry.status == "ok":
        assert entry.report is not None
        document: dict[str, Any] = entry.report.to_dict()
    else:
        document = {"status": "invalid", "reason": entry.reason, "errors": entry.errors}
    document["batch"] = batch
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    write_text_atomic(_record_path(options.output_dir, entry.name, entry.status), text)
    stale = _record_path(
        options.output_dir, entry.name, "invalid" if entry.status == "ok" else "ok"
    )
    stale.unlink(missing_ok=True)


def _check_rank_metric(name: str) -> None:
    spec = REGISTRY.get(name)
    if spec is None or spec.per_class:
        valid = ", ".join(n for n, s in REGISTRY.items() if not s.per_class)
        raise ThresholdError(f"--rank-by {name!r}: use a summary metric: {valid}.")


def _rank(entries: list[Entry], rank_by: str) -> list[Entry]:
    order = (rank_by, *(name for name in TIE_BREAKERS if name != rank_by))

    def key(entry: Entry) -> tuple[Any, ...]:
        assert entry.report is not None
        values = []
        for name in order:
            value = entry.report.summary.get(name, math.nan)
            better = REGISTRY[name].higher_is_better
            values.append(math.inf if math.isnan(value) else (-value if better else value))
        return (*values, entry.name)

    valid = sorted((e for e in entries if e.status == "ok"), key=key)
    for rank, entry in enumerate(valid, start=1):
        entry.rank = rank
    invalid = sorted((e for e in entries if e.status == "invalid"), key=lambda e: e.name)
    return valid + invalid


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
    _check_rank_metric(options.rank_by)
    score = options.score
    if score.max_pixels is None:
        score = replace(score, max_pixels=DEFAULT_MAX_PIXELS)
    score = replace(score, strict=options.strict or score.strict)
    score.validate()
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
    digest = score.fingerprint() + ":" + str(gt_dir.resolve())
    scorer = replace(
        score.pair_scorer(), gt_read=replace(score.pair_scorer().gt_read, max_pixels=None)
    )
    work = _Work(scorer, score.new_accumulator(), score.per_image)

    with tempfile.TemporaryDirectory(prefix="segeval-batch-") as temporary:
        prepared = _prepare_all(submissions, Path(temporary), ground_truth, score, options, digest)
        tasks = _tasks(prepared)
        total = sum(len(predictions) for task in tasks for _, _, predictions in task)
        done = 0

        def progress(items: int) -> None:
            nonlocal done
            done += items
            if on_progress is not None:
                on_progress(done, total)

        results = _run_tasks(work, tasks, options_jobs(score), progress) if tasks else []
        for index, item in enumerate(prepared):
            if item.entry.status == "ok" and not item.entry.resumed:
                _finish(index, item, results, work, score, started)
            _store(item.entry, options, digest, item.submission.fingerprint())
    entries = _rank([item.entry for item in prepared], options.rank_by)
    return Leaderboard(
        entries=tuple(entries),
        rank_by=options.rank_by,
        gt_dir=str(gt_dir),
        images=len(ground_truth.by_key),
        ignored_children=tuple(child.name for child in ignored),
        settings_digest=digest,
        elapsed_seconds=time.perf_counter() - started,
    )


def options_jobs(score: ScoreOptions) -> int:
    """Worker processes for a batch (at least one: workers isolate crashes)."""
    return max(1, score.jobs or default_jobs())


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
        item = _Prepared(Entry(submission.name, submission.source.name), submission)
        prepared.append(item)
        if options.resume and _resume(item, options, digest, submission.fingerprint()):
            continue
        item.scratch = temporary / str(number)
        item.scratch.mkdir()
        try:
            item.folder, item.entry.skipped_files = prepare_submission(
                submission, item.scratch, options.max_archive_bytes
            )
            pairing = pair_with_listing(item.folder, ground_truth, score.pairing)
            # Files the pairing left out of the submission (the ground truth's are not its own).
            item.entry.skipped_files += pairing.skipped_files - ground_truth.skipped
            item.checked = check_pairing(
                pairing,
                gt_dir=Path("ground truth"),
                pred_dir=Path(submission.name),
                missing=score.missing,
                strict=score.strict,
            )
        except SegevalError as err:
            item.entry.status, item.entry.reason = "invalid", _relative(str(err), item)
            item.entry.errors = 1
    return prepared


def _tasks(prepared: Sequence[_Prepared]) -> list[_Task]:
    """Group the work by ground-truth image, then cut it into chunks."""
    by_key: dict[str, tuple[Path, list[tuple[int, Path | None]]]] = {}
    for index, item in enumerate(prepared):
        if item.entry.status != "ok" or item.checked is None:
            continue
        for pair in item.checked.pairs:
            by_key.setdefault(pair.key, (pair.gt_path, []))[1].append((index, pair.pred_path))
    ordered = [(key, gt, predictions) for key, (gt, predictions) in sorted(by_key.items())]
    size = max(1, min(8, len(ordered) // 8))
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


def _finish(
    index: int,
    item: _Prepared,
    results: Sequence[_ChunkResult],
    work: _Work,
    score: ScoreOptions,
    started: float,
) -> None:
    errors = [message for result in results for message in result.errors.get(index, [])]
    if errors:
        item.entry.status = "invalid"
        item.entry.reason = _relative(errors[0], item)
        item.entry.errors = len(errors)
        return
    assert item.checked is not None
    accumulator = work.template.copy_empty()
    with ImageCountSpool() as spool:
        for result in results:
            if index in result.counts:
                accumulator += result.counts[index]
            for image in result.images.get(index, []):
                spool.append(*image)
        resized = sum(result.resized.get(index, 0) for result in results)
        item.entry.report = finish_report(
            score, accumulator, item.checked, resized=resized, spool=spool, started=started
        )
