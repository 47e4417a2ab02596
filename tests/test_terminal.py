"""The rich renderer (the default on a terminal), on a recording console.

Styles are read back from ``export_text(styles=True)``: each styled cell is an
SGR sequence, the cell's text (with its padding) and a reset.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace

import numpy as np
import pytest
from rich.console import Console

from segeval.compare import Comparison, compare_reports
from segeval.core.confusion import ConfusionMatrix
from segeval.inputs.classes import load_class_names
from segeval.render.layout import RenderOptions, Section, report_header, report_sections
from segeval.render.terminal import print_comparison, print_report
from segeval.report import Report, build_report
from segeval.run.evaluate import evaluate
from segeval.run.options import ScoreOptions
from tests.helpers import SAMPLE

# SGR codes of the styles the renderer uses.
BOLD, DIM, RED, GREEN, YELLOW = "1", "2", "31", "32", "33"


@pytest.fixture(scope="module")
def sample_report() -> Report:
    """The sample set with its class names; background left out of the means (a note)."""
    names = load_class_names(SAMPLE / "class_names.txt")
    options = ScoreOptions(class_names=names, exclude_classes=("background",))
    return evaluate(SAMPLE / "pred", SAMPLE / "gt", options)


def _recorded(width: int) -> Console:
    return Console(record=True, width=width, file=io.StringIO())


def _styled(ansi: str, code: str) -> list[str]:
    """The text of every span drawn in the SGR style ``code``, stripped, in order."""
    return [text.strip() for found, text in re.findall(r"\x1b\[([\d;]+)m(.*?)\x1b\[0m", ansi)
            if found == code]  # fmt: skip


def _line_with(text: str, cells: list[str]) -> str:
    """The one output line whose words are exactly these cells' words, in order."""
    words = " ".join(cells).split()
    lines = [line for line in text.splitlines() if line.split() == words]
    assert len(lines) == 1, (cells, text)
    return lines[0]


def _print_report(report: Report, width: int, options: RenderOptions | None = None) -> str:
    console = _recorded(width)
    print_report(report, options or RenderOptions(), console)
    return console.export_text(styles=True)


def _plain(ansi: str) -> str:
    return re.sub(r"\x1b\[[\d;]*m", "", ansi)


def test_report_shows_the_header_and_every_cell_of_every_table(sample_report: Report) -> None:
    options = RenderOptions(confusion_matrix=True)
    text = _plain(_print_report(sample_report, 160, options))
    lines = text.splitlines()
    header = report_header(sample_report)
    assert lines[: len(header)] == header
    assert header[0].endswith("12 images, 70,704 pixels scored, 3,024 ignored (ignore index 255)")
    sections = report_sections(sample_report, options)
    assert [section.title for section in sections] == [
        "Summary (dataset level)",
        "Per class",
        "Confusion matrix (rows: ground truth, columns: prediction; pixel counts)",
    ]
    flowing = " ".join(text.split())  # a title wider than its table wraps
    for section in sections:
        assert section.title in flowing
        _line_with(text, section.headers)
        for row in section.rows:
            _line_with(text, row)
    # The values themselves, not only "the same as the Section model".
    _line_with(text, ["mIoU", "0.7781"])
    _line_with(text, ["1", "road", "0.9587", "0.9789", "0.9833", "0.9746", "32,955", "32,666"])
    _line_with(text, ["5", "water", "-", "-", "-", "-", "0", "0"])
    assert lines[-1] == "Note: Left out of the means: background."


def test_report_styles_titles_undefined_cells_and_notes(sample_report: Report) -> None:
    ansi = _print_report(sample_report, 120)
    bold = _styled(ansi, BOLD)
    assert "Summary (dataset level)" in " ".join(bold)  # the title, wrapped or not
    assert "Per class" in bold
    assert {"Metric", "Value", "ID", "Class", "IoU", "Dice", "Pred pixels"} <= set(bold)
    assert _styled(ansi, DIM) == ["-"] * 4  # water's IoU, Dice, Precision, Recall
    assert _styled(ansi, YELLOW) == ["Note: Left out of the means: background."]
    assert _styled(ansi, RED) == []
    assert _styled(ansi, GREEN) == []


