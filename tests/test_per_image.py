"""Per-image aggregation: hand-built cases under each empty policy, streamed rows."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from segeval.cli import cli
from segeval.core.metrics import EmptyPolicy, MetricOptions
from segeval.core.per_image import ImageMeans, ImageResult
from segeval.report import Report
from segeval.run.evaluate import evaluate
from segeval.run.options import ScoreOptions
from tests.helpers import MaskWriter

# Two 2x2 images, 3 classes (0 background, 1, 2):
#   a: GT all 0, prediction all 0        -> classes 1 and 2 absent from both sides
#   b: GT [[1, 1], [0, 0]], prediction [[1, 0], [0, 0]]
#      class 0: TP 2, FP 1, FN 0 -> IoU 2/3, Dice 4/5
#      class 1: TP 1, FP 0, FN 1 -> IoU 1/2, Dice 2/3
#      class 2: absent from both sides
GT = {"a": np.zeros((2, 2)), "b": np.array([[1, 1], [0, 0]])}
PRED = {"a": np.zeros((2, 2)), "b": np.array([[1, 0], [0, 0]])}


def _report(
    make_dataset: MaskWriter, empty: EmptyPolicy, exclude_classes: tuple[str, ...] = ()
) -> Report:
    pred, gt = make_dataset(PRED, GT)
    options = ScoreOptions(
        num_classes=3,
        per_image=True,
        metric_options=MetricOptions(empty=empty),
        exclude_classes=exclude_classes,
    )
    return evaluate(pred, gt, options)


def test_empty_nan_skips_absent_classes_per_image(make_dataset: MaskWriter) -> None:
    report = _report(make_dataset, "nan")
    background, one, two = report.classes
    assert background.image_iou == pytest.approx((1.0 + 2 / 3) / 2)
    assert background.image_iou_images == 2
    assert one.image_iou == pytest.approx(0.5)  # image a does not count
    assert one.image_iou_images == 1
    assert one.image_dice == pytest.approx(2 / 3)
    assert two.image_iou is not None
    assert math.isnan(two.image_iou)
    assert two.image_iou_images == 0
    assert report.summary["image_miou"] == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 2)
    assert report.summary["image_pixel_accuracy"] == pytest.approx((1.0 + 0.75) / 2)
    # image a: mIoU 1 (class 0 only); image b: mIoU (2/3 + 1/2) / 2 = 7/12
    assert report.summary["samplewise_miou"] == pytest.approx((1 + 7 / 12) / 2)
    # pooled over the three defined (image, class) IoUs: 1, 2/3, 1/2
    assert report.summary["pooled_miou"] == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    # dataset level for contrast: class 0 TP 6, FP 1, FN 0; class 1 TP 1, FN 1
    assert report.summary["miou"] == pytest.approx((6 / 7 + 0.5) / 2)


def test_empty_zero_scores_absent_classes_zero_per_image(make_dataset: MaskWriter) -> None:
    report = _report(make_dataset, "zero")
    _, one, two = report.classes
    assert one.image_iou == pytest.approx(0.25)  # (0 + 1/2) / 2
    assert one.image_iou_images == 2
    assert two.image_iou == 0.0
    assert report.summary["image_miou"] == pytest.approx(((1 + 2 / 3) / 2 + 0.25 + 0.0) / 3)


def test_empty_one_scores_absent_classes_one_per_image(make_dataset: MaskWriter) -> None:
    report = _report(make_dataset, "one")
    _, one, two = report.classes
    assert one.image_iou == pytest.approx(0.75)  # (1 + 1/2) / 2
    assert one.image_dice == pytest.approx((1 + 2 / 3) / 2)
    assert two.image_iou == 1.0
    assert two.image_iou_images == 2


def test_excluded_class_leaves_the_image_means(make_dataset: MaskWriter) -> None:
    report = _report(make_dataset, "nan", exclude_classes=("0",))
    assert report.summary["image_miou"] == pytest.approx(0.5)
    assert report.classes[0].included is False
    assert report.classes[0].image_iou == pytest.approx((1 + 2 / 3) / 2)  # still reported


def test_empty_prediction_and_empty_gt(make_dataset: MaskWriter) -> None:
    # GT has class 1, the prediction none of it; the other image predicts class 1 on background.
    pred, gt = make_dataset(
        {"miss": np.zeros((1, 4)), "false_alarm": np.array([[1, 1, 0, 0]])},
        {"miss": np.array([[1, 1, 0, 0]]), "false_alarm": np.zeros((1, 4))},
    )
    report = evaluate(pred, gt, ScoreOptions(num_classes=2, per_image=True))
    one = report.classes[1]
    assert one.image_iou == 0.0  # both images score 0 for class 1: FN-only and FP-only
    assert one.image_iou_images == 2


def test_per_image_csv_rows_are_written_and_parse(tmp_path: Path, make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset(PRED, GT)
    target = tmp_path / "rows.csv"
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(pred),
            str(gt),
            "--num-classes",
            "3",
            "--per-image-output",
            str(target),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(target.read_text().splitlines()))
    assert [row["image"] for row in rows] == ["a", "b"]
    assert rows[1]["iou[class_0]"] == repr(2 / 3)
    assert rows[1]["iou[class_2]"] == ""
    assert rows[0]["miou"] == "1.0"
    assert float(rows[1]["pixel_accuracy"]) == 0.75
    document = json.loads(result.stdout)
    assert document["config"]["aggregation"] == "dataset+image"
    assert document["summary"]["image_miou"] == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 2)


def test_per_image_jsonl_with_inferred_classes_pads_early_rows(
    tmp_path: Path, make_dataset: MaskWriter
) -> None:
    # Class 2 first appears in the second image: the first row must still have it,
    # scored by the empty policy (zero here) because it was absent there.
    pred, gt = make_dataset(
        {"a": np.zeros((1, 2)), "b": np.array([[2, 0]])},
        {"a": np.zeros((1, 2)), "b": np.array([[2, 0]])},
    )
    target = tmp_path / "rows.jsonl"
    result = CliRunner().invoke(
        cli, ["score", str(pred), str(gt), "--per-image-output", str(target), "--empty", "zero"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert rows[0]["iou"] == {"class_0": 1.0, "class_1": 0.0, "class_2": 0.0}
    assert rows[0]["miou"] == pytest.approx(1 / 3)
    assert rows[1]["iou"] == {"class_0": 1.0, "class_1": 0.0, "class_2": 1.0}


def test_per_image_output_is_not_left_behind_on_failure(
    tmp_path: Path, make_dataset: MaskWriter
) -> None:
    pred, gt = make_dataset({"a": np.zeros((2, 2))}, {"a": np.zeros((2, 3))})
    target = tmp_path / "out" / "rows.csv"
    target.parent.mkdir()
    result = CliRunner().invoke(
        cli, ["score", str(pred), str(gt), "--per-image-output", str(target)]
    )
    assert result.exit_code == 2
    assert list(target.parent.iterdir()) == []


def test_per_image_output_suffix_is_checked(tmp_path: Path, make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset(PRED, GT)
    result = CliRunner().invoke(
        cli, ["score", str(pred), str(gt), "--per-image-output", str(tmp_path / "rows.xlsx")]
    )
    assert result.exit_code == 2
    assert "unknown suffix '.xlsx'; use .csv or .jsonl" in result.stderr


def test_summary_table_shows_both_levels(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset(PRED, GT)
    result = CliRunner().invoke(
        cli, ["score", str(pred), str(gt), "--num-classes", "3", "--per-image"]
    )
    assert "Dataset level    Per-image mean" in result.stdout
    assert "and per image (each image scored alone" in result.stdout


def test_empty_mean_zero_reports_a_mean_over_no_image_as_zero() -> None:
    nan = np.nan
    row = ImageResult("a", np.array([0.5, nan]), np.array([0.6, nan]), 1.0, 0.5, 0.6, 4)
    for empty_mean, expected in (("nan", None), ("zero", 0.0)):
        means = ImageMeans(np.array([True, True]), empty_mean)  # type: ignore[arg-type]
        means.add(row)
        assert means.iou_images.tolist() == [1, 0]
        value = float(means.iou[1])
        assert math.isnan(value) if expected is None else value == expected, empty_mean
        # MONAI's mean_batch then mean over classes includes the 0
        assert means.summary()["image_miou"] == pytest.approx(0.5 if expected is None else 0.25)
    empty = ImageMeans(np.array([True]), "zero")
    assert empty.summary()["samplewise_mdice"] == 0.0
    assert math.isnan(ImageMeans(np.array([True])).summary()["samplewise_mdice"])


# ------------------------------------------------------------------ streamed to stdout


def _sample_args() -> list[str]:
    from tests.helpers import SAMPLE_ARGS

    return SAMPLE_ARGS


@pytest.mark.parametrize("target", ["-"])
def test_per_image_rows_stream_to_stdout_as_csv(tmp_path: Path, target: str) -> None:
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            "score",
            *_sample_args(),
            "--per-image-output",
            target,
            "--output",
            str(report),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == 12
    assert rows[0]["image"] == "night/street_11"
    assert float(rows[0]["miou"]) == pytest.approx(0.7758379157515835)
    assert json.loads(report.read_text())["config"]["aggregation"] == "dataset+image"


def test_per_image_rows_stream_to_stdout_as_json_lines(tmp_path: Path) -> None:
    from jsonschema import Draft202012Validator

    from segeval.schemas import load_schema

    result = CliRunner().invoke(
        cli,
        ["score", *_sample_args(), "--per-image-output", "-", "--per-image-format", "jsonl",
         "--output", str(tmp_path / "report.md"), "--format", "markdown"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["image"] for row in rows[:2]] == ["night/street_11", "night/street_12"]
    validator = Draft202012Validator(load_schema("segeval/per-image/v1"))
    assert all(validator.is_valid(row) for row in rows)


def test_per_image_format_overrides_the_suffix(tmp_path: Path) -> None:
    target = tmp_path / "rows.txt"
    result = CliRunner().invoke(
        cli, ["score", *_sample_args(), "--per-image-output", str(target),
              "--per-image-format", "jsonl"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text().splitlines()[0])["image"] == "night/street_11"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--per-image-output", "-"],
         "--output and --per-image-output both name stdout; one would overwrite the other, so "
         "give each its own file."),
        (["--per-image-format", "jsonl"],
         "--per-image-format sets the format of --per-image-output; add it."),
    ],
)  # fmt: skip
def test_per_image_stdout_mistakes_are_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["score", *_sample_args(), *args])
    assert result.exit_code == 2
    assert result.stderr == f"segeval: error: {message}\n"
    assert result.stdout == ""


def test_each_streamed_row_is_flushed_as_it_is_written() -> None:
    import io

    from segeval.core.per_image import ImageResult
    from segeval.outputs.per_image_file import PerImageWriter

    class Recording(io.StringIO):
        flushed_at: list[int]

        def flush(self) -> None:
            self.flushed_at.append(len(self.getvalue().splitlines()))

    stream = Recording()
    stream.flushed_at = []
    with PerImageWriter(Path("-"), stream=stream) as writer:
        writer.begin(["road"])
        for key in ("a", "b"):
            writer.write(ImageResult(key, np.array([1.0]), np.array([1.0]), 1.0, 1.0, 1.0, 4))
    assert stream.flushed_at[:3] == [1, 2, 3]  # the header, then each row, as written


def test_per_image_rows_stream_to_dev_stdout_as_json_lines(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.helpers import SAMPLE_ARGS

    completed = subprocess.run(
        [sys.executable, "-m", "segeval", "score", *SAMPLE_ARGS, "--per-image-output",
         "/dev/stdout", "--per-image-format", "jsonl", "--output", str(tmp_path / "r.json"),
         "--quiet"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    rows = [json.loads(line) for line in completed.stdout.splitlines()]
    assert len(rows) == 12
    assert rows[0]["image"] == "night/street_11"
