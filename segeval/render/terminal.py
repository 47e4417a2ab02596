"""Rich tables for an interactive terminal (imported by the CLI only)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from segeval.render.layout import (
    RenderOptions,
    Section,
    report_header,
    report_notes,
    report_sections,
)
from segeval.report import Report

__all__ = ["print_report", "rich_table"]


def rich_table(section: Section) -> Table:
    """A rich Table for one section (numeric columns right-aligned, ``-`` dimmed)."""
    table = Table(
        title=section.title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    numeric = section.numeric or [False] * len(section.headers)
    for column, (header, right) in enumerate(zip(section.headers, numeric, strict=True)):
        # Numbers never wrap or get cut; a narrow terminal squeezes the text columns instead.
        widest = max([len(row[column]) for row in section.rows] + [1])
        table.add_column(
            header,
            justify="right" if right else "left",
            no_wrap=right,
            overflow="ellipsis" if right else "fold",
            min_width=widest if right else None,
        )
    for row in section.rows:
        table.add_row(*(f"[dim]{cell}[/dim]" if cell == "-" else cell for cell in row))
    return table


def print_report(report: Report, options: RenderOptions, console: Console) -> None:
    """Print the report's header, tables and notes to a rich console."""
    for line in report_header(report):
        console.print(line, highlight=False, markup=False)
    for section in report_sections(report, options):
        console.print()
        console.print(rich_table(section))
    for note in report_notes(report):
        console.print(f"Note: {note}", style="yellow", highlight=False, markup=False)
