"""Batch scoring: many submissions against one ground truth, ranked.

Submissions are taken in groups. For each group, every submission is first
prepared in a worker process (a folder checked, an archive's scored members
extracted into a private temporary folder, then paired with the ground truth);
then the group is counted by ground-truth image: a worker reads one
ground-truth mask and counts every submission's prediction of it, so each
ground-truth mask is decoded once per group rather than once per submission.
Each submission accumulates its own confusion matrix; its report is built
exactly as ``score`` builds it (:func:`segeval.run.evaluate.finish_report`), so
the numbers agree. When the group is done its extracted files are deleted and
its results written to ``--output-dir`` before the next group starts.

Whatever a submission does, the batch finishes with a leaderboard. Any failure
while preparing or counting it (an unsafe archive, missing files, unreadable
or wrong-size masks, labels out of range, a crashed worker, a limit, a time
limit, an exception of any kind) makes that submission invalid with a
one-line reason naming files relative to the submission, never a path of the
host; the others go on. Resources are bounded per submission and per batch:

* ``timeout``: seconds a submission may take to be prepared and counted
  (measured in the workers; a worker stuck on one task is killed);
* ``max_extract_bytes``: bytes of extracted files in the temporary folder at
  any time: archives in a group share it (an archive needing more than its
  share is extracted again later, alone);
* ``max_archive_bytes``, the score options' ``max_mask_bytes``, ``max_pixels``
  and ``max_classes``: see :mod:`segeval.inputs.submissions` and
  :class:`~segeval.run.options.ScoreOptions`.

The submissions, the ground truth and ``output_dir`` may each be a prefix in an
object store (``s3://bucket/submissions``): the client lists the prefixes, the
workers read the masks from the store themselves, archive objects are read
with ranged requests in the preparing workers, and results are uploaded one
object each. A submission the store refuses (a denied listing or read) is
invalid with the store's reason; a ground truth it refuses stops the batch.

The ground truth, and its instance maps with ``--gt-instances``, are trusted
and exempt from the size limits: a problem with them (an unreadable mask, a
missing or wrong-size instance map) stops the batch with one error naming the
file, since it would make every submission invalid for nothing they did.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from segeval.core.confusion import ConfusionMatrix
from segeval.core.metrics import REGISTRY
from segeval.core.per_image import ImageCountSpool
from segeval.defaults import DEFAULT_MAX_ARCHIVE_BYTES, DEFAULT_MAX_EXTRACT_BYTES, DEFAULT_TIMEOUT
from segeval.errors import SegevalError, ThresholdError, UsageError
from segeval.inputs.digest import folder_digest
from segeval.inputs.pairing import (
    CheckedPairing,
    GroundTruthListing,
    MaskPair,
    PairingOptions,
    check_pairing,
    list_ground_truth,
    pair_with_listing,
)
from segeval.inputs.submissions import (
    ExtractionLimits,
    NeedsMoreSpace,
    Submission,
    discover_submissions,
    prepare_submission,
)
from segeval.io.storage import Location, RemotePath, location
from segeval.leaderboard import Leaderboard, SubmissionResult, rank
from segeval.outputs.atomic import refuse_inside_inputs
from segeval.run.batch_store import load_stored, store_result
from segeval.run.engine import ProcessExecutor, WorkerCrash, chunked, default_jobs
from segeval.run.evaluate import finish_report, instance_paths
from segeval.run.options import Execution, ScoreOptions
from segeval.run.work import (
    BoundaryRows,
    ImageCounts,
    ImageTask,
    TaskResult,
    Work,
    count_tasks,
)

__all__ = [
    "DEFAULT_MAX_ARCHIVE_BYTES",
    "DEFAULT_MAX_EXTRACT_BYTES",
    "DEFAULT_TIMEOUT",
    "BatchOptions",
    "run_batch",
]

#: A group gives each archive at least this share of the extraction limit
#: (prediction masks are PNGs of tens of kilobytes: most archives need far less).
GROUP_SHARE_BYTES = 512 * 2**20

#: Most submissions counted together (each holds a matrix per worker task).
MAX_GROUP = 32

#: Longest reason kept (a hostile member name can be thousands of characters).
MAX_REASON = 400

BatchProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class BatchOptions:
    """How a batch is scored and ranked.

    Parameters
    ----------
    score : ScoreOptions
        Applied to every submission (classes, presets, pairing, conventions,
        pixel, byte and class limits).
    rank_by : str, default "miou"
        A summary metric of the registry.
    max_archive_bytes : int
        Limit on the total declared uncompressed size of an archive.
    max_extract_bytes : int
        Limit on the bytes of extracted files in the temporary folder at once.
    timeout : float
        Seconds a submission may take to be prepared and counted.
    output_dir : Location, optional
        Write each submission's full score report there (``NAME.json``), or its
        reason for being invalid (``invalid/NAME.json``); a folder or a prefix
        in an object store.
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
    max_extract_bytes: int = DEFAULT_MAX_EXTRACT_BYTES
    timeout: float = DEFAULT_TIMEOUT
    output_dir: Location | None = None
    resume: bool = False
    strict: bool = False
    execution: Execution = field(default_factory=Execution)

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise UsageError(f"--timeout must be a positive number of seconds, got {self.timeout}.")
        if self.max_archive_bytes < 1 or self.max_extract_bytes < 1:
            raise UsageError("--max-archive-bytes and --max-extract-bytes must be positive.")


