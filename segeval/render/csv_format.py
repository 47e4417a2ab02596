"""CSV output in long form: one row per number.

Columns: ``metric, class_id, class, pred_id, value``.

* summary metrics: ``metric`` is the registry name (``miou``), class columns empty;
* per-class values: ``metric`` is ``iou``, ``dice``, ``support``, ...; the class
  columns name the class;
* with the confusion matrix: ``metric`` is ``confusion`` (or
  ``confusion_normalized``), ``class_id`` is the ground-truth class and
  ``pred_id`` the predicted class (``none`` for pixels predicted as no class).

Undefined values are empty cells. A long table pivots easily
(``pandas.pivot``) and keeps every metric addressable by name.
"""

from __future__ import annotations

import csv
import io

from segeval.render.layout import RenderOptions
from segeval.render.tables import csv_number
from segeval.report import Report

__all__ = ["CSV_COLUMNS", "render_csv"]

CSV_COLUMNS = ("metric", "class_id", "class", "pred_id", "value")
_COUNTS = ("support", "predicted", "tp", "fp", "fn")


def render_csv(report: Report, options: RenderOptions) -> str:
    """The report as a long CSV table (see the module docstring)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name, value in report.summary.items():
        writer.writerow([name, "", "", "", csv_number(value)])
    for result in report.classes:
        for name, value in result.metrics.items():
            writer.writerow([name, result.id, result.name, "", csv_number(value)])
        for name in _COUNTS:
            writer.writerow([name, result.id, result.name, "", csv_number(getattr(result, name))])
    for category in report.categories:
        writer.writerow(["category_iou", "", category.name, "", csv_number(category.iou)])
    if options.confusion_matrix:
        names = report.config.class_names
        matrix = report.confusion_matrix
        normalized = (
            None if options.normalize == "none" else report.normalized_matrix(options.normalize)
        )
        for gt_id, gt_name in enumerate(names):
            for pred_id in range(len(names)):
                writer.writerow(["confusion", gt_id, gt_name, pred_id, int(matrix[gt_id, pred_id])])
                if normalized is not None:
                    writer.writerow(
                        [
                            "confusion_normalized",
                            gt_id,
                            gt_name,
                            pred_id,
                            csv_number(float(normalized[gt_id, pred_id])),
                        ]
                    )
            writer.writerow(["confusion", gt_id, gt_name, "none", int(report.missed[gt_id])])
    return buffer.getvalue()
