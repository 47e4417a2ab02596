"""CSV output in long form: one row per number.

Columns: ``metric, class_id, class, pred_id, value``.

* summary metrics: ``metric`` is the registry name (``miou``), class columns empty;
* per-class values: ``metric`` is ``iou``, ``dice``, ``support``, ...; the class
  columns name the class;
* boundary metrics (when computed): summary rows (``mean_biou``, ``hd95``,
  ...), then per class ``biou``, ``bf``, ``hd``, ... and their counts
  (``band_intersection``, ``missed``, ...); an infinite distance is ``inf``;
* with the confusion matrix: ``metric`` is ``confusion`` (or
  ``confusion_normalized``), ``class_id`` is the ground-truth class and
  ``pred_id`` the predicted class (``none`` for pixels predicted as no class).

Undefined values are empty cells. A long table pivots easily
(``pandas.pivot``) and keeps every metric addressable by name.

A report with confidence intervals (``score --ci``) has two more columns,
``ci_low`` and ``ci_high``, filled on the rows of the metrics that have an
interval (dataset-level summary metrics, per-class ``iou`` and ``dice``).
"""

from __future__ import annotations

import csv
import io

from segeval.render.layout import RenderOptions, class_interval, summary_interval
from segeval.render.tables import csv_number
from segeval.report import Report
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

    def bounds(interval: Interval | None) -> list[str]:
        if not with_ci:
            return []
        if interval is None:
            return ["", ""]
        return [csv_number(interval.low), csv_number(interval.high)]

    writer.writerow(CSV_COLUMNS + (CI_COLUMNS if with_ci else ()))
    for name, value in report.summary.items():
        interval = summary_interval(report, name)
        writer.writerow([name, "", "", "", csv_number(value), *bounds(interval)])
    for result in report.classes:
        for name, value in result.metrics.items():
            interval = class_interval(report, name, result.id)
            writer.writerow(
                [name, result.id, result.name, "", csv_number(value), *bounds(interval)]
            )
        for name in _COUNTS:
            count = csv_number(getattr(result, name))
            writer.writerow([name, result.id, result.name, "", count, *bounds(None)])
    for category in report.categories:
        iou = csv_number(category.iou)
        writer.writerow(["category_iou", "", category.name, "", iou, *bounds(None)])
    if report.boundary is not None:
        for name, value in report.boundary.values.items():
            writer.writerow([name, "", "", "", csv_number(value), *bounds(None)])
        for result in report.classes:
            for name, number in [*result.boundary.items(), *result.boundary_counts.items()]:
                row = [name, result.id, result.name, "", csv_number(number), *bounds(None)]
                writer.writerow(row)
    if options.confusion_matrix:
        names = report.config.class_names
        matrix = report.confusion_matrix
        normalized = (
            None if options.normalize == "none" else report.normalized_matrix(options.normalize)
        )
        for gt_id, gt_name in enumerate(names):
            for pred_id in range(len(names)):
                cell = int(matrix[gt_id, pred_id])
                writer.writerow(["confusion", gt_id, gt_name, pred_id, cell, *bounds(None)])
                if normalized is not None:
                    writer.writerow(
                        [
                            "confusion_normalized",
                            gt_id,
                            gt_name,
                            pred_id,
                            csv_number(float(normalized[gt_id, pred_id])),
                            *bounds(None),
                        ]
                    )
            missed = int(report.missed[gt_id])
            writer.writerow(["confusion", gt_id, gt_name, "none", missed, *bounds(None)])
    return buffer.getvalue()