def _numeric_cells(section: Section) -> list[str]:
    return [
        cell
        for row in section.rows
        for cell, right in zip(row, section.numeric, strict=True)
        if right and cell
    ]


def test_a_standard_terminal_keeps_class_names_and_numbers_whole(sample_report: Report) -> None:
    text = _plain(_print_report(sample_report, 80))
    assert max(len(line) for line in text.splitlines()) <= 80
    per_class = report_sections(sample_report, RenderOptions())[1]
    words = text.split()
    for cell in _numeric_cells(per_class):
        assert cell in words, cell
    assert "Class" in words
    # The headers wrap ("GT pixels" over two lines) before a name is: only the
    # "(excluded)" mark goes to a second line.
    _line_with(text, ["0", "background", "0.9357", "0.9668", "0.9767", "0.9570", "27,469",
                      "26,914"])  # fmt: skip
    assert "(excluded)" in words


def test_a_narrow_terminal_keeps_numbers_whole(sample_report: Report) -> None:
    text = _plain(_print_report(sample_report, 64))
    per_class = report_sections(sample_report, RenderOptions())[1]
    words = text.split()
    assert [cell for cell in _numeric_cells(per_class) if cell not in words] == []
    assert "Class" in words
    assert max(len(line) for line in text.splitlines()) <= 64


def _big_report(per_image: bool = False) -> Report:
    """CamVid-sized counts (millions of pixels) under CamVid's class names."""
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 400_000, size=(11, 11))
    counts[np.diag_indices(11)] = rng.integers(1_000_000, 9_000_000, size=11)
    counts[10] = 0  # an absent class: undefined values
    counts[:, 10] = 0
    names = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence",
             "Car", "Pedestrian", "Bicyclist"]  # fmt: skip
    report = build_report(ConfusionMatrix.from_counts(counts), class_names=names)
    if per_image:
        config = replace(report.config, aggregation="dataset+image")
        classes = tuple(
            replace(result, image_iou=result.iou, image_dice=result.dice, image_iou_images=233,
                    image_dice_images=233)
            for result in report.classes
        )  # fmt: skip
        summary = {**report.summary, **{f"image_{name}": 0.5 for name in ("miou", "mdice")}}
        others = ("samplewise_miou", "pooled_miou", "samplewise_mdice", "pooled_mdice")
        summary.update(dict.fromkeys((*others, "image_pixel_accuracy"), 0.5))
        report = replace(report, config=config, classes=classes, summary=summary)
    return report


@pytest.mark.parametrize("width", [70, 80, 100, 120])
@pytest.mark.parametrize(
    "options",
    [
        RenderOptions(),
        RenderOptions(confusion_matrix=True),
        RenderOptions(normalize="gt", confusion_matrix=True),
    ],
    ids=["tables", "confusion-matrix", "normalized"],
)
@pytest.mark.parametrize("per_image", [False, True], ids=["dataset", "per-image"])
def test_every_table_fits_with_its_labels_and_whole_numbers(
    width: int, options: RenderOptions, per_image: bool
) -> None:
    report = _big_report(per_image)
    text = _plain(_print_report(report, width, options))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    words = text.split()
    for section in report_sections(report, options):
        for cell in _numeric_cells(section):
            assert cell in words, (section.title, cell)
        for row in section.rows:  # every row's label, in every table the section became
            label = (
                row[section.headers.index("GT \\ Pred")]
                if "GT \\ Pred" in section.headers
                else row[0]
            )
            tables = text.count(section.title)
            assert sum(line.split()[:1] == label.split()[:1] for line in lines) >= tables
    assert "6,870" not in words or "6,870,982" in words


