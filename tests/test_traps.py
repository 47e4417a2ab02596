"""Mistakes that used to give a wrong number with exit 0 now warn (codes in JSON) or fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from segeval.cli import cli
from tests.helpers import save_mask


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def _write(root: Path, preds: dict[str, np.ndarray], gts: dict[str, np.ndarray]) -> None:
    for name, labels in preds.items():
        save_mask(root / "pred" / f"{name}.png", labels)
    for name, labels in gts.items():
        save_mask(root / "gt" / f"{name}.png", labels)


def _codes(result: Result) -> list[str]:
    document: dict[str, Any] = json.loads(result.stdout)
    return [warning["code"] for warning in document["warnings"]]


BINARY_GT = np.array([[0, 0, 255, 255], [0, 0, 255, 255]])
BINARY_PRED = np.array([[0, 255, 255, 255], [0, 0, 0, 255]])


def test_0_255_masks_warn_and_binary_scores_the_foreground(tmp_path: Path) -> None:
    _write(tmp_path, {"a": BINARY_PRED}, {"a": BINARY_GT})
    trap = run("score", tmp_path / "pred", tmp_path / "gt", "--format", "json")
    assert trap.exit_code == 0
    assert _codes(trap) == ["binary-255"]
    assert "pass --binary" in trap.stderr
    binary = run("score", tmp_path / "pred", tmp_path / "gt", "--binary", "--format", "json")
    assert binary.exit_code == 0, binary.output
    document = json.loads(binary.stdout)
    assert document["warnings"] == []
    assert document["config"]["class_names"] == ["background", "foreground"]
    # background: TP 3, FP 1, FN 1 -> 3/5; foreground: TP 3, FP 1, FN 1 -> 3/5
    assert [entry["iou"] for entry in document["classes"]] == [0.6, 0.6]


def test_strict_turns_a_warning_into_exit_2(tmp_path: Path) -> None:
    _write(tmp_path, {"a": BINARY_PRED}, {"a": BINARY_GT})
    result = run("score", tmp_path / "pred", tmp_path / "gt", "--strict")
    assert result.exit_code == 2
    assert "segeval: error: --strict: the run had warnings (binary-255)." in result.stderr


def test_binary_refuses_a_class_definition(tmp_path: Path) -> None:
    _write(tmp_path, {"a": BINARY_PRED}, {"a": BINARY_GT})
    result = run("score", tmp_path / "pred", tmp_path / "gt", "--binary", "--preset", "camvid")
    assert result.exit_code == 2
    assert "--binary names its two classes itself" in result.stderr


# Cityscapes labelIds: 7 road (trainId 0), 26 car (trainId 13).
CITY_GT = np.array([[7, 7, 7, 7], [7, 7, 26, 26]])
CITY_TRAIN_IDS = np.array([[0, 0, 0, 0], [0, 0, 13, 13]])


def test_cityscapes_train_ids_scored_as_label_ids_warn_with_the_flag(tmp_path: Path) -> None:
    _write(tmp_path, {"a": CITY_TRAIN_IDS}, {"a": CITY_GT})
    args: list[str | Path] = ["score", tmp_path / "pred", tmp_path / "gt", "--preset", "cityscapes"]
    trap = run(*args, "--format", "json")
    assert trap.exit_code == 0
    assert _codes(trap) == ["label-ids-as-class-ids"]
    assert "add --class-ids pred" in trap.stderr
    fixed = run(*args, "--class-ids", "pred", "--format", "json")
    assert fixed.exit_code == 0, fixed.output
    document = json.loads(fixed.stdout)
    assert document["warnings"] == []
    assert document["summary"]["miou"] == 1.0


def test_inspect_says_the_predictions_hold_train_ids(tmp_path: Path) -> None:
    _write(tmp_path, {"a": CITY_TRAIN_IDS}, {})
    result = run("inspect", tmp_path / "pred", "--preset", "cityscapes")
    assert result.exit_code == 0
    assert "these masks hold class ids (for Cityscapes, trainIds" in result.stdout
    assert "pass --class-ids" in result.stdout


@pytest.mark.parametrize(
    ("preds", "gts", "extra", "code"),
    [
        pytest.param(
            {"a": np.zeros((2, 2))}, {"a": np.full((2, 2), 255)}, [], "nothing-scored",
            id="all-ignored",
        ),
        pytest.param(
            {"a": np.zeros((2, 2)), "b": np.zeros((2, 2))},
            {"a": np.array([[0, 1], [1, 1]]), "b": np.array([[1, 1], [0, 1]])},
            ["--num-classes", "2"],
            "constant-prediction",
            id="constant-prediction",
        ),
        pytest.param(
            {"a": np.array([[255, 255], [255, 1]])}, {"a": np.array([[0, 1], [1, 1]])},
            ["--num-classes", "2"], "mostly-ignore-predicted", id="mostly-ignore",
        ),
    ],
)  # fmt: skip
def test_silent_cases_warn_with_a_stable_code(
    tmp_path: Path,
    preds: dict[str, np.ndarray],
    gts: dict[str, np.ndarray],
    extra: list[str],
    code: str,
) -> None:
    _write(tmp_path, preds, gts)
    result = run("score", tmp_path / "pred", tmp_path / "gt", *extra, "--format", "json")
    assert result.exit_code == 0, result.output
    assert _codes(result) == [code]
    assert f"[{code}]" in result.stderr


def test_scoring_a_folder_against_itself_warns(tmp_path: Path) -> None:
    _write(tmp_path, {}, {"a": np.array([[0, 1], [1, 1]])})
    result = run("score", tmp_path / "gt", tmp_path / "gt", "--format", "json")
    assert result.exit_code == 0
    assert _codes(result) == ["same-folder"]


def test_batch_warns_per_submission(tmp_path: Path) -> None:
    save_mask(tmp_path / "gt" / "a.png", BINARY_GT)
    save_mask(tmp_path / "subs" / "alice" / "a.png", BINARY_PRED)
    result = run("batch", tmp_path / "subs", tmp_path / "gt", "--format", "json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["submissions"]
    assert [warning["code"] for warning in entry["warnings"]] == ["binary-255"]
    assert "segeval: warning: submission alice: the masks hold only 0 and 255" in result.stderr
    binary = run("batch", tmp_path / "subs", tmp_path / "gt", "--binary", "--format", "json")
    (entry,) = json.loads(binary.stdout)["submissions"]
    assert entry["warnings"] == []
    assert entry["metrics"]["miou"] == 0.6


def test_a_run_without_pixels_says_no_image_was_scored_not_check_the_ignore_index() -> None:
    # An empty shard counts nothing at all: blaming --ignore-index would mislead.
    from segeval.core.confusion import ConfusionMatrix
    from segeval.run.diagnostics import diagnose_counts
    from segeval.run.options import ReportSettings

    notices = diagnose_counts(ConfusionMatrix(3), ReportSettings())
    assert [(notice.code, notice.message) for notice in notices] == [
        (
            "nothing-scored",
            "no pixel was counted: no image was scored (an empty shard, or every pair "
            "skipped), so every metric is undefined.",
        )
    ]
