"""Plain-text tables (for pipes, files and logs), drawn with tabulate."""

from __future__ import annotations

from segeval.render.layout import (
    RenderOptions,
    Section,
    report_header,
    report_notes,
    report_sections,
)
from segeval.render.tables import printable, text_table
from segeval.report import Report

__all__ = ["render_text", "section_to_text"]


def section_to_text(section: Section) -> str:
    """One titled plain-text table."""
    return f"{printable(section.title)}\n{text_table(section)}"


def render_text(report: Report, options: RenderOptions) -> str:
    """The report as plain-text tables.

    Parameters
    ----------
    report : Report
    options : RenderOptions

    Returns
    -------
    str
        Header lines, the summary and per-class tables, optional confusion
        matrix, and notes; ends with a newline.
    """
    parts = ["\n".join(printable(line) for line in report_header(report))]
    parts.extend(section_to_text(section) for section in report_sections(report, options))
    notes = report_notes(report)
    if notes:
        parts.append("\n".join(f"Note: {printable(note)}" for note in notes))
    return "\n\n".join(parts) + "\n"
