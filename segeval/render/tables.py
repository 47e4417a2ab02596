"""Helpers every renderer shares: plain-text tables, number cells, format lookup."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TypeVar

from tabulate import tabulate

from segeval.errors import UsageError
from segeval.numbers import json_value
from segeval.render.layout import RenderOptions, Section

__all__ = ["Renderer", "csv_number", "json_number", "pick_renderer", "render_with", "text_table"]

T = TypeVar("T")

#: Every format of every command: (what was computed, display options) -> text.
Renderer = Callable[[T, RenderOptions], str]


def text_table(section: Section) -> str:
    """A section as a plain-text table, numeric columns right-aligned.

    Examples
    --------
    >>> print(text_table(Section("t", ["a", "b"], [["x", "1"]], [False, True])))
    a      b
    ---  ---
    x      1
    """
    align = ["right" if numeric else "left" for numeric in section.numeric] or None
    return str(
        tabulate(section.rows, headers=section.headers, colalign=align, disable_numparse=True)
    )


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
