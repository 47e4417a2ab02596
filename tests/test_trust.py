"""Stored results are data, not testimony: --resume and compare recompute from counts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from segeval.cli import cli
from tests.helpers import save_mask

GT = {"a": np.array([[0, 0, 1, 1], [2, 2, 1, 0]]), "b": np.array([[1, 1, 1, 0], [0, 2, 2, 2]])}
PRED = {"a": np.array([[0, 1, 1, 1], [2, 2, 1, 0]]), "b": np.array([[1, 1, 0, 0], [0, 2, 2, 1]])}


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


@pytest.fixture
def batch_arena(tmp_path: Path) -> Path:
    for name in GT:
        save_mask(tmp_path / "gt" / f"{name}.png", GT[name])
        save_mask(tmp_path / "subs" / "alice" / f"{name}.png", PRED[name])
        save_mask(tmp_path / "subs" / "bob" / f"{name}.png", GT[name])
    return tmp_path


def _board(arena: Path, *extra: object) -> dict[str, Any]:
    result = run(
        "batch", arena / "subs", arena / "gt", "--num-classes", "3", "--per-image",
        "--output-dir", arena / "reports", "--format", "json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return {entry["name"]: entry for entry in json.loads(result.stdout)["submissions"]}


def test_replacing_the_ground_truth_invalidates_resume(batch_arena: Path) -> None:
    first = _board(batch_arena)
    save_mask(batch_arena / "gt" / "a.png", PRED["a"])  # same name, new content
    again = _board(batch_arena, "--resume")
    assert not again["alice"]["resumed"]
    assert again["alice"]["metrics"]["miou"] != first["alice"]["metrics"]["miou"]


def test_a_folder_rewritten_with_the_same_size_and_time_is_scored_again(batch_arena: Path) -> None:
    _board(batch_arena)
    target = batch_arena / "subs" / "alice" / "a.png"
    stamp = target.stat()
    save_mask(target, GT["a"])  # the same size: 2x4 PNGs of three values
    os.utime(target, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert target.stat().st_size == stamp.st_size
    again = _board(batch_arena, "--resume")
    assert not again["alice"]["resumed"]
    assert again["bob"]["resumed"]


@pytest.mark.parametrize("field", ["miou", "image_miou"])
def test_a_forged_record_is_scored_again_not_ranked(batch_arena: Path, field: str) -> None:
    first = _board(batch_arena)
    record = batch_arena / "reports" / "alice.json"
    document = json.loads(record.read_text())
    document["summary"][field] = 0.999
    record.write_text(json.dumps(document))
    again = _board(batch_arena, "--resume")
    assert not again["alice"]["resumed"]
    assert again["alice"]["metrics"] == first["alice"]["metrics"]
    assert again["bob"]["resumed"]


# ------------------------------------------------------------------ compare


@pytest.fixture
def report_pair(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    for name in GT:
        save_mask(tmp_path / "gt" / f"{name}.png", GT[name])
        save_mask(tmp_path / "pred" / f"{name}.png", PRED[name])
    result = run(
        "score", tmp_path / "pred", tmp_path / "gt", "--num-classes", "3", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    baseline = tmp_path / "baseline.json"
    baseline.write_text(result.stdout)
    return baseline, json.loads(result.stdout)


def _edited(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param(("summary", "miou"), 0.999, "summary.miou is 0.999 but", id="forged-miou"),
        pytest.param(("summary", "miou"), float("inf"), "finite number", id="infinite"),
        pytest.param(("classes",), "short", "classes has", id="short-classes"),
        pytest.param(("confusion_matrix", "counts", 0, 0), 1.5, "pixel count", id="float-count"),
        pytest.param(("confusion_matrix", "counts", 0, 0), True, "pixel count", id="bool-count"),
        pytest.param(("confusion_matrix", "counts", 0, 0), 10**4000, "pixel count", id="huge"),
        pytest.param(("classes", 1, "id"), "1", "pixel count", id="string-id"),
    ],
)
def test_compare_refuses_reports_its_counts_do_not_support(
    report_pair: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    path: tuple[Any, ...],
    value: Any,
    message: str,
) -> None:
    baseline, document = report_pair
    if path == ("classes",):
        edited = _edited(document, path, document["classes"][:2])
    else:
        edited = _edited(document, path, value)
    candidate = tmp_path / "candidate.json"
    candidate.write_text(json.dumps(edited))
    result = run("compare", baseline, candidate, "--max-drop", "miou=0.01")
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "candidate.json" in result.stderr


def test_a_count_too_long_to_parse_is_one_clean_line(
    report_pair: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    baseline, document = report_pair
    text = json.dumps(_edited(document, ("num_images",), 123456789))
    candidate = tmp_path / "candidate.json"
    candidate.write_text(text.replace("123456789", "9" * 5000))
    result = run("compare", baseline, candidate)
    assert result.exit_code == 2, result.output
    assert "candidate.json: not JSON" in result.stderr
    assert result.stderr.count("\n") == 1
