"""Class and category IoU and iIoU against cityscapesScripts 2.3.0's own output.

tests/golden/cityscapes_instances holds a synthetic Cityscapes-layout set and the
official evaluator's numbers on it (scripts/make_cityscapes_golden.py, run in a
venv of its own); here segeval recomputes them with numpy only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from segeval.cli import cli
from segeval.core.categories import category_scores
from segeval.core.instances import InstanceRules, instance_row, instance_scores
from segeval.inputs.classes import load_preset
from segeval.io import read_mask

GOLDEN = Path(__file__).parent / "golden" / "cityscapes_instances"
OFFICIAL: dict[str, Any] = json.loads((GOLDEN / "official.json").read_text())


def _defined(scores: dict[str, float | None]) -> dict[str, float]:
    return {k: float(v) for k, v in scores.items() if v is not None and not math.isnan(v)}


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("cityscapes")
    for stem in OFFICIAL["images"]:
        for side, suffix in (("gt", "_gtFine_labelIds.png"), ("pred", "_pred.png")):
            (root / side).mkdir(exist_ok=True)
            (root / side / f"{stem}.png").write_bytes((GOLDEN / f"{stem}{suffix}").read_bytes())
    result = CliRunner().invoke(
        cli,
        ["score", str(root / "pred"), str(root / "gt"), "--preset", "cityscapes",
         "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_class_and_category_iou_equal_the_official_evaluator(scored: dict[str, Any]) -> None:
    assert OFFICIAL["versions"]["cityscapesscripts"] == "2.3.0"
    classes = {entry["name"]: entry["iou"] for entry in scored["classes"]}
    for name, value in _defined(OFFICIAL["classScores"]).items():
        assert classes[name] == pytest.approx(value, abs=1e-12), name
    assert scored["summary"]["miou"] == pytest.approx(OFFICIAL["averageScoreClasses"], abs=1e-12)
    categories = {entry["name"]: entry["iou"] for entry in scored["categories"]}
    assert categories == pytest.approx(_defined(OFFICIAL["categoryScores"]), abs=1e-12)
    assert scored["summary"]["category_miou"] == pytest.approx(
        OFFICIAL["averageScoreCategories"], abs=1e-12
    )


def test_instance_iou_equals_the_official_evaluator(scored: dict[str, Any]) -> None:
    definition = load_preset("cityscapes")
    assert definition.value_to_class is not None
    rules = InstanceRules(
        definition.average_instance_sizes, definition.categories, definition.category_values
    )
    mapping = definition.mapping()
    instance_class = {
        raw: cls
        for raw, cls in definition.value_to_class.items()
        if not math.isnan(definition.average_instance_sizes[cls])
    }
    rows = []
    for stem in OFFICIAL["images"]:
        gt = read_mask(GOLDEN / f"{stem}_gtFine_labelIds.png")
        pred = read_mask(GOLDEN / f"{stem}_pred.png")
        instances = read_mask(GOLDEN / f"{stem}_gtFine_instanceIds.png")
        rows.append(
            instance_row(
                instances, mapping.encode(gt), mapping.encode(pred), pred, rules, instance_class
            )
        )
    matrix = np.array(scored["confusion_matrix"]["counts"], dtype=np.uint64)
    missed = np.array(scored["confusion_matrix"]["missed"], dtype=np.uint64)
    class_fp = matrix.sum(axis=0) - np.diagonal(matrix)
    merged = category_scores(matrix, missed, definition.categories)
    category_fp = dict(zip(merged.names, merged.fp.tolist(), strict=True))
    scores = instance_scores(rows, class_fp, category_fp, rules)
    found = {
        definition.names[cls]: float(value)
        for cls, value in enumerate(scores.class_iiou)
        if not math.isnan(value)
    }
    assert found == pytest.approx(_defined(OFFICIAL["classInstScores"]), abs=1e-12)
    assert scores.miiou == pytest.approx(OFFICIAL["averageScoreInstClasses"], abs=1e-12)
    categories = dict(zip(scores.category_names, scores.category_iiou.tolist(), strict=True))
    assert categories == pytest.approx(_defined(OFFICIAL["categoryInstScores"]), abs=1e-12)
    assert scores.category_miiou == pytest.approx(OFFICIAL["averageScoreInstCategories"], abs=1e-12)