def test_the_per_class_table_at_80_and_70_columns() -> None:
    """A CamVid-sized report: one per-class table at 80 columns, two at 70."""
    report = _big_report()
    per_class = report_sections(report, RenderOptions())[1]
    pole = per_class.rows[2]
    assert pole[:2] == ["2", "Pole"]
    assert pole[-2:] == ["9,600,713", "9,583,684"]
    at_80 = _plain(_print_report(report, 80))
    assert "Per class (continued)" not in at_80
    _line_with(at_80, pole)
    _line_with(at_80, ["ID", "Class", "IoU", "Dice", "Prec.", "Rec.", "GT px", "Pred px"])
    at_70 = _plain(_print_report(report, 70))
    assert at_70.count("Per class (continued)") == 1
    _line_with(at_70, pole[:-1])
    _line_with(at_70, [pole[0], pole[1], pole[-1]])


def test_a_very_narrow_terminal_prints_the_plain_table_uncut(sample_report: Report) -> None:
    text = _plain(_print_report(sample_report, 24))
    per_class = report_sections(sample_report, RenderOptions())[1]
    words = text.split()
    assert [cell for cell in _numeric_cells(per_class) if cell not in words] == []
    assert "Per class" in text


def test_score_tables_show_min_iou_as_compare_does(sample_report: Report) -> None:
    text = _plain(_print_report(sample_report, 120))
    _line_with(text, ["Min IoU", "0.6365"])
    from segeval.render.markdown import render_markdown

    assert "| Min IoU | 0.6365 |" in render_markdown(sample_report, RenderOptions())


# ------------------------------------------------------------------ compare

# bg gets worse (IoU 0.8 -> 7/9), car better (0.75 -> 7/9), bike is absent from both.
BASELINE = [[8, 0, 0], [2, 6, 0], [0, 0, 0]]
CANDIDATE = [[7, 1, 0], [1, 7, 0], [0, 0, 0]]


def _comparison() -> Comparison:
    def report(counts: list[list[int]]) -> Report:
        matrix = ConfusionMatrix.from_counts(np.array(counts))
        return build_report(matrix, class_names=["bg", "car", "bike"])

    return compare_reports(
        report(BASELINE), report(CANDIDATE),
        baseline_name="release.json", candidate_name="candidate.json",
    )  # fmt: skip


def _print_comparison(width: int = 120) -> str:
    console = _recorded(width)
    print_comparison(_comparison(), console)
    return console.export_text(styles=True)


def test_comparison_shows_both_reports_and_the_deltas() -> None:
    text = _plain(_print_comparison())
    assert text.splitlines()[0] == (
        "segeval compare: release.json (baseline) vs candidate.json (candidate), 0 images, "
        "3 classes, dataset aggregation"
    )
    _line_with(text, ["Metric", "release.json", "candidate.json", "Delta"])
    _line_with(text, ["Pixel acc.", "0.8750", "0.8750", "+0.0000"])
    _line_with(text, ["mIoU", "0.7750", "0.7778", "+0.0028"])
    _line_with(text, ["Min IoU", "0.7500", "0.7778", "+0.0278"])
    headers = ["Class", "IoU base", "IoU cand", "IoU delta", "Dice base", "Dice cand", "Dice delta"]
    _line_with(text, headers)
    _line_with(text, ["bg", "0.8000", "0.7778", "-0.0222", "0.8889", "0.8750", "-0.0139"])
    _line_with(text, ["car", "0.7500", "0.7778", "+0.0278", "0.8571", "0.8750", "+0.0179"])
    _line_with(text, ["bike"] + ["-"] * 6)


def test_comparison_colours_improvements_green_and_drops_red() -> None:
    ansi = _print_comparison()
    # In reading order: mIoU, mDice, FW IoU, Min IoU, then car's IoU and Dice.
    assert _styled(ansi, GREEN) == [
        "+0.0028",
        "+0.0020",
        "+0.0028",
        "+0.0278",
        "+0.0278",
        "+0.0179",
    ]
    assert _styled(ansi, RED) == ["-0.0222", "-0.0139"]  # bg's IoU and Dice
    assert _styled(ansi, DIM) == ["-"] * 6  # bike: undefined in both, neither better nor worse
    unchanged = [line for line in _plain(ansi).splitlines() if line.endswith("+0.0000 ")]
    assert [line.split()[0] for line in unchanged] == ["Pixel", "Mean", "Kappa"]
    assert "+0.0000" not in "".join(_styled(ansi, GREEN) + _styled(ansi, RED))
