"""Rich tables for an interactive terminal (imported by the CLI only)."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from segeval.compare import Comparison
from segeval.render.compare import columns_per_metric, comparison_sections, render_comparison
from segeval.render.layout import (
    RenderOptions,
    Section,
    report_header,
    report_notes,
    report_sections,
)
from segeval.render.tables import printable
from segeval.report import Report

__all__ = ["print_comparison", "print_report", "rich_table"]


def rich_table(section: Section, styles: Sequence[Sequence[str]] | None = None) -> Table:
    """A rich Table for one section.

    Numeric columns are right-aligned and never wrapped; ``-`` is dimmed. Cells
    are plain text (class names with brackets are safe); ``styles``, when
    given, holds one rich style per cell.
    """
    table = Table(
        title=Text(printable(section.title), style="bold"),
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
            Text(printable(header)),
            justify="right" if right else "left",
            no_wrap=right,
            overflow="ellipsis" if right else "fold",
            min_width=widest if right else None,
        )
    for row_index, row in enumerate(section.rows):
        cells = []
        for column, cell in enumerate(row):
            style = styles[row_index][column] if styles else ""
            cells.append(Text(printable(cell), style=style or ("dim" if cell == "-" else "")))
        table.add_row(*cells)
    return table


def print_report(report: Report, options: RenderOptions, console: Console) -> None:
    """Print the report's header, tables and notes to a rich console."""
    for line in report_header(report):
        console.print(Text(printable(line)))
    for section in report_sections(report, options):
        console.print()
        console.print(rich_table(section))
    for note in report_notes(report):
        console.print(Text(f"Note: {printable(note)}", style="yellow"))


def _style(improved: bool | None) -> str:
    return {True: "green", False: "red", None: ""}[improved]


def print_comparison(comparison: Comparison, console: Console) -> None:
    """Print a comparison with improvements in green and drops in red."""
    summary, per_class = comparison_sections(comparison)
    columns = columns_per_metric(comparison)
    extra = [""] * (columns - 3)  # the p-value column, unstyled
    summary_styles = [["", "", "", _style(row.improved), *extra] for row in comparison.summary]
    metrics_per_class = (len(per_class.headers) - 1) // columns
    class_styles = []
    for class_index in range(len(per_class.rows)):
        styles = [""]
        for metric in range(metrics_per_class):
            row = comparison.classes[class_index * metrics_per_class + metric]
            styles += ["", "", _style(row.improved), *extra]
        class_styles.append(styles)
    header = render_comparison(comparison, "table").split("\n\n", 1)[0]
    for line in header.splitlines():
        console.print(Text(line))
    console.print()
    console.print(rich_table(summary, summary_styles))
    console.print()
    console.print(rich_table(per_class, class_styles))
