"""Quality gates: thresholds on a report, and regression checks between two reports.

Everything here is a pure function from reports and specs to a
:class:`GateResult`; the CLI prints it, turns it into an exit code (1 when a
check failed) and, on request, into JUnit XML.

With a paired bootstrap of the two reports (:mod:`segeval.stats`), regressions
can be judged on the pessimistic bound of the difference's interval
(``--max-drop-ci``) and :func:`check_improvements` requires the candidate to be
better with the interval's confidence (``--require-improvement``).

Metric references use the registry's names (``segeval metrics``): a summary
metric (``miou``, ``pixel_accuracy``, ``min_iou``, ``image_mdice``) or a
per-class one with a class name or id in brackets (``iou[road]``, ``dice[3]``).
Surface distances are both: ``hd95`` is the mean over classes and
``hd95[road]`` one class's value; lower is better, so they take ``--fail-over``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from segeval.checks import Check, GateResult
from segeval.core.metrics import REGISTRY
from segeval.errors import ThresholdError, UsageError
from segeval.inputs.classes import did_you_mean, resolve_class
from segeval.inputs.documents import read_document
from segeval.report import Report
from segeval.stats import PairedBootstrapResult, check_max_drop, require_improvement
from segeval.stats.bootstrap import Decision

__all__ = [
    "Check",
    "GateResult",
    "MaxDrop",
    "MetricRef",
    "Threshold",
    "check_improvements",
    "check_metric_name",
    "check_names",
    "check_regressions",
    "check_thresholds",
    "load_thresholds",
    "metric_value",
    "parse_max_drop",
    "parse_threshold",
    "resolve_metric",
]

Direction = Literal["under", "over"]
_REFERENCE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(?:\[\s*(.+?)\s*\])?\s*$")


@dataclass(frozen=True)
class MetricRef:
    """A metric of a report: a registry name, and a class index for per-class metrics."""

    name: str
    class_index: int | None = None
    class_name: str | None = None

    def __str__(self) -> str:
        return self.name if self.class_name is None else f"{self.name}[{self.class_name}]"


@dataclass(frozen=True)
class Threshold:
    """``--fail-under METRIC=VALUE`` (direction ``under``) or ``--fail-over``."""

    metric: str
    value: float
    direction: Direction = "under"


@dataclass(frozen=True)
class MaxDrop:
    """``--max-drop METRIC=DELTA``: how much worse the candidate may be."""

    metric: str
    delta: float


def check_names(
    thresholds: Iterable[Threshold],
    class_names: Sequence[str] | None = None,
    *,
    per_image: bool | None = None,
    inferred_classes: bool = False,
    category_names: Sequence[str] | None = None,
    computed_options: Iterable[str] | None = None,
) -> None:
    """Check every threshold's metric name before a run, so a typo costs no scoring.

    Parameters
    ----------
    thresholds : iterable of Threshold
    class_names : sequence of str, optional
        The class names, when known before scoring.
    per_image : bool, optional
        Whether the run scores per image; False refuses ``image_*`` metrics.
    inferred_classes : bool, default False
        The class count will be inferred: classes can only be named by id or
        as ``class_K``.
    category_names : sequence of str, optional
        The categories of the run's class definition, when known before
        scoring (none without a definition that declares them).
    computed_options : iterable of str, optional
        The options that add metrics this run computes (``--boundary``,
        ``--surface-distances``); a metric needing another is refused.

    Examples
    --------
    >>> check_names([Threshold("miou", 0.5)], ["road", "car"])
    >>> check_names([Threshold("iou[sky]", 0.5)], ["road", "car"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.ThresholdError: 'iou[sky]': ...
    >>> check_names([Threshold("image_miou", 0.5)], per_image=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.ThresholdError: image_miou is a per-image metric; ...
    """
    for threshold in thresholds:
        check_metric_name(threshold.metric, class_names)
        match = _REFERENCE.match(threshold.metric)
        assert match is not None  # checked just above
        spec = REGISTRY[match.group(1)]
        class_ref = match.group(2)
        if (class_ref is not None and not spec.by_class) or (class_ref is None and spec.per_class):
            wanted = " or ".join(spec.forms())
            raise ThresholdError(f"{threshold.metric.strip()!r}: write it as {wanted}.")
        if per_image is False and spec.per_image:
            raise ThresholdError(_PER_IMAGE_HINT.format(name=match.group(1)))
        if (
            computed_options is not None
            and spec.option is not None
            and spec.option not in set(computed_options)
        ):
            raise ThresholdError(
                f"{match.group(1)} is computed with {spec.option}; score with {spec.option} to "
                "gate on it."
            )
        if spec.per_category and class_ref is not None and category_names is not None:
            if not category_names:
                raise ThresholdError(
                    f"{threshold.metric.strip()!r}: this run has no categories; score with a "
                    "class definition that declares them."
                )
            try:
                resolve_class(class_ref, category_names)
            except UsageError as err:
                raise ThresholdError(
                    f"{threshold.metric.strip()!r}: unknown category ({err})"
                ) from None
            continue
        if inferred_classes and class_ref is not None and not _DEFAULT_NAME.match(class_ref):
            raise ThresholdError(
                f"{threshold.metric.strip()!r}: the classes have no names in this run (the "
                "class count is inferred), so name the class by id (iou[3]) or as class_3, "
                "or pass --class-names / --classes."
            )


_PER_IMAGE_HINT = (
    "{name} is a per-image metric; score with --per-image (or a convention that scores "
    "per image) to gate on it."
)
_DEFAULT_NAME = re.compile(r"^(?:class_)?\d+$")


def _valid_names(report: Report) -> str:
    names = [
        form for name, spec in REGISTRY.items() if report.offers(name) for form in spec.forms()
    ]
    classes = ", ".join(report.config.class_names[:20])
    more = ", ..." if len(report.config.class_names) > 20 else ""
    return f"valid metrics: {', '.join(names)}; CLASS is an id or one of: {classes}{more}"


def resolve_metric(reference: str, report: Report) -> MetricRef:
    """Resolve ``miou`` or ``iou[road]`` against a report's metrics and classes.

    Raises
    ------
    ThresholdError
        Unknown metric or class (the message lists the valid names), a per-class
        metric without a class, or a per-image metric in a dataset-level report.

    Examples
    --------
    >>> import numpy as np
    >>> from segeval import ConfusionMatrix, build_report
    >>> report = build_report(ConfusionMatrix.from_counts(np.eye(2)), class_names=["bg", "car"])
    >>> resolve_metric("iou[car]", report)
    MetricRef(name='iou', class_index=1, class_name='car')
    """
    match = _REFERENCE.match(reference)
    spec = REGISTRY.get(match.group(1)) if match else None
    if match is None or spec is None:
        hint = did_you_mean(match.group(1) if match else reference.strip(), list(REGISTRY))
        raise ThresholdError(f"unknown metric {reference.strip()!r}{hint}; {_valid_names(report)}.")
    name, class_ref = match.group(1), match.group(2)
    if spec.per_image and not report.config.per_image:
        raise ThresholdError(_PER_IMAGE_HINT.format(name=name))
    if spec.option is not None and not report.offers(name):
        raise ThresholdError(
            f"{name} is computed with {spec.option}; score with {spec.option} to gate on it."
        )
    if (class_ref is not None and not spec.by_class) or (class_ref is None and spec.per_class):
        wanted = " or ".join(spec.forms())
        raise ThresholdError(
            f"{reference.strip()!r}: write it as {wanted}; {_valid_names(report)}."
        )
    if class_ref is None:
        return MetricRef(name)
    if spec.per_category:
        names = [category.name for category in report.categories]
        try:
            index = resolve_class(class_ref, names)
        except UsageError as err:
            raise ThresholdError(
                f"{reference.strip()!r}: unknown category ({err}); the report's categories: "
                f"{', '.join(names) or 'none (score with a class definition that declares them)'}."
            ) from None
        return MetricRef(name, index, names[index])
    try:
        index = resolve_class(class_ref, report.config.class_names)
    except UsageError as err:
        raise ThresholdError(f"{reference.strip()!r}: {err}") from None
    return MetricRef(name, index, report.config.class_names[index])


def check_metric_name(reference: str, class_names: Sequence[str] | None = None) -> None:
    """Raise ThresholdError unless a reference names a registry metric (and a known class).

    Used before a run, so that a typo fails at once; class names are checked
    when they are known before scoring.

    Examples
    --------
    >>> check_metric_name("iou[road]")
    >>> check_metric_name("mIoU")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.ThresholdError: unknown metric 'mIoU' (did you mean 'miou'?); valid ...
    """
    match = _REFERENCE.match(reference)
    name = match.group(1) if match else ""
    if name not in REGISTRY:
        valid = ", ".join(form for spec in REGISTRY.values() for form in spec.forms())
        hint = did_you_mean(match.group(1) if match else reference.strip(), list(REGISTRY))
        raise ThresholdError(f"unknown metric {reference.strip()!r}{hint}; valid metrics: {valid}.")
    spec = REGISTRY[name]
    if match and match.group(2) is not None and class_names is not None and not spec.per_category:
        try:
            resolve_class(match.group(2), class_names)
        except UsageError as err:
            raise ThresholdError(f"{reference.strip()!r}: {err}") from None


def metric_value(ref: MetricRef, report: Report) -> float:
    """The value of a resolved metric in a report (NaN when undefined)."""
    if ref.class_index is None:
        return report.summary_value(ref.name)
    if REGISTRY[ref.name].per_category:
        return report.categories[ref.class_index].value(ref.name)
    return report.classes[ref.class_index].value(ref.name)


def parse_threshold(spec: str, direction: Direction = "under") -> Threshold:
    """Parse ``METRIC=VALUE``.

    Examples
    --------
    >>> parse_threshold("iou[road]=0.8")
    Threshold(metric='iou[road]', value=0.8, direction='under')
    """
    metric, number = _metric_and_number(spec)
    return Threshold(metric, number, direction)


def parse_max_drop(spec: str) -> MaxDrop:
    """Parse ``METRIC=DELTA`` of ``--max-drop``.

    Examples
    --------
    >>> parse_max_drop("any-class-iou=0.02")
    MaxDrop(metric='any-class-iou', delta=0.02)
    """
    metric, number = _metric_and_number(spec)
    if number < 0:
        raise ThresholdError(f"--max-drop {spec}: a drop is >= 0.")
    return MaxDrop(metric, number)


def _metric_and_number(spec: str) -> tuple[str, float]:
    metric, separator, value = spec.rpartition("=")
    if not separator or not metric.strip():
        raise ThresholdError(f"{spec!r}: expected METRIC=VALUE, for example miou=0.72.")
    try:
        number = float(value)
    except ValueError:
        raise ThresholdError(f"{spec!r}: {value!r} is not a number.") from None
    if not math.isfinite(number):
        raise ThresholdError(f"{spec!r}: the threshold must be a finite number.")
    return metric.strip(), number


def load_thresholds(path: str | Path) -> list[Threshold]:
    """Read thresholds from a TOML or JSON file.

    The file has a ``fail_under`` and/or a ``fail_over`` table of
    ``METRIC = VALUE``::

        [fail_under]
        miou = 0.72
        "iou[road]" = 0.9

    Raises
    ------
    ThresholdError
        Unreadable file, invalid TOML/JSON, unknown sections, values that are
        not finite numbers (NaN, infinities, integers too large for a float).
    """
    path = Path(path)
    document = read_document(path, error=ThresholdError, what="the thresholds file")
    if not isinstance(document, Mapping) or not document:
        raise ThresholdError(f"{path}: expected fail_under and/or fail_over tables.")
    unknown = sorted(set(document) - {"fail_under", "fail_over"})
    if unknown:
        hint = did_you_mean(str(unknown[0]), ["fail_under", "fail_over"])
        raise ThresholdError(
            f"{path}: unknown section {unknown[0]!r}{hint}; use fail_under and/or fail_over."
        )
    thresholds = []
    for section, direction in (("fail_under", "under"), ("fail_over", "over")):
        table = document.get(section, {})
        if not isinstance(table, Mapping):
            raise ThresholdError(f"{path}: {section} must be a table of METRIC = VALUE.")
        for metric, value in table.items():
            thresholds.append(
                Threshold(str(metric), _finite(value, f"{path}: {section}.{metric}"), direction)  # type: ignore[arg-type]
            )
    return thresholds


def _finite(value: object, where: str) -> float:
    """A threshold value as a finite float, or ThresholdError (NaN, infinities, huge integers).

    Examples
    --------
    >>> _finite(1, "x")
    1.0
    >>> _finite(float("nan"), "t.json: fail_under.miou")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.ThresholdError: t.json: fail_under.miou = nan is not a finite number; ...
    """
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    problem = ThresholdError(
        f"{where} = {shown} is not a finite number; a threshold is a number such as 0.72."
    )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise problem
    try:
        number = float(value)
    except OverflowError:
        raise problem from None
    if not math.isfinite(number):
        raise problem
    return number


def check_thresholds(report: Report, thresholds: Iterable[Threshold]) -> GateResult:
    """Check a report against thresholds.

    An undefined value (a class absent from both sides, say) fails its check:
    the gate cannot confirm it.

    Examples
    --------
    >>> import numpy as np
    >>> from segeval import ConfusionMatrix, build_report
    >>> report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    >>> result = check_thresholds(report, [Threshold("miou", 0.7), Threshold("miou", 0.8)])
    >>> [check.passed for check in result.checks]
    [False, True]
    """
    checks = []
    for threshold in thresholds:
        comparison = ">=" if threshold.direction == "under" else "<="
        try:
            ref = resolve_metric(threshold.metric, report)
        except ThresholdError as err:
            # Only a class id beyond an inferred class count gets here (names were
            # checked before scoring): a failed check, and the report is kept.
            checks.append(
                Check(threshold.metric, math.nan, threshold.value, comparison, False, str(err))
            )
            continue
        value = metric_value(ref, report)
        if REGISTRY[ref.name].zero_is_best:
            value = abs(value)  # a signed difference: its size is what is gated
        if math.isnan(value):
            passed, note = False, "the metric is undefined in this report"
        elif threshold.direction == "under":
            passed, note = value >= threshold.value, ""
        else:
            passed, note = value <= threshold.value, ""
        checks.append(Check(str(ref), value, threshold.value, comparison, passed, note))
    return _ordered(checks)


def _ordered(checks: Sequence[Check]) -> GateResult:
    return GateResult(tuple(sorted(checks, key=lambda check: check.passed)))


def check_regressions(
    baseline: Report,
    candidate: Report,
    max_drops: Iterable[MaxDrop],
    *,
    paired: PairedBootstrapResult | None = None,
) -> GateResult:
    """Fail where the candidate is worse than the baseline by more than allowed.

    ``max_drops`` hold ``METRIC=DELTA``; ``any-class-iou`` / ``any-class-dice``
    (and any ``any-class-NAME`` of a per-class metric) expand to one check per
    class defined in both reports. "Worse" follows the registry's
    ``higher_is_better``. With ``paired`` (``--max-drop-ci``) the drop judged is
    the pessimistic bound of the difference's interval, not the point estimate:
    the check passes only if the candidate is, with the interval's confidence,
    no worse than allowed.

    Examples
    --------
    >>> import numpy as np
    >>> from segeval import ConfusionMatrix, build_report
    >>> old = build_report(ConfusionMatrix.from_counts(np.array([[4, 0], [0, 4]])))
    >>> new = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    >>> result = check_regressions(old, new, [MaxDrop("miou", 0.1)])
    >>> result.passed, round(result.checks[0].value, 4)
    (False, 0.225)
    """
    checks: list[Check] = []
    for drop in max_drops:
        if drop.delta < 0:
            raise ThresholdError(f"--max-drop {drop.metric}={drop.delta}: a drop is >= 0.")
        if drop.metric.startswith("any-class-"):
            name = drop.metric.removeprefix("any-class-")
            spec = REGISTRY.get(name)
            if spec is None or not spec.by_class:
                per_class = ", ".join(n for n, s in REGISTRY.items() if s.by_class)
                raise ThresholdError(
                    f"unknown per-class metric in {drop.metric!r}; use any-class-NAME with NAME "
                    f"one of: {per_class}."
                )
            refs = [
                resolve_metric(f"{name}[{index}]", candidate)
                for index in range(len(candidate.classes))
            ]
            refs = [
                ref for ref in refs
                if not math.isnan(metric_value(ref, baseline))
                and not math.isnan(metric_value(ref, candidate))
            ]  # fmt: skip
        else:
            refs = [resolve_metric(drop.metric, candidate)]
            resolve_metric(drop.metric, baseline)
        if paired is None:
            checks.extend(_drop_check(ref, baseline, candidate, drop.delta) for ref in refs)
        else:
            checks.extend(
                _check(check_max_drop(paired, ref.name, drop.delta, ref.class_index), ref)
                for ref in refs
            )
    return _ordered(checks)


def _check(decision: Decision, ref: MetricRef) -> Check:
    """A bootstrap decision as a gate check, named with the class name rather than its id."""
    kind = decision.name.split(" ", 1)[0]
    return Check(
        f"{kind} {ref}",
        decision.value,
        decision.threshold,
        decision.comparison,
        decision.passed,
        decision.note,
    )


def check_improvements(
    candidate: Report, metrics: Iterable[str], paired: PairedBootstrapResult
) -> GateResult:
    """``--require-improvement``: fail unless the candidate is better, with confidence.

    Better means the whole interval of ``candidate - baseline`` lies on the
    better side of 0 (the registry's ``higher_is_better`` says which side);
    the check's value is that bound.

    Parameters
    ----------
    candidate : Report
        Resolves metric and class names.
    metrics : iterable of str
        ``miou``, ``iou[road]``...: dataset-level metrics (per-image means are not resampled).
    paired : PairedBootstrapResult

    Returns
    -------
    GateResult

    Raises
    ------
    ThresholdError
        An unknown metric or class.
    UsageError
        A metric the bootstrap has no interval for.
    """
    checks = []
    for reference in metrics:
        ref = resolve_metric(reference, candidate)
        checks.append(_check(require_improvement(paired, ref.name, ref.class_index), ref))
    return _ordered(checks)


def _drop_check(ref: MetricRef, baseline: Report, candidate: Report, allowed: float) -> Check:
    before, after = metric_value(ref, baseline), metric_value(ref, candidate)
    spec = REGISTRY[ref.name]
    drop = spec.badness(after) - spec.badness(before)
    if before == after:  # also an infinite distance in both: no worse
        drop = 0.0
    note = f"baseline {before:.4f}, candidate {after:.4f}"
    if math.isnan(drop):
        return Check(f"max-drop {ref}", drop, allowed, "<=", False, "undefined in one report")
    # A tolerance of a few ulps keeps an exact threshold from failing on rounding.
    return Check(f"max-drop {ref}", drop, allowed, "<=", drop <= allowed + 1e-12, note)
