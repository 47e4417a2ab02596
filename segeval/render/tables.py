"""Helpers every renderer shares: plain-text tables, safe cells, format lookup.

Names in outputs come from strangers (submission and file names, class names),
so two helpers here are the only way text reaches a cell:

* :func:`printable` escapes control characters, line breaks, bidirectional
  overrides and undecodable bytes (file names that are not UTF-8 arrive as
  surrogate escapes), so a name can never forge a row of a table, a Markdown
  leaderboard or a log line;
* :func:`csv_row` writes every CSV row: numbers stay plain numbers, and text
  cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are
  prefixed with ``'`` (OWASP's advice against CSV formula injection), so a
  spreadsheet never runs a name as a formula.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from segeval.errors import UsageError
from segeval.numbers import json_value
from segeval.render.layout import RenderOptions, Section

__all__ = [
    "Renderer",
    "csv_number",
    "csv_row",
    "csv_text",
    "json_number",
    "pick_renderer",
    "printable",
    "render_with",
    "text_table",
]

T = TypeVar("T")

#: Every format of every command: (what was computed, display options) -> text.
Renderer = Callable[[T, RenderOptions], str]


# C0 and C1 controls, DEL, line and paragraph separators, bidirectional controls,
# and surrogates (undecodable bytes of file names).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    code = ord(character)
    if character in _NAMED:
        return _NAMED[character]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """Text safe to show on one line: controls and undecodable bytes escaped.

    Examples
    --------
    >>> print(printable("team\\nrank 1 | 1.0"))
    team\\nrank 1 | 1.0
    >>> print(printable("img" + b"\\xff".decode("utf-8", "surrogateescape") + ".png"))
    img\\xff.png
    """
    return _UNSAFE.sub(_escape, text)


def csv_text(text: str) -> str:
    """A text cell for CSV: undecodable bytes escaped, formulas neutralised.

    Examples
    --------
    >>> csv_text("=HYPERLINK(\\"http://x\\")"), csv_text("road"), csv_text("-1")
    ('\\'=HYPERLINK("http://x")', 'road', "'-1")
    """
    text = _SURROGATES.sub(_escape, text)  # line breaks are fine inside quoted CSV cells
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def csv_row(cells: Iterable[object]) -> list[str]:
    """One CSV row: numbers as plain numbers (:func:`csv_number`), text through :func:`csv_text`.

    Examples
    --------
    >>> csv_row(["=cmd", -0.5, 3, None, float("nan")])
    ["'=cmd", '-0.5', '3', '', '']
    """
    row = []
    for cell in cells:
        if cell is None:
            row.append("")
        elif isinstance(cell, bool):
            row.append(str(cell).lower())
        elif isinstance(cell, numbers.Integral):
            row.append(str(int(cell)))
        elif isinstance(cell, numbers.Real):
            row.append(csv_number(float(cell)))
        else:
            row.append(csv_text(str(cell)))
    return row


def text_table(section: Section) -> str:
    """A section as a plain-text table, numeric columns right-aligned, cells printable.

    Examples
    --------
    >>> print(text_table(Section("t", ["a", "b"], [["x", "1"]], [False, True])))
    a      b
    ---  ---
    x      1
    """
    from tabulate import tabulate  # only plain-text tables need it

    align = ["right" if numeric else "left" for numeric in section.numeric] or None
    rows = [[printable(cell) for cell in row] for row in section.rows]
    headers = [printable(header) for header in section.headers]
    return str(tabulate(rows, headers=headers, colalign=align, disable_numparse=True))


def csv_number(value: float | int) -> str:
    """A number for a CSV cell: full precision, empty when undefined.

    Examples
    --------
    >>> csv_number(0.1), csv_number(float("nan")), csv_number(3)
    ('0.1', '', '3')
    """
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def json_number(value: float) -> float | str | None:
    """A number for JSON: ``None`` (null) when undefined, ``"inf"`` when infinite.

    Examples
    --------
    >>> json_number(float("nan")) is None, json_number(0.5), json_number(float("inf"))
    (True, 0.5, 'inf')
    """
    return json_value(value)


def pick_renderer(formats: Mapping[str, Renderer[T]], output_format: str) -> Renderer[T]:
    """The renderer of a format, or one clear error listing the choices.

    Examples
    --------
    >>> pick_renderer({"json": lambda subject, options: "{}"}, "xml")
    Traceback (most recent call last):
    ...
    segeval.errors.UsageError: unknown format 'xml'; choose one of json.
    """
    try:
        return formats[output_format]
    except KeyError:
        raise UsageError(
            f"unknown format {output_format!r}; choose one of {', '.join(formats)}."
        ) from None


def render_with(
    formats: Mapping[str, Renderer[T]],
    subject: T,
    output_format: str,
    options: RenderOptions | None = None,
) -> str:
    """Render ``subject`` in one of ``formats`` (a renderer module's ``FORMATS``)."""
    return pick_renderer(formats, output_format)(subject, options or RenderOptions())
