"""Each --convention preset on a small case whose numbers are worked out by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from segeval.cli import cli
from segeval.core.metrics import MetricOptions
from segeval.errors import UsageError
from segeval.run.conventions import CONVENTIONS, apply_convention
from segeval.run.evaluate import evaluate
from segeval.run.options import ScoreOptions
from tests.helpers import REPO, MaskWriter


def score(pred: Path, gt: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["score", str(pred), str(gt), *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_cityscapes_ignored_gt_and_ignored_prediction(make_dataset: MaskWriter) -> None:
    # trainIds, 3 classes. GT 255 pixels are dropped whatever is predicted there;
    # a prediction of 255 on a valid pixel is a false negative of the GT class only.
    #   GT   [0, 0, 1, 255, 1]
    #   pred [0, 1, 1,   0, 255]
    # class 0: TP 1, FN 1 (predicted 1)        -> IoU 1/2
    # class 1: TP 1, FP 1, FN 1 (predicted 255) -> IoU 1/3
    # class 2: absent                           -> undefined, not in the mean
    pred, gt = make_dataset(
        {"a": np.array([[0, 1, 1, 0, 255]])}, {"a": np.array([[0, 0, 1, 255, 1]])}
    )
    document = score(pred, gt, "--convention", "cityscapes", "--num-classes", "3")
    assert [c["iou"] for c in document["classes"]] == [
        pytest.approx(1 / 2),
        pytest.approx(1 / 3),
        None,
    ]
    assert document["summary"]["miou"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert document["config"]["convention"] == "cityscapes"
    assert document["config"]["aggregation"] == "dataset"


def test_mmseg_out_of_range_prediction_is_a_miss(make_dataset: MaskWriter) -> None:
    #   GT   [0, 0, 1, 1]      pred [0, 7, 1, 1]      (2 classes)
    # class 0: TP 1, FN 1 (the 7)  -> IoU 1/2, Acc 1/2, Dice 2/3
    # class 1: TP 2                 -> IoU 1, Acc 1, Dice 1
    # aAcc = 3 / 4 (the 7 stays in the denominator)
    pred, gt = make_dataset({"a": np.array([[0, 7, 1, 1]])}, {"a": np.array([[0, 0, 1, 1]])})
    document = score(pred, gt, "--convention", "mmseg", "--num-classes", "2")
    summary = document["summary"]
    assert summary["pixel_accuracy"] == pytest.approx(3 / 4)
    assert summary["miou"] == pytest.approx(3 / 4)
    assert summary["mean_accuracy"] == pytest.approx(3 / 4)
    assert summary["mdice"] == pytest.approx((2 / 3 + 1) / 2)
    assert document["pixels"]["out_of_range"] == 1
    assert document["config"]["out_of_range"] == "miss"


def test_ade20k_reduce_zero_label_and_absent_classes_score_zero(make_dataset: MaskWriter) -> None:
    # Official values 1..3 are classes 0..2; 0 is "other": dropped in GT, a miss in the prediction.
    #   GT   [1, 1, 2, 0, 2]   -> classes [0, 0, 1, ignore, 1]
    #   pred [1, 2, 2, 2, 0]   -> classes [0, 1, 1, -, miss]
    # class 0: TP 1, FN 1        -> IoU 1/2
    # class 1: TP 1, FP 1, FN 1  -> IoU 1/3
    # class 2 (value 3): absent  -> 0, and the mean runs over all 3 classes
    # pixel accuracy: 2 correct of 4 labelled pixels
    pred, gt = make_dataset({"a": np.array([[1, 2, 2, 2, 0]])}, {"a": np.array([[1, 1, 2, 0, 2]])})
    document = score(pred, gt, "--convention", "ade20k", "--num-classes", "3")
    assert [c["iou"] for c in document["classes"]] == [
        pytest.approx(1 / 2),
        pytest.approx(1 / 3),
        0.0,
    ]
    assert document["summary"]["miou"] == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)
    assert document["summary"]["pixel_accuracy"] == pytest.approx(2 / 4)
    assert document["config"]["reduce_zero_label"] is True
    assert document["config"]["empty"] == "zero"


def test_nnunet_per_case_dice_foreground_mean(make_dataset: MaskWriter) -> None:
    # Case a: GT [[0, 1], [1, 0]], pred [[0, 1], [0, 0]]
    #   label 1: TP 1, FN 1 -> Dice 2/3;   label 2: both empty -> NaN (skipped)
    # Case b: GT [[2, 2], [0, 0]], pred [[2, 0], [1, 0]]
    #   label 1: FP 1 only (empty reference) -> Dice 0;   label 2: TP 1, FN 1 -> Dice 2/3
    # mean[1] = (2/3 + 0) / 2 = 1/3;  mean[2] = 2/3;  foreground_mean = (1/3 + 2/3) / 2 = 1/2
    pred, gt = make_dataset(
        {"a": np.array([[0, 1], [0, 0]]), "b": np.array([[2, 0], [1, 0]])},
        {"a": np.array([[0, 1], [1, 0]]), "b": np.array([[2, 2], [0, 0]])},
    )
    document = score(pred, gt, "--convention", "nnunet", "--num-classes", "3")
    classes = document["classes"]
    assert classes[1]["image_dice"] == pytest.approx(1 / 3)
    assert classes[1]["image_dice_images"] == 2
    assert classes[2]["image_dice"] == pytest.approx(2 / 3)
    assert classes[2]["image_dice_images"] == 1
    assert classes[0]["included"] is False  # background: reported, not averaged
    assert document["summary"]["image_mdice"] == pytest.approx(1 / 2)
    assert document["config"]["aggregation"] == "dataset+image"


def test_torchmetrics_macro_averages_with_zero_division_zero(make_dataset: MaskWriter) -> None:
    #   GT [0, 0, 1, 1]   pred [0, 0, 0, 2]   (4 classes)
    # class 0: TP 2, FP 1      -> IoU 2/3, precision 2/3, recall 1
    # class 1: TP 0, FN 2      -> IoU 0,   precision 0/0 -> 0, recall 0
    # class 2: FP 1            -> IoU 0,   precision 0,   recall 0/0 -> 0
    # class 3: absent          -> weight 0 in every macro average
    pred, gt = make_dataset({"a": np.array([[0, 0, 0, 2]])}, {"a": np.array([[0, 0, 1, 1]])})
    document = score(pred, gt, "--convention", "torchmetrics", "--num-classes", "4")
    summary = document["summary"]
    assert summary["miou"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert summary["macro_precision"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert summary["macro_recall"] == pytest.approx((1 + 0 + 0) / 3)
    assert summary["macro_f1"] == pytest.approx((0.8 + 0 + 0) / 3)
    # segeval's own default leaves the one-sided 0/0 ratios out of the means instead
    default = score(pred, gt, "--num-classes", "4")["summary"]
    assert default["macro_precision"] == pytest.approx((2 / 3 + 0) / 2)


def test_explicit_options_win_over_the_convention(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[1, 1]])}, {"a": np.array([[1, 1]])})
    document = score(pred, gt, "--convention", "ade20k", "--num-classes", "2", "--empty", "nan")
    assert document["config"]["empty"] == "nan"
    assert document["config"]["reduce_zero_label"] is True
    assert document["classes"][1]["iou"] is None


@pytest.mark.parametrize("name", ["cityscapes", "mmseg", "ade20k"])
def test_per_image_output_works_under_a_dataset_level_convention(
    make_dataset: MaskWriter, tmp_path: Path, name: str
) -> None:
    # These conventions score at the dataset level only; --per-image-output asks for
    # the rows as --per-image does, and the dataset-level numbers stay the convention's.
    pred, gt = make_dataset(
        {"a": np.array([[1, 1, 2]]), "b": np.array([[1, 2, 2]])},
        {"a": np.array([[1, 2, 2]]), "b": np.array([[1, 2, 2]])},
    )
    rows = tmp_path / "rows.csv"
    plain = score(pred, gt, "--convention", name, "--num-classes", "3")
    with_rows = score(
        pred, gt, "--convention", name, "--num-classes", "3", "--per-image-output", str(rows)
    )
    assert with_rows["summary"]["miou"] == plain["summary"]["miou"]
    assert with_rows["config"]["convention"] == name
    assert [line.split(",")[0] for line in rows.read_text().splitlines()[1:]] == ["a", "b"]


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_every_convention_is_documented(name: str) -> None:
    assert f"`--convention {name}`" in (REPO / "docs" / "metrics.md").read_text()
    assert CONVENTIONS[name].differences
    assert apply_convention(ScoreOptions(), name).convention == name


def test_conventions_command_lists_monai() -> None:
    result = CliRunner().invoke(cli, ["conventions", "--format", "json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["monai"]["settings"]["gt_empty"] == "nan"
    assert listing["mmseg"]["settings"]["fscore"] == "precision_recall"
    assert listing["torchmetrics"]["settings"]["pred_ignore"] == "error"


# ------------------------------------------------- conventions in the Python API


def test_api_convention_is_applied_by_for_convention() -> None:
    options = ScoreOptions.for_convention("torchmetrics", num_classes=4)
    assert options.convention == "torchmetrics"
    assert options.metric_options.zero_division == "zero"
    assert (options.per_image, options.pred_ignore, options.num_classes) == (True, "error", 4)
    assert options == apply_convention(ScoreOptions(num_classes=4), "torchmetrics")


def test_api_explicit_fields_win_over_the_convention() -> None:
    options = ScoreOptions.for_convention("ade20k", empty="nan", per_image=True)
    assert options.metric_options.empty == "nan"
    assert options.per_image is True
    assert options.reduce_zero_label is True  # not given: the convention's
    assert options.convention_overrides == frozenset({"empty", "per_image"})
    # A value equal to the convention's is no override.
    assert ScoreOptions.for_convention("ade20k", empty="zero").convention_overrides == frozenset()
    # A whole MetricOptions is the user's choice of every policy.
    whole = ScoreOptions.for_convention("mmseg", metric_options=MetricOptions(beta=2.0))
    assert (whole.metric_options.fscore, whole.metric_options.beta) == ("counts", 2.0)
    assert whole.out_of_range == "miss"


def test_api_convention_that_the_options_do_not_hold_is_refused() -> None:
    # Before: the report said "convention: torchmetrics" while using segeval's defaults.
    with pytest.raises(UsageError, match=r"for_convention\('torchmetrics'"):
        ScoreOptions(convention="torchmetrics")
    options = ScoreOptions.for_convention("mmseg")
    with pytest.raises(UsageError, match="per_image=True but the convention sets False"):
        replace(options, per_image=True)
    # Options that already hold every setting need no factory.
    assert ScoreOptions(convention="cityscapes").convention == "cityscapes"


@pytest.mark.parametrize(
    "build",
    [
        lambda: ScoreOptions(convention="pytorch"),
        lambda: ScoreOptions.for_convention("pytorch"),
        lambda: apply_convention(ScoreOptions(), "pytorch"),
    ],
)
def test_api_unknown_convention_lists_the_choices(build: Callable[[], ScoreOptions]) -> None:
    with pytest.raises(UsageError, match="unknown convention 'pytorch'; choose one of") as info:
        build()
    assert all(name in str(info.value) for name in CONVENTIONS)


def test_api_convention_reaches_the_report(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[0, 0, 0, 2]])}, {"a": np.array([[0, 0, 1, 1]])})
    report = evaluate(pred, gt, ScoreOptions.for_convention("torchmetrics", num_classes=4))
    config = report.to_dict()["config"]
    assert (config["convention"], config["zero_division"]) == ("torchmetrics", "zero")
    # the same numbers as the CLI test above
    assert report.summary["macro_precision"] == pytest.approx((2 / 3 + 0 + 0) / 3)


def test_unknown_field_for_convention() -> None:
    with pytest.raises(UsageError, match="unknown option 'emtpy'"):
        ScoreOptions.for_convention("mmseg", emtpy="nan")