# ------------------------------------------------------------ one submission


@dataclass(eq=False)  # compared by identity: each submission is one entry
class _Entry:
    """One submission through the batch: its result line and its running state."""

    result: SubmissionResult
    submission: Submission
    scratch: Path | None = None
    folder: Location | None = None
    checked: CheckedPairing | None = None
    share: int = 0
    alone: bool = False
    seconds: float = 0.0
    accumulator: ConfusionMatrix | None = None
    spool: ImageCountSpool | None = None
    rows: list[ImageCounts] = field(default_factory=list)
    boundary_rows: BoundaryRows = field(default_factory=BoundaryRows)
    resized: int = 0
    errors: list[str] = field(default_factory=list)

    def fail(self, reason: str, errors: int = 1) -> None:
        self.result.status, self.result.reason = "invalid", reason
        self.result.errors = max(errors, 1)


@dataclass(frozen=True)
class _Setting:
    """What preparing any submission needs (sent to the workers once per task)."""

    ground_truth: GroundTruthListing
    gt_files: frozenset[tuple[int, int]]
    pairing: PairingOptions
    score: ScoreOptions
    max_archive_bytes: int


@dataclass(frozen=True)
class _Prepared:
    """What a worker found preparing one submission."""

    folder: Location | None = None
    checked: CheckedPairing | None = None
    skipped: int = 0
    reason: str | None = None
    needed: int | None = None
    seconds: float = 0.0


def _describe(err: BaseException) -> str:
    return str(err) if isinstance(err, SegevalError) else f"{type(err).__name__}: {err}"


def _prepare(setting: _Setting, job: tuple[Submission, Path, int]) -> _Prepared:
    """Prepare and pair one submission (runs in a worker; never raises)."""
    submission, scratch, share = job
    started = time.perf_counter()
    try:
        limits = ExtractionLimits(
            setting.max_archive_bytes, setting.score.max_mask_bytes, extract_bytes=share
        )
        prepared = prepare_submission(
            submission,
            scratch,
            gt_keys=frozenset(setting.ground_truth.by_key),
            pairing=setting.pairing,
            limits=limits,
            gt_files=setting.gt_files,
        )
        pairing = pair_with_listing(prepared.folder, setting.ground_truth, setting.pairing)
        extra = sorted(pairing.extra + prepared.extra, key=lambda path: Path(str(path)))
        pairing = replace(pairing, extra=tuple(extra))
        checked = check_pairing(
            pairing,
            gt_dir=Path("ground truth"),
            pred_dir=Path(submission.name),
            missing=setting.score.missing,
            strict=setting.score.strict,
        )
        # Files the pairing left out of the submission (the ground truth's are not its own).
        skipped = prepared.skipped + pairing.skipped_files - setting.ground_truth.skipped
        return _Prepared(prepared.folder, checked, skipped, seconds=time.perf_counter() - started)
    except NeedsMoreSpace as err:
        shutil.rmtree(scratch, ignore_errors=True)
        return _Prepared(reason=str(err), needed=err.needed)
    except Exception as err:  # any failure is this submission's verdict, never the batch's
        shutil.rmtree(scratch, ignore_errors=True)
        return _Prepared(reason=_describe(err), seconds=time.perf_counter() - started)


