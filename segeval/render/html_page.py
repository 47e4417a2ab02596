"""Building blocks of the HTML reports: one self-contained page, small inline SVG.

Everything a report needs is inside the file: the style sheet, a short script
(sorting tables, switching the heat-map normalisation) and the pictures (SVG
drawn here, thumbnails as ``data:`` URIs). A Content-Security-Policy meta tag
forbids every network request, so a report opens offline and can never load
anything from elsewhere. No plotting library is involved.

Accessibility: every picture has its numbers in a ``<title>`` tooltip or beside
it and a table fallback; undefined values are hatched grey and say "undefined",
never drawn like zero; colour scales are viridis (sequential) and PuOr
(diverging), both readable by colour-blind people; better/worse also carries an
arrow, not just a colour.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
from PIL import Image

from segeval._version import __version__
from segeval.gallery import ERROR_CATEGORIES, ERROR_TITLES, Gallery, ImagePanel, ScoreDistribution
from segeval.palettes import (
    DIVERGING,
    ERROR_COLORS,
    RGB,
    SEQUENTIAL,
    UNDEFINED,
    diverging_color,
    hex_color,
    interpolate_array,
    readable_text,
    sequential_color,
)
from segeval.wording import are, counted

__all__ = [
    "Cell",
    "bar",
    "class_bars_svg",
    "data_table",
    "escape",
    "gallery_section",
    "heatmap",
    "histogram_svg",
    "number",
    "page",
]

#: Class count up to which heat-map cells carry their value as text.
CELL_LABELS_UP_TO = 24
#: Class count up to which each heat-map cell is its own SVG element with a tooltip;
#: above it (ADE20K's 150 classes) the cells are one pixelated PNG per normalisation,
#: with a tooltip drawn by the script, so that the file stays small.
VECTOR_CELLS_UP_TO = 48
#: Pixels per cell of a raster heat map (room for the hatch of undefined cells).
_RASTER_CELL = 4


def escape(text: object) -> str:
    """HTML-escape any value's text.

    Examples
    --------
    >>> escape("<b> & 'x'")
    '&lt;b&gt; &amp; &#x27;x&#x27;'
    """
    return html.escape(str(text), quote=True)


def number(value: float, digits: int = 4) -> str:
    """A metric as text, ``undefined`` for NaN.

    Examples
    --------
    >>> number(0.12345), number(float("nan")), number(3)
    ('0.1235', 'undefined', '3')
    """
    if isinstance(value, int):
        return f"{value:,}"
    return "undefined" if math.isnan(value) else f"{value:.{digits}f}"


def _sort_key(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if math.isinf(value):  # an infinite distance; JavaScript's parseFloat reads "Infinity"
        return "Infinity" if value > 0 else "-Infinity"
    return "" if math.isnan(value) else repr(float(value))


@dataclass(frozen=True)
class Cell:
    """One table cell: its HTML, the value it sorts by, and CSS classes."""

    content: str
    sort: float | str = ""
    css: str = ""


def data_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    table_id: str,
    caption: str = "",
    sortable: bool = True,
    numeric: Sequence[bool] | None = None,
) -> str:
    """An HTML table; with ``sortable`` a click on a header sorts it (undefined last).

    Examples
    --------
    >>> table = data_table(["a"], [[Cell("1", 1.0)]], table_id="t", sortable=False)
    >>> table.count("<tr>"), '<td data-sort="1.0">1</td>' in table
    (2, True)
    """
    numeric = list(numeric) if numeric is not None else [False] * len(headers)
    head = []
    for index, header in enumerate(headers):
        kind = "num" if numeric[index] else "text"
        if sortable:
            head.append(
                f'<th scope="col" data-type="{kind}" aria-sort="none"><button type="button">'
                f"{escape(header)}</button></th>"
            )
        else:
            head.append(f'<th scope="col">{escape(header)}</th>')
    body = []
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            classes = " ".join(
                name
                for name in (cell.css, "num" if index < len(numeric) and numeric[index] else "")
                if name
            )
            css = f' class="{classes}"' if classes else ""
            cells.append(f'<td{css} data-sort="{escape(_sort_key(cell.sort))}">{cell.content}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    css = ' class="sortable"' if sortable else ""
    caption_html = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (
        f'<table id="{table_id}"{css}>{caption_html}<thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def bar(value: float, *, digits: int = 4, what: str = "") -> Cell:
    """A number with a horizontal bar of its size in [0, 1]; hatched when undefined.

    Examples
    --------
    >>> bar(0.5).sort, 'width:50.0%' in bar(0.5).content
    (0.5, True)
    >>> 'undefined' in bar(float("nan")).content
    True
    """
    if math.isnan(value):
        title = f"{what}: undefined" if what else "undefined"
        return Cell(
            f'<span class="bar undef" title="{escape(title)}"></span> '
            '<span class="value undef-text">undefined</span>',
            value,
        )
    width = 100.0 * min(1.0, max(0.0, value))
    text = number(value, digits)
    title = f"{what}: {text}" if what else text
    return Cell(
        f'<span class="bar" title="{escape(title)}"><span class="fill" style="width:{width:.1f}%">'
        f'</span></span> <span class="value">{text}</span>',
        value,
    )


def _data_uri(payload: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def swatch(color: RGB, label: str = "") -> str:
    """A small colour square (with its colour named in the tooltip).

    Examples
    --------
    >>> swatch((255, 0, 0), "car")
    '<span class="swatch" style="background:#ff0000" title="car #ff0000"></span>'
    """
    title = f"{label} {hex_color(color)}".strip()
    return (
        f'<span class="swatch" style="background:{hex_color(color)}" title="{escape(title)}">'
        "</span>"
    )


# ----------------------------------------------------------------- heat maps


def _compact(count: float) -> str:
    """A count short enough for a heat-map cell.

    Examples
    --------
    >>> _compact(999), _compact(12_345), _compact(3_400_000)
    ('999', '12k', '3.4M')
    """
    magnitude = abs(count)
    sign = "-" if count < 0 else ""
    if magnitude >= 1e9:
        return f"{sign}{magnitude / 1e9:.1f}G"
    if magnitude >= 1e6:
        return f"{sign}{magnitude / 1e6:.1f}M"
    if magnitude >= 1e4:
        return f"{sign}{magnitude / 1e3:.0f}k"
    return f"{sign}{magnitude:.0f}"


def shares(counts: np.ndarray, missed: np.ndarray, mode: str) -> np.ndarray:
    """Counts as shares of their ground-truth row (``rows``) or predicted column (``cols``).

    Rows include the pixels predicted as no class, so a row sums to 1 with them.
    Undefined (an empty row or column) is NaN.

    Examples
    --------
    >>> shares(np.array([[3, 1], [0, 0]]), np.array([0, 0]), "rows").tolist()
    [[0.75, 0.25], [nan, nan]]
    """
    values = counts.astype(np.float64)
    if mode == "counts":
        return values
    if mode == "rows":
        totals = values.sum(axis=1, keepdims=True) + missed.astype(np.float64)[:, None]
    else:
        totals = values.sum(axis=0, keepdims=True)
    out = np.full(values.shape, np.nan)
    np.divide(values, totals, out=out, where=np.broadcast_to(totals > 0, values.shape))
    return out


def _matrix_values(
    matrices: Sequence[tuple[np.ndarray, np.ndarray]], mode: str
) -> tuple[np.ndarray, str]:
    """Shown values (one matrix, or the second minus the first) and their scale kind."""
    if len(matrices) == 1:
        return shares(*matrices[0], mode), "counts" if mode == "counts" else "share"
    before, after = (shares(*matrix, mode) for matrix in matrices)
    return after - before, "diff"


def _cell_fill(value: float, kind: str, scale: float) -> str:
    if math.isnan(value):
        return "url(#hatch)"
    if kind == "diff":
        return diverging_color(value / scale if scale > 0 else 0.0)
    if kind == "counts":
        return sequential_color(math.log1p(value) / math.log1p(scale) if scale > 0 else 0.0)
    return sequential_color(value)


def _cell_label(value: float, kind: str, mode: str) -> str:
    if math.isnan(value):
        return "n/a"
    if mode == "counts":
        return ("+" if kind == "diff" and value > 0 else "") + _compact(value)
    return f"{value:+.2f}" if kind == "diff" else f"{value:.2f}"


def _scale(values: np.ndarray, kind: str) -> float:
    finite = values[~np.isnan(values)]
    if not finite.size:
        return 0.0
    return float(np.abs(finite).max()) if kind == "diff" else float(finite.max())


def _tooltip(
    names: Sequence[str], row: int, column: int, matrices: Sequence[tuple[np.ndarray, np.ndarray]]
) -> str:
    parts = []
    labels = ("", "") if len(matrices) == 1 else ("baseline ", "candidate ")
    for label, (counts, missed) in zip(labels, matrices, strict=False):
        count = int(counts[row, column])
        row_total = int(counts[row].sum() + missed[row])
        column_total = int(counts[:, column].sum())
        row_share = f"{100 * count / row_total:.2f}%" if row_total else "undefined"
        column_share = f"{100 * count / column_total:.2f}%" if column_total else "undefined"
        parts.append(
            f"{label}{count:,} px, {row_share} of ground-truth {names[row]}, "
            f"{column_share} of predicted {names[column]}"
        )
    return f"ground truth {names[row]} → predicted {names[column]}: " + "; ".join(parts)


def heatmap(
    matrices: Sequence[tuple[np.ndarray, np.ndarray]],
    names: Sequence[str],
    *,
    figure_id: str,
    title: str,
    mode: str = "rows",
    table: bool = True,
) -> str:
    """A confusion matrix as an SVG heat map, with legend, data for the switch and a table.

    Parameters
    ----------
    matrices : sequence of (counts, missed)
        One matrix, or two (baseline, candidate) to draw their difference.
    names : sequence of str
        Class names.
    figure_id : str
        Element id (the script finds the data by it).
    title : str
        Caption.
    mode : {"rows", "cols", "counts"}
        The initial normalisation (the page switch changes it).
    table : bool, default True
        Add the (last) matrix's counts as a table under the figure.

    Returns
    -------
    str
        A ``<figure>`` holding the SVG (one ``rect.cm-cell`` per class pair, with
        ``data-count`` and a ``<title>``), its legend and a ``<details>`` table.

    Examples
    --------
    >>> figure = heatmap([(np.array([[3, 1], [0, 4]]), np.zeros(2))], ["a", "b"],
    ...                  figure_id="cm", title="Confusion")
    >>> figure.count('class="cm-cell"')
    4
    """
    size = len(names)
    values, kind = _matrix_values(matrices, mode)
    scale = _scale(values, kind)
    cell = max(6.0, min(46.0, 620.0 / max(size, 1)))
    label_width = min(170.0, 16.0 + 7.0 * max((len(name) for name in names), default=1))
    top = label_width * 0.75
    width = label_width + cell * size + top * 0.8
    height = top + cell * size + 20
    font = max(7.0, min(13.0, cell / 3.3))
    parts = [
        f'<svg class="heatmap" role="img" aria-labelledby="{figure_id}-caption" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'data-size="{size}"{" data-raster" if size > VECTOR_CELLS_UP_TO else ""}>',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="'
        f'{hex_color(UNDEFINED)}"/><line x1="0" y1="0" x2="0" y2="6" stroke="#999" '
        'stroke-width="2"/></pattern></defs>',
    ]
    for index, name in enumerate(names):
        y = top + cell * index + cell / 2
        x = label_width + cell * index + cell / 2
        parts.append(
            f'<text class="axis" x="{label_width - 4:.1f}" y="{y:.1f}" text-anchor="end" '
            f'dominant-baseline="middle" font-size="{font:.1f}">{escape(_short(name))}'
            f"<title>ground truth {escape(name)}</title></text>"
        )
        parts.append(
            f'<text class="axis" transform="translate({x:.1f},{top - 4:.1f}) rotate(-45)" '
            f'font-size="{font:.1f}">{escape(_short(name))}<title>predicted {escape(name)}'
            "</title></text>"
        )
    if size <= VECTOR_CELLS_UP_TO:
        parts += _vector_cells(matrices, names, values, kind, scale, mode, (label_width, top, cell))
    else:
        parts += _raster_cells(matrices, mode, (label_width, top, cell))
    parts.append(
        f'<text x="{label_width:.0f}" y="{height - 4:.0f}" font-size="11" class="axis-title">'
        "rows: ground truth · columns: prediction</text></svg>"
    )
    data = {
        "kind": "diff" if len(matrices) == 2 else "single",
        "names": list(names),
        "matrices": [
            {"counts": c.astype(np.int64).tolist(), "missed": m.astype(np.int64).tolist()}
            for c, m in matrices
        ],
    }
    legend = _legend(kind, scale, mode, figure_id)
    return (
        f'<figure class="heatmap-figure" id="{figure_id}" data-mode="{mode}">'
        f'<figcaption id="{figure_id}-caption">{escape(title)}</figcaption>'
        f'<div class="scroll">{"".join(parts)}</div>{legend}'
        f'<script type="application/json" class="cm-data">{_json_for_script(data)}</script>'
        + (
            f"<details><summary>{escape(title)} as a table (pixel counts)</summary>"
            f"{_matrix_table(matrices[-1], names, f'{figure_id}-table')}</details>"
            if table
            else ""
        )
        + "</figure>"
    )


def _vector_cells(
    matrices: Sequence[tuple[np.ndarray, np.ndarray]],
    names: Sequence[str],
    values: np.ndarray,
    kind: str,
    scale: float,
    mode: str,
    geometry: tuple[float, float, float],
) -> list[str]:
    """One rect per cell, with its count and tooltip, and its value as text when it fits."""
    left, top, cell = geometry
    size = len(names)
    font = max(7.0, min(13.0, cell / 3.3))
    show_labels = size <= CELL_LABELS_UP_TO
    counts = matrices[-1][0]
    parts = []
    for row in range(size):
        for column in range(size):
            value = float(values[row, column])
            fill = _cell_fill(value, kind, scale)
            x, y = left + cell * column, top + cell * row
            parts.append(
                f'<rect class="cm-cell" data-row="{row}" data-col="{column}" '
                f'data-count="{int(counts[row, column])}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{cell:.1f}" height="{cell:.1f}" fill="{fill}">'
                f"<title>{escape(_tooltip(names, row, column, matrices))}</title></rect>"
            )
            if show_labels:
                color = "#000000" if fill.startswith("url") else readable_text(fill)
                parts.append(
                    f'<text class="cm-label" data-row="{row}" data-col="{column}" '
                    f'x="{x + cell / 2:.1f}" y="{y + cell / 2:.1f}" text-anchor="middle" '
                    f'dominant-baseline="central" font-size="{font * 0.85:.1f}" fill="{color}">'
                    f"{escape(_cell_label(value, kind, mode))}</text>"
                )
    return parts


def _raster_cells(
    matrices: Sequence[tuple[np.ndarray, np.ndarray]],
    mode: str,
    geometry: tuple[float, float, float],
) -> list[str]:
    """One pixelated PNG per normalisation (the switch shows one); undefined cells hatched."""
    left, top, cell = geometry
    size = matrices[-1][0].shape[0]
    parts = []
    for each in ("rows", "cols", "counts"):
        values, kind = _matrix_values(matrices, each)
        scale = _scale(values, kind)
        if kind == "diff":
            ratio = values / scale if scale > 0 else values * 0.0  # NaN stays NaN
            rgb = interpolate_array(DIVERGING, ratio / 2.0 + 0.5)
        elif kind == "counts":
            positions = np.log1p(values) / math.log1p(scale) if scale > 0 else values * 0.0
            rgb = interpolate_array(SEQUENTIAL, positions)
        else:
            rgb = interpolate_array(SEQUENTIAL, values)
        pixels = rgb.repeat(_RASTER_CELL, axis=0).repeat(_RASTER_CELL, axis=1)
        stripes = np.add.outer(np.arange(pixels.shape[0]), np.arange(pixels.shape[1])) % 4 == 0
        undefined = np.isnan(values).repeat(_RASTER_CELL, axis=0).repeat(_RASTER_CELL, axis=1)
        pixels[undefined & stripes] = (153, 153, 153)
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG", optimize=True)
        hidden = "" if each == mode else ' style="display:none"'
        parts.append(
            f'<image class="cm-raster" data-mode="{each}" x="{left:.1f}" y="{top:.1f}" '
            f'width="{cell * size:.1f}" height="{cell * size:.1f}" preserveAspectRatio="none" '
            f'image-rendering="pixelated" href="{_data_uri(buffer.getvalue(), "image/png")}"'
            f"{hidden}/>"
        )
    return parts


def _short(name: str, limit: int = 22) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _legend(kind: str, scale: float, mode: str, figure_id: str) -> str:
    stops = DIVERGING if kind == "diff" else SEQUENTIAL
    gradient = ", ".join(
        f"{hex_color(color)} {100 * index / (len(stops) - 1):.0f}%"
        for index, color in enumerate(stops)
    )
    if kind == "diff":
        low, high = f"{-scale:+.2f}", f"{scale:+.2f}"
        if mode == "counts":
            low, high = _compact(-scale), "+" + _compact(scale)
        what = "candidate minus baseline (orange: fewer, purple: more)"
    elif kind == "counts":
        low, high, what = "0", _compact(scale), "pixels (logarithmic colour scale)"
    else:
        low, high = "0", "1"
        what = (
            "share of the ground-truth row" if mode == "rows" else "share of the predicted column"
        )
    return (
        f'<div class="legend" id="{figure_id}-legend"><span class="legend-low">{low}</span>'
        f'<span class="gradient" style="background:linear-gradient(to right, {gradient})"></span>'
        f'<span class="legend-high">{high}</span> <span class="legend-what">{escape(what)}</span>'
        '<span class="swatch undef-swatch"></span> undefined (empty row or column)</div>'
    )


def _matrix_table(
    matrix: tuple[np.ndarray, np.ndarray], names: Sequence[str], table_id: str
) -> str:
    """The counts as a plain table (compact markup: ADE20K's has 22,500 cells)."""
    counts, missed = matrix
    show_missed = bool(np.asarray(missed).any())
    headers = ["GT \\ Pred", *names] + (["(no class)"] if show_missed else [])
    head = "".join(f'<th scope="col">{escape(header)}</th>' for header in headers)
    rows = []
    for index, name in enumerate(names):
        cells = [f"{int(count):,}" for count in counts[index]]
        if show_missed:
            cells.append(f"{int(missed[index]):,}")
        rows.append(f'<tr><th scope="row">{escape(name)}</th><td>' + "</td><td>".join(cells))
    return (
        f'<table id="{table_id}" class="matrix"><thead><tr>{head}</tr></thead><tbody>'
        + "</td></tr>".join(rows)
        + "</td></tr></tbody></table>"
    )


def _json_for_script(data: object) -> str:
    # "</" cannot end the script element early once escaped.
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


# ----------------------------------------------------------------- charts


def histogram_svg(distribution: ScoreDistribution, *, figure_id: str = "distribution") -> str:
    """Per-image scores as an SVG histogram, with a table fallback.

    Examples
    --------
    >>> d = ScoreDistribution("per-image mIoU", (0.0, 0.5, 1.0), (2, 3), 1)
    >>> histogram_svg(d).count('class="hist-bar"')
    2
    """
    counts = distribution.counts
    peak = max(counts, default=0) or 1
    width, height, left, bottom = 560.0, 180.0, 40.0, 28.0
    bar_width = (width - left - 10) / max(len(counts), 1)
    parts = [
        f'<svg class="histogram" role="img" aria-labelledby="{figure_id}-caption" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}">'
    ]
    for index, count in enumerate(counts):
        low, high = distribution.edges[index], distribution.edges[index + 1]
        bar_height = (height - bottom - 10) * count / peak
        x = left + index * bar_width
        y = height - bottom - bar_height
        fill = sequential_color((low + high) / 2)
        parts.append(
            f'<rect class="hist-bar" data-count="{count}" x="{x + 1:.1f}" y="{y:.1f}" '
            f'width="{bar_width - 2:.1f}" height="{max(bar_height, 0.5):.1f}" fill="{fill}">'
            f"<title>{distribution.metric} {low:.2f} to {high:.2f}: "
            f"{counted(count, 'image')}</title></rect>"
        )
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = left + tick * (width - left - 10)
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 14:.1f}" font-size="10" '
            f'text-anchor="middle">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{left - 6:.0f}" y="16" font-size="10" text-anchor="end">{peak}</text>'
        f'<text x="{left - 6:.0f}" y="{height - bottom:.0f}" font-size="10" '
        'text-anchor="end">0</text>'
        f'<text x="{width / 2:.0f}" y="{height - 2:.0f}" font-size="11" text-anchor="middle">'
        f"{escape(distribution.metric)} (images per bin)</text></svg>"
    )
    rows = [
        [
            Cell(f"{distribution.edges[i]:.2f} to {distribution.edges[i + 1]:.2f}"),
            Cell(str(count), float(count)),
        ]
        for i, count in enumerate(counts)
    ]
    if distribution.undefined:
        rows.append([Cell("undefined"), Cell(str(distribution.undefined))])
    table = data_table(
        ["Bin", "Images"],
        rows,
        table_id=f"{figure_id}-table",
        sortable=False,
        numeric=[False, True],
    )
    undefined = (
        f" {counted(distribution.undefined, 'image')} with nothing scored "
        f"{are(distribution.undefined)} not in a bin."
        if distribution.undefined
        else ""
    )
    return (
        f'<figure id="{figure_id}"><figcaption id="{figure_id}-caption">Distribution of the '
        f"{escape(distribution.metric)} over "
        f"{counted(distribution.total, 'image')}.{undefined}</figcaption>"
        f"{''.join(parts)}<details><summary>As a table</summary>{table}</details></figure>"
    )


