"""Metric values in JSON: one rule for every document segeval writes and reads.

An undefined value (NaN) is ``null``; an infinite one (a surface distance where
a class is missing on one side) is the string ``"inf"``, since strict JSON has
no infinity; everything else is a number with full precision.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["json_value", "value_from_json"]


def json_value(value: float) -> float | str | None:
    """A metric value for JSON: ``null`` when undefined, ``"inf"`` when infinite.

    Examples
    --------
    >>> json_value(0.5), json_value(float("inf")), json_value(float("nan"))
    (0.5, 'inf', None)
    """
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def value_from_json(value: Any) -> float:
    """Inverse of :func:`json_value`, refusing anything else (reports are validated).

    Examples
    --------
    >>> value_from_json("inf"), value_from_json(None), value_from_json(2)
    (inf, nan, 2.0)
    >>> value_from_json("high")
    Traceback (most recent call last):
    ...
    ValueError: expected a finite number, "inf" or null, got 'high'
    """
    if value is None:
        return math.nan
    if value in ("inf", "-inf"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f'expected a finite number, "inf" or null, got {str(value)[:40]!r}')
    return float(value)
