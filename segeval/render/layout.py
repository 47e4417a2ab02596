"""What a human-readable report shows, independent of how it is drawn.

The plain-text, terminal and Markdown renderers all draw the same
:class:`Section` list built here, so they never disagree on content.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from segeval.core.metrics import REGISTRY
from segeval.report import Report
from segeval.wording import counted

if TYPE_CHECKING:  # the bootstrap's and the gallery's code load only when used
    from segeval.gallery import Gallery
    from segeval.stats import Interval

__all__ = [
    "HEADLINE_METRICS",
    "RenderOptions",
    "Section",
    "boundary_sections",
    "class_interval",
    "format_count",
    "format_interval",
    "format_p_value",
    "format_value",
    "report_header",
    "report_notes",
    "report_sections",
    "summary_interval",
]

#: Summary metrics shown in tables (JSON and CSV carry every metric); the same rows
#: as compare's summary (:data:`segeval.compare.SUMMARY_ROWS`).
HEADLINE_METRICS = (
    "pixel_accuracy", "mean_accuracy", "miou", "mdice", "fwiou", "kappa", "min_iou",
)  # fmt: skip

#: Summary metrics shown after the headline ones when the report has them (Cityscapes'
#: four numbers: mIoU above, then category mIoU, iIoU and category iIoU).
CATEGORY_AND_INSTANCE_METRICS = ("category_miou", "miiou", "category_miiou")


@dataclass(frozen=True)
class RenderOptions:
    """Choices about what a rendered report includes.

    Parameters
    ----------
    confusion_matrix : bool, default False
        Add the confusion matrix to table and Markdown output (JSON always
        carries it; CSV carries it when this is set).
    normalize : {"none", "gt", "pred", "all"}, default "none"
        Show the matrix normalised by ground-truth rows, prediction columns or
        the total.
    digits : int, default 4
        Decimals shown for metrics in tables (JSON keeps full precision).
    gallery : Gallery, optional
        Images to draw in HTML output (the worst images of a score run, the
        most changed ones of a comparison) and the per-image score distribution.
    links : mapping of str to str
        HTML output of a batch: submission name -> address of its own report.
    per_image : bool, default False
        Loss reports: add every image's values (all formats).
    worst : int, default 0
        Loss reports: add the ``worst`` images with the highest weighted total.
    """

    confusion_matrix: bool = False
    normalize: str = "none"
    digits: int = 4
    gallery: Gallery | None = None
    links: Mapping[str, str] = field(default_factory=dict)
    per_image: bool = False
    worst: int = 0


@dataclass(frozen=True)
class Section:
    """One table: a title, column headers, rows of strings, and alignment."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)


def format_value(value: float, digits: int = 4) -> str:
    """A metric for display: fixed decimals, ``-`` when undefined.

    Examples
    --------
    >>> format_value(0.123456), format_value(float("nan"))
    ('0.1235', '-')
    """
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def format_interval(value: float, interval: Interval | None, digits: int = 4) -> str:
    """A metric with its confidence interval: ``0.7120 [0.6980, 0.7270]``.

    The value alone when there is no interval, ``-`` when undefined, and ``-``
    for a bound no resample defined.

    Examples
    --------
    >>> from segeval.stats import Interval
    >>> format_interval(0.712, Interval(0.712, 0.698, 0.727), 3)
    '0.712 [0.698, 0.727]'
    >>> nan = float("nan")
    >>> format_interval(0.712, None, 3), format_interval(nan, Interval(nan, nan, nan))
    ('0.712', '-')
    """
    if interval is None or math.isnan(value):
        return format_value(value, digits)
    low, high = (format_value(bound, digits) for bound in (interval.low, interval.high))
    return f"{format_value(value, digits)} [{low}, {high}]"


def format_p_value(p_value: float) -> str:
    """A bootstrap p-value for display: ``< 0.001`` below the resolution shown.

    Examples
    --------
    >>> format_p_value(0.0009995), format_p_value(0.0314), format_p_value(float("nan"))
    ('< 0.001', '0.031', '-')
    """
    if math.isnan(p_value):
        return "-"
    return "< 0.001" if p_value < 0.001 else f"{p_value:.3f}"


def format_count(value: int) -> str:
    """A pixel count with thousands separators.

    Examples
    --------
    >>> format_count(1234567)
    '1,234,567'
    """
    return f"{value:,}"


