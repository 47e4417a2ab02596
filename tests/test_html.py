"""HTML reports without a browser: content, honesty, bounded worst-K, self-containment.

The same reports are opened in headless Chromium by tests/test_browser.py.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from segeval import ConfusionMatrix, build_report, compare_reports
from segeval.cli import cli
from segeval.compare import ComparisonRow
from segeval.core.per_image import ImageResult
from segeval.render import RenderOptions, render
from segeval.render.html import _delta_cell
from segeval.run.gallery import ScoreHistogram, WorstImages, _Painter
from tests.helpers import SAMPLE, SAMPLE_ARGS, measured, save_mask

#: A report must never reach for the network.
NETWORK = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _cells(document: str) -> list[tuple[int, int, int]]:
    pattern = r'class="cm-cell" data-row="(\d+)" data-col="(\d+)" data-count="(\d+)"'
    return [(int(r), int(c), int(n)) for r, c, n in re.findall(pattern, document)]


def test_sample_score_html_has_every_part_and_no_network(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    _invoke("score", *SAMPLE_ARGS, "--format", "html", "--output", str(target), "--worst", "3")
    document = target.read_text(encoding="utf-8")
    reference = json.loads(_invoke("score", *SAMPLE_ARGS, "--format", "json"))
    counts = reference["confusion_matrix"]["counts"]
    cells = _cells(document)
    assert len(cells) == 6 * 6
    assert all(count == counts[row][col] for row, col, count in cells)
    for part in ('id="summary"', 'id="per-class"', 'id="confusion-section"', 'id="distribution"'):
        assert part in document
    assert document.count('<article class="panel"') == 3
    assert document.count('class="hist-bar"') == 20
    # Self-contained: a policy forbids every request, and nothing points outside.
    assert "default-src 'none'" in document
    assert not NETWORK.search(document)
    assert "<link" not in document
    # water is absent from both sides: undefined, hatched, never a zero bar.
    water = re.search(r"<tr><td[^>]*>5</td>.*?</tr>", document)
    assert water is not None
    assert water.group(0).count("undefined") >= 4
    assert "width:0.0%" not in water.group(0)


def test_worst_images_are_the_lowest_per_image_miou(tmp_path: Path) -> None:
    rows_file = tmp_path / "rows.csv"
    target = tmp_path / "report.html"
    _invoke(
        "score", *SAMPLE_ARGS, "--format", "html", "--output", str(target),
        "--worst", "4", "--per-image-output", str(rows_file),
    )  # fmt: skip
    with rows_file.open() as stream:
        rows = list(csv.DictReader(stream))
    expected = sorted(rows, key=lambda row: float(row["miou"]))[:4]
    shown = re.findall(r'<article class="panel" data-key="([^"]+)"', target.read_text())
    assert shown == [row["image"] for row in expected]


def test_worst_images_heap_stays_bounded_and_matches_a_full_sort() -> None:
    rng = np.random.default_rng(7)
    scores = rng.random(2000)
    scores[::97] = np.nan
    worst, histogram = WorstImages(12), ScoreHistogram()
    largest_heap = 0
    for index, score in enumerate(scores):
        result = ImageResult(f"k{index}", np.array([score]), np.array([score]), score, score, 0, 1)
        worst.write(result)
        histogram.write(result)
        largest_heap = max(largest_heap, len(worst))
    assert largest_heap == 12
    defined = [(score, f"k{i}") for i, score in enumerate(scores) if not math.isnan(score)]
    assert [image.key for image in worst.ranked()] == [key for _, key in sorted(defined)[:12]]
    assert worst.seen == 2000
    assert worst.undefined == histogram.distribution().undefined == int(np.isnan(scores).sum())
    assert sum(histogram.distribution().counts) == len(defined)


def test_error_map_categories() -> None:
    painter = _Painter(3, ((255, 0, 0), (0, 255, 0), (0, 0, 255)), ("a", "b", "c"), 240)
    gt = np.array([[0, 1, 2, 3]])  # 3 = ignored ground truth (code C)
    pred = np.array([[0, 2, 3, 1]])  # 3 = predicted ignore
    codes = painter.error_codes(gt, pred)
    assert codes.tolist() == [[0, 3, 4, 5]]
    assert painter.counts(codes) == {"correct": 1, "wrong": 1, "pred_ignore": 1, "ignored": 1}
    assert painter.confusions(gt, pred) == (("b", "c", 1),)


def test_thumbnails_are_small_pngs_in_class_colours(tmp_path: Path) -> None:
    gt = np.zeros((300, 400), np.uint8)
    gt[:, 200:] = 1
    gt[:10] = 255
    pred = gt.copy()
    pred[100:200, :] = 1
    save_mask(tmp_path / "gt" / "a.png", gt)
    save_mask(tmp_path / "pred" / "a.png", pred)
    target = tmp_path / "r.html"
    _invoke(
        "score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--num-classes", "2",
        "--format", "html", "--output", str(target),
    )  # fmt: skip
    document = target.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', document)
    assert len(images) == 3
    decoded = [Image.open(io.BytesIO(base64.b64decode(payload))) for payload in images]
    assert all(image.size == (240, 180) for image in decoded)
    errors = np.asarray(decoded[2].convert("RGB"))
    assert tuple(errors[0, 0]) == (0, 0, 0)  # ignored ground truth: black
    assert tuple(errors[90, 20]) == (213, 94, 0)  # class 0 predicted as 1: vermillion
    assert "wrong class 20,000 (17.2%)" in document


def test_photos_are_shown_with_errors_painted_over(tmp_path: Path) -> None:
    photos = tmp_path / "photos" / "night"
    photos.mkdir(parents=True)
    Image.new("RGB", (40, 30), (90, 120, 150)).save(photos / "street_11.jpg")
    target = tmp_path / "r.html"
    _invoke(
        "score", *SAMPLE_ARGS, "--format", "html", "--output", str(target), "--worst", "20",
        "--images", str(tmp_path / "photos"),
    )  # fmt: skip
    document = target.read_text()
    assert document.count("data:image/jpeg;base64,") == 2
    assert "Errors over the photo" in document
    assert "No photo found in" in document  # honest about the other images


def test_html_only_options_are_refused_with_other_formats() -> None:
    result = CliRunner().invoke(cli, ["score", *SAMPLE_ARGS, "--worst", "3"])
    assert result.exit_code == 2
    assert "--worst only applies to --format html" in result.stderr


def test_extra_metrics_appear_generically() -> None:
    report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    classes = tuple(
        type(result)(**{**result.__dict__, "metrics": {**result.metrics, "boundary_iou": 0.25}})
        for result in report.classes
    )
    summary = {**report.summary, "boundary_miou": 0.25, "dice_loss": 1.5}
    document = render(
        type(report)(**{**report.__dict__, "classes": classes, "summary": summary}), "html"
    )
    assert "boundary_miou" in document
    assert "dice_loss" in document
    assert document.count("boundary_iou: 0.2500") == 2  # one bar per class


def test_library_render_without_folders_says_what_is_missing() -> None:
    report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 0]])))
    document = render(report, "html", RenderOptions())
    assert "No images drawn" in document
    assert "url(#hatch)" in document  # the empty ground-truth row is undefined, not zero


def test_compare_html_without_and_with_folders(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for index in range(6):
        gt = rng.integers(0, 3, (20, 30))
        save_mask(tmp_path / "gt" / f"i{index}.png", gt)
        better = np.where(rng.random(gt.shape) < 0.9, gt, 0)
        worse = np.where(rng.random(gt.shape) < 0.4 + index * 0.1, gt, 1)
        save_mask(tmp_path / "new" / f"i{index}.png", better)
        save_mask(tmp_path / "old" / f"i{index}.png", worse)
    common = ["--num-classes", "3", "--format", "json", "--output"]
    for name in ("old", "new"):
        _invoke(
            "score", str(tmp_path / name), str(tmp_path / "gt"), *common,
            str(tmp_path / f"{name}.json"),
        )  # fmt: skip
    reports = [str(tmp_path / "old.json"), str(tmp_path / "new.json")]
    plain = _invoke("compare", *reports, "--format", "html")
    assert "the two reports hold no per-image scores" in plain
    assert len(_cells(plain)) == 3 * 9
    target = tmp_path / "c.html"
    _invoke(
        "compare", *reports, "--format", "html", "--output", str(target), "--worst", "3",
        "--gt", str(tmp_path / "gt"), "--baseline-pred", str(tmp_path / "old"),
        "--candidate-pred", str(tmp_path / "new"),
    )  # fmt: skip
    document = target.read_text()
    keys = re.findall(r'<article class="panel" data-key="([^"]+)"', document)
    assert keys == ["i0", "i1", "i2"]  # the worst baseline images improved most
    assert "does not reproduce" not in document
    partial = CliRunner().invoke(
        cli, ["compare", *reports, "--format", "html", "--gt", str(tmp_path / "gt")]
    )
    assert partial.exit_code == 2
    assert "give all three folders" in partial.stderr


def test_compare_html_says_when_folders_do_not_match_the_reports(tmp_path: Path) -> None:
    gt = np.array([[0, 1], [1, 0]])
    save_mask(tmp_path / "gt" / "a.png", gt)
    save_mask(tmp_path / "p" / "a.png", gt)
    save_mask(tmp_path / "q" / "a.png", 1 - gt)
    report = tmp_path / "r.json"
    _invoke(
        "score", str(tmp_path / "p"), str(tmp_path / "gt"), "--num-classes", "2",
        "--format", "json", "--output", str(report),
    )  # fmt: skip
    document = _invoke(
        "compare", str(report), str(report), "--format", "html", "--gt", str(tmp_path / "gt"),
        "--baseline-pred", str(tmp_path / "p"), "--candidate-pred", str(tmp_path / "q"),
    )  # fmt: skip
    assert "The candidate folder scored here does not reproduce" in document


def test_comparison_html_colours_better_and_worse() -> None:
    old = build_report(ConfusionMatrix.from_counts(np.array([[4, 0], [0, 4]])))
    new = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    document = render_comparison(compare_reports(old, new))
    assert 'class="worse num"' in document
    assert "▼ -0.2250" in document


def render_comparison(comparison: object) -> str:
    from segeval.render.compare import FORMATS

    return FORMATS["html"](comparison, RenderOptions())  # type: ignore[arg-type]


def test_batch_html_links_each_submission_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    gt = {f"g{i}": rng.integers(0, 3, (16, 16)) for i in range(3)}
    for name, accuracy in (("good", 0.9), ("poor", 0.5)):
        for key, labels in gt.items():
            noisy = np.where(rng.random(labels.shape) < accuracy, labels, 0)
            save_mask(tmp_path / "subs" / name / f"{key}.png", noisy)
    for key, labels in gt.items():
        save_mask(tmp_path / "gt" / f"{key}.png", labels)
    (tmp_path / "out").mkdir()
    board = tmp_path / "out" / "board.html"
    _invoke(
        "batch", str(tmp_path / "subs"), str(tmp_path / "gt"), "--num-classes", "3",
        "--format", "html", "--output", str(board), "--output-dir", str(tmp_path / "reports"),
        "--quiet", "--jobs", "1",
    )  # fmt: skip
    document = board.read_text()
    links = re.findall(r'<a href="([^"#]+)">', document)
    assert links == ["../reports/good.html", "../reports/poor.html"]
    assert all((board.parent / link).is_file() for link in links)
    assert document.count('<svg class="class-bars"') == 2
    assert "cm-cell" in (tmp_path / "reports" / "good.html").read_text()


def test_html_size_budget_for_500_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    base = rng.integers(0, 8, (12, 16)).repeat(30, axis=0).repeat(30, axis=1)  # 360 x 480
    gt_png = save_mask(tmp_path / "masks" / "gt.png", base).read_bytes()
    # Seven kinds of prediction, from 5 % to 35 % noise; files are copies (fast to write).
    preds = [
        save_mask(
            tmp_path / "masks" / f"p{kind}.png",
            np.where(rng.random(base.shape) < 0.05 + 0.05 * kind, rng.integers(0, 8), base),
        ).read_bytes()
        for kind in range(7)
    ]
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for index in range(500):
        (tmp_path / "gt" / f"{index:03}.png").write_bytes(gt_png)
        (tmp_path / "pred" / f"{index:03}.png").write_bytes(preds[index % 7])
    target = tmp_path / "r.html"
    _invoke(
        "score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--num-classes", "8",
        "--format", "html", "--output", str(target),
    )  # fmt: skip
    size = target.stat().st_size
    measured(f"HTML report of 500 images (480x360, 12 worst drawn): {size / 1e6:.2f} MB")
    assert size < 5_000_000
    assert target.read_text().count('<article class="panel"') == 12


@pytest.mark.parametrize("argument", ["--images", "--worst"])
def test_html_options_are_documented(argument: str) -> None:
    help_text = CliRunner().invoke(cli, ["score", "--help"]).output
    assert argument in help_text
    assert SAMPLE.is_dir()


def test_large_matrices_are_pictures_and_stay_small() -> None:
    rng = np.random.default_rng(2)
    counts = np.diag(rng.integers(1_000, 100_000, 150))
    counts[rng.integers(0, 150, 2000), rng.integers(0, 150, 2000)] += 500
    counts[149] = 0  # an empty ground-truth row: undefined in the row view
    report = build_report(ConfusionMatrix.from_counts(counts))
    document = render(report, "html")
    assert 'class="cm-cell"' not in document
    assert document.count('class="cm-raster"') == 3  # rows, columns, counts
    assert len(document) < 1_000_000
    comparison = render_comparison(compare_reports(report, report))
    assert len(comparison) < 2_000_000


def test_image_sink_without_per_image_aggregation(tmp_path: Path) -> None:
    from segeval.run.evaluate import evaluate
    from segeval.run.options import ScoreOptions

    save_mask(tmp_path / "gt" / "a.png", np.array([[0, 1], [1, 1]]))
    save_mask(tmp_path / "pred" / "a.png", np.array([[0, 1], [0, 1]]))
    worst = WorstImages(3)
    report = evaluate(
        tmp_path / "pred", tmp_path / "gt", ScoreOptions(num_classes=2), image_sink=worst
    )
    assert report.config.aggregation == "dataset"  # the rows fed the sink only
    assert "image_miou" not in report.summary
    assert [(image.key, round(image.score, 4)) for image in worst.ranked()] == [("a", 0.5833)]


def test_categories_and_new_registry_metrics_appear(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    for index in range(2):
        gt = rng.integers(0, 19, (16, 24))
        save_mask(tmp_path / "gt" / f"{index}.png", gt)
        save_mask(tmp_path / "pred" / f"{index}.png", np.where(rng.random(gt.shape) < 0.7, gt, 0))
    document = _invoke(
        "score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--preset", "cityscapes",
        "--class-ids", "both", "--format", "html",
    )  # fmt: skip
    categories = re.search(r'<table id="categories-table".*?</table>', document)
    assert categories is not None
    assert categories.group(0).count("<tr>") == 1 + 7  # header and the 7 categories
    assert "category_miou" in document
    assert "Specificity" in document  # a per-class metric added to the registry later


def test_directions_come_from_the_registry() -> None:
    # Class 0: RVD from -0.5 (predicted half its volume) to +0.25: closer to 0 is better.
    old = build_report(ConfusionMatrix.from_counts(np.array([[2, 2], [0, 4]])))
    new = build_report(ConfusionMatrix.from_counts(np.array([[4, 0], [1, 3]])))
    document = render_comparison(compare_reports(old, new))
    row = re.search(r"<tr><td[^>]*>class_0</td>.*?</tr>", document)
    assert row is not None
    assert '<td class="better num" data-sort="0.75"><span title="better">▲ +0.7500' in row.group(0)
    # A metric the registry does not know gets no colour: its direction is unknown.
    unknown = ComparisonRow("made_up", "made_up", None, 0.1, 0.2, True)
    assert _delta_cell(unknown).css == ""


def test_reports_scored_with_ci_name_the_changed_images_and_show_intervals(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(9)
    for index in range(8):
        gt = rng.integers(0, 3, (12, 16))
        save_mask(tmp_path / "gt" / f"i{index}.png", gt)
        save_mask(tmp_path / "old" / f"i{index}.png", np.where(rng.random(gt.shape) < 0.5, gt, 0))
        accuracy = 0.95 if index == 5 else 0.55
        save_mask(
            tmp_path / "new" / f"i{index}.png", np.where(rng.random(gt.shape) < accuracy, gt, 0)
        )
    for name in ("old", "new"):
        _invoke(
            "score", str(tmp_path / name), str(tmp_path / "gt"), "--num-classes", "3",
            "--ci", "--bootstrap", "200", "--seed", "1", "--format", "json",
            "--output", str(tmp_path / f"{name}.json"),
        )  # fmt: skip
    score_page = _invoke(
        "score", str(tmp_path / "new"), str(tmp_path / "gt"), "--num-classes", "3",
        "--ci", "--bootstrap", "200", "--seed", "1", "--format", "html",
    )  # fmt: skip
    assert "95% interval" in score_page
    assert "bootstrap over 8 images" in score_page
    reports = [str(tmp_path / "old.json"), str(tmp_path / "new.json")]
    page = _invoke("compare", *reports, "--format", "html", "--worst", "2", "--ci", "--seed", "1")
    keys = re.findall(r'<article class="panel" data-key="([^"]+)"', page)
    assert keys[0] == "i5"  # the image that got much better
    assert len(keys) == 2
    assert "Numbers only" in page
    assert "<img" not in page
    assert re.search(r"<small>\[[+-]\d\.\d{4}, [+-]\d\.\d{4}\], p = ", page)