def _spellings(root: Location) -> set[str]:
    """Every way a message may spell a folder or prefix."""
    if isinstance(root, RemotePath):
        return {root.url, root.url.split("://", 1)[1]}  # fsspec drops the protocol
    return {str(root), os.path.realpath(root), os.path.abspath(root)}


def _public(message: str, entry: _Entry, roots: Sequence[tuple[Location, str]]) -> str:
    """A reason fit to publish: files named relative to the submission, no host path.

    Every path segeval names lies under the submission, its extraction folder,
    the ground truth, the submissions folder or the temporary folder; each of
    those roots is replaced by a short name.
    """
    replacements: list[tuple[str, str]] = []
    own: list[tuple[Location, str]] = [
        (path, entry.result.name) for path in (entry.scratch, entry.submission.source) if path
    ]
    for root, name in [*own, *roots]:
        for spelling in _spellings(root):
            replacements.append((spelling.rstrip("/") + "/", f"{name}/"))
            replacements.append((spelling.rstrip("/"), name))
    for spelling, name in sorted(replacements, key=lambda pair: -len(pair[0])):
        message = message.replace(spelling, name)
    message = " ".join(message.split())
    return message if len(message) <= MAX_REASON else message[: MAX_REASON - 3] + "..."


def _check_rank_metric(name: str, score: ScoreOptions) -> None:
    spec = REGISTRY.get(name)
    if spec is None or spec.per_class:
        valid = ", ".join(n for n, s in REGISTRY.items() if not s.per_class)
        raise ThresholdError(f"--rank-by {name!r}: use a summary metric: {valid}.")
    if spec.option is not None and spec.option not in score.computed_options():
        raise ThresholdError(f"--rank-by {name}: it is computed with {spec.option}; pass it.")


def _overlap(first: Location, second: Location) -> bool:
    if isinstance(first, RemotePath) and isinstance(second, RemotePath):
        return first.is_relative_to(second) or second.is_relative_to(first)
    if isinstance(first, Path) and isinstance(second, Path):
        first, second = first.resolve(), second.resolve()
        return first.is_relative_to(second) or second.is_relative_to(first)
    return False  # a folder and a prefix never overlap


def _check_folders(
    submissions_dir: Location, gt_dir: Location, output_dir: Location | None
) -> None:
    """Refuse folders that overlap, before anything is created or read.

    Prefixes in a store are checked when they are listed (a store has no
    folders to check beforehand).
    """
    if isinstance(submissions_dir, Path) and not submissions_dir.is_dir():
        raise UsageError(f"{submissions_dir}: not a folder; pass a folder of submissions.")
    if isinstance(gt_dir, Path) and not gt_dir.is_dir():
        raise UsageError(f"{gt_dir}: not a folder; pass the folder of ground-truth masks.")
    if _overlap(submissions_dir, gt_dir):
        raise UsageError(
            f"{gt_dir} and {submissions_dir} overlap: the ground truth would be scored as a "
            "submission (or the submissions as ground truth); keep them in separate folders."
        )
    if output_dir is not None:
        refuse_inside_inputs(output_dir, "--output-dir", [submissions_dir, gt_dir])


