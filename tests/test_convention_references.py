"""Each convention against the numbers its tool's own code gives.

``tests/golden/conventions.json`` holds the masks, the call and the values that
mmsegmentation, torchmetrics, MONAI and the ADE20K benchmark code returned, with
their versions; ``make convention-golden`` regenerates it in a venv that has the
tools (scripts/make_convention_golden.py). These tests need numpy only: they
score the same masks with segeval and map the tool's names to segeval's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from segeval.cli import cli
from tests.helpers import CAMVID, GOLDEN, save_mask

REFERENCE = json.loads((GOLDEN / "conventions.json").read_text(encoding="utf-8"))
CASES = {case["id"]: case for case in REFERENCE["cases"]}
VERSIONS = REFERENCE["versions"]

#: mmsegmentation IoUMetric's names -> segeval's (summary, then per class).
MMSEG_SUMMARY = {
    "aAcc": "pixel_accuracy",
    "mIoU": "miou",
    "mAcc": "mean_accuracy",
    "mDice": "mdice",
    "mFscore": "macro_fbeta",
    "mPrecision": "macro_precision",
    "mRecall": "macro_recall",
}
MMSEG_PER_CLASS = {
    "IoU": "iou",
    "Acc": "recall",
    "Dice": "dice",
    "Fscore": "fbeta",
    "Precision": "precision",
    "Recall": "recall",
}
# mmsegmentation and MONAI compute in float32.
FLOAT32 = 1e-6


def _masks(case: dict[str, Any], root: Path) -> tuple[Path, Path]:
    """The case's prediction and ground-truth folders (written under root, or CamVid's)."""
    masks = case["masks"]
    if "camvid" in masks:
        if not CAMVID.is_dir():
            pytest.skip("CamVid data not present beside the repo")
        return CAMVID / masks["camvid"], CAMVID / "testannot"
    for side in ("pred", "gt"):
        for index, mask in enumerate(masks[side]):
            save_mask(root / side / f"image_{index:02d}.png", np.array(mask))
    return root / "pred", root / "gt"


def _invoke(case: dict[str, Any], root: Path, *extra: str) -> Any:
    pred_dir, gt_dir = _masks(case, root)
    args = ["score", str(pred_dir), str(gt_dir), "--num-classes", str(case["num_classes"])]
    for value in case["ignore_index"]:
        args += ["--ignore-index", str(value)]
    return CliRunner().invoke(cli, [*args, *extra, "--format", "json"])


def score(case: dict[str, Any], root: Path, *extra: str) -> dict[str, Any]:
    result = _invoke(case, root, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def assert_values(
    found: Sequence[float | None], expected: Sequence[float | None], rel: float
) -> None:
    """Equal within rel, undefined (None / NaN) exactly where the tool has it undefined."""
    assert len(found) == len(expected)
    for ours, theirs in zip(found, expected, strict=True):
        if theirs is None or math.isnan(theirs):
            assert ours is None
        else:
            assert ours == pytest.approx(theirs, rel=rel, abs=rel)


# ------------------------------------------------------------ mmsegmentation


def test_mmseg_fscore_minimal_case(tmp_path: Path) -> None:
    # gt [[0, 1]], pred [[0, 0]]: class 1 has no true positive, so mmsegmentation's
    # F-score is NaN there (precision 0/0) and mFscore is class 0's alone.
    case = CASES["mmseg-fscore-minimal"]
    assert VERSIONS["mmsegmentation"] == "1.2.2"
    assert case["values"]["summary"]["mFscore"] == 66.67
    document = score(case, tmp_path / "mmseg", "--convention", "mmseg")
    assert round(document["summary"]["macro_fbeta"] * 100, 2) == 66.67
    assert [c["fbeta"] for c in document["classes"]] == [pytest.approx(2 / 3), None]
    assert document["config"]["fscore"] == "precision_recall"
    # segeval's own default scores that F-score 0 (the number users met before).
    default = score(case, tmp_path / "default")
    assert round(default["summary"]["macro_fbeta"] * 100, 2) == 33.33
    assert document["summary"]["mdice"] == default["summary"]["mdice"]  # mDice 33.33 in both


@pytest.mark.parametrize(
    "case_id",
    ["mmseg-fscore-minimal", "mmseg-mixed", "mmseg-camvid-pred_weak", "mmseg-camvid-pred_hgb"],
)
def test_mmseg_every_metric_matches_iou_metric(case_id: str, tmp_path: Path) -> None:
    case = CASES[case_id]
    reference = case["values"]
    document = score(case, tmp_path, "--convention", "mmseg")
    for theirs, ours in MMSEG_SUMMARY.items():
        # IoUMetric reports round(nanmean * 100, 2) (of float32 ratios; no case here
        # lies near enough a rounding boundary for float32 to change the digits).
        assert round(document["summary"][ours] * 100, 2) == reference["summary"][theirs], theirs
    for theirs, ours in MMSEG_PER_CLASS.items():
        found = [c[ours] for c in document["classes"]]
        assert_values(found, reference["per_class"][theirs], rel=FLOAT32)


def test_mmseg_camvid_pred_weak_mfscore() -> None:
    # The CamVid finding of issue 11: 25.41 in mmsegmentation, 20.79 from the counts.
    case = CASES["mmseg-camvid-pred_weak"]
    assert case["values"]["summary"]["mFscore"] == 25.41
    assert case["values"]["summary"]["mDice"] == 20.79


# --------------------------------------------------------------- torchmetrics


@pytest.mark.parametrize(
    ("case_id", "value"),
    [("torchmetrics-pred-equals-ignore-2", 2), ("torchmetrics-pred-equals-ignore-255", 255)],
)
def test_torchmetrics_prediction_equal_to_ignore_index_is_refused(
    case_id: str, value: int, tmp_path: Path
) -> None:
    case = CASES[case_id]
    assert VERSIONS["torchmetrics"] == "1.9.0"
    default, deterministic = case["values"]["default"], case["values"]["deterministic"]
    # segeval alone counts the pixel as a miss of class 0: IoU [0.5, 1.0].
    alone = score(case, tmp_path / "alone")
    assert [c["iou"] for c in alone["classes"]] == [0.5, 1.0]
    if value == 2:
        # ignore_index = C: torchmetrics bins target * C + pred, the cell (1, 0).
        assert default["none"] == deterministic["none"] == [0.5, pytest.approx(2 / 3)]
    else:
        # 255: the update fails, or drops the pixel under deterministic algorithms.
        assert default["none"]["raises"] == "RuntimeError"
        assert deterministic["none"] == [1.0, 1.0]
    result = _invoke(case, tmp_path / "convention", "--convention", "torchmetrics")
    assert result.exit_code == 2
    assert result.stdout == ""
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "image_00.png" in message
    assert f"ignore value {value} on 1 scored pixel" in message
    assert "--pred-ignore miss" in message


def test_torchmetrics_without_such_pixels_matches(tmp_path: Path) -> None:
    case = CASES["torchmetrics-no-pred-ignore"]
    reference = case["values"]["default"]
    assert case["values"]["deterministic"] == reference
    document = score(case, tmp_path, "--convention", "torchmetrics")
    assert_values([c["iou"] for c in document["classes"]], reference["none"], rel=FLOAT32)
    assert document["summary"]["miou"] == pytest.approx(reference["macro"], rel=FLOAT32)


# ---------------------------------------------------------------------- MONAI


@pytest.mark.parametrize("case_id", ["monai-defaults", "monai-mixed", "monai-camvid-pred_weak"])
def test_monai_dice_metric_and_mean_iou(case_id: str, tmp_path: Path) -> None:
    case = CASES[case_id]
    assert VERSIONS["monai"] == "1.6.1"
    per_image_file = tmp_path / "images.jsonl"
    document = score(
        case, tmp_path, "--convention", "monai", "--per-image-output", str(per_image_file)
    )
    summary, classes = document["summary"], document["classes"]
    rows = [json.loads(line) for line in per_image_file.read_text().splitlines()]
    for tool, ours in (("DiceMetric", "dice"), ("MeanIoU", "iou")):
        reference = case["values"][tool]
        # reduction="mean" (the default): each image's classes, then the images.
        (mean,) = reference["mean"]  # a 1-element tensor
        assert summary[f"samplewise_m{ours}"] == pytest.approx(mean, rel=FLOAT32)
        assert reference["aggregate"] == reference["mean"]
        if len(rows) > 1:
            # Not the pooled mean over (image, class) values, as the docs once said.
            assert summary[f"pooled_m{ours}"] != pytest.approx(mean, rel=1e-5)
        # reduction="mean_batch": per class over images, 0 where no image counts.
        assert_values([c[f"image_{ours}"] for c in classes], reference["mean_batch"], rel=FLOAT32)
        assert [c[f"image_{ours}_images"] for c in classes] == reference["mean_batch_not_nans"]
        # reduction="none": every (image, class) value, NaN where the ground truth lacks it.
        for row, expected in zip(rows, reference["none"], strict=True):
            assert_values(list(row[ours].values()), expected, rel=FLOAT32)


def test_monai_class_absent_from_every_ground_truth(tmp_path: Path) -> None:
    # monai-mixed: class 3 is predicted on a few pixels but in no ground truth.
    case = CASES["monai-mixed"]
    assert case["values"]["DiceMetric"]["mean_batch"][3] == 0.0
    assert case["values"]["DiceMetric"]["mean_batch_not_nans"][3] == 0
    classes = score(case, tmp_path / "monai", "--convention", "monai")["classes"]
    assert (classes[3]["image_dice"], classes[3]["image_dice_images"]) == (0.0, 0)
    assert classes[3]["dice"] is None  # dataset level, same rule: no ground truth, undefined
    # segeval's own per-image default: the false positives count (0 in that image).
    plain = score(case, tmp_path / "plain", "--per-image")["classes"]
    assert (plain[3]["image_dice"], plain[3]["image_dice_images"]) == (0.0, 1)


# --------------------------------------------------------------------- ADE20K


def test_ade20k_official_epsilon_changes_nothing(tmp_path: Path) -> None:
    case = CASES["ade20k-official"]
    reference = case["values"]
    assert reference["eps"] == float(np.spacing(1))
    document = score(case, tmp_path, "--convention", "ade20k")
    # IoU = sum(I) / sum(np.spacing(1) + U): the epsilon moves nothing beyond rounding.
    assert_values([c["iou"] for c in document["classes"]], reference["IoU"], rel=1e-15)
    assert document["summary"]["miou"] == pytest.approx(reference["mIoU"], rel=1e-15)
    assert document["summary"]["pixel_accuracy"] == pytest.approx(
        reference["pixel_accuracy"], rel=1e-15
    )


def test_generalized_dice_matches_monai(tmp_path: Path) -> None:
    case = CASES["monai-generalized-dice"]
    assert VERSIONS["monai"] == "1.6.1"
    document = score(case, tmp_path, "--per-image")
    expected = case["values"]
    assert document["summary"]["image_generalized_dice"] == pytest.approx(
        expected["aggregate"][0], rel=FLOAT32
    )
    assert document["summary"]["generalized_dice"] == pytest.approx(
        expected["pooled"][0], rel=FLOAT32
    )
