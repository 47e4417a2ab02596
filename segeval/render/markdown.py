"""Markdown output, compact for pull requests and CI step summaries.

The headline metrics and the quality gate (failed checks first) come first;
the summary, per-class and confusion tables and the run details are collapsed
under ``<details>`` so that a pull-request comment stays short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segeval.core.metrics import REGISTRY
from segeval.render.layout import (
    CATEGORY_AND_INSTANCE_METRICS,
    RenderOptions,
    Section,
    format_interval,
    format_value,
    report_header,
    report_notes,
    report_sections,
    summary_interval,
)
from segeval.render.tables import printable
from segeval.report import Report
from segeval.wording import counted

if TYPE_CHECKING:
    from segeval.checks import GateResult

__all__ = ["details", "gate_markdown", "markdown_table", "render_markdown"]


def _cell(text: str) -> str:
    """One table cell: on one line (controls escaped), with its pipes escaped."""
    return printable(text).replace("|", "\\|")


def markdown_table(section: Section) -> str:
    """A GitHub-flavoured Markdown table (numeric columns right-aligned).

    Examples
    --------
    >>> print(markdown_table(Section("t", ["a", "b"], [["x", "1"]], [False, True])))
    | a | b |
    |:--|--:|
    | x | 1 |
    """
    numeric = section.numeric or [False] * len(section.headers)
    lines = [
        "| " + " | ".join(_cell(h) for h in section.headers) + " |",
        "|" + "|".join("--:" if right else ":--" for right in numeric) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows)
    return "\n".join(lines)


def details(summary: str, body: str) -> str:
    """A collapsed ``<details>`` block (blank lines keep the Markdown inside alive)."""
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def gate_markdown(gate: GateResult | None) -> str:
    """The quality gate: verdict line and a table of checks, failed ones first."""
    if gate is None or not gate.checks:
        return ""
    checks = gate.checks
    failed = gate.failed
    verdict = (
        f"**Quality gate: failed**: {len(failed)} of {counted(len(checks), 'check')} failed."
        if failed
        else f"**Quality gate: passed**: all {counted(len(checks), 'check')} passed."
    )
    rows = [
        [
            check.name,
            format_value(check.value),
            f"{check.comparison} {check.threshold:.4f}",
            "pass" if check.passed else "**FAIL**",
        ]
        for check in sorted(checks, key=lambda check: check.passed)
    ]
    table = markdown_table(
        Section("", ["Check", "Value", "Required", "Result"], rows, [False, True, False, False])
    )
    return f"{verdict}\n\n{table}"


def _headline(report: Report) -> str:
    names = ["miou", "mdice", "pixel_accuracy"]
    names += [name for name in CATEGORY_AND_INSTANCE_METRICS if name in report.summary]
    if report.config.per_image:
        names += ["image_miou", "image_mdice"]
    if report.boundary is not None:
        names += [name for name in ("mean_biou", "mean_bf", "hd95") if report.offers(name)]
    parts = [
        f"{REGISTRY[name].title} "
        + format_interval(report.summary_value(name), summary_interval(report, name))
        for name in names
    ]
    return "## segeval: " + " · ".join(parts)


def render_markdown(report: Report, options: RenderOptions) -> str:
    """The report as a compact Markdown summary for pull requests."""
    sections = report_sections(report, options)
    summary, per_class, *rest = sections
    config = report.config
    averaged = f"{report.classes_averaged} of {counted(config.num_classes, 'class')} averaged"
    parts = [
        _headline(report),
        f"{counted(report.num_images, 'image')} · {averaged} · {config.aggregation} aggregation"
        + (f" · convention {config.convention}" if config.convention else ""),
    ]
    gate = gate_markdown(report.gate)
    if gate:
        parts.append(gate)
    parts.append(details(summary.title, markdown_table(summary)))
    parts.append(
        details(
            f"{per_class.title} ({counted(config.num_classes, 'class')})", markdown_table(per_class)
        )
    )
    for section in rest:  # categories, boundary metrics, the confusion matrix
        if section.title.startswith("Confusion matrix"):
            parts.append(
                details("Confusion matrix", f"{section.title}\n\n{markdown_table(section)}")
            )
        else:
            parts.append(details(section.title, markdown_table(section)))
    notes = [*report_header(report), *report_notes(report)]
    parts.append(details("Run details", "\n".join(f"- {printable(line)}" for line in notes)))
    return "\n\n".join(parts) + "\n"
