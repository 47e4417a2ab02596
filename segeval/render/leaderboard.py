"""Render a batch leaderboard: table, Markdown, JSON (``segeval/batch/v1``), CSV or HTML."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping

from segeval.core.metrics import REGISTRY
from segeval.leaderboard import Leaderboard, SubmissionResult
from segeval.render.html import render_leaderboard_html
from segeval.render.layout import RenderOptions, Section, format_value
from segeval.render.markdown import markdown_table
from segeval.render.tables import Renderer, csv_row, printable, render_with, text_table
from segeval.wording import counted

__all__ = ["FORMATS", "leaderboard_section", "render_leaderboard"]


def _value(entry: SubmissionResult, name: str) -> float:
    return math.nan if entry.report is None else entry.report.summary_value(name)


def leaderboard_section(board: Leaderboard) -> Section:
    """One row per submission: rank, name, status, headline metrics, reason."""
    headers = ["Rank", "Submission", "Status"] + [REGISTRY[name].title for name in board.metrics]
    headers += ["Reason"]
    rows = []
    for entry in board.entries:
        status = entry.status + (" (resumed)" if entry.resumed else "")
        reason = entry.reason
        if entry.errors > 1:
            reason += f" (and {counted(entry.errors - 1, 'more error')})"
        rows.append(
            [str(entry.rank) if entry.rank else "-", entry.name, status]
            + [format_value(_value(entry, name)) for name in board.metrics]
            + [reason]
        )
    numeric = [True, False, False] + [True] * len(board.metrics) + [False]
    return Section("Leaderboard", headers, rows, numeric)


def _json(board: Leaderboard, options: RenderOptions) -> str:
    return json.dumps(board.to_dict(), indent=2, allow_nan=False) + "\n"


def _csv(board: Leaderboard, options: RenderOptions) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_row(["rank", "submission", "status", *board.metrics, "reason", "errors"]))
    for entry in board.entries:
        values = [_value(entry, name) for name in board.metrics]
        writer.writerow(
            csv_row([entry.rank, entry.name, entry.status, *values, entry.reason, entry.errors])
        )
    return buffer.getvalue()


def _header(board: Leaderboard) -> str:
    valid = len(board.entries) - len(board.invalid)
    return printable(
        f"segeval batch: {counted(len(board.entries), 'submission')} ({valid} scored, "
        f"{len(board.invalid)} invalid) against {board.gt_dir} ({counted(board.images, 'image')}), "
        f"ranked by {REGISTRY[board.rank_by].title}"
    )


def _markdown(board: Leaderboard, options: RenderOptions) -> str:
    return f"## {_header(board)}\n\n{markdown_table(leaderboard_section(board))}\n"


def _table(board: Leaderboard, options: RenderOptions) -> str:
    notes = ""
    if board.ignored_children:
        ignored = ", ".join(printable(name) for name in board.ignored_children)
        notes = f"\n\nNot submissions (ignored): {ignored}"
    return f"{_header(board)}\n\n{text_table(leaderboard_section(board))}{notes}\n"


#: Output format name -> renderer of a leaderboard.
FORMATS: Mapping[str, Renderer[Leaderboard]] = {
    "table": _table,
    "markdown": _markdown,
    "json": _json,
    "csv": _csv,
    "html": render_leaderboard_html,
}


def render_leaderboard(board: Leaderboard, output_format: str = "table") -> str:
    """The leaderboard in one of :data:`FORMATS`."""
    return render_with(FORMATS, board, output_format)
