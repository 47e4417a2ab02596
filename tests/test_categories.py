"""Category IoU: the classes of a category merged, as cityscapesScripts' getIouScoreForCategory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from segeval.cli import cli
from segeval.core.categories import category_scores
from segeval.inputs.classes import load_preset
from tests.helpers import save_mask


def official_category_iou(conf: np.ndarray, category: str) -> float:
    """cityscapesScripts 2.3.0's getIouScoreForCategory, restated on a labelId matrix."""
    from segeval.inputs.classes import load_preset

    definition = load_preset("cityscapes")
    assert definition.value_to_class is not None
    names = dict(zip(range(19), definition.categories, strict=True))
    valid = dict(definition.value_to_class.items())
    label_ids = [raw for raw, cls in valid.items() if names[cls] == category]
    tp = conf[np.ix_(label_ids, label_ids)].sum()
    fn = conf[label_ids, :].sum() - tp
    others = [raw for raw, cls in valid.items() if names[cls] != category]
    fp = conf[np.ix_(others, label_ids)].sum()
    return float("nan") if tp + fp + fn == 0 else tp / (tp + fp + fn)


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def cityscapes_pair(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(21)
    # labelIds of every kind, ignored ones (0..6, 9, 10, 14..16, 18, 29, 30) included.
    gt = rng.integers(0, 34, size=(40, 50)).astype(np.uint8)
    pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, 34, size=gt.shape)).astype(
        np.uint8
    )
    save_mask(tmp_path / "gt" / "a.png", gt)
    save_mask(tmp_path / "pred" / "a.png", pred)
    return tmp_path, gt, pred


def test_category_iou_equals_the_official_rule(
    cityscapes_pair: tuple[Path, np.ndarray, np.ndarray],
) -> None:
    root, gt, pred = cityscapes_pair
    result = run("score", root / "pred", root / "gt", "--preset", "cityscapes", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    conf = np.zeros((34, 34), dtype=np.int64)
    np.add.at(conf, (gt.ravel(), pred.ravel()), 1)
    ignored = sorted(load_preset("cityscapes").ignore_values)
    conf[[v for v in ignored if v < 34], :] = 0  # ignored GT rows never count
    expected = {c: official_category_iou(conf, c) for c in ("flat", "human", "vehicle", "sky")}
    got = {entry["name"]: entry["iou"] for entry in document["categories"]}
    assert list(got) == ["flat", "construction", "object", "nature", "sky", "human", "vehicle"]
    for category, value in expected.items():
        assert got[category] == pytest.approx(value, abs=1e-12)
    assert document["summary"]["category_miou"] == pytest.approx(np.mean(list(got.values())))


def test_category_metrics_in_table_gate_and_compare(
    cityscapes_pair: tuple[Path, np.ndarray, np.ndarray],
) -> None:
    root, _, _ = cityscapes_pair
    args = ["score", root / "pred", root / "gt", "--preset", "cityscapes"]
    table = run(*args)
    assert "Per category" in table.stdout
    assert "vehicle" in table.stdout
    passed = run(*args, "--fail-under", "category_iou[vehicle]=0.01", "--fail-under",
                 "category_miou=0.01")  # fmt: skip
    assert passed.exit_code == 0, passed.output
    failed = run(*args, "--fail-under", "category_iou[vehicle]=0.99")
    assert failed.exit_code == 1
    assert "FAIL category_iou[vehicle]" in failed.stderr
    unknown = run(*args, "--fail-under", "category_iou[plants]=0.5")
    assert unknown.exit_code == 2
    assert "unknown category" in unknown.stderr


def test_scores_group_counts() -> None:
    counts = np.array([[5, 1, 0], [2, 4, 0], [0, 1, 3]])
    scores = category_scores(counts, np.array([0, 0, 1]), ["a", "a", ""])
    assert scores.names == ("a",)
    assert scores.tp.tolist() == [12]
    assert scores.fp.tolist() == [1]