def class_bars_svg(values: Sequence[float], names: Sequence[str], *, what: str = "IoU") -> str:
    """A small per-class bar chart (one bar per class, tooltips with the numbers).

    Examples
    --------
    >>> svg = class_bars_svg([0.5, float("nan")], ["road", "car"])
    >>> svg.count("<rect"), "car: undefined" in svg
    (3, True)
    """
    bar_width, height = 12.0, 40.0
    width = bar_width * len(values) + 2
    parts = [
        f'<svg class="class-bars" role="img" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}"><title>{escape(what)} per class</title>',
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#f4f4f4"/>',
    ]
    for index, (value, name) in enumerate(zip(values, names, strict=True)):
        x = 1 + index * bar_width
        if math.isnan(value):
            parts.append(
                f'<rect x="{x:.1f}" y="0" width="{bar_width - 1:.1f}" height="{height:.0f}" '
                f'fill="url(#hatch-small)"><title>{escape(name)}: undefined</title></rect>'
            )
            continue
        bar_height = max(1.0, height * min(1.0, max(0.0, value)))
        parts.append(
            f'<rect x="{x:.1f}" y="{height - bar_height:.1f}" width="{bar_width - 1:.1f}" '
            f'height="{bar_height:.1f}" fill="{sequential_color(value)}">'
            f"<title>{escape(name)}: {what} {value:.4f}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


# ----------------------------------------------------------------- gallery


def _image(thumbnail_png: bytes, mime: str, alt: str, title: str) -> str:
    return (
        f'<figure class="thumb"><img src="{_data_uri(thumbnail_png, mime)}" alt="{escape(alt)}" '
        f'loading="eager"><figcaption>{escape(title)}</figcaption></figure>'
    )


def _panel(panel: ImagePanel, index: int, names: Sequence[str]) -> str:
    scores = " · ".join(
        f"{escape(label)} <b>{number(value, 4) if 'change' not in label else f'{value:+.4f}'}</b>"
        for label, value in panel.scores.items()
    )
    thumbs = "".join(
        _image(thumb.png, thumb.mime, thumb.description, thumb.title) for thumb in panel.thumbnails
    )
    pixels = ", ".join(
        f"{escape(_pixel_label(name))} {count:,}{_percent(name, count, panel.pixels)}"
        for name, count in panel.pixels.items()
    )
    confusions = "; ".join(
        f"{escape(gt)} → {escape(pred)} {count:,} px" for gt, pred, count in panel.confusions
    )
    width, height = panel.size
    size = f" · {width}&times;{height} px" if width and height else ""
    return (
        f'<article class="panel" data-key="{escape(panel.key)}"><h3>{index}. '
        f'{escape(panel.key)}</h3><p class="scores">{scores}{size}</p>'
        + (f'<div class="thumbs">{thumbs}</div>' if thumbs else "")
        + (f'<p class="pixels">Pixels: {pixels}</p>' if pixels else "")
        + (f'<p class="confusions">Largest mix-ups: {confusions}</p>' if confusions else "")
        + "</article>"
    )


def _percent(name: str, count: int, pixels: Mapping[str, int]) -> str:
    """`` (12.3%)`` of the scored pixels of the same run; nothing for ignored pixels."""
    run, _, category = name.rpartition(" ")
    if category == "ignored":
        return ""
    prefix = f"{run} " if run else ""
    scored = sum(pixels.get(prefix + kind, 0) for kind in ("correct", "wrong", "pred_ignore"))
    return f" ({100 * count / scored:.1f}%)" if scored else ""


def _pixel_label(name: str) -> str:
    """``wrong`` -> ``wrong class``; ``baseline wrong`` -> ``baseline wrong class``."""
    run, _, category = name.rpartition(" ")
    return f"{run} {ERROR_TITLES.get(category, category)}".strip()


def gallery_section(gallery: Gallery, names: Sequence[str], *, section_id: str) -> str:
    """The chosen images: how they were chosen, the legends, one panel each.

    Examples
    --------
    >>> section = gallery_section(Gallery("Worst", "none chosen"), ["road"], section_id="w")
    >>> "No image to show" in section
    True
    """
    legend_classes = "".join(
        f'<span class="legend-item">{swatch(color, name)}{escape(name)}</span>'
        for color, name in zip(gallery.class_colors, names, strict=False)
    )
    legend_errors = "".join(
        f'<span class="legend-item">{swatch(_error_legend_color(name), ERROR_TITLES[name])}'
        f"{escape(ERROR_TITLES[name])}</span>"
        for name in ERROR_CATEGORIES
    )
    panels = "".join(
        _panel(panel, index, names) for index, panel in enumerate(gallery.panels, start=1)
    )
    if not panels:
        panels = "<p>No image to show.</p>"
    notes = "".join(f"<li>{escape(note)}</li>" for note in gallery.notes)
    legends = ""
    if any(panel.thumbnails for panel in gallery.panels):
        legends = (
            f'<p class="legend-line">Classes ({escape(gallery.colors_source)}): '
            f'{legend_classes}</p><p class="legend-line">Error maps: {legend_errors} (correct '
            "pixels keep a faded class colour)</p>"
        )
    return (
        f'<section id="{section_id}"><h2>{escape(gallery.title)}</h2>'
        f"<p>{escape(gallery.description)}</p>{legends}"
        f'<div class="panels">{panels}</div>'
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + "</section>"
    )


def _error_legend_color(name: str) -> RGB:
    if name == "correct":
        return (200, 200, 200)
    return ERROR_COLORS[name]


# ----------------------------------------------------------------- the page


def _asset(name: str) -> str:
    return resources.files("segeval.render").joinpath("assets", name).read_text(encoding="utf-8")


def mode_switch() -> str:
    """The radio buttons that switch every heat map's normalisation.

    Examples
    --------
    >>> mode_switch().count('type="radio"')
    3
    """
    choices = (
        ("rows", "share of each ground-truth row (recall view)"),
        ("cols", "share of each predicted column (precision view)"),
        ("counts", "pixel counts"),
    )
    inputs = "".join(
        f'<label><input type="radio" name="cm-mode" value="{value}"'
        f"{' checked' if value == 'rows' else ''}> {escape(label)}</label>"
        for value, label in choices
    )
    return (
        f'<fieldset class="switch"><legend>Normalise the heat maps by</legend>{inputs}</fieldset>'
    )


def page(title: str, body: str) -> str:
    """The whole self-contained document.

    Examples
    --------
    >>> document = page("t", "<p>x</p>")
    >>> document.startswith("<!DOCTYPE html>"), "default-src 'none'" in document
    (True, True)
    """
    scales = {
        "sequential": [list(color) for color in SEQUENTIAL],
        "diverging": [list(color) for color in DIVERGING],
    }
    hatch_small = (
        '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
        '<pattern id="hatch-small" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="4" height="4" fill="#dddddd"/>'
        '<line x1="0" y1="0" x2="0" y2="4" stroke="#999" stroke-width="1.5"/></pattern>'
        "</defs></svg>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Nothing may be fetched: the report is one file that works offline.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f'<meta name="generator" content="segeval {__version__}">'
        f"<title>{escape(title)}</title><style>{_asset('report.css')}</style></head><body>"
        f"{hatch_small}{body}"
        f"<footer>Made by segeval {__version__}. One self-contained file: nothing is loaded "
        "from the network.</footer>"
        f'<script type="application/json" id="segeval-scales">{_json_for_script(scales)}'
        f"</script><script>{_asset('report.js')}</script></body></html>\n"
    )


def metric_cards(items: Sequence[tuple[str, float, str]]) -> str:
    """Big numbers: (label, value, tooltip) each.

    Examples
    --------
    >>> "0.5000" in metric_cards([("mIoU", 0.5, "mean IoU")])
    True
    """
    cards = "".join(
        f'<div class="card" title="{escape(tip)}"><div class="label">{escape(label)}</div>'
        f'<div class="big">{number(value)}</div></div>'
        for label, value, tip in items
    )
    return f'<div class="cards">{cards}</div>'


def definition_list(items: Mapping[str, str]) -> str:
    """Label: value lines as a list.

    Examples
    --------
    >>> definition_list({"Images": "3"})
    '<ul class="header"><li><b>Images:</b> 3</li></ul>'
    """
    return (
        '<ul class="header">'
        + "".join(
            f"<li><b>{escape(label)}:</b> {escape(value)}</li>" for label, value in items.items()
        )
        + "</ul>"
    )
