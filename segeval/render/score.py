"""The formats of a score report: one module per format, looked up in :data:`FORMATS`.

The rich terminal renderer is not listed here: it lives in
:mod:`segeval.render.terminal`, which only the CLI imports, so the library never
loads rich.
"""

from __future__ import annotations

from collections.abc import Mapping

from segeval.render.json_format import render_json
from segeval.render.layout import RenderOptions
from segeval.render.tables import Renderer, render_with
from segeval.report import Report

__all__ = ["FORMATS", "render"]


# Each format's module is imported when it renders (start-up: a run loads its own).


def render_score_html(report: Report, options: RenderOptions) -> str:
    """The HTML page (its module, the largest renderer, is imported only for it)."""
    from segeval.render.html import render_score_html as render_page

    return render_page(report, options)


def render_text(report: Report, options: RenderOptions) -> str:
    """The plain-text tables (:func:`segeval.render.text.render_text`)."""
    from segeval.render.text import render_text as render_tables

    return render_tables(report, options)


def render_csv(report: Report, options: RenderOptions) -> str:
    """CSV rows (:func:`segeval.render.csv_format.render_csv`)."""
    from segeval.render.csv_format import render_csv as render_rows

    return render_rows(report, options)


def render_markdown(report: Report, options: RenderOptions) -> str:
    """Markdown (:func:`segeval.render.markdown.render_markdown`)."""
    from segeval.render.markdown import render_markdown as render_page

    return render_page(report, options)


#: Output format name -> renderer of a score report.
FORMATS: Mapping[str, Renderer[Report]] = {
    "table": render_text,
    "csv": render_csv,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_score_html,
}


def render(report: Report, output_format: str, options: RenderOptions | None = None) -> str:
    """Render a report in one of :data:`FORMATS`.

    Parameters
    ----------
    report : Report
    output_format : {"table", "csv", "json", "markdown", "html"}
    options : RenderOptions, optional

    Returns
    -------
    str

    Examples
    --------
    >>> import numpy as np
    >>> from segeval import ConfusionMatrix, build_report
    >>> report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    >>> print(render(report, "csv").splitlines()[3])
    miou,,,,0.775
    """
    return render_with(FORMATS, report, output_format, options)
