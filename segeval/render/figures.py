"""Figures for papers and slides: the confusion matrix and per-class bars as PNG, SVG or PDF.

``segeval plot`` draws these from any saved JSON report. They use matplotlib,
an optional dependency (``pip install "segeval-masks[plot]"``), imported only when a
figure is drawn, through its object-oriented API (no pyplot, no global state).
The HTML report does not need it: it draws its own small SVG.

Colours follow the HTML report: viridis for shares and counts, hatched grey for
undefined values (never drawn like zero), Okabe and Ito's colours for the bars.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from segeval.core.metrics import REGISTRY
from segeval.errors import MissingDependencyError, UsageError
from segeval.render.html_page import shares
from segeval.report import Report
from segeval.wording import counted

__all__ = ["FIGURE_FORMATS", "confusion_figure", "per_class_figure"]

#: File suffixes matplotlib writes, and their format names.
FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

#: Bar colours, one per metric (Okabe and Ito).
_BAR_COLORS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00")

#: Class count up to which matrix cells carry their value as text.
_LABELS_UP_TO = 24


def _matplotlib() -> ModuleType:
    try:
        import matplotlib
        import matplotlib.figure
    except ImportError as err:
        raise MissingDependencyError(
            "segeval plot needs matplotlib, an optional extra: pip install 'segeval-masks[plot]'."
        ) from err
    return matplotlib


def _format(output_format: str) -> str:
    name = output_format.lower().lstrip(".")
    if f".{name}" not in FIGURE_FORMATS:
        raise UsageError(
            f"cannot write a figure as {output_format!r}; use "
            f"{', '.join(FIGURE_FORMATS)} (from the output file's suffix)."
        )
    return name


def _save(matplotlib: ModuleType, figure: Any, output_format: str) -> bytes:
    buffer = io.BytesIO()
    # Fixed metadata and ids: the same report gives the same file. SVG text stays
    # text, so a figure can be edited for a paper.
    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
    settings = {"svg.fonttype": "none", "svg.hashsalt": "segeval"}
    with matplotlib.rc_context(settings):
        figure.savefig(buffer, format=output_format, dpi=200, metadata=metadata[output_format])
    return buffer.getvalue()


def confusion_figure(
    report: Report, *, normalize: str = "rows", output_format: str = "png"
) -> bytes:
    """The confusion matrix as a heat map figure.

    Parameters
    ----------
    report : Report
    normalize : {"rows", "cols", "counts"}, default "rows"
        Shares of each ground-truth row (missed pixels included), of each
        predicted column, or pixel counts (symmetric-log colour scale).
    output_format : {"png", "svg", "pdf"}

    Returns
    -------
    bytes
        The encoded figure.

    Raises
    ------
    MissingDependencyError
        matplotlib is not installed.

    Examples
    --------
    >>> from segeval import ConfusionMatrix, build_report
    >>> report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    >>> confusion_figure(report, output_format="svg")[:5]
    b'<?xml'
    """
    if normalize not in ("rows", "cols", "counts"):
        raise UsageError(f"normalize must be rows, cols or counts, got {normalize!r}.")
    output_format = _format(output_format)
    matplotlib = _matplotlib()
    colors = matplotlib.colors
    names = report.config.class_names
    size = len(names)
    values = shares(report.confusion_matrix, report.missed, normalize)
    side = min(16.0, max(4.5, 0.42 * size + 2.5))
    figure = matplotlib.figure.Figure(figsize=(side + 1.2, side), layout="constrained")
    axes = figure.add_subplot()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#dddddd")
    if normalize == "counts":
        peak = float(np.nanmax(values)) if values.size else 1.0
        norm = colors.SymLogNorm(linthresh=1.0, vmin=0.0, vmax=max(peak, 1.0))
        label = "pixels (symmetric-log scale)"
    else:
        norm = colors.Normalize(vmin=0.0, vmax=1.0)
        label = "share of ground-truth row" if normalize == "rows" else "share of predicted column"
    image = axes.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, interpolation="nearest")
    for row, column in zip(*np.nonzero(np.isnan(values)), strict=True):
        axes.add_patch(
            matplotlib.patches.Rectangle(
                (column - 0.5, row - 0.5),
                1,
                1,
                fill=False,
                hatch="///",
                edgecolor="#888888",
                linewidth=0,
            )
        )
    if size <= _LABELS_UP_TO:
        for row in range(size):
            for column in range(size):
                value = float(values[row, column])
                text = (
                    "n/a"
                    if math.isnan(value)
                    else (f"{int(value):,}" if normalize == "counts" else f"{value:.2f}")
                )
                rgba = (0.87, 0.87, 0.87, 1.0) if math.isnan(value) else cmap(norm(value))
                luminance = 0.2126 * rgba[0] + 0.7152 * rgba[1] + 0.0722 * rgba[2]
                axes.text(
                    column,
                    row,
                    text,
                    ha="center",
                    va="center",
                    fontsize=max(5.0, min(9.0, 120.0 / size)),
                    color="black" if luminance > 0.45 else "white",
                )
    axes.set_xticks(range(size), labels=names, rotation=45, ha="right", rotation_mode="anchor")
    axes.set_yticks(range(size), labels=names)
    axes.set_xlabel("prediction")
    axes.set_ylabel("ground truth")
    miou = report.summary.get("miou", math.nan)
    axes.set_title(f"Confusion matrix, {counted(report.num_images, 'image')}, mIoU {miou:.4f}")
    figure.colorbar(image, ax=axes, shrink=0.8, label=label)
    return _save(matplotlib, figure, output_format)


def per_class_figure(
    report: Report, *, metrics: Sequence[str] = ("iou", "dice"), output_format: str = "png"
) -> bytes:
    """Per-class metrics as horizontal grouped bars, values written at their ends.

    Undefined values are drawn as a hatched grey outline labelled "undefined".

    Parameters
    ----------
    report : Report
    metrics : sequence of str
        Per-class metric names (``segeval metrics``), e.g. ``iou``, ``dice``.
    output_format : {"png", "svg", "pdf"}

    Returns
    -------
    bytes

    Examples
    --------
    >>> from segeval import ConfusionMatrix, build_report
    >>> report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    >>> per_class_figure(report, output_format="png")[:4]
    b'\\x89PNG'
    """
    output_format = _format(output_format)
    known = list(report.classes[0].metrics) if report.classes else []
    known += ["image_iou", "image_dice"] if report.config.per_image else []
    unknown = [name for name in metrics if name not in known]
    if unknown or not metrics:
        raise UsageError(
            f"unknown per-class metric {', '.join(unknown) or '(none)'}; this report has "
            f"{', '.join(known)}."
        )
    matplotlib = _matplotlib()
    names = report.config.class_names
    size = len(names)
    height = min(24.0, max(3.0, 0.22 * size * len(metrics) + 1.5))
    figure = matplotlib.figure.Figure(figsize=(7.5, height), layout="constrained")
    axes = figure.add_subplot()
    thickness = 0.8 / len(metrics)
    positions = np.arange(size)
    for number, metric in enumerate(metrics):
        values = np.array([result.value(metric) for result in report.classes])
        offsets = positions - 0.4 + thickness * (number + 0.5)
        title = (
            REGISTRY[metric.removeprefix("image_")].title
            if metric.removeprefix("image_") in REGISTRY
            else metric
        )
        if metric.startswith("image_"):
            title += " (per image)"
        defined = ~np.isnan(values)
        axes.barh(
            offsets[defined],
            values[defined],
            height=thickness,
            label=title,
            color=_BAR_COLORS[number % len(_BAR_COLORS)],
        )
        for offset, value in zip(offsets, values, strict=True):
            if math.isnan(value):
                axes.barh(
                    offset,
                    1.0,
                    height=thickness,
                    fill=False,
                    hatch="///",
                    edgecolor="#999999",
                    linewidth=0,
                )
                axes.text(0.01, offset, "undefined", va="center", fontsize=7, color="#444444")
            else:
                axes.text(value + 0.01, offset, f"{value:.3f}", va="center", fontsize=7)
    axes.set_yticks(positions, labels=names)
    axes.invert_yaxis()
    axes.set_xlim(0.0, 1.12)
    axes.set_xlabel("score")
    axes.legend(loc="lower right", fontsize=8)
    axes.set_title(f"Per-class metrics, {counted(report.num_images, 'image')}")
    return _save(matplotlib, figure, output_format)
