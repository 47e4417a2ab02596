"""Render a loss report: table, Markdown, JSON (``segeval/loss/v1``) or CSV.

Every format shows each term over the whole set with its weight and the
weighted total, calibration when computed, and, as the options ask, every
image's values (``RenderOptions.per_image``) and the images with the highest
weighted total, each term shown (``RenderOptions.worst``).

CSV is long form, one number per row: ``scope, rank, image, term, weight,
value`` with ``scope`` one of ``set`` (whole set), ``image`` (per image) and
``worst`` (ranked); ``term`` is a loss term, ``total``, ``ece`` or ``brier``.
Undefined values are empty cells in CSV, ``null`` in JSON and ``-`` in tables.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence

from segeval.loss_report import ImageLosses, LossReport
from segeval.render.layout import RenderOptions, Section, format_value
from segeval.render.markdown import markdown_table
from segeval.render.tables import (
    Renderer,
    csv_number,
    csv_text,
    printable,
    render_with,
    text_table,
)
from segeval.wording import counted

__all__ = ["CSV_COLUMNS", "FORMATS", "TERM_TITLES", "loss_header", "loss_sections", "render_loss"]

#: Display name of each loss term.
TERM_TITLES: Mapping[str, str] = {
    "ce": "Cross-entropy",
    "bce": "Binary cross-entropy",
    "focal": "Focal",
    "dice": "Dice",
    "jaccard": "Jaccard",
    "lovasz": "Lovasz",
    "boundary": "Boundary",
}

CSV_COLUMNS = ("scope", "rank", "image", "term", "weight", "value")


def _weight(weight: float) -> str:
    return f"{weight:g}"


def loss_header(report: LossReport) -> list[str]:
    """Lines that say what was computed, on what, and how."""
    from segeval._version import __version__

    options = report.options
    run = report.run
    if run is None:
        ignore = "none" if options.ignore_index is None else str(options.ignore_index)
    else:
        ignore = ", ".join(str(value) for value in run.ignore_values) or "none"
    lines = [
        f"segeval {__version__} loss: {counted(len(report.per_image), 'image')}, "
        f"{counted(report.pixels, 'pixel', thousands=True)} counted (ignore values {ignore})",
    ]
    if report.num_classes == 1:
        scores = "1 channel (binary, ground truth 0/1)"
        squash = "sigmoid"
    else:
        scores = f"{report.num_classes} channels, one per class"
        squash = "softmax"
    kind = f"logits ({squash} applied)" if options.input == "logits" else "probabilities"
    source = (
        "" if run is None or run.classes_source is None else f", classes from {run.classes_source}"
    )
    lines.append(f"Scores: {scores}, {kind}{source}")
    settings = []
    terms = report.weights
    if "dice" in terms or "jaccard" in terms:
        where = (
            "sums over the whole set per class"
            if options.convention == "smp"
            else "per image and class, then the mean"
        )
        settings.append(
            f"Dice/Jaccard as {options.convention} ({where}, smooth {options.smooth_value:g})"
        )
    if "lovasz" in terms:
        settings.append(
            "Lovasz per image, then the mean"
            if options.lovasz_per_image
            else "Lovasz over the whole set"
        )
    if "ce" in terms and options.class_weights is not None:
        settings.append("class weights " + ", ".join(f"{w:g}" for w in options.class_weights))
    if "ce" in terms and options.label_smoothing:
        settings.append(f"label smoothing {options.label_smoothing:g}")
    if "focal" in terms:
        alpha = options.alpha
        shown = (
            "none"
            if alpha is None and report.num_classes > 1
            else "0.25"
            if alpha is None
            else ", ".join(f"{a:g}" for a in alpha)
            if isinstance(alpha, tuple)
            else f"{alpha:g}"
        )
        settings.append(f"focal gamma {options.gamma:g}, alpha {shown}")
    if settings:
        lines.append("Settings: " + "; ".join(settings))
    return lines


def _terms_section(report: LossReport, digits: int) -> Section:
    rows = []
    for term, weight in report.weights.items():
        value = report.values[term]
        rows.append(
            [
                term,
                TERM_TITLES[term],
                _weight(weight),
                format_value(value, digits),
                format_value(weight * value, digits),
            ]
        )
    rows.append(["total", "Weighted total", "", "", format_value(report.total, digits)])
    return Section(
        "Loss terms (whole set)",
        ["Term", "Name", "Weight", "Value", "Weighted"],
        rows,
        [False, False, True, True, True],
    )


def _calibration_section(report: LossReport, digits: int) -> Section | None:
    calibration = report.calibration
    if calibration is None:
        return None
    bins = len(calibration.bin_counts)
    return Section(
        "Calibration (whole set)",
        ["Metric", "Value"],
        [
            [f"ECE ({bins} bins, top label)", format_value(calibration.ece, digits)],
            ["Brier score", format_value(calibration.brier, digits)],
        ],
        [False, True],
    )


def _image_section(
    title: str, images: Sequence[ImageLosses], report: LossReport, digits: int, ranked: bool
) -> Section:
    terms = list(report.weights)
    calibrated = report.calibration is not None
    headers = [*(["Rank"] if ranked else []), "Image", *terms, "Total"]
    headers += ["ECE", "Brier"] if calibrated else []
    rows = []
    for rank, image in enumerate(images, start=1):
        row = [*([str(rank)] if ranked else []), image.name]
        row += [format_value(image.values[term], digits) for term in terms]
        row.append(format_value(image.total, digits))
        if calibrated:
            ece = math.nan if image.calibration is None else image.calibration.ece
            brier = math.nan if image.calibration is None else image.calibration.brier
            row += [format_value(ece, digits), format_value(brier, digits)]
        rows.append(row)
    numeric = [*([True] if ranked else []), False] + [True] * (len(headers) - 1 - ranked)
    return Section(title, headers, rows, numeric)


def loss_sections(report: LossReport, options: RenderOptions) -> list[Section]:
    """The tables every human-readable format draws, in order."""
    digits = options.digits
    # Calibration alone (no --loss) has no terms and no total to show.
    sections = [_terms_section(report, digits)] if report.weights else []
    calibration = _calibration_section(report, digits)
    if calibration is not None:
        sections.append(calibration)
    if options.worst:
        worst = report.worst(options.worst)
        sections.append(
            _image_section(
                f"Worst {counted(len(worst), 'image')} (highest weighted total)",
                worst,
                report,
                digits,
                True,
            )
        )
    if options.per_image:
        sections.append(_image_section("Per image", report.per_image, report, digits, False))
    return sections


def _notes(report: LossReport) -> list[str]:
    return [f"Warning: {warning.message}" for warning in report.warnings]


def _table(report: LossReport, options: RenderOptions) -> str:
    parts = ["\n".join(printable(line) for line in loss_header(report))]
    parts.extend(
        f"{section.title}\n{text_table(section)}" for section in loss_sections(report, options)
    )
    notes = _notes(report)
    if notes:
        parts.append("\n".join(printable(note) for note in notes))
    return "\n\n".join(parts) + "\n"


def _markdown(report: LossReport, options: RenderOptions) -> str:
    total = format_value(report.total, options.digits)
    what = f"weighted total {total}" if report.weights else "calibration"
    parts = [f"## segeval loss: {what} over {counted(len(report.per_image), 'image')}"]
    lines = [*loss_header(report)[1:], *_notes(report)]
    parts.append("\n".join(f"- {printable(line)}" for line in lines))
    parts.extend(
        f"### {section.title}\n\n{markdown_table(section)}"
        for section in loss_sections(report, options)
    )
    return "\n\n".join(parts) + "\n"


def _json(report: LossReport, options: RenderOptions) -> str:
    document = report.to_dict(per_image=options.per_image, worst=options.worst)
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def _image_rows(
    writer: csv.DictWriter[str], scope: str, images: Sequence[ImageLosses], ranked: bool
) -> None:
    for rank, image in enumerate(images, start=1):
        common = {"scope": scope, "rank": rank if ranked else "", "image": csv_text(image.name)}
        for term, value in image.values.items():
            writer.writerow({**common, "term": term, "value": csv_number(value)})
        writer.writerow({**common, "term": "total", "value": csv_number(image.total)})
        if image.calibration is not None:
            writer.writerow({**common, "term": "ece", "value": csv_number(image.calibration.ece)})
            writer.writerow(
                {**common, "term": "brier", "value": csv_number(image.calibration.brier)}
            )


def _csv(report: LossReport, options: RenderOptions) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    for term, weight in report.weights.items():
        writer.writerow(
            {
                "scope": "set",
                "term": term,
                "weight": repr(weight),
                "value": csv_number(report.values[term]),
            }
        )
    writer.writerow({"scope": "set", "term": "total", "value": csv_number(report.total)})
    if report.calibration is not None:
        writer.writerow(
            {"scope": "set", "term": "ece", "value": csv_number(report.calibration.ece)}
        )
        writer.writerow(
            {"scope": "set", "term": "brier", "value": csv_number(report.calibration.brier)}
        )
    if options.per_image:
        _image_rows(writer, "image", report.per_image, ranked=False)
    if options.worst:
        _image_rows(writer, "worst", report.worst(options.worst), ranked=True)
    return buffer.getvalue()


#: Output format name -> renderer of a loss report.
FORMATS: Mapping[str, Renderer[LossReport]] = {
    "table": _table,
    "csv": _csv,
    "json": _json,
    "markdown": _markdown,
}


def render_loss(
    report: LossReport, output_format: str = "table", options: RenderOptions | None = None
) -> str:
    """The loss report in one of :data:`FORMATS`.

    Examples
    --------
    >>> import numpy as np
    >>> from segeval.losses import LossAccumulator
    >>> accumulator = LossAccumulator({"ce": 1.0, "dice": 0.5}, num_classes=2)
    >>> accumulator.add_image(np.zeros((2, 1, 2)), np.array([[0, 1]]), name="a")
    >>> print(render_loss(accumulator.result(), "csv"))
    scope,rank,image,term,weight,value
    set,,,ce,1.0,0.6931471805599453
    set,,,dice,0.5,0.5
    set,,,total,,0.9431471805599453
    <BLANKLINE>
    """
    return render_with(FORMATS, report, output_format, options)
