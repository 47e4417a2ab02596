"""HTML output of ``score``, ``compare`` and ``batch``: one self-contained page each.

The three renderers here are entries of the ``FORMATS`` of
:mod:`segeval.render.score`, :mod:`segeval.render.compare` and
:mod:`segeval.render.leaderboard`. They draw what the result types hold and
nothing else: summary and per-class metrics are iterated from the report, so a
metric added to the registry (boundary metrics, losses) appears without a
change here. Images come from :attr:`RenderOptions.gallery`, which the command
line fills after the run (:mod:`segeval.run.gallery`); without it the page says
so instead of showing pictures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from segeval.checks import GateResult
from segeval.compare import Comparison, ComparisonRow
from segeval.core.metrics import REGISTRY, MetricSpec
from segeval.gallery import Gallery
from segeval.leaderboard import Leaderboard, SubmissionResult
from segeval.palettes import class_palette
from segeval.render.html_page import (
    Cell,
    bar,
    class_bars_svg,
    data_table,
    definition_list,
    escape,
    gallery_section,
    heatmap,
    histogram_svg,
    metric_cards,
    mode_switch,
    number,
    page,
    swatch,
)
from segeval.render.layout import (
    CATEGORY_AND_INSTANCE_METRICS,
    HEADLINE_METRICS,
    RenderOptions,
    report_header,
    report_notes,
)
from segeval.report import ClassResult, Report
from segeval.wording import counted

__all__ = ["render_comparison_html", "render_leaderboard_html", "render_score_html"]


def _title(name: str) -> str:
    spec = REGISTRY.get(name)
    return spec.title if spec is not None else name


def _formula(name: str) -> str:
    spec = REGISTRY.get(name)
    return spec.formula if spec is not None else ""


def _spec(name: str) -> MetricSpec | None:
    return REGISTRY.get(name.removeprefix("image_"))


def _better(name: str) -> str:
    """Which way a metric improves, in words ("" when the registry does not know it)."""
    spec = _spec(name)
    if spec is None:
        return ""
    if spec.zero_is_best:
        return "closer to 0"
    return "higher" if spec.higher_is_better else "lower"


def _row(name: str, class_name: str | None, before: float, after: float) -> ComparisonRow:
    """A metric in both reports; its direction from the registry (none when unknown)."""
    spec = _spec(name)
    return ComparisonRow(
        name,
        _title(name),
        class_name,
        before,
        after,
        True if spec is None else spec.higher_is_better,
        False if spec is None else spec.zero_is_best,
    )


def _nav(links: Sequence[tuple[str, str]]) -> str:
    return (
        "<nav>"
        + "".join(f'<a href="#{anchor}">{escape(text)}</a>' for anchor, text in links)
        + "</nav>"
    )


def _list(items: Sequence[str], css: str) -> str:
    if not items:
        return ""
    return f'<ul class="{css}">' + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def _gate(gate: GateResult | None) -> str:
    if gate is None or not gate.checks:
        return ""
    verdict = (
        "passed"
        if gate.passed
        else f"failed: {len(gate.failed)} of {counted(len(gate.checks), 'check')} failed"
    )
    rows = [
        [
            Cell(escape(check.name), check.name),
            Cell(number(check.value), check.value),
            Cell(escape(f"{check.comparison} {check.threshold:.4f}")),
            Cell(
                "pass" if check.passed else "<b>FAIL</b>", "", "better" if check.passed else "worse"
            ),
        ]
        for check in sorted(gate.checks, key=lambda check: check.passed)
    ]
    table = data_table(
        ["Check", "Value", "Required", "Result"],
        rows,
        table_id="gate",
        sortable=False,
        numeric=[False, True, False, False],
    )
    return f'<section id="gate-section"><h2>Quality gate: {escape(verdict)}</h2>{table}</section>'


# ------------------------------------------------------------------- score


def _summary_section(report: Report) -> str:
    intervals = report.intervals
    headline = [
        (_title(name), report.summary[name], _formula(name))
        for name in (*HEADLINE_METRICS, *CATEGORY_AND_INSTANCE_METRICS)
        if name in report.summary
    ]
    rows = []
    boundary = {} if report.boundary is None else report.boundary.values
    for name, value in [*report.summary.items(), *boundary.items()]:
        direction = _better(name)
        row = [
            Cell(escape(name), name),
            Cell(escape(_title(name)), _title(name)),
            Cell(number(value), value),
        ]
        if intervals is not None:
            interval = intervals.summary.get(name)
            text = "" if interval is None else f"[{number(interval.low)}, {number(interval.high)}]"
            row.append(Cell(text, "" if interval is None else interval.low))
        row += [Cell(direction, direction), Cell(escape(_formula(name)), _formula(name))]
        rows.append(row)
    headers = ["Name", "Metric", "Value"]
    if intervals is not None:
        headers.append(f"{intervals.confidence:.0%} interval")
    headers += ["Better", "Formula"]
    table = data_table(
        headers,
        rows,
        table_id="summary-table",
        numeric=[False, False, True] + ([True] if intervals is not None else []) + [False, False],
    )
    scope = "dataset level (one confusion matrix over all pixels)"
    bootstrap = ""
    if intervals is not None:
        bootstrap = (
            f" Intervals: {intervals.method} bootstrap over {intervals.num_units} "
            f"{intervals.unit}s, {intervals.n_resamples:,} resamples, seed {intervals.seed}."
        )
    return (
        f'<section id="summary"><h2>Summary</h2><p>Headline metrics at the {scope}; '
        "undefined values say so. Every summary metric of the report is in the table."
        f"{escape(bootstrap)}</p>"
        f"{metric_cards(headline)}<details><summary>All {len(rows)} summary metrics"
        f"</summary>{table}</details></section>"
    )


def _class_metric_names(classes: Sequence[ClassResult], beta: float) -> list[str]:
    names: list[str] = []
    for result in classes:
        for name in [*result.metrics, *result.boundary]:
            if name not in names and not (name == "fbeta" and beta == 1.0):
                names.append(name)
    return names


def _is_ratio(values: Sequence[float]) -> bool:
    finite = [value for value in values if not math.isnan(value)]
    return all(0.0 <= value <= 1.0 for value in finite)


def _class_section(report: Report, colors: Sequence[tuple[int, int, int]]) -> str:
    classes = report.classes
    metric_names = _class_metric_names(classes, report.config.metric_options.beta)
    if report.config.per_image:
        metric_names += ["image_iou", "image_dice"]
    ratio = {name: _is_ratio([result.value(name) for result in classes]) for name in metric_names}
    headers = ["ID", "Class"] + [
        f"{_title(name.removeprefix('image_'))} (per image)"
        if name.startswith("image_")
        else _title(name)
        for name in metric_names
    ]
    headers += ["GT pixels", "Predicted pixels"]
    rows = []
    for result in classes:
        label = escape(result.name) + ("" if result.included else " <i>(excluded)</i>")
        cells = [
            Cell(str(result.id), float(result.id)),
            Cell(swatch(colors[result.id], result.name) + label, result.name, "name"),
        ]
        for name in metric_names:
            value = result.value(name)
            what = f"{result.name} {_title(name)}"
            cells.append(bar(value, what=what) if ratio[name] else Cell(number(value), value))
        cells += [
            Cell(f"{result.support:,}", float(result.support)),
            Cell(f"{result.predicted:,}", float(result.predicted)),
        ]
        rows.append(cells)
    table = data_table(
        headers,
        rows,
        table_id="classes-table",
        numeric=[True, False] + [True] * (len(headers) - 2),
    )
    return (
        '<section id="per-class"><h2>Per class</h2><p>Click a column header to sort '
        "(undefined values stay last). Hatched bars are undefined: the class is absent from "
        "both ground truth and prediction, or the ratio is 0/0; they are left out of the means."
        f'</p><div class="scroll">{table}</div></section>'
    )


def _category_section(report: Report) -> str:
    """Categories (a class definition's groups of classes), each scored as its classes merged."""
    if not report.categories:
        return ""
    instances = report.config.gt_instances
    rows = [
        [
            Cell(escape(result.name), result.name),
            bar(result.iou, what=f"{result.name} IoU"),
            *(
                [bar(result.value("category_iiou"), what=f"{result.name} iIoU")]
                if instances
                else []
            ),
            Cell(f"{result.tp:,}", float(result.tp)),
            Cell(f"{result.fp:,}", float(result.fp)),
            Cell(f"{result.fn:,}", float(result.fn)),
        ]
        for result in report.categories
    ]
    headers = ["Category", "IoU", *(["iIoU"] if instances else []), "TP", "FP", "FN"]
    table = data_table(
        headers, rows, table_id="categories-table",
        numeric=[header != "Category" for header in headers],
    )  # fmt: skip
    return (
        '<section id="per-category"><h2>Per category</h2><p>Each category of the class '
        f"definition scored as its classes merged.</p>{table}</section>"
    )


def _confusion_section(report: Report) -> str:
    figure = heatmap(
        [(report.confusion_matrix, report.missed)],
        report.config.class_names,
        figure_id="confusion",
        title="Confusion matrix (rows: ground truth, columns: prediction)",
    )
    missed = int(report.missed.sum())
    note = (
        f" Pixels predicted as no class (an ignore value or out of range): {missed:,}; they "
        "count in the row shares."
        if missed
        else ""
    )
    return (
        '<section id="confusion-section"><h2>Confusion matrix</h2><p>Which classes bleed into '
        f"which: hover a cell for its pixel count and both shares.{escape(note)}</p>"
        f"{mode_switch()}{figure}</section>"
    )


def _distribution_section(gallery: Gallery | None) -> str:
    if gallery is None or gallery.distribution is None:
        return (
            '<section id="distribution"><h2>Per-image scores</h2><p>Not collected in this run: '
            "images were not scored one by one.</p></section>"
        )
    return (
        '<section id="distribution"><h2>Per-image scores</h2><p>Each image scored on its own '
        "(mean IoU over the classes defined in it).</p>"
        f"{histogram_svg(gallery.distribution)}</section>"
    )


def _sources(gallery: Gallery | None) -> dict[str, str]:
    return {} if gallery is None else dict(gallery.sources)


def render_score_html(report: Report, options: RenderOptions) -> str:
    """A score report as one self-contained HTML page.

    Parameters
    ----------
    report : Report
    options : RenderOptions
        ``options.gallery`` holds the worst images and the score distribution.

    Returns
    -------
    str

    Examples
    --------
    >>> from segeval import ConfusionMatrix, build_report
    >>> report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    >>> document = render_score_html(report, RenderOptions())
    >>> document.count('class="cm-cell"'), "Not collected in this run" in document
    (4, True)
    """
    gallery = options.gallery
    names = report.config.class_names
    colors = gallery.class_colors if gallery and gallery.class_colors else class_palette(len(names))
    header_lines = report_header(report)
    details = {
        **_sources(gallery),
        "Run": header_lines[0].removeprefix(f"segeval {report.segeval_version}: "),
    }
    details["Aggregation and classes"] = header_lines[1].removeprefix("Aggregation: ")
    details["Absent classes"] = header_lines[2].removeprefix(
        "Classes absent from ground truth and prediction: "
    )
    for line in header_lines[3:]:
        label, _, value = line.partition(": ")
        details[label] = value
    # Warnings keep their stable code, which scripts and --strict use.
    warnings = [f"{warning.message} [{warning.code}]" for warning in report.warnings]
    warnings += report_notes(report)
    if gallery is not None:
        images = gallery_section(gallery, names, section_id="worst")
    else:
        images = (
            '<section id="worst"><h2>Worst images</h2><p>No images drawn: the report was '
            "rendered without its folders (segeval score --format html draws them).</p></section>"
        )
    body = (
        "<h1>segeval score report</h1>"
        + _nav(
            [
                ("summary", "Summary"),
                ("per-class", "Per class"),
                ("confusion-section", "Confusion matrix"),
                ("distribution", "Per-image scores"),
                ("worst", "Worst images"),
            ]
        )
        + definition_list(details)
        + _list(warnings, "warnings")
        + _gate(report.gate)
        + _summary_section(report)
        + _class_section(report, colors)
        + _category_section(report)
        + _confusion_section(report)
        + _distribution_section(gallery)
        + images
    )
    return page("segeval score report", body)


# ------------------------------------------------------------------- compare


def _delta_cell(row: ComparisonRow) -> Cell:
    delta = row.delta
    if math.isnan(delta):
        return Cell("undefined", delta)
    improved = row.improved
    if improved is None or _spec(row.name.split("[")[0]) is None:  # equal, or no known direction
        return Cell(f"{delta:+.4f}{_bounds(row)}", delta)
    css, arrow, word = ("better", "▲", "better") if improved else ("worse", "▼", "worse")
    return Cell(f'<span title="{word}">{arrow} {delta:+.4f}</span>{_bounds(row)}', delta, css)


def _bounds(row: ComparisonRow) -> str:
    """The paired bootstrap's interval and p-value of a change (compare --ci), if any."""
    difference = row.difference
    if difference is None or math.isnan(difference.low) or math.isnan(difference.high):
        return ""
    p_value = "" if math.isnan(difference.p_value) else f", p = {difference.p_value:.3g}"
    return f" <small>[{difference.low:+.4f}, {difference.high:+.4f}]{p_value}</small>"


def _extra_summary_rows(comparison: Comparison) -> list[ComparisonRow]:
    shown = {row.name for row in comparison.summary}
    rows = []
    for name, after in comparison.candidate.summary.items():
        if name in shown or name not in comparison.baseline.summary:
            continue
        rows.append(_row(name, None, comparison.baseline.summary[name], after))
    return rows


def _summary_rows_table(
    rows: Sequence[ComparisonRow], comparison: Comparison, table_id: str
) -> str:
    cells = [
        [
            Cell(escape(row.title), row.title),
            Cell(number(row.baseline), row.baseline),
            Cell(number(row.candidate), row.candidate),
            _delta_cell(row),
        ]
        for row in rows
    ]
    return data_table(
        ["Metric", comparison.baseline_name, comparison.candidate_name, "Change"],
        cells,
        table_id=table_id,
        numeric=[False, True, True, True],
    )


def _class_rows(comparison: Comparison) -> tuple[list[str], list[list[Cell]]]:
    baseline, candidate = comparison.baseline, comparison.candidate
    beta = candidate.config.metric_options.beta
    names = _class_metric_names(candidate.classes, beta)
    if baseline.config.per_image and candidate.config.per_image:
        names += ["image_iou", "image_dice"]
    headers = ["Class"]
    for name in names:
        title = _title(name.removeprefix("image_")) + (
            " (per image)" if name.startswith("image_") else ""
        )
        headers += [
            f"{title} {comparison.baseline_name}",
            f"{title} {comparison.candidate_name}",
            f"{title} change",
        ]
    rows = []
    for before, after in zip(baseline.classes, candidate.classes, strict=True):
        cells = [Cell(escape(after.name), after.name)]
        for name in names:
            row = _row(name, after.name, before.value(name), after.value(name))
            cells += [
                Cell(number(row.baseline), row.baseline),
                Cell(number(row.candidate), row.candidate),
                _delta_cell(row),
            ]
        rows.append(cells)
    return headers, rows


def render_comparison_html(comparison: Comparison, options: RenderOptions) -> str:
    """A comparison of two reports as one self-contained HTML page.

    Examples
    --------
    >>> from segeval import ConfusionMatrix, build_report, compare_reports
    >>> old = build_report(ConfusionMatrix.from_counts(np.array([[4, 0], [0, 4]])))
    >>> new = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    >>> document = render_comparison_html(compare_reports(old, new), RenderOptions())
    >>> document.count('class="cm-cell"'), document.count("▼") > 0
    (12, True)
    """
    baseline, candidate = comparison.baseline, comparison.candidate
    names = candidate.config.class_names
    gallery = options.gallery
    images = (
        f"{counted(candidate.num_images, 'image')}"
        if baseline.num_images == candidate.num_images
        else f"{baseline.num_images} vs {counted(candidate.num_images, 'image')}"
    )
    details = {
        "Baseline": comparison.baseline_name,
        "Candidate": comparison.candidate_name,
        **_sources(gallery),
        "Images": images,
        "Classes": f"{candidate.config.num_classes}"
        + (f" from {candidate.config.classes}" if candidate.config.classes else ""),
        "Aggregation": candidate.config.aggregation,
    }
    summary = _summary_rows_table(comparison.summary, comparison, "compare-summary")
    extra_rows = _extra_summary_rows(comparison)
    extra = (
        f"<details><summary>The other {len(extra_rows)} summary metrics</summary>"
        f"{_summary_rows_table(extra_rows, comparison, 'compare-summary-all')}</details>"
        if extra_rows
        else ""
    )
    headers, rows = _class_rows(comparison)
    classes = data_table(
        headers, rows, table_id="compare-classes", numeric=[False] + [True] * (len(headers) - 1)
    )
    matrices = [
        (baseline.confusion_matrix, baseline.missed),
        (candidate.confusion_matrix, candidate.missed),
    ]
    heatmaps = (
        mode_switch()
        + heatmap(
            matrices[:1],
            names,
            figure_id="cm-baseline",
            title=f"Baseline: {comparison.baseline_name}",
        )
        + heatmap(
            matrices[1:],
            names,
            figure_id="cm-candidate",
            title=f"Candidate: {comparison.candidate_name}",
        )
        + heatmap(
            matrices,
            names,
            figure_id="cm-difference",
            title="Difference: candidate minus baseline (same normalisation)",
            table=False,
        )
    )
    if gallery is not None:
        changed = gallery_section(gallery, names, section_id="changed")
    else:
        changed = (
            '<section id="changed"><h2>Images that changed most</h2><p>Not shown: the two '
            "reports hold no per-image scores (score with --ci to keep them). Pass --gt, "
            "--baseline-pred and --candidate-pred to score both prediction folders image by "
            "image and show the images whose mIoU changed most, side by side.</p></section>"
        )
    body = (
        f"<h1>segeval comparison: {escape(comparison.baseline_name)} → "
        f"{escape(comparison.candidate_name)}</h1>"
        + _nav(
            [
                ("compare-summary-section", "Summary"),
                ("compare-classes-section", "Per class"),
                ("matrices", "Confusion matrices"),
                ("changed", "Changed images"),
            ]
        )
        + definition_list(details)
        + _gate(comparison.gate)
        + '<section id="compare-summary-section"><h2>Summary</h2><p>Change = candidate &minus; '
        "baseline; ▲ better, ▼ worse (blue and orange), whichever way the metric improves.</p>"
        + summary
        + extra
        + "</section>"
        + '<section id="compare-classes-section"><h2>Per class</h2><p>Click a header to sort, '
        "for instance by a change to see the classes that got worse first.</p>"
        + f'<div class="scroll">{classes}</div>'
        + "</section>"
        + '<section id="matrices"><h2>Confusion matrices</h2>'
        + heatmaps
        + "</section>"
        + changed
    )
    return page(
        f"segeval comparison: {comparison.baseline_name} vs {comparison.candidate_name}", body
    )


# ------------------------------------------------------------------- batch


def _class_ious(entry: SubmissionResult) -> list[float] | None:
    if entry.report is None:
        return None
    return [result.iou for result in entry.report.classes]


def render_leaderboard_html(board: Leaderboard, options: RenderOptions) -> str:
    """A batch leaderboard as one self-contained HTML page.

    ``options.links`` maps submission names to their own reports (written by
    ``segeval batch --output-dir``); each name links there.

    Examples
    --------
    >>> from segeval.leaderboard import Leaderboard, SubmissionResult
    >>> board = Leaderboard((SubmissionResult("a", "a", "invalid", reason="bad"),), "miou",
    ...                     "gt", 0, (), "", 0.0)
    >>> "bad" in render_leaderboard_html(board, RenderOptions())
    True
    """
    class_names: Sequence[str] = next(
        (entry.report.config.class_names for entry in board.entries if entry.report is not None), ()
    )
    headers = ["Rank", "Submission", "Status"] + [_title(name) for name in board.metrics]
    headers += ["IoU per class", "Reason"]
    rows = []
    for entry in board.entries:
        link = options.links.get(entry.name)
        name = escape(entry.name)
        if link:
            name = f'<a href="{escape(link)}">{name}</a>'
        values = [
            math.nan if entry.report is None else entry.report.summary.get(metric, math.nan)
            for metric in board.metrics
        ]
        ious = _class_ious(entry)
        bars = "" if ious is None else class_bars_svg(ious, class_names)
        rank = float(entry.rank) if entry.rank else math.nan
        rows.append(
            [
                Cell(str(entry.rank) if entry.rank else "-", rank),
                Cell(name, entry.name),
                Cell(escape(entry.status + (" (resumed)" if entry.resumed else "")), entry.status),
                *(
                    bar(value, what=f"{entry.name} {_title(metric)}")
                    for metric, value in zip(board.metrics, values, strict=True)
                ),
                Cell(
                    bars,
                    ""
                    if ious is None
                    else float(np.nanmean(ious))
                    if not all(math.isnan(v) for v in ious)
                    else "",
                ),
                Cell(
                    escape(
                        entry.reason
                        + (
                            f" (and {counted(entry.errors - 1, 'more error')})"
                            if entry.errors > 1
                            else ""
                        )
                    )
                ),
            ]
        )
    table = data_table(
        headers,
        rows,
        table_id="leaderboard",
        numeric=[True, False, False] + [True] * len(board.metrics) + [True, False],
    )
    per_class_rows = [
        [Cell(escape(entry.name), entry.name)]
        + [Cell(number(value), value) for value in (_class_ious(entry) or [])]
        for entry in board.entries
        if entry.report is not None
    ]
    per_class = data_table(
        ["Submission", *class_names],
        per_class_rows,
        table_id="leaderboard-classes",
        numeric=[False] + [True] * len(class_names),
    )
    valid = len(board.entries) - len(board.invalid)
    details: Mapping[str, str] = {
        "Ground truth": f"{board.gt_dir} ({counted(board.images, 'image')})",
        "Submissions": f"{len(board.entries)} ({valid} scored, {len(board.invalid)} invalid)",
        "Ranked by": _title(board.rank_by) + " (ties: mIoU, mDice, pixel accuracy, then name)",
    }
    if board.ignored_children:
        details = {**details, "Not submissions (ignored)": ", ".join(board.ignored_children)}
    links_note = (
        "Each name links to that submission's own report."
        if options.links
        else "Pass --output-dir to also write each submission's own report and link it here."
    )
    body = (
        "<h1>segeval batch leaderboard</h1>"
        + definition_list(details)
        + f'<section id="board"><h2>Leaderboard</h2><p>{escape(links_note)} The bars show each '
        "class's IoU (hover for the numbers; hatched: undefined); click a header to sort.</p>"
        + table
        + "<details><summary>IoU per class as a table</summary>"
        + per_class
        + "</details></section>"
    )
    return page("segeval batch leaderboard", body)
