"""Confidence intervals of a report, and paired significance between two reports.

The glue between :mod:`segeval.stats` (which knows count tables, not reports)
and what the CLI scores and compares: :class:`IntervalOptions` records what the
user asked for (``--ci``, ``--bootstrap``, ``--seed``, ``--ci-method``,
``--group-by`` / ``--groups-csv``), :func:`with_intervals` adds intervals to a
report scored with per-image counts (``ScoreOptions(image_counts=True)``), and
:func:`paired_intervals` resamples the images two such reports share.

Both warn, in the report's or the comparison's ``warnings``, when fewer than
:data:`~segeval.stats.MIN_TRUSTED_UNITS` images or groups were resampled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from segeval.errors import IncomparableReportsError, UsageError
from segeval.notices import Notice
from segeval.report import Report
from segeval.stats import (
    MIN_TRUSTED_UNITS,
    BootstrapResult,
    ImageCountTable,
    PairedBootstrapResult,
    bootstrap_ci,
    groups_from_csv,
    groups_from_regex,
    paired_bootstrap,
)
from segeval.stats.bootstrap import Method
from segeval.wording import counted

__all__ = ["IntervalOptions", "paired_intervals", "with_intervals"]


@dataclass(frozen=True)
class IntervalOptions:
    """How confidence intervals are computed (validated on construction).

    Parameters
    ----------
    confidence : float, default 0.95
        Confidence level, strictly between 0 and 1.
    n_resamples : int, default 2000
        Bootstrap resamples.
    method : {"bca", "percentile"}, default "bca"
    seed : int, optional
        Fixes the draws; without it one is drawn and recorded in the result.
    group_by : str, optional
        Regular expression over image keys: the first capture group (or the
        whole match) names the image's group, and whole groups are resampled.
    groups_csv : path, optional
        A ``key,group`` CSV file instead of ``group_by``.

    Raises
    ------
    UsageError
        A level outside (0, 1), fewer than 2 resamples, an unknown method, a
        negative seed, both group sources, a pattern that does not compile, or
        a group file that cannot be read.

    Examples
    --------
    >>> IntervalOptions(group_by=r"^([^_/]+)_").grouping
    "--group-by '^([^_/]+)_'"
    >>> IntervalOptions(group_by="(")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.UsageError: --group-by '(' is not a regular expression: ...
    """

    confidence: float = 0.95
    n_resamples: int = 2000
    method: Method = "bca"
    seed: int | None = None
    group_by: str | None = None
    groups_csv: Path | None = None

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1 or not math.isfinite(self.confidence):
            raise UsageError(
                f"--ci must be a confidence level between 0 and 1 (e.g. 0.95), "
                f"got {self.confidence}."
            )
        if self.n_resamples < 2:
            raise UsageError(f"--bootstrap needs at least 2 resamples, got {self.n_resamples}.")
        if self.method not in ("bca", "percentile"):
            raise UsageError(f"--ci-method must be bca or percentile, got {self.method!r}.")
        if self.seed is not None and self.seed < 0:
            raise UsageError(f"--seed must be a non-negative integer, got {self.seed}.")
        if self.group_by is not None and self.groups_csv is not None:
            raise UsageError(
                "--group-by and --groups-csv both say how images group; pass one of them."
            )
        # Checked now, before any image is scored: a typo fails at once.
        if self.group_by is not None:
            groups_from_regex((), self.group_by)
        if self.groups_csv is not None:
            groups_from_csv(self.groups_csv)

    @property
    def grouping(self) -> str:
        """How images are grouped, as the option that said so (empty: not grouped)."""
        if self.group_by is not None:
            return f"--group-by {self.group_by!r}"
        if self.groups_csv is not None:
            return f"--groups-csv {self.groups_csv}"
        return ""

    def groups(self, keys: Sequence[str]) -> dict[str, str] | None:
        """Image key -> group for ``keys`` (None when images are resampled one by one).

        Raises
        ------
        UsageError
            A key the pattern does not match or the file does not list.
        """
        if self.group_by is not None:
            return groups_from_regex(keys, self.group_by)
        if self.groups_csv is not None:
            return groups_from_csv(self.groups_csv, keys)
        return None


def _few_units(result: BootstrapResult | PairedBootstrapResult) -> list[Notice]:
    if not result.few_units:
        return []
    unit = f"{result.unit}s" + (f" ({result.grouping})" if result.grouping else "")
    message = (
        f"the bootstrap resampled only {result.num_units} {unit}: with fewer than "
        f"{MIN_TRUSTED_UNITS} the interval reflects only the {result.num_units} it saw and is "
        f"not a trustworthy {result.confidence:.0%} interval (docs/statistics.md, 'Why groups "
        "matter')."
    )
    return [Notice("few-resampled-units", message)]


#: Why iIoU has no interval (the bootstrap resamples the count table alone).
_IIOU_NOT_RESAMPLED = (
    "miiou, category_miiou and iIoU per class and category have no confidence interval: "
    "the bootstrap resamples each image's TP, FP and FN per class, and iIoU needs each "
    "image's instance-weighted TP and FN too, which the per-image counts do not keep; they "
    "are shown without one (docs/statistics.md)."
)


def _iiou_not_resampled(*reports: Report) -> list[Notice]:
    if not any(report.config.gt_instances for report in reports):
        return []
    return [Notice("iiou-without-interval", _IIOU_NOT_RESAMPLED)]


def with_intervals(report: Report, options: IntervalOptions, *, jobs: int = 1) -> Report:
    """The report with confidence intervals of every summary metric and per-class IoU / Dice.

    Parameters
    ----------
    report : Report
        Scored with per-image counts (``ScoreOptions(image_counts=True)``, as
        ``score --ci`` does).
    options : IntervalOptions
    jobs : int, default 1
        Threads computing resample blocks; the intervals do not depend on it.

    Returns
    -------
    Report
        With ``intervals`` set and, when fewer than
        :data:`~segeval.stats.MIN_TRUSTED_UNITS` units were resampled, a warning;
        a report with iIoU (instance maps) also gets the warning
        ``iiou-without-interval``: iIoU is not resampled.

    Raises
    ------
    UsageError
        The report has no per-image counts, fewer than 2 images or groups, or
        images without a group.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from segeval.run.evaluate import evaluate
    >>> from segeval.run.options import ScoreOptions
    >>> root, rng = pathlib.Path(tempfile.mkdtemp()), np.random.default_rng(0)
    >>> for side in ("gt", "pred"):
    ...     (root / side).mkdir()
    >>> for index in range(12):
    ...     gt_mask = rng.integers(0, 2, (8, 8), dtype=np.uint8)
    ...     pred_mask = np.where(rng.random((8, 8)) < 0.8, gt_mask, 1 - gt_mask)
    ...     Image.fromarray(gt_mask).save(root / "gt" / f"{index:02d}.png")
    ...     Image.fromarray(pred_mask.astype(np.uint8)).save(root / "pred" / f"{index:02d}.png")
    >>> options = ScoreOptions(num_classes=2, image_counts=True)
    >>> report = evaluate(root / "pred", root / "gt", options)
    >>> report = with_intervals(report, IntervalOptions(seed=1, n_resamples=500))
    >>> miou = report.intervals.summary["miou"]
    >>> miou.estimate == report.summary["miou"], miou.format()
    (True, '0.647 [0.609, 0.689]')
    """
    table = report.image_counts
    if table is None:
        raise UsageError(
            "the report has no per-image counts to resample; score with --ci "
            "(ScoreOptions(image_counts=True))."
        )
    result = bootstrap_ci(
        table,
        options=report.config.metric_options,
        confidence=options.confidence,
        n_resamples=options.n_resamples,
        method=options.method,
        seed=options.seed,
        groups=options.groups(table.keys),
        jobs=jobs,
    )
    result = replace(result, grouping=options.grouping)
    notices = [*_few_units(result), *_iiou_not_resampled(report)]
    return replace(report, intervals=result, warnings=(*report.warnings, *notices))


def _counts(report: Report, name: str) -> ImageCountTable:
    if report.image_counts is None:
        raise IncomparableReportsError(
            f"{name} carries no per-image counts, which compare --ci resamples; score it "
            "with --ci (segeval score ... --ci --format json --output FILE)."
        )
    return report.image_counts


def paired_intervals(
    baseline: Report,
    candidate: Report,
    options: IntervalOptions,
    *,
    jobs: int = 1,
    names: Mapping[str, str] | None = None,
) -> tuple[PairedBootstrapResult, list[Notice]]:
    """Paired bootstrap of ``candidate - baseline`` on the images both reports scored.

    Parameters
    ----------
    baseline, candidate : Report
        Comparable reports that carry per-image counts.
    options : IntervalOptions
    jobs : int, default 1
    names : mapping, optional
        ``{"baseline": ..., "candidate": ...}``: how errors name the reports
        (file names in the CLI).

    Returns
    -------
    result : PairedBootstrapResult
    warnings : list of Notice
        Images only one report has, too few resampled units, and iIoU left
        without an interval (a report with instance maps).

    Raises
    ------
    IncomparableReportsError
        A report without per-image counts, or fewer than 2 shared images.
    UsageError
        Images without a group.
    """
    names = names or {}
    before = _counts(baseline, names.get("baseline", "the baseline report"))
    after = _counts(candidate, names.get("candidate", "the candidate report"))
    shared = sorted(set(before.keys) & set(after.keys))
    result = paired_bootstrap(
        before,
        after,
        options=candidate.config.metric_options,
        confidence=options.confidence,
        n_resamples=options.n_resamples,
        method=options.method,
        seed=options.seed,
        groups=options.groups(shared),
        jobs=jobs,
    )
    result = replace(result, grouping=options.grouping)
    warnings = [*_few_units(result), *_iiou_not_resampled(baseline, candidate)]
    left_out = len(result.only_baseline) + len(result.only_candidate)
    if left_out:
        message = (
            f"the paired bootstrap used the {counted(result.num_images, 'image')} both reports "
            "scored; "
            f"left out: {len(result.only_baseline)} only in the baseline, "
            f"{len(result.only_candidate)} only in the candidate."
        )
        warnings.append(Notice("images-not-shared", message))
    return result, warnings
