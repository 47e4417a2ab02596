"""Render a comparison of two reports: table, Markdown, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from segeval.compare import Comparison, ComparisonRow
from segeval.render.layout import RenderOptions, Section, format_value
from segeval.render.markdown import details, gate_markdown, markdown_table
from segeval.render.tables import Renderer, csv_number, json_number, render_with, text_table

__all__ = ["COMPARE_SCHEMA", "FORMATS", "comparison_sections", "format_delta", "render_comparison"]

COMPARE_SCHEMA = "segeval/compare/v1"


def format_delta(row: ComparisonRow) -> str:
    """A signed difference, ``-`` when undefined.

    Examples
    --------
    >>> format_delta(ComparisonRow("miou", "mIoU", None, 0.5, 0.25, True))
    '-0.2500'
    """
    return "-" if math.isnan(row.delta) else f"{row.delta:+.4f}"


def comparison_sections(comparison: Comparison) -> list[Section]:
    """The summary and per-class tables (shared by every renderer)."""
    summary = Section(
        "Summary",
        ["Metric", comparison.baseline_name, comparison.candidate_name, "Delta"],
        [
            [row.title, format_value(row.baseline), format_value(row.candidate), format_delta(row)]
            for row in comparison.summary
        ],
        [False, True, True, True],
    )
    metrics = list(dict.fromkeys(row.name.split("[")[0] for row in comparison.classes))
    headers = ["Class"]
    for name in metrics:
        title = next(row.title for row in comparison.classes if row.name.startswith(name + "["))
        headers += [f"{title} base", f"{title} cand", f"{title} delta"]
    per_class: dict[str, list[str]] = {}
    for row in comparison.classes:
        cells = per_class.setdefault(row.class_name or "", [row.class_name or ""])
        cells += [format_value(row.baseline), format_value(row.candidate), format_delta(row)]
    classes = Section(
        "Per class", headers, list(per_class.values()), [False] + [True] * (len(headers) - 1)
    )
    return [summary, classes]


def _rows_json(rows: Sequence[ComparisonRow]) -> list[dict[str, Any]]:
    return [
        {
            "name": row.name,
            "baseline": json_number(row.baseline),
            "candidate": json_number(row.candidate),
            "delta": json_number(row.delta),
            "improved": row.improved,
        }
        for row in rows
    ]


def _header(comparison: Comparison) -> str:
    baseline, candidate = comparison.baseline, comparison.candidate
    images = (
        f"{candidate.num_images} images"
        if baseline.num_images == candidate.num_images
        else f"{baseline.num_images} vs {candidate.num_images} images"
    )
    return (
        f"segeval compare: {comparison.baseline_name} (baseline) vs {comparison.candidate_name} "
        f"(candidate), {images}, {candidate.config.num_classes} classes, "
        f"{candidate.config.aggregation} aggregation"
    )


def _json(comparison: Comparison, options: RenderOptions) -> str:
    document = {
        "schema": COMPARE_SCHEMA,
        "baseline": {"name": comparison.baseline_name, "images": comparison.baseline.num_images},
        "candidate": {
            "name": comparison.candidate_name,
            "images": comparison.candidate.num_images,
        },
        "summary": _rows_json(comparison.summary),
        "classes": _rows_json(comparison.classes),
        "gate": comparison.gate.to_dict(),
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def _csv(comparison: Comparison, options: RenderOptions) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["metric", "class", "baseline", "candidate", "delta"])
    for row in (*comparison.summary, *comparison.classes):
        numbers = [csv_number(v) for v in (row.baseline, row.candidate, row.delta)]
        writer.writerow([row.name.split("[")[0], row.class_name or "", *numbers])
    return buffer.getvalue()


def _markdown(comparison: Comparison, options: RenderOptions) -> str:
    sections = comparison_sections(comparison)
    miou = next(row for row in comparison.summary if row.name == "miou")
    parts = [
        f"## segeval compare: mIoU {format_value(miou.candidate)} ({format_delta(miou)} vs "
        f"{comparison.baseline_name})",
        _header(comparison),
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
}


def render_comparison(comparison: Comparison, output_format: str = "table") -> str:
    """The comparison in one of :data:`FORMATS`."""
    return render_with(FORMATS, comparison, output_format)