def report_header(report: Report) -> list[str]:
    """Lines that say what was scored and under which convention."""
    config = report.config
    ignore = ", ".join(str(v) for v in config.ignore_index) or "none"
    if config.num_classes_inferred:
        classes = (
            f"{counted(config.num_classes, 'class')}, inferred from the largest label seen "
            "(pass --num-classes or --class-names to fix it)"
        )
    elif config.classes:
        classes = f"{counted(config.num_classes, 'class')} from {config.classes}"
        if config.class_ids != "none":
            classes += f" ({config.class_ids} masks hold class ids)"
    else:
        classes = f"{counted(config.num_classes, 'class')}"
    options = config.metric_options
    empty = {
        "nan": "undefined, left out of means",
        "zero": "scored 0",
        "one": "scored 1",
    }[options.empty]
    aggregation = "dataset level (one confusion matrix over all pixels)"
    if config.per_image:
        aggregation += " and per image (each image scored alone, then averaged over images)"
    lines = [
        f"segeval {report.segeval_version}: {counted(report.num_images, 'image')}, "
        f"{counted(report.scored_pixels, 'pixel', thousands=True)} scored, "
        f"{format_count(report.ignored_pixels)} ignored (ignore index {ignore})",
        f"Aggregation: {aggregation}; {classes}",
        f"Classes absent from ground truth and prediction: {empty}; "
        f"{report.classes_averaged} of {counted(config.num_classes, 'class')} averaged",
    ]
    settings = []
    if config.convention:
        settings.append(f"convention {config.convention}")
    if config.reduce_zero_label:
        settings.append("reduce-zero-label (0 ignored, other labels minus 1)")
    if config.out_of_range == "miss":
        settings.append("out-of-range predictions count as misses")
    if options.zero_division == "zero":
        settings.append("other undefined ratios scored 0")
    if options.beta != 1.0:
        settings.append(f"F-beta with beta = {options.beta:g}")
    if options.fscore == "precision_recall":
        settings.append("F-scores from precision and recall (undefined without true positives)")
    if options.gt_empty == "nan":
        settings.append("classes absent from the ground truth undefined even when predicted")
    if options.empty_mean == "zero" and config.per_image:
        settings.append("a mean over no image scored 0")
    if config.pred_ignore == "error":
        settings.append("predicted ignore values refused")
    if settings:
        lines.append("Settings: " + "; ".join(settings))
    if report.intervals is not None:
        intervals = report.intervals
        grouping = f", grouped by {intervals.grouping}" if intervals.grouping else ""
        lines.append(
            f"Intervals: {intervals.describe()}{grouping}; dataset-level metrics and per-class "
            "IoU and Dice (docs/statistics.md)"
        )
    if report.boundary is not None:
        lines += _boundary_header(report)
    return lines


def _boundary_header(report: Report) -> list[str]:
    assert report.boundary is not None
    options = report.boundary.options
    lines = []
    if options.boundary:
        widths = ", ".join(str(width) for width in report.boundary.band_widths) or "-"
        band = (
            f"{options.width} px"
            if options.width is not None
            else f"{widths} px ({options.ratio:g} of the image diagonal)"
        )
        lines.append(
            f"Boundary IoU: band d = {band}, counts summed over images; BF: tolerance "
            f"{options.bf_fraction:g} of the diagonal, per class mean over images"
        )
    if options.surface:
        hd95 = "MONAI's (max of the directed 95th percentiles)"
        if options.hd95 == "medpy":
            hd95 = "medpy's (95th percentile of both directions pooled)"
        unit = report.boundary.distance_unit
        short = {"pixels": "px", "mm": "mm"}.get(unit, unit)
        where = " (volumes: the voxel spacing of their headers)" if "mm" in unit else ""
        lines.append(
            f"Surface distances: in {unit}{where}, per class mean over images; HD95 {hd95}; "
            f"NSD tolerance {options.nsd_tolerance:g} {short}"
        )
    return lines


