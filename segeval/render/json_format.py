"""JSON output: the report's ``to_dict`` document, strict JSON (no NaN)."""

from __future__ import annotations

import json

from segeval.render.layout import RenderOptions
from segeval.report import Report

__all__ = ["render_json"]


def render_json(report: Report, options: RenderOptions) -> str:
    """The report as indented strict JSON (undefined values are ``null``)."""
    document = report.to_dict(normalize=options.normalize)
    return json.dumps(document, indent=2, allow_nan=False) + "\n"