def run_batch(
    submissions_dir: str | os.PathLike[str] | RemotePath,
    gt_dir: str | os.PathLike[str] | RemotePath,
    options: BatchOptions | None = None,
    *,
    on_progress: BatchProgress | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Leaderboard:
    """Score every submission under ``submissions_dir`` against ``gt_dir`` and rank them.

    Parameters
    ----------
    submissions_dir : str, path-like or RemotePath
        One child per submission: a folder or a .zip / .tar / .tar.gz archive
        (in a store: a sub-prefix or an archive object).
    gt_dir : str, path-like or RemotePath
        The ground-truth masks (trusted): a folder or a prefix.
    options : BatchOptions, optional
    on_progress : callable, optional
        ``on_progress(done, total)`` in (image, submission) pairs.
    storage_options : mapping, optional
        fsspec options for URLs given as strings (endpoint, credentials...).

    Returns
    -------
    Leaderboard

    Raises
    ------
    SegevalError
        Only for problems of the batch itself (missing or overlapping folders,
        a missing bucket, unreadable ground truth, a missing, unreadable or
        wrong-size instance map, bad options); a submission's problems make it
        invalid.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for folder in ("gt", "subs/alice", "subs/bob"):
    ...     (root / folder).mkdir(parents=True)
    >>> Image.fromarray(np.array([[0, 1]], np.uint8)).save(root / "gt" / "a.png")
    >>> Image.fromarray(np.array([[0, 1]], np.uint8)).save(root / "subs/alice/a.png")
    >>> Image.fromarray(np.array([[1, 1]], np.uint8)).save(root / "subs/bob/a.png")
    >>> options = BatchOptions(ScoreOptions(num_classes=2), execution=Execution(jobs=1))
    >>> board = run_batch(root / "subs", root / "gt", options)
    >>> [(entry.name, entry.report.summary["miou"]) for entry in board.entries]
    [('alice', 1.0), ('bob', 0.25)]
    """
    options = options or BatchOptions()
    started = time.perf_counter()
    _check_rank_metric(options.rank_by, options.score)
    score = replace(options.score, strict=options.strict or options.score.strict)
    submissions_dir = location(submissions_dir, storage_options)
    gt_dir = location(gt_dir, storage_options)
    _check_folders(submissions_dir, gt_dir, options.output_dir)
    if isinstance(options.output_dir, Path):
        options.output_dir.mkdir(parents=True, exist_ok=True)
    # The ground truth first: a missing bucket or a refused listing stops the batch here.
    ground_truth = list_ground_truth(gt_dir, score.pairing)
    if not ground_truth.by_key:
        raise UsageError(f"{gt_dir}: no ground-truth mask files found.")
    submissions, ignored = discover_submissions(submissions_dir)
    gt_files = frozenset(
        (info.st_dev, info.st_ino)
        for paths in ground_truth.by_key.values()
        for info in (os.stat(path) for path in paths if isinstance(path, Path))
    )
    # Settings and the ground truth's content: replacing the ground truth invalidates --resume.
    digest = score.fingerprint()
    if options.output_dir is not None:
        gt_digest = (
            gt_dir.content_digest() if isinstance(gt_dir, RemotePath) else folder_digest(gt_dir)
        )
        digest += ":" + gt_digest
    entries = [
        _Entry(SubmissionResult(submission.name, submission.source.name), submission)
        for submission in submissions
    ]
    pending = deque(
        entry
        for entry in entries
        if not (
            options.resume
            and options.output_dir is not None
            and load_stored(
                entry.result, options.output_dir, digest, entry.submission.fingerprint()
            )
        )
    )
    setting = _Setting(ground_truth, gt_files, score.pairing, score, options.max_archive_bytes)
    runner = _Runner(score, options, setting, on_progress, started)
    runner.instance_paths = instance_paths(
        score,
        gt_dir,
        [MaskPair(key, paths[0], None) for key, paths in ground_truth.by_key.items()],
        storage_options,
    )
    with (
        tempfile.TemporaryDirectory(prefix="segeval-batch-") as temporary,
        ProcessExecutor(max(1, options.execution.jobs or default_jobs())) as executor,
    ):
        roots: list[tuple[Location, str]] = [
            (Path(temporary), "temporary"),
            (gt_dir, "ground truth"),
        ]
        roots.append((submissions_dir, "submissions"))
        runner.total = len(ground_truth.by_key) * len(pending)
        number = 0
        while pending:
            group = _next_group(pending, options)
            for entry in group:
                entry.scratch = Path(temporary) / str(number)
                number += 1
            try:
                runner.run_group(group, executor, pending)
                for entry in group:
                    if entry.result.reason:
                        entry.result.reason = _public(entry.result.reason, entry, roots)
                    if options.output_dir is not None and entry not in pending:
                        store_result(
                            entry.result, options.output_dir, digest,
                            entry.submission.fingerprint(),
                            image_rows=entry.rows if score.per_image else None,
                        )  # fmt: skip
            finally:
                for entry in group:
                    if entry.spool is not None:
                        entry.spool.close()
                        entry.spool = None
                    if entry.scratch is not None:
                        shutil.rmtree(entry.scratch, ignore_errors=True)
    ranked = rank([entry.result for entry in entries], options.rank_by)
    return Leaderboard(
        entries=tuple(ranked),
        rank_by=options.rank_by,
        gt_dir=gt_dir.name if isinstance(gt_dir, RemotePath) else gt_dir.resolve().name,
        images=len(ground_truth.by_key),
        ignored_children=tuple(child.name for child in ignored),
        settings_digest=digest,
        elapsed_seconds=time.perf_counter() - started,
    )


def _next_group(pending: deque[_Entry], options: BatchOptions) -> list[_Entry]:
    """The next submissions to count together, each archive with its share of the disk.

    An archive deferred for want of space (``alone``) forms a group by itself
    and may use the whole extraction limit.
    """
    whole = min(options.max_archive_bytes, options.max_extract_bytes)
    if pending[0].alone:
        entry = pending.popleft()
        entry.share = whole
        return [entry]
    per_group = max(1, options.max_extract_bytes // GROUP_SHARE_BYTES)
    group: list[_Entry] = []
    archives = 0
    while pending and not pending[0].alone and len(group) < MAX_GROUP:
        if pending[0].submission.is_archive:
            if archives == per_group:
                break
            archives += 1
        group.append(pending.popleft())
    share = min(whole, options.max_extract_bytes // max(1, archives))
    for entry in group:
        entry.share = share
    return group


class _Runner:
    """Prepares and counts groups of submissions on one executor."""

    def __init__(
        self,
        score: ScoreOptions,
        options: BatchOptions,
        setting: _Setting,
        on_progress: BatchProgress | None,
        started: float,
    ) -> None:
        self.score = score
        self.options = options
        self.setting = setting
        self.on_progress = on_progress
        self.started = started
        reader = score.pair_reader()
        # The ground truth is trusted: no pixel or byte limit on it.
        reader = replace(reader, gt_read=replace(reader.gt_read, max_pixels=None, max_bytes=None))
        instances = score.instance_work()
        if instances is not None:  # the ground truth's too
            instances = replace(
                instances, read=replace(instances.read, max_pixels=None, max_bytes=None)
            )
        self.template = score.new_accumulator(options.execution.chunk_pixels)
        self.work = Work(
            reader, self.template, score.counts_per_image, record_errors=True,
            boundary=score.boundary, instances=instances,
        )  # fmt: skip
        self.instance_paths: dict[str, Location] = {}
        self.total = 0
        self.done = 0

    def _progress(self, pairs: int) -> None:
        self.done += pairs
        if self.on_progress is not None:
            self.on_progress(self.done, max(self.total, self.done))

    def run_group(
        self, group: list[_Entry], executor: ProcessExecutor, pending: deque[_Entry]
    ) -> None:
        self._prepare(group, executor, pending)
        scored = [entry for entry in group if entry.result.status == "ok" and entry not in pending]
        self._count(scored, executor)
        for entry in scored:
            self._finish(entry)

    # ---------------------------------------------------------- preparing

    def _prepare(
        self, group: list[_Entry], executor: ProcessExecutor, pending: deque[_Entry]
    ) -> None:
        jobs = []
        for entry in group:
            assert entry.scratch is not None
            entry.scratch.mkdir()
            jobs.append((entry.submission, entry.scratch, entry.share))
        outcomes = executor.run(partial(_prepare, self.setting), jobs, timeout=self.options.timeout)
        for entry, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, WorkerCrash):
                problem = self._over_time() if outcome.timed_out else outcome.message
                entry.fail(f"{entry.submission.source.name}: {problem} while unpacking")
            elif outcome.needed is not None:
                if entry.alone or outcome.needed > self.options.max_extract_bytes:
                    entry.fail(outcome.reason or "")
                else:
                    entry.alone = True  # extracted again later, alone, with the whole limit
                    pending.append(entry)
            elif outcome.reason is not None:
                entry.fail(outcome.reason)
            else:
                entry.folder, entry.checked = outcome.folder, outcome.checked
                entry.result.skipped_files = outcome.skipped
                entry.seconds = outcome.seconds

    # ----------------------------------------------------------- counting

    def _count(self, scored: list[_Entry], executor: ProcessExecutor) -> None:
        by_key: dict[str, tuple[Location, list[tuple[int, Location | None]]]] = {}
        for index, entry in enumerate(scored):
            assert entry.checked is not None
            entry.accumulator = self.template.copy_empty()
            for pair in entry.checked.pairs:
                by_key.setdefault(pair.key, (pair.gt_path, []))[1].append((index, pair.pred_path))
        tasks = [
            ImageTask(key, gt_path, tuple(predictions), self.instance_paths.get(key))
            for key, (gt_path, predictions) in sorted(by_key.items())
        ]
        count = partial(count_tasks, self.work)
        cluster = self.options.execution.executor
        if cluster is not None:
            # Counting on the given executor (a Dask cluster); preparing submissions and
            # isolating a crashed chunk stay in this machine's worker processes.
            chunks = cluster.chunk(tasks)
            outcomes = cluster.run(count, chunks)
        else:
            chunks = chunked(tasks, max(1, self.options.execution.jobs or default_jobs()))
            outcomes = executor.run(count, chunks, timeout=self.options.timeout)
        crashed = []
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            if isinstance(outcome, WorkerCrash):
                crashed.append(chunk)  # retried once this run is over (one run at a time)
            else:
                self._merge(outcome, scored)
            self._progress(sum(len(task.predictions) for task in chunk))
        for chunk in crashed:
            self._isolated(chunk, scored, executor)

    def _isolated(
        self, chunk: Sequence[ImageTask], scored: list[_Entry], executor: ProcessExecutor
    ) -> None:
        """Count a chunk whose worker died or stalled one submission at a time."""
        indexes = sorted({index for task in chunk for index, _ in task.predictions})
        for index in indexes:
            entry = scored[index]
            remaining = self.options.timeout - entry.seconds
            own = [replace(task, predictions=_only(task, index)) for task in chunk]
            if remaining <= 0 or not any(task.predictions for task in own):
                continue
            (outcome,) = executor.run(partial(count_tasks, self.work), [own], timeout=remaining)
            if isinstance(outcome, WorkerCrash):
                keys = ", ".join(task.key for task in own[:3])
                where = f"while reading its masks (among {keys}{', ...' if len(own) > 3 else ''})"
                if outcome.timed_out:
                    entry.seconds += remaining
                    entry.errors.append(f"{self._over_time()} {where}")
                else:
                    entry.errors.append(f"{outcome.message} {where}")
            else:
                self._merge(outcome, scored)

    def _merge(self, outcome: TaskResult, scored: list[_Entry]) -> None:
        for index, seconds in outcome.seconds.items():
            scored[index].seconds += seconds
        for index, entry in enumerate(scored):
            if entry.accumulator is None:
                continue
            if index in outcome.counts:
                entry.accumulator += outcome.counts[index]
            entry.errors.extend(outcome.errors.get(index, []))
            entry.resized += outcome.resized.get(index, 0)
            images = outcome.images.get(index, [])
            if images:
                entry.spool = entry.spool or ImageCountSpool()
                for image in images:
                    entry.spool.append(*image)
                entry.rows.extend(images)  # stored with the report, for --resume
            entry.boundary_rows.add(outcome, index)

    def _over_time(self) -> str:
        return f"took longer than the time limit of {self.options.timeout:g} s (--timeout)"

    def _finish(self, entry: _Entry) -> None:
        if entry.seconds > self.options.timeout and not entry.errors:
            entry.fail(f"{entry.result.name}: {self._over_time()}")
            return
        if entry.errors:
            entry.fail(entry.errors[0], len(entry.errors))
            return
        assert entry.accumulator is not None
        assert entry.checked is not None
        try:
            with ImageCountSpool() if entry.spool is None else entry.spool as spool:
                entry.result.report = finish_report(
                    self.score, entry.accumulator, entry.checked,
                    resized=entry.resized, spool=spool, started=self.started,
                    boundary_rows=entry.boundary_rows,
                )  # fmt: skip
        except Exception as err:  # the verdict of this submission, never the batch's end
            entry.fail(f"{entry.result.name}: cannot build the report ({_describe(err)})")
        finally:
            entry.spool = None


def _only(task: ImageTask, submission: int) -> tuple[tuple[int, Location | None], ...]:
    return tuple(prediction for prediction in task.predictions if prediction[0] == submission)