def report_notes(report: Report) -> list[str]:
    """Footnotes about pixels that were counted in a special way, and metrics not computed."""
    notes = []
    if report.config.convention == "cityscapes" and not report.config.gt_instances:
        notes.append(
            "iIoU (instance-level IoU, one of the four Cityscapes numbers) needs the ground "
            "truth's instance ids: pass --gt-instances DIR (*_gtFine_instanceIds.png)."
        )
    if report.pred_ignore_pixels:
        notes.append(
            "Scored pixels predicted with an ignore value (misses of their ground-truth "
            f"class): {format_count(report.pred_ignore_pixels)}."
        )
    if report.out_of_range_pixels:
        notes.append(
            "Scored pixels predicted with an out-of-range label (misses of their ground-truth "
            f"class): {format_count(report.out_of_range_pixels)}."
        )
    excluded = [result.name for result in report.classes if not result.included]
    if excluded:
        notes.append(f"Left out of the means: {', '.join(excluded)}.")
    pairing = report.pairing
    if pairing.missing and pairing.missing_policy == "empty":
        notes.append(f"Images without prediction, scored as predicting nothing: {pairing.missing}.")
    elif pairing.missing:
        notes.append(f"Images without prediction, not scored: {pairing.missing}.")
    if pairing.extra:
        notes.append(f"Predictions without ground truth, not scored: {pairing.extra}.")
    if pairing.resized:
        notes.append(f"Predictions resized to their ground truth's size: {pairing.resized}.")
    boundary = report.boundary
    if boundary is not None and boundary.options.surface and (boundary.missed or boundary.spurious):
        replaced = (
            "replaced by the image diagonal (--replace-inf diagonal)"
            if boundary.options.replace_inf
            else "infinite (--replace-inf diagonal uses the image diagonal), and so is the mean "
            "of a class with one such case"
        )
        notes.append(
            "Surface distances: (image, class) cases with the class in the ground truth only "
            f"(missed): {boundary.missed}, in the prediction only (spurious): "
            f"{boundary.spurious}; their HD, HD95 and ASSD are {replaced}; their NSD is 0."
        )
    return notes


def report_sections(report: Report, options: RenderOptions) -> list[Section]:
    """The summary, per-class and (optionally) confusion-matrix tables."""
    sections = [_summary_section(report, options), _class_section(report, options)]
    if report.categories:
        sections.append(_category_section(report, options))
    sections += boundary_sections(report, options)
    if options.confusion_matrix:
        sections.append(_confusion_section(report, options))
    return sections


def _ci_header(report: Report) -> str:
    intervals = report.intervals
    return "" if intervals is None else f" [{intervals.confidence:.0%} CI]"


def summary_interval(report: Report, name: str) -> Interval | None:
    """The interval of a summary metric, when the report has one."""
    return None if report.intervals is None else report.intervals.summary.get(name)


def class_interval(report: Report, name: str, class_index: int) -> Interval | None:
    """The interval of a per-class metric (``iou``, ``dice``), when the report has one."""
    if report.intervals is None or name not in report.intervals.per_class:
        return None
    return report.intervals.per_class[name][class_index]


def _summary_section(report: Report, options: RenderOptions) -> Section:
    digits = options.digits
    ci = _ci_header(report)

    def value(name: str) -> str:
        return format_interval(report.summary[name], summary_interval(report, name), digits)

    extra = [name for name in CATEGORY_AND_INSTANCE_METRICS if name in report.summary]
    if not report.config.per_image:
        rows = [[REGISTRY[name].title, value(name)] for name in (*HEADLINE_METRICS, *extra)]
        return Section("Summary (dataset level)", ["Metric", f"Value{ci}"], rows, [False, True])
    rows = []
    for name in HEADLINE_METRICS:
        image_value = report.summary.get(f"image_{name}")
        rows.append(
            [
                REGISTRY[name].title,
                value(name),
                "" if image_value is None else format_value(image_value, digits),
            ]
        )
    # The other two ways tools average over images, labelled with how.
    rows += [[REGISTRY[name].title, value(name), ""] for name in extra]
    for name in ("samplewise_miou", "pooled_miou", "samplewise_mdice", "pooled_mdice"):
        rows.append([REGISTRY[name].title, "", format_value(report.summary[name], digits)])
    return Section(
        "Summary", ["Metric", f"Dataset level{ci}", "Per-image mean"], rows, [False, True, True]
    )


def _class_section(report: Report, options: RenderOptions) -> Section:
    digits = options.digits
    beta = report.config.metric_options.beta
    ci = _ci_header(report)
    headers = ["ID", "Class", f"IoU{ci}", f"Dice{ci}", "Precision", "Recall"]
    if beta != 1.0:
        headers.append(f"F{beta:g}")
    instances = report.config.gt_instances
    if instances:
        headers.append("iIoU")
    if report.config.per_image:
        headers += ["IoU (img)", "Dice (img)", "Images"]
    headers += ["GT pixels", "Pred pixels"]
    rows = []
    for result in report.classes:
        row = [
            str(result.id),
            result.name if result.included else f"{result.name} (excluded)",
            format_interval(result.iou, class_interval(report, "iou", result.id), digits),
            format_interval(result.dice, class_interval(report, "dice", result.id), digits),
            format_value(result.precision, digits),
            format_value(result.recall, digits),
        ]
        if beta != 1.0:
            row.append(format_value(result.fbeta, digits))
        if instances:
            row.append(format_value(result.value("iiou"), digits))
        if report.config.per_image:
            row += [
                format_value(_or_nan(result.image_iou), digits),
                format_value(_or_nan(result.image_dice), digits),
                str(result.image_iou_images),
            ]
        row += [format_count(result.support), format_count(result.predicted)]
        rows.append(row)
    return Section("Per class", headers, rows, [header != "Class" for header in headers])


