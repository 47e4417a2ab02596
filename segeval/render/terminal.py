"""Rich tables for an interactive terminal (imported by the CLI only).

A table never loses a column or a digit to a narrow terminal. Each table is
fitted to the console's width by :func:`fit_section`, trying in turn:

1. every column at its natural width;
2. headers wrapped at spaces ("Pred pixels" over two lines), then abbreviated
   ("Precision" to "Prec."), and the label column (class names) wrapped;
3. the numeric columns split into several tables, each repeating the label
   columns (the ID and the class name), like a wide data frame;
4. the plain-text table, printed uncut: the terminal wraps its lines.

Numbers are never wrapped or cut: a numeric column is always at least as wide
as its widest cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
from segeval.render.tables import printable, text_table
from segeval.report import Report

__all__ = ["Fitted", "fit_section", "print_comparison", "print_report", "print_section"]

#: Shorter headers, used only when a table does not fit otherwise.
ABBREVIATIONS = {
    "Precision": "Prec.",
    "Recall": "Rec.",
    "Specificity": "Spec.",
    "Vol. similarity": "Vol. sim.",
    "GT pixels": "GT px",
    "Pred pixels": "Pred px",
    "Images": "Imgs",
}

#: The label column (class names) is never squeezed narrower than this
#: (or its longest word, when shorter).
MIN_LABEL_WIDTH = 10


@dataclass(frozen=True)
class Fitted:
    """One table as it will be drawn: its columns and their widths.

    ``columns`` index the original section's columns; ``widths`` are the
    content widths rich draws them with (padding and edges aside).
    """

    title: str
    headers: list[str]
    columns: list[int]
    widths: list[int]


def _table_width(widths: Sequence[int]) -> int:
    # box.SIMPLE_HEAD with pad_edge=False: one edge character each side, and a
    # separator plus one padding character each side between two columns.
    return sum(widths) + 3 * len(widths) - 1


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def label_columns(section: Section) -> list[int]:
    """The columns that name a row (repeated when a table is split).

    The leading columns up to the first text column: ``ID`` and ``Class``,
    ``Metric``, ``GT \\ Pred``.
    """
    numeric = section.numeric or [False] * len(section.headers)
    for index, right in enumerate(numeric[:2]):
        if not right:
            return list(range(index + 1))
    return [0]


def fit_section(section: Section, width: int) -> list[Fitted] | None:
    """Column widths that draw ``section`` within ``width`` characters.

    Returns
    -------
    list of Fitted or None
        One table, several (the numeric columns split, label columns
        repeated), or None when even one numeric column beside the labels
        does not fit (then print the plain table uncut).

    Examples
    --------
    >>> section = Section("Per class", ["ID", "Class", "GT pixels", "Pred pixels"],
    ...                   [["0", "background", "6,870,982", "7,260,348"]],
    ...                   [True, False, True, True])
    >>> fit_section(section, 80)[0].widths
    [2, 10, 9, 11]
    >>> [table.widths for table in fit_section(section, 41)]  # "Pred pixels" over two lines
    [[2, 10, 9, 9]]
    >>> [table.columns for table in fit_section(section, 30)]
    [[0, 1, 2], [0, 1, 3]]
    >>> fit_section(section, 12) is None
    True
    """
    numeric = section.numeric or [False] * len(section.headers)
    count = len(section.headers)
    cells = [[row[column] for row in section.rows] for column in range(count)]
    widest = [max([len(cell) for cell in column] + [0]) for column in cells]
    labels = label_columns(section)
    label = next((column for column in labels if not numeric[column]), None)

    def widths_for(headers: Sequence[str], wrap: str) -> list[int]:
        """``wrap``: "no" headers at full width, "words" wrapped at spaces, "fold"
        numeric headers folded anywhere (a long file name over a column of numbers)."""
        header_width = [
            len(h)
            if wrap == "no"
            else min(_longest_word(h), 4)
            if wrap == "fold" and numeric[c]
            else _longest_word(h)
            for c, h in enumerate(headers)
        ]
        return [max(widest[c], header_width[c], 1) for c in range(count)]

    def squeeze(columns: list[int], widths: list[int], headers: Sequence[str]) -> list[int] | None:
        """Widths of these columns within ``width``, the label column wrapped if need be."""
        chosen = [widths[c] for c in columns]
        excess = _table_width(chosen) - width
        if excess <= 0:
            return chosen
        if label is None or label not in columns:
            return None
        words = [_longest_word(cell) for cell in cells[label]]
        floor = max(min(max([*words, 1]), MIN_LABEL_WIDTH), _longest_word(headers[label]), 1)
        position = columns.index(label)
        if chosen[position] - excess < floor:
            return None
        chosen[position] -= excess
        return chosen

    short = [ABBREVIATIONS.get(header, header) for header in section.headers]
    attempts = [
        (list(section.headers), "no"),
        (list(section.headers), "words"),
        (short, "words"),
        (short, "fold"),
    ]
    for headers, wrap in attempts:
        widths = widths_for(headers, wrap)
        fitted = squeeze(list(range(count)), widths, headers)
        if fitted is not None:
            return [Fitted(section.title, headers, list(range(count)), fitted)]
    # Split the other columns into tables that each repeat the labels: with full
    # headers if that works, else with the abbreviated and folded ones.
    rest = [column for column in range(count) if column not in labels]
    for headers, wrap in attempts[1:]:
        widths = widths_for(headers, wrap)
        blocks: list[list[int]] = []
        for column in rest:
            if blocks and squeeze(labels + blocks[-1] + [column], widths, headers) is not None:
                blocks[-1].append(column)
            elif squeeze([*labels, column], widths, headers) is not None:
                blocks.append([column])
            else:
                break
        else:
            tables = []
            for number, block in enumerate(blocks):
                columns = labels + block
                fitted_widths = squeeze(columns, widths, headers)
                assert fitted_widths is not None
                title = section.title if number == 0 else f"{section.title} (continued)"
                tables.append(Fitted(title, [headers[c] for c in columns], columns, fitted_widths))
            return tables
    return None


def _rich_table(section: Section, fitted: Fitted, styles: Sequence[Sequence[str]] | None) -> Table:
    """A rich Table of the fitted columns; ``-`` is dimmed, cells are plain text."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    numeric = section.numeric or [False] * len(section.headers)
    for header, column, column_width in zip(
        fitted.headers, fitted.columns, fitted.widths, strict=True
    ):
        table.add_column(
            header,
            justify="right" if numeric[column] else "left",
            width=column_width,
            overflow="fold",
        )
    for row_index, row in enumerate(section.rows):
        drawn = []
        for column in fitted.columns:
            cell = row[column]
            style = styles[row_index][column] if styles else ""
            drawn.append(Text(cell, style=style or ("dim" if cell == "-" else "")))
        table.add_row(*drawn)
    return table


