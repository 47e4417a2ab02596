"""Render a batch leaderboard: table, Markdown, JSON (``segeval/batch/v1``) or CSV."""

from __future__ import annotations

import csv
import io
import json
import math

from tabulate import tabulate

from segeval.batch import Entry, Leaderboard
from segeval.errors import UsageError
from segeval.metrics import REGISTRY
from segeval.render.layout import Section, format_value
from segeval.render.markdown import markdown_table

__all__ = ["leaderboard_section", "render_leaderboard"]


def _value(entry: Entry, name: str) -> float:
    return math.nan if entry.report is None else entry.report.summary.get(name, math.nan)


def leaderboard_section(board: Leaderboard) -> Section:
    """One row per submission: rank, name, status, headline metrics, reason."""
    headers = ["Rank", "Submission", "Status"] + [REGISTRY[name].title for name in board.metrics]
    headers += ["Reason"]
    rows = []
    for entry in board.entries:
        status = entry.status + (" (resumed)" if entry.resumed else "")
        reason = entry.reason
        if entry.errors > 1:
            reason += f" (and {entry.errors - 1} more errors)"
        rows.append(
            [str(entry.rank) if entry.rank else "-", entry.name, status]
            + [format_value(_value(entry, name)) for name in board.metrics]
            + [reason]
        )
    numeric = [True, False, False] + [True] * len(board.metrics) + [False]
    return Section("Leaderboard", headers, rows, numeric)


def render_leaderboard(board: Leaderboard, output_format: str = "table") -> str:
    """The leaderboard in ``table``, ``markdown``, ``json`` or ``csv``."""
    if output_format == "json":
        return json.dumps(board.to_dict(), indent=2, allow_nan=False) + "\n"
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["rank", "submission", "status", *board.metrics, "reason", "errors"])
        for entry in board.entries:
            values = [
                "" if math.isnan(v) else repr(v) for v in (_value(entry, n) for n in board.metrics)
            ]
            writer.writerow(
                [entry.rank or "", entry.name, entry.status, *values, entry.reason, entry.errors]
            )
        return buffer.getvalue()
    section = leaderboard_section(board)
    valid = len(board.entries) - len(board.invalid)
    header = (
        f"segeval batch: {len(board.entries)} submissions ({valid} scored, "
        f"{len(board.invalid)} invalid) against {board.gt_dir} ({board.images} images), "
        f"ranked by {REGISTRY[board.rank_by].title}"
    )
    if output_format == "markdown":
        return f"## {header}\n\n{markdown_table(section)}\n"
    if output_format != "table":
        raise UsageError(f"unknown format {output_format!r}; choose table, markdown, json or csv.")
    align = ["right" if numeric else "left" for numeric in section.numeric]
    table = tabulate(section.rows, headers=section.headers, colalign=align, disable_numparse=True)
    notes = ""
    if board.ignored_children:
        notes = f"\n\nNot submissions (ignored): {', '.join(board.ignored_children)}"
    return f"{header}\n\n{table}{notes}\n"
