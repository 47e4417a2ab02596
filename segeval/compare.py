"""Compare two score reports: are they comparable, and what changed.

:func:`compare_reports` refuses reports that were not scored the same way
(different classes, ignore values, aggregation, metric policies or image
sets), then lines up their summary and per-class metrics with deltas, and runs
the ``--max-drop`` regression checks of :mod:`segeval.gate`.

With ``intervals`` (``compare --ci``) it also runs a paired bootstrap on the
images both reports scored (:func:`segeval.intervals.paired_intervals`): each
row gets the interval and p-value of its difference, and the gate can require
an improvement (``--require-improvement``) or judge ``--max-drop`` on the
interval's bound (``--max-drop-ci``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from segeval.core.metrics import REGISTRY
from segeval.errors import IncomparableReportsError, SegevalError, UsageError
from segeval.gate import (
    GateResult,
    MaxDrop,
    check_improvements,
    check_metric_name,
    check_regressions,
)
from segeval.inputs.documents import read_document
from segeval.intervals import IntervalOptions, paired_intervals
from segeval.notices import Notice
from segeval.report import Report
from segeval.stats import Difference, PairedBootstrapResult

__all__ = ["Comparison", "ComparisonRow", "check_comparable", "compare_reports", "load_report"]

#: Summary metrics lined up by compare (per-image and boundary ones when both reports have them).
SUMMARY_ROWS = ("pixel_accuracy", "mean_accuracy", "miou", "mdice", "fwiou", "kappa", "min_iou")
IMAGE_SUMMARY_ROWS = ("image_miou", "image_mdice", "samplewise_miou", "pooled_miou")
BOUNDARY_SUMMARY_ROWS = ("mean_biou", "mean_bf", "hd", "hd95", "assd", "nsd")
#: Per-class boundary metrics lined up by compare (the gate reaches every one).
BOUNDARY_CLASS_ROWS = ("biou", "bf", "hd95")


@dataclass(frozen=True)
class ComparisonRow:
    """One metric in both reports.

    ``difference`` holds the paired bootstrap's interval and p-value of
    ``candidate - baseline`` (``compare --ci``; None without, and for the
    per-image means, which are not resampled).
    """

    name: str
    title: str
    class_name: str | None
    baseline: float
    candidate: float
    higher_is_better: bool
    zero_is_best: bool = False
    difference: Difference | None = None

    @property
    def delta(self) -> float:
        """Candidate minus baseline (NaN when either is undefined)."""
        return self.candidate - self.baseline

    @property
    def improved(self) -> bool | None:
        """True if better, False if worse, None if equal or undefined."""
        if math.isnan(self.delta) or self.delta == 0:
            return None
        if self.zero_is_best:
            if abs(self.candidate) == abs(self.baseline):
                return None
            return abs(self.candidate) < abs(self.baseline)
        return (self.delta > 0) == self.higher_is_better


@dataclass(frozen=True)
class Comparison:
    """Two reports side by side, and the regression checks."""

    baseline: Report
    candidate: Report
    summary: tuple[ComparisonRow, ...]
    classes: tuple[ComparisonRow, ...]
    gate: GateResult
    baseline_name: str = "baseline"
    candidate_name: str = "candidate"
    paired: PairedBootstrapResult | None = None
    warnings: tuple[Notice, ...] = ()


def load_report(path: str | Path) -> Report:
    """Read a ``segeval score --format json`` report, validated and recomputed.

    Every count must be an integer of uint64 range, every metric finite or
    null, every list the length of the class count; the dataset-level metrics
    are recomputed from the confusion matrix and must agree with the stored
    ones (:meth:`Report.recomputed`).

    Raises
    ------
    IncomparableReportsError
        Unreadable file, invalid JSON, a file over the size or nesting limits
        (:mod:`segeval.inputs.documents`), not a score report, or a report whose
        numbers are invalid or disagree with its counts (naming the file).
    """
    path = Path(path)
    document = read_document(path, error=IncomparableReportsError, what="the report", toml=False)
    try:
        # Every metric recomputed from the counts: a report is data, not testimony.
        return Report.from_dict(document).recomputed()
    except IncomparableReportsError as err:
        raise IncomparableReportsError(f"{path}: {err}") from err
    except KeyError as err:
        raise IncomparableReportsError(
            f"{path}: an incomplete score report (missing {err}); score again."
        ) from err
    except (TypeError, ValueError, AttributeError, SegevalError) as err:
        raise IncomparableReportsError(
            f"{path}: a damaged score report ({err}); score again."
        ) from err


def _settings(report: Report) -> dict[str, object]:
    config = report.config.to_dict()
    config.pop("num_classes_inferred")
    config.pop("convention")  # the effective settings are compared, not their origin
    return config


def check_comparable(
    baseline: Report, candidate: Report, *, allow_different_images: bool = False
) -> None:
    """Raise unless the two reports measured the same thing the same way.

    Raises
    ------
    IncomparableReportsError
        Naming every field that differs.
    """
    before, after = _settings(baseline), _settings(candidate)
    differences = [
        f"{name} ({before[name]!r} vs {after.get(name)!r})"
        for name in before
        if before[name] != after.get(name)
    ]
    differences += _boundary_differences(baseline, candidate)
    same_images = (
        baseline.num_images == candidate.num_images
        and baseline.pairing.images_digest == candidate.pairing.images_digest
    )
    if not same_images and not allow_different_images:
        differences.append(
            f"image set ({baseline.num_images} vs {candidate.num_images} images"
            + (", different files)" if baseline.num_images == candidate.num_images else ")")
        )
    if differences:
        hint = "" if same_images else " (--allow-different-images accepts a different image set)"
        raise IncomparableReportsError(
            f"the reports are not comparable: {'; '.join(differences)}; score both the same "
            f"way{hint}."
        )


def _boundary_differences(baseline: Report, candidate: Report) -> list[str]:
    """Boundary parameters that differ, when both reports computed boundary metrics."""
    if baseline.boundary is None or candidate.boundary is None:
        return []
    before = baseline.boundary.to_dict()["settings"]
    after = candidate.boundary.to_dict()["settings"]
    # Which metrics were computed may differ: only the shared ones are lined up.
    return [
        f"boundary {name} ({before[name]!r} vs {after[name]!r})"
        for name in before
        if name not in ("boundary", "surface_distances") and before[name] != after[name]
    ]


def _difference(
    paired: PairedBootstrapResult | None, name: str, class_index: int | None
) -> Difference | None:
    if paired is None:
        return None
    if class_index is None:
        return paired.summary.get(name)
    values = paired.per_class.get(name)
    return None if values is None else values[class_index]


def _row(
    name: str,
    baseline: Report,
    candidate: Report,
    class_index: int | None,
    paired: PairedBootstrapResult | None = None,
) -> ComparisonRow:
    spec = REGISTRY[name]
    if class_index is None:
        before = baseline.summary_value(name)
        after = candidate.summary_value(name)
        class_name = None
    else:
        before = baseline.classes[class_index].value(name)
        after = candidate.classes[class_index].value(name)
        class_name = candidate.classes[class_index].name
    return ComparisonRow(
        name=name if class_name is None else f"{name}[{class_name}]",
        title=spec.title,
        class_name=class_name,
        baseline=math.nan if before is None else float(before),
        candidate=math.nan if after is None else float(after),
        higher_is_better=spec.higher_is_better,
        zero_is_best=spec.zero_is_best,
        difference=_difference(paired, name, class_index),
    )


def compare_reports(
    baseline: Report,
    candidate: Report,
    *,
    max_drops: Iterable[MaxDrop] = (),
    allow_different_images: bool = False,
    baseline_name: str = "baseline",
    candidate_name: str = "candidate",
    intervals: IntervalOptions | None = None,
    require_improvement: Sequence[str] = (),
    max_drop_ci: bool = False,
    jobs: int = 1,
) -> Comparison:
    """Line up two comparable reports and run the regression checks.

    Parameters
    ----------
    baseline, candidate : Report
    max_drops : iterable of MaxDrop
        ``--max-drop`` checks.
    allow_different_images : bool, default False
        Compare reports scored on different image sets (the paired bootstrap
        uses the images both scored).
    baseline_name, candidate_name : str
        How the reports are named in output and errors.
    intervals : IntervalOptions, optional
        Run a paired bootstrap (both reports need per-image counts,
        ``score --ci``).
    require_improvement : sequence of str
        Metrics the candidate must improve with the interval's confidence (needs ``intervals``).
    max_drop_ci : bool, default False
        Judge ``max_drops`` on the interval's pessimistic bound (needs ``intervals``).
    jobs : int, default 1
        Threads of the bootstrap; never changes a number.

    Returns
    -------
    Comparison

    Raises
    ------
    IncomparableReportsError
        Reports scored differently, or without per-image counts for ``intervals``.
    UsageError
        ``require_improvement`` or ``max_drop_ci`` without ``intervals``.

    Examples
    --------
    >>> import numpy as np
    >>> from segeval import ConfusionMatrix, build_report
    >>> old = build_report(ConfusionMatrix.from_counts(np.array([[4, 0], [0, 4]])))
    >>> new = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    >>> comparison = compare_reports(old, new)
    >>> row = next(row for row in comparison.summary if row.name == "miou")
    >>> round(row.delta, 4), row.improved
    (-0.225, False)
    """
    max_drops = list(max_drops)
    if intervals is None and (require_improvement or max_drop_ci):
        option = "--require-improvement" if require_improvement else "--max-drop-ci"
        raise UsageError(f"{option} judges a confidence interval; add --ci.")
    if max_drop_ci and not max_drops:
        raise UsageError("--max-drop-ci judges --max-drop checks; add --max-drop METRIC=DELTA.")
    for reference in require_improvement:
        check_metric_name(reference)
    check_comparable(baseline, candidate, allow_different_images=allow_different_images)
    paired: PairedBootstrapResult | None = None
    warnings: list[Notice] = []
    if intervals is not None:
        names = {"baseline": baseline_name, "candidate": candidate_name}
        paired, warnings = paired_intervals(baseline, candidate, intervals, jobs=jobs, names=names)
    per_image = baseline.config.per_image and candidate.config.per_image
    names_shown = SUMMARY_ROWS + (IMAGE_SUMMARY_ROWS if per_image else ())
    class_metrics = ("iou", "dice") + (("image_iou", "image_dice") if per_image else ())
    both = [
        name for name in BOUNDARY_SUMMARY_ROWS if baseline.offers(name) and candidate.offers(name)
    ]
    names_shown += tuple(both)
    class_metrics += tuple(
        name for name in BOUNDARY_CLASS_ROWS if baseline.offers(name) and candidate.offers(name)
    )
    gate = check_regressions(baseline, candidate, max_drops, paired=paired if max_drop_ci else None)
    if require_improvement:
        assert paired is not None
        improvements = check_improvements(candidate, require_improvement, paired)
        gate = GateResult(
            tuple(sorted((*gate.checks, *improvements.checks), key=lambda check: check.passed))
        )
    return Comparison(
        baseline=baseline,
        candidate=candidate,
        summary=tuple(_row(name, baseline, candidate, None, paired) for name in names_shown),
        classes=tuple(
            _row(name, baseline, candidate, index, paired)
            for index in range(len(candidate.classes))
            for name in class_metrics
        ),
        gate=gate,
        baseline_name=baseline_name,
        candidate_name=candidate_name,
        paired=paired,
        warnings=tuple(warnings),
    )
