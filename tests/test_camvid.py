"""Real data: the CamVid test set (../shared/data/camvid) scored against scikit-learn."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import accuracy_score, confusion_matrix, jaccard_score

from segeval.cli import cli
from segeval.io import read_mask
from tests.helpers import CAMVID

pytestmark = pytest.mark.skipif(
    not CAMVID.is_dir(), reason="CamVid data not present beside the repo"
)


def _score_json(pred_name: str, *extra: str) -> dict[str, Any]:
    """segeval score on CamVid (11 classes, 11 = void) through the CLI, as JSON."""
    args = [str(CAMVID / pred_name), str(CAMVID / "testannot"), "--num-classes", "11"]
    result = CliRunner().invoke(
        cli, ["score", *args, "--ignore-index", "11", *extra, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _sklearn_reference(pred_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct (gt, pred) pair with its pixel count, as scikit-learn samples.

    39 million pixels collapse to at most 121 weighted samples, so scikit-learn
    computes on exactly the same population in milliseconds.
    """
    pair_codes = []
    for gt_path in sorted((CAMVID / "testannot").glob("*.png")):
        gt = read_mask(gt_path).ravel().astype(np.int64)
        pred = read_mask(CAMVID / pred_name / gt_path.name).ravel().astype(np.int64)
        keep = gt != 11
        pair_codes.append(gt[keep] * 11 + pred[keep])
    codes, weights = np.unique(np.concatenate(pair_codes), return_counts=True)
    return codes // 11, codes % 11, weights


@pytest.mark.parametrize("pred_name", ["pred_hgb", "pred_weak"])
def test_camvid_matches_sklearn(pred_name: str) -> None:
    document = _score_json(pred_name)
    gt, pred, weights = _sklearn_reference(pred_name)
    labels = list(range(11))
    np.testing.assert_array_equal(
        np.array(document["confusion_matrix"]["counts"]),
        confusion_matrix(gt, pred, labels=labels, sample_weight=weights),
    )
    iou = jaccard_score(
        gt, pred, labels=labels, average=None, zero_division=0, sample_weight=weights
    )
    present = [c for c in labels if (gt == c).any() or (pred == c).any()]
    assert [document["classes"][c]["iou"] for c in present] == pytest.approx(
        [iou[c] for c in present], rel=1e-12
    )
    assert document["summary"]["miou"] == pytest.approx(iou[present].mean(), rel=1e-12)
    assert document["summary"]["pixel_accuracy"] == pytest.approx(
        accuracy_score(gt, pred, sample_weight=weights), rel=1e-12
    )
    assert document["num_images"] == 233


def test_camvid_per_image_means_match_a_direct_computation() -> None:
    document = _score_json("pred_hgb", "--per-image")
    # Direct computation with boolean masks, one image and one class at a time.
    per_image_iou: list[list[float]] = [[] for _ in range(11)]
    per_image_miou = []
    for gt_path in sorted((CAMVID / "testannot").glob("*.png")):
        gt = read_mask(gt_path)
        pred = read_mask(CAMVID / "pred_hgb" / gt_path.name)
        valid = gt != 11
        image_ious = []
        for c in range(11):
            intersection = np.count_nonzero((gt == c) & (pred == c) & valid)
            union = np.count_nonzero(((gt == c) | (pred == c)) & valid)
            if union:
                per_image_iou[c].append(intersection / union)
                image_ious.append(intersection / union)
        per_image_miou.append(np.mean(image_ious))
    class_means = [np.mean(values) for values in per_image_iou]
    classes = document["classes"]
    assert [c["image_iou"] for c in classes] == pytest.approx(class_means, rel=1e-12)
    assert [c["image_iou_images"] for c in classes] == [len(values) for values in per_image_iou]
    summary = document["summary"]
    assert summary["image_miou"] == pytest.approx(np.mean(class_means), rel=1e-12)
    assert summary["samplewise_miou"] == pytest.approx(np.mean(per_image_miou), rel=1e-12)
    pooled = np.mean([v for values in per_image_iou for v in values])
    assert summary["pooled_miou"] == pytest.approx(pooled, rel=1e-12)
