"""Render a comparison of two reports: table, Markdown, JSON, CSV or HTML.

With a paired bootstrap (``compare --ci``) the delta of every resampled metric
carries its interval (``+0.0123 [+0.0050, +0.0190]``) and a p-value column;
JSON rows gain ``ci_low``, ``ci_high`` and ``p_value`` and the document a
``bootstrap`` section; CSV gains the same three columns.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from segeval.compare import Comparison, ComparisonRow
from segeval.render.html import render_comparison_html
from segeval.render.layout import RenderOptions, Section, format_p_value, format_value
from segeval.render.markdown import details, gate_markdown, markdown_table
from segeval.render.tables import Renderer, csv_row, json_number, render_with, text_table
from segeval.wording import counted

__all__ = [
    "COMPARE_SCHEMA",
    "FORMATS",
    "comparison_sections",
    "format_delta",
    "format_delta_interval",
    "render_comparison",
]

COMPARE_SCHEMA = "segeval/compare/v1"


def format_delta(row: ComparisonRow) -> str:
    """A signed difference, ``-`` when undefined.

    Examples
    --------
    >>> format_delta(ComparisonRow("miou", "mIoU", None, 0.5, 0.25, True))
    '-0.2500'
    """
    return "-" if math.isnan(row.delta) else f"{row.delta:+.4f}"


def format_delta_interval(row: ComparisonRow) -> str:
    """The delta with its paired-bootstrap interval, when the row has one.

    Examples
    --------
    >>> from segeval.stats import Difference
    >>> difference = Difference(0.02, 0.005, 0.035)
    >>> row = ComparisonRow("miou", "mIoU", None, 0.5, 0.52, True, difference=difference)
    >>> format_delta_interval(row)
    '+0.0200 [+0.0050, +0.0350]'
    """
    difference = row.difference
    if difference is None or math.isnan(row.delta):
        return format_delta(row)
    bounds = (
        "-" if math.isnan(bound) else f"{bound:+.4f}" for bound in (difference.low, difference.high)
    )
    return f"{format_delta(row)} [{', '.join(bounds)}]"


def _p_value(row: ComparisonRow) -> str:
    return "" if row.difference is None else format_p_value(row.difference.p_value)


def columns_per_metric(comparison: Comparison) -> int:
    """Per-class columns of each metric: base, cand, delta (and p with a bootstrap)."""
    return 3 if comparison.paired is None else 4


def comparison_sections(comparison: Comparison) -> list[Section]:
    """The summary and per-class tables (shared by every renderer)."""
    paired = comparison.paired
    ci = "" if paired is None else f" [{paired.confidence:.0%} CI]"
    headers = ["Metric", comparison.baseline_name, comparison.candidate_name, f"Delta{ci}"]
    headers += [] if paired is None else ["p"]
    rows = []
    for row in comparison.summary:
        cells = [row.title, format_value(row.baseline), format_value(row.candidate)]
        cells.append(format_delta_interval(row))
        rows.append(cells + ([] if paired is None else [_p_value(row)]))
    summary = Section("Summary", headers, rows, [False] + [True] * (len(headers) - 1))
    metrics = list(dict.fromkeys(row.name.split("[")[0] for row in comparison.classes))
    headers = ["Class"]
    for name in metrics:
        title = next(row.title for row in comparison.classes if row.name.startswith(name + "["))
        headers += [f"{title} base", f"{title} cand", f"{title} delta{ci}"]
        headers += [] if paired is None else [f"{title} p"]
    per_class: dict[str, list[str]] = {}
    for row in comparison.classes:
        cells = per_class.setdefault(row.class_name or "", [row.class_name or ""])
        cells += [format_value(row.baseline), format_value(row.candidate)]
        cells.append(format_delta_interval(row))
        cells += [] if paired is None else [_p_value(row)]
    classes = Section(
        "Per class", headers, list(per_class.values()), [False] + [True] * (len(headers) - 1)
    )
    return [summary, classes]


def _row_json(row: ComparisonRow, paired: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": row.name,
        "baseline": json_number(row.baseline),
        "candidate": json_number(row.candidate),
        "delta": json_number(row.delta),
        "improved": row.improved,
    }
    if paired:
        difference = row.difference
        document.update(
            dict.fromkeys(("ci_low", "ci_high", "p_value"))
            if difference is None
            else {
                "ci_low": json_number(difference.low),
                "ci_high": json_number(difference.high),
                "p_value": json_number(difference.p_value),
            }
        )
    return document


def _rows_json(rows: Sequence[ComparisonRow], paired: bool) -> list[dict[str, Any]]:
    return [_row_json(row, paired) for row in rows]


def _header(comparison: Comparison) -> str:
    baseline, candidate = comparison.baseline, comparison.candidate
    images = (
        f"{counted(candidate.num_images, 'image')}"
        if baseline.num_images == candidate.num_images
        else f"{baseline.num_images} vs {counted(candidate.num_images, 'image')}"
    )
    header = (
        f"segeval compare: {comparison.baseline_name} (baseline) vs {comparison.candidate_name} "
        f"(candidate), {images}, {counted(candidate.config.num_classes, 'class')}, "
        f"{candidate.config.aggregation} aggregation"
    )
    paired = comparison.paired
    if paired is not None:
        grouping = f", grouped by {paired.grouping}" if paired.grouping else ""
        header += (
            f"\nPaired {paired.describe()}{grouping}; delta = candidate - baseline on the "
            "shared images, p = two-sided bootstrap p-value of no difference"
        )
    return header


def _json(comparison: Comparison, options: RenderOptions) -> str:
    paired = comparison.paired is not None
    document: dict[str, Any] = {
        "schema": COMPARE_SCHEMA,
        "baseline": {"name": comparison.baseline_name, "images": comparison.baseline.num_images},
        "candidate": {
            "name": comparison.candidate_name,
            "images": comparison.candidate.num_images,
        },
        "summary": _rows_json(comparison.summary, paired),
        "classes": _rows_json(comparison.classes, paired),
        "gate": comparison.gate.to_dict(),
        "warnings": [warning.to_dict() for warning in comparison.warnings],
    }
    if comparison.paired is not None:
        settings = comparison.paired.to_dict()
        for detail in ("summary", "classes"):  # the rows carry them
            settings.pop(detail)
        document["bootstrap"] = settings
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def _csv(comparison: Comparison, options: RenderOptions) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    paired = comparison.paired is not None
    columns = ["metric", "class", "baseline", "candidate", "delta"]
    writer.writerow(csv_row(columns + (["ci_low", "ci_high", "p_value"] if paired else [])))
    for row in (*comparison.summary, *comparison.classes):
        numbers: list[object] = [row.baseline, row.candidate, row.delta]
        if paired:
            difference = row.difference
            numbers += (
                ["", "", ""]
                if difference is None
                else [difference.low, difference.high, difference.p_value]
            )
        writer.writerow(csv_row([row.name.split("[")[0], row.class_name or "", *numbers]))
    return buffer.getvalue()


def _markdown(comparison: Comparison, options: RenderOptions) -> str:
    sections = comparison_sections(comparison)
    miou = next(row for row in comparison.summary if row.name == "miou")
    change = format_delta_interval(miou)
    if miou.difference is not None:
        p_value = format_p_value(miou.difference.p_value)
        change += f", p {p_value}" if p_value.startswith("<") else f", p = {p_value}"
    parts = [
        f"## segeval compare: mIoU {format_value(miou.candidate)} ({change} vs "
        f"{comparison.baseline_name})",
        _header(comparison).replace("\n", "\n\n"),
    ]
    gate = gate_markdown(comparison.gate)
    if gate:
        parts.append(gate)
    parts.append(markdown_table(sections[0]))
    parts.append(details("Per class", markdown_table(sections[1])))
    return "\n\n".join(parts) + "\n"


def _table(comparison: Comparison, options: RenderOptions) -> str:
    parts = [_header(comparison)]
    parts += [f"{s.title}\n{text_table(s)}" for s in comparison_sections(comparison)]
    return "\n\n".join(parts) + "\n"


#: Output format name -> renderer of a comparison.
FORMATS: Mapping[str, Renderer[Comparison]] = {
    "table": _table,
    "markdown": _markdown,
    "json": _json,
    "csv": _csv,
    "html": render_comparison_html,
}


def render_comparison(comparison: Comparison, output_format: str = "table") -> str:
    """The comparison in one of :data:`FORMATS`."""
    return render_with(FORMATS, comparison, output_format)
