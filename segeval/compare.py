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
from segeval.wording import counted

__all__ = ["Comparison", "ComparisonRow", "check_comparable", "compare_reports", "load_report"]

#: Summary metrics lined up by compare (per-image and boundary ones when both reports have them).
SUMMARY_ROWS = ("pixel_accuracy", "mean_accuracy", "miou", "mdice", "fwiou", "kappa", "min_iou")
IMAGE_SUMMARY_ROWS = ("image_miou", "image_mdice", "samplewise_miou", "pooled_miou")
BOUNDARY_SUMMARY_ROWS = ("mean_biou", "mean_bf", "hd", "hd95", "assd", "nsd")
#: Cityscapes' other three numbers (categories, and iIoU with --gt-instances).
CATEGORY_INSTANCE_SUMMARY_ROWS = ("category_miou", "miiou", "category_miiou")
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


#: Settings whose difference only changes how classes are named or where their
#: definition came from: the class ids still mean the same, so reports that differ
#: only here are compared class by class, by id, with a warning.
_NAMING_SETTINGS = ("class_names", "classes", "class_ids", "categories")

#: How a refusal names each setting (the report's JSON key otherwise).
_SETTING_LABELS = {
    "num_classes": "class counts",
    "ignore_index": "ignore values",
    "aggregation": "aggregations (--per-image)",
    "empty": "absent-class policies (--empty)",
    "zero_division": "zero-division policies (--zero-division)",
    "beta": "F-beta betas (--beta)",
    "exclude_classes": "excluded classes (--exclude-class)",
    "out_of_range": "out-of-range policies (--out-of-range)",
    "reduce_zero_label": "--reduce-zero-label settings",
}


def _settings(report: Report) -> dict[str, object]:
    config = report.config.to_dict()
    config.pop("num_classes_inferred")
    config.pop("convention")  # the effective settings are compared, not their origin
    config.pop("gt_instances", None)  # which metrics were computed: the shared ones are lined up
    return config


def _shown(value: object) -> str:
    if isinstance(value, list) and len(value) > 6:
        return repr(value[:6])[:-1] + ", ...]"
    return repr(value)


def _renamed_classes(baseline: Report, candidate: Report, names: tuple[str, str]) -> Notice:
    before, after = baseline.config.class_names, candidate.config.class_names
    pairs = [f"{old} = {new}" for old, new in zip(before, after, strict=True) if old != new]
    shown = ", ".join(pairs[:4]) + (f" and {len(pairs) - 4} more" if len(pairs) > 4 else "")
    first, second = baseline.config.to_dict(), candidate.config.to_dict()
    origins = [
        f"{key} {_shown(first[key])} vs {_shown(second[key])}"
        for key in ("classes", "class_ids", "categories")
        if first[key] != second[key]
    ]
    defined = f"; their class definitions differ too ({'; '.join(origins)})" if origins else ""
    return Notice(
        "classes-matched-by-id",
        f"{names[0]} and {names[1]} name their classes differently ({shown}){defined}; "
        f"classes were matched by id and are shown with {names[1]}'s names: check that "
        "each id means the same class in both.",
    )


def check_comparable(
    baseline: Report,
    candidate: Report,
    *,
    allow_different_images: bool = False,
    baseline_name: str = "baseline",
    candidate_name: str = "candidate",
) -> tuple[Notice, ...]:
    """Raise unless the two reports measured the same thing the same way.

    Reports that differ only in how their classes are named or defined
    (``--num-classes 11`` against ``--preset camvid``) are comparable: classes
    are matched by id, with a ``classes-matched-by-id`` warning.

    Returns
    -------
    tuple of Notice
        Warnings about what differs without preventing the comparison.

    Raises
    ------
    IncomparableReportsError
        Naming every setting that differs, with both values.

    Examples
    --------
    >>> import numpy as np
    >>> from segeval import ConfusionMatrix, build_report
    >>> counts = ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]]))
    >>> numbered = build_report(counts)
    >>> named = build_report(counts, class_names=["road", "car"])
    >>> [notice.code for notice in check_comparable(numbered, named)]
    ['classes-matched-by-id']
    """
    before, after = _settings(baseline), _settings(candidate)
    names = (baseline_name, candidate_name)
    differing = [name for name in before if before[name] != after.get(name)]
    refused = [name for name in differing if name not in _NAMING_SETTINGS]
    differences = [
        f"{_SETTING_LABELS.get(name, name)} differ ({_shown(before[name])} in {baseline_name}, "
        f"{_shown(after.get(name))} in {candidate_name})"
        for name in refused
    ]
    differences += _boundary_differences(baseline, candidate)
    same_images = (
        baseline.num_images == candidate.num_images
        and baseline.pairing.images_digest == candidate.pairing.images_digest
    )
    if not same_images and not allow_different_images:
        differences.append(
            f"image sets differ ({baseline.num_images} vs {counted(candidate.num_images, 'image')}"
            + (", different files)" if baseline.num_images == candidate.num_images else ")")
        )
    renamed = "class_names" in differing and "num_classes" not in differing
    if differences:
        hint = "" if same_images else " (--allow-different-images accepts a different image set)"
        also = (
            "; the class names differ too, which alone would only be a warning (classes "
            "are matched by id)"
            if renamed
            else ""
        )
        raise IncomparableReportsError(
            f"the reports are not comparable: {'; '.join(differences)}{also}; score both the "
            f"same way{hint}."
        )
    if renamed:
        return (_renamed_classes(baseline, candidate, names),)
    if differing:  # the same names, but defined elsewhere (a --classes file vs a preset)
        origins = "; ".join(
            f"{key} {_shown(before[key])} vs {_shown(after[key])}" for key in differing
        )
        return (
            Notice(
                "class-definitions-differ",
                f"{baseline_name} and {candidate_name} took their classes from different "
                f"definitions ({origins}); classes were matched by id.",
            ),
        )
    return ()


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
    warnings = list(
        check_comparable(
            baseline,
            candidate,
            allow_different_images=allow_different_images,
            baseline_name=baseline_name,
            candidate_name=candidate_name,
        )
    )
    paired: PairedBootstrapResult | None = None
    if intervals is not None:
        names = {"baseline": baseline_name, "candidate": candidate_name}
        paired, bootstrap_warnings = paired_intervals(
            baseline, candidate, intervals, jobs=jobs, names=names
        )
        warnings += bootstrap_warnings
    per_image = baseline.config.per_image and candidate.config.per_image
    names_shown = SUMMARY_ROWS + (IMAGE_SUMMARY_ROWS if per_image else ())
    class_metrics = ("iou", "dice") + (("image_iou", "image_dice") if per_image else ())
    both = [
        name
        for name in (*CATEGORY_INSTANCE_SUMMARY_ROWS, *BOUNDARY_SUMMARY_ROWS)
        if baseline.offers(name) and candidate.offers(name)
    ]
    names_shown += tuple(both)
    class_metrics += tuple(
        name
        for name in ("iiou", *BOUNDARY_CLASS_ROWS)
        if baseline.offers(name) and candidate.offers(name)
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