def _category_section(report: Report, options: RenderOptions) -> Section:
    instances = report.config.gt_instances
    rows = [
        [
            result.name,
            format_value(result.iou, options.digits),
            *([format_value(result.value("category_iiou"), options.digits)] if instances else []),
            format_count(result.tp),
            format_count(result.fp),
            format_count(result.fn),
        ]
        for result in report.categories
    ]
    headers = ["Category", "IoU", *(["iIoU"] if instances else []), "TP", "FP", "FN"]
    return Section("Per category", headers, rows, [header != "Category" for header in headers])


#: Per-class boundary columns: registry name -> header.
_BOUNDARY_COLUMNS = {
    "biou": "BIoU",
    "bf": "BF",
    "hd": "HD",
    "hd95": "HD95",
    "assd": "ASSD",
    "nsd": "NSD",
}


def boundary_sections(report: Report, options: RenderOptions) -> list[Section]:
    """The boundary summary and per-class tables (none without boundary metrics)."""
    boundary = report.boundary
    if boundary is None:
        return []
    digits = options.digits
    summary = Section(
        "Boundary summary",
        ["Metric", "Value"],
        [
            [REGISTRY[name].title, format_value(value, digits)]
            for name, value in boundary.values.items()
        ],
        [False, True],
    )
    names = [name for name in _BOUNDARY_COLUMNS if name in report.classes[0].boundary]
    counts = ["Missed", "Spurious"] if boundary.options.surface else []
    headers = ["ID", "Class", *(_BOUNDARY_COLUMNS[name] for name in names), *counts]
    rows = []
    for result in report.classes:
        row = [
            str(result.id),
            result.name if result.included else f"{result.name} (excluded)",
            *(format_value(result.boundary[name], digits) for name in names),
        ]
        if counts:
            row += [str(result.boundary_counts.get(key, 0)) for key in ("missed", "spurious")]
        rows.append(row)
    per_class = Section(
        "Boundary per class", headers, rows, [header != "Class" for header in headers]
    )
    return [summary, per_class]


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


_NORMALIZED_BY = {"gt": "ground-truth row", "pred": "prediction column", "all": "total"}


def _confusion_section(report: Report, options: RenderOptions) -> Section:
    names = list(report.config.class_names)
    show_missed = bool(report.missed.any())
    if options.normalize == "none":
        values: np.ndarray = report.confusion_matrix
        cells = [[format_count(int(v)) for v in row] for row in values]
        missed = [format_count(int(v)) for v in report.missed]
        title = "Confusion matrix (rows: ground truth, columns: prediction; pixel counts)"
    else:
        values = report.normalized_matrix(options.normalize)
        cells = [[format_value(float(v), options.digits) for v in row] for row in values]
        scale = _missed_scale(report, options.normalize)
        missed = [format_value(float(v), options.digits) for v in scale]
        title = (
            "Confusion matrix (rows: ground truth, columns: prediction; normalised by "
            f"{_NORMALIZED_BY[options.normalize]})"
        )
    headers = ["GT \\ Pred", *names] + (["(missed)"] if show_missed else [])
    rows = [
        [names[index], *cells[index]] + ([missed[index]] if show_missed else [])
        for index in range(len(names))
    ]
    return Section(title, headers, rows, [False] + [True] * (len(headers) - 1))


def _missed_scale(report: Report, how: str) -> np.ndarray:
    missed = report.missed.astype(np.float64)
    if how == "gt":
        support = report.confusion_matrix.sum(axis=1).astype(np.float64) + missed
        return np.asarray(
            np.divide(missed, support, out=np.full_like(missed, np.nan), where=support > 0)
        )
    if how == "all":
        total = float(report.confusion_matrix.sum()) + float(missed.sum())
        return missed / total if total > 0 else np.full_like(missed, np.nan)
    return np.full_like(missed, np.nan)
