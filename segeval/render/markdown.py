"""Markdown output (GitHub-flavoured tables)."""

from __future__ import annotations

from segeval.render.layout import (
    RenderOptions,
    Section,
    report_header,
    report_notes,
    report_sections,
)
from segeval.report import Report

__all__ = ["markdown_table", "render_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


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


def render_markdown(report: Report, options: RenderOptions) -> str:
    """The report as Markdown: header, summary, per-class and optional matrix."""
    parts = ["## segeval report", "\n".join(f"- {line}" for line in report_header(report))]
    parts.extend(
        f"### {section.title}\n\n{markdown_table(section)}"
        for section in report_sections(report, options)
    )
    notes = report_notes(report)
    if notes:
        parts.append("\n".join(f"> {note}" for note in notes))
    return "\n\n".join(parts) + "\n"