def print_section(
    section: Section, console: Console, styles: Sequence[Sequence[str]] | None = None
) -> None:
    """Print one table, fitted to the console's width (see the module notes).

    ``styles``, when given, holds one rich style per cell of ``section``.
    """
    plain = section
    # Names may hold control characters: escaped first, so widths are those drawn.
    section = Section(
        printable(section.title),
        [printable(header) for header in section.headers],
        [[printable(cell) for cell in row] for row in section.rows],
        section.numeric,
    )
    tables = fit_section(section, console.width)
    if tables is None:
        # Narrower than a label and one number: the plain table, uncut; the terminal
        # wraps its lines, which still shows every digit.
        console.print(Text(section.title, style="bold"))
        console.print(Text(text_table(plain)), no_wrap=True, overflow="ignore", crop=False)
        return
    for number, fitted in enumerate(tables):
        if number:
            console.print()
        console.print(Text(fitted.title, style="bold"))
        console.print(_rich_table(section, fitted, styles))


def print_report(report: Report, options: RenderOptions, console: Console) -> None:
    """Print the report's header, tables and notes to a rich console."""
    for line in report_header(report):
        console.print(Text(printable(line)))
    for section in report_sections(report, options):
        console.print()
        print_section(section, console)
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
        console.print(Text(printable(line)))
    console.print()
    print_section(summary, console, summary_styles)
    console.print()
    print_section(per_class, console, class_styles)
