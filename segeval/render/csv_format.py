"""CSV output in long form: one row per number.

Columns: ``metric, class_id, class, pred_id, value``.

* summary metrics: ``metric`` is the registry name (``miou``), class columns empty;
* per-class values: ``metric`` is ``iou``, ``dice``, ``support``, ... (and
  ``iiou`` with instance maps); the class columns name the class;
* per category: ``category_iou`` (and ``category_iiou``), the category in ``class``;
* boundary metrics (when computed): summary rows (``mean_biou``, ``hd95``,
  ...), then per class ``biou``, ``bf``, ``hd``, ... and their counts
  (``band_intersection``, ``missed``, ...); an infinite distance is ``inf``;
* with the confusion matrix: ``metric`` is ``confusion`` (or
  ``confusion_normalized``), ``class_id`` is the ground-truth class and
  ``pred_id`` the predicted class (``none`` for pixels predicted as no class).

Undefined values are empty cells. A long table pivots easily
(``pandas.pivot``) and keeps every metric addressable by name. Every row goes
through :func:`~segeval.render.tables.csv_row` (class names cannot inject formulas).

A report with confidence intervals (``score --ci``) has two more columns,
``ci_low`` and ``ci_high``, filled on the rows of the metrics that have an
interval (dataset-level summary metrics, per-class ``iou`` and ``dice``).
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from segeval.render.layout import RenderOptions, class_interval, summary_interval
from segeval.render.tables import csv_row
from segeval.report import Report

if TYPE_CHECKING:  # the bootstrap's code loads only for runs with --ci
    from segeval.stats import Interval

__all__ = ["CI_COLUMNS", "CSV_COLUMNS", "render_csv"]

CSV_COLUMNS = ("metric", "class_id", "class", "pred_id", "value")
#: Added after CSV_COLUMNS when the report has confidence intervals.
CI_COLUMNS = ("ci_low", "ci_high")
_COUNTS = ("support", "predicted", "tp", "fp", "fn")


def render_csv(report: Report, options: RenderOptions) -> str:
    """The report as a long CSV table (see the module docstring)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    with_ci = report.intervals is not None

    def bounds(interval: Interval | None) -> list[object]:
        if not with_ci:
            return []
        if interval is None:
            return ["", ""]
        return [interval.low, interval.high]

    def row(*cells: object) -> None:
        writer.writerow(csv_row(cells))

    row(*CSV_COLUMNS, *(CI_COLUMNS if with_ci else ()))
    for name, value in report.summary.items():
        row(name, "", "", "", value, *bounds(summary_interval(report, name)))
    for result in report.classes:
        for name, value in result.metrics.items():
            interval = class_interval(report, name, result.id)
            row(name, result.id, result.name, "", value, *bounds(interval))
        for name in _COUNTS:
            row(name, result.id, result.name, "", getattr(result, name), *bounds(None))
    for category in report.categories:
        row("category_iou", "", category.name, "", category.iou, *bounds(None))
        if category.iiou is not None:
            row("category_iiou", "", category.name, "", category.iiou, *bounds(None))
    if report.boundary is not None:
        for name, value in report.boundary.values.items():
            row(name, "", "", "", value, *bounds(None))
        for result in report.classes:
            for name, number in [*result.boundary.items(), *result.boundary_counts.items()]:
                row(name, result.id, result.name, "", number, *bounds(None))
    if options.confusion_matrix:
        names = report.config.class_names
        matrix = report.confusion_matrix
        normalized = (
            None if options.normalize == "none" else report.normalized_matrix(options.normalize)
        )
        for gt_id, gt_name in enumerate(names):
            for pred_id in range(len(names)):
                cell = int(matrix[gt_id, pred_id])
                row("confusion", gt_id, gt_name, pred_id, cell, *bounds(None))
                if normalized is not None:
                    share = float(normalized[gt_id, pred_id])
                    row("confusion_normalized", gt_id, gt_name, pred_id, share, *bounds(None))
            missed = int(report.missed[gt_id])
            row("confusion", gt_id, gt_name, "none", missed, *bounds(None))
    return buffer.getvalue()
