"""Scoring options of issue 3: exclusion, reduce-zero-label, out-of-range, beta, policies."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from segeval.cli import cli
from tests.helpers import SAMPLE, MaskWriter


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def score_json(*args: str) -> dict[str, Any]:
    result = run("score", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_exclude_class_by_name_and_id(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[0, 0, 1, 2]])}, {"a": np.array([[0, 1, 1, 2]])})
    names = pred.parent / "names.txt"
    names.write_text("background\nroad\ncar\n")
    by_name = score_json(
        str(pred), str(gt), "--class-names", str(names), "--exclude-class", "background"
    )
    by_id = score_json(str(pred), str(gt), "--class-names", str(names), "--exclude-class", "0")
    assert by_name["summary"] == by_id["summary"]
    assert by_name["config"]["exclude_classes"] == [0]
    assert by_name["classes"][0]["included"] is False
    assert by_name["classes"][0]["iou"] == 0.5  # still reported
    assert by_name["summary"]["miou"] == pytest.approx((0.5 + 1.0) / 2)  # road 1/2, car 1
    assert by_name["classes_averaged"] == 2


def test_exclude_unknown_class_lists_the_valid_names() -> None:
    result = run(
        "score",
        str(SAMPLE / "pred"),
        str(SAMPLE / "gt"),
        "--class-names",
        str(SAMPLE / "class_names.txt"),
        "--exclude-class",
        "sky",
    )
    assert result.exit_code == 2
    assert "unknown class 'sky'; use a class id 0..5 or one of: background, road," in result.stderr


def test_reduce_zero_label_on_both_sides(make_dataset: MaskWriter) -> None:
    # Raw 0 is ignored on GT (dropped) and a miss on the prediction; raw k is class k-1.
    pred, gt = make_dataset(
        {"a": np.array([[1, 2, 0, 2, 1]])}, {"a": np.array([[1, 2, 2, 0, 255]])}
    )
    document = score_json(str(pred), str(gt), "--reduce-zero-label", "--num-classes", "2")
    assert document["confusion_matrix"]["counts"] == [[1, 0], [0, 1]]
    assert document["confusion_matrix"]["missed"] == [0, 1]
    assert document["pixels"]["ignored"] == 2
    assert document["config"]["reduce_zero_label"] is True
    assert document["config"]["ignore_index"] == [0, 255]


def test_reduce_zero_label_infers_the_class_count(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[3, 1]])}, {"a": np.array([[3, 1]])})
    document = score_json(str(pred), str(gt), "--reduce-zero-label")
    assert document["config"]["num_classes"] == 3
    assert document["classes"][2]["tp"] == 1


def test_out_of_range_miss_counts_and_reports(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[0, 7, 7, 1]])}, {"a": np.array([[0, 1, 255, 1]])})
    failing = run("score", str(pred), str(gt), "--num-classes", "2")
    assert failing.exit_code == 2
    assert "prediction label 7 (2 pixels)" in failing.stderr
    assert "--out-of-range miss" in failing.stderr
    document = score_json(str(pred), str(gt), "--num-classes", "2", "--out-of-range", "miss")
    assert document["pixels"]["out_of_range"] == 1  # the pixel on ignored GT does not count
    assert document["confusion_matrix"]["missed"] == [0, 1]
    assert document["classes"][1]["iou"] == 0.5
    table = run("score", str(pred), str(gt), "--num-classes", "2", "--out-of-range", "miss").stdout
    assert "Scored pixels predicted with an out-of-range label" in table


def test_beta_changes_fbeta_only(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[0, 0, 1, 1]])}, {"a": np.array([[0, 1, 1, 1]])})
    document = score_json(str(pred), str(gt), "--beta", "2")
    one = document["classes"][1]  # TP 2, FP 0, FN 1
    assert one["fbeta"] == pytest.approx(5 * 2 / (5 * 2 + 4 * 1 + 0))
    assert one["dice"] == pytest.approx(4 / 5)
    assert document["config"]["beta"] == 2.0
    assert "F2" in run("score", str(pred), str(gt), "--beta", "2").stdout


def test_empty_and_zero_division_are_recorded(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[0, 0]])}, {"a": np.array([[0, 1]])})
    document = score_json(
        str(pred), str(gt), "--num-classes", "3", "--empty", "one", "--zero-division", "zero"
    )
    assert document["config"]["empty"] == "one"
    assert document["config"]["zero_division"] == "zero"
    assert document["classes"][2]["iou"] == 1.0  # absent from both sides
    assert document["classes"][1]["precision"] == 0.0  # never predicted: zero division
    assert document["summary"]["miou"] == pytest.approx((0.5 + 0 + 1) / 3)


def test_metrics_command_lists_registry_names() -> None:
    result = run("metrics", "--format", "json")
    assert result.exit_code == 0
    names = json.loads(result.stdout)
    for name in (
        "miou",
        "mdice",
        "pixel_accuracy",
        "mean_accuracy",
        "fwiou",
        "kappa",
        "iou",
        "image_miou",
        "min_iou",
        "weighted_f1",
    ):
        assert name in names
    assert names["iou"]["per_class"] is True
    assert names["miou"]["higher_is_better"] is True
    table = run("metrics").stdout
    assert "iou[CLASS]" in table


def test_resize_pred_nearest_and_report(make_dataset: MaskWriter) -> None:
    # A half-resolution prediction: each pixel covers a 2 x 2 block of the ground truth.
    pred, gt = make_dataset(
        {"a": np.array([[0, 1], [1, 1]]), "b": np.zeros((4, 4))},
        {
            "a": np.array([[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0]]),
            "b": np.zeros((4, 4)),
        },
    )
    refused = run("score", str(pred), str(gt))
    assert refused.exit_code == 2
    assert "prediction is 2x2 (width x height) but its ground truth" in refused.stderr
    assert "--resize-pred nearest" in refused.stderr
    result = run("score", str(pred), str(gt), "--resize-pred", "nearest", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["pairing"]["resized"] == 1
    assert document["confusion_matrix"]["counts"] == [[20, 1], [0, 11]]
    assert "predictions resized to their ground truth's size: 1." in result.stderr


def test_missing_empty_counts_every_gt_pixel_as_a_miss(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset(
        {"a": np.array([[0, 1]])}, {"a": np.array([[0, 1]]), "b": np.array([[1, 1]])}
    )
    document = score_json(str(pred), str(gt), "--missing", "empty")
    assert document["num_images"] == 2
    assert document["confusion_matrix"]["missed"] == [0, 2]
    assert document["classes"][1]["iou"] == pytest.approx(1 / 3)
    pairing = document["pairing"]
    assert (pairing["missing_policy"], pairing["missing"], pairing["extra"]) == ("empty", 1, 0)
    assert len(pairing["images_digest"]) == 64
    skipped = score_json(str(pred), str(gt), "--missing", "skip")
    assert skipped["num_images"] == 1
    assert skipped["classes"][1]["iou"] == 1.0


def test_glob_and_flat_through_the_cli(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset(
        {"a": np.array([[1, 1]]), "b": np.array([[0, 0]])},
        {"x/a": np.array([[1, 1]]), "y/b": np.array([[0, 1]])},
    )
    flat = score_json(str(pred), str(gt), "--flat")
    assert flat["num_images"] == 2
    only_a = score_json(str(pred), str(gt), "--flat", "--gt-glob", "x/*", "--pred-glob", "a.*")
    assert only_a["num_images"] == 1
    assert only_a["summary"]["pixel_accuracy"] == 1.0
