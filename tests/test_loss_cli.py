"""``segeval loss``: formats parsed back, exit codes, every bad input, jobs, worst N, weights."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from segeval.cli import cli
from segeval.losses import LossAccumulator, LossOptions, bce
from segeval.run.losses import evaluate_losses
from tests.helpers import SAMPLE, assert_golden, save_mask

ALL_TERMS = ["ce", "focal", "dice", "jaccard", "lovasz", "boundary"]
SAMPLE_LOSS_ARGS = [
    str(SAMPLE / "logits"),
    str(SAMPLE / "gt"),
    "--class-names",
    str(SAMPLE / "class_names.txt"),
]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def loss_json(*args: str) -> dict[str, Any]:
    result = run("loss", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("segeval: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def write_set(root: Path, images: int = 4, channels: int = 3, seed: int = 0) -> tuple[Path, Path]:
    """Logits (float32 .npy) and PNG masks with ignore pixels (255), one in a subfolder."""
    rng = np.random.default_rng(seed)
    for index in range(images):
        name = f"sub/img{index}" if index == images - 1 else f"img{index}"
        height, width = 6, 8 + index
        target = rng.integers(0, max(2, channels), size=(height, width))
        target[rng.random(target.shape) < 0.15] = 255
        if index == 1:
            target[target == 0] = 1  # class 0 absent from this image
        save_mask(root / "gt" / f"{name}.png", target)
        scores = rng.normal(scale=2.0, size=(channels, height, width)).astype(np.float32)
        path = root / "logits" / f"{name}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, scores[0] if channels == 1 else scores)
    return root / "logits", root / "gt"


def losses_args(root: Path) -> list[str]:
    logits, gt = write_set(root)
    return [str(logits), str(gt), *(f"--loss={term}" for term in ALL_TERMS)]


def test_every_format_parses_and_agrees(tmp_path: Path) -> None:
    args = [*losses_args(tmp_path), "--calibration", "--per-image", "--worst", "2"]
    document = loss_json(*args)
    assert document["schema"] == "segeval/loss/v1"
    assert document["num_images"] == 4
    values = {term: entry["value"] for term, entry in document["terms"].items()}
    assert list(values) == ALL_TERMS
    assert [image["name"] for image in document["per_image"]] == [
        "img0",
        "img1",
        "img2",
        "sub/img3",
    ]

    result = run("loss", *args, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    whole = {row["term"]: float(row["value"]) for row in rows if row["scope"] == "set"}
    assert {term: whole[term] for term in ALL_TERMS} == values
    assert whole["total"] == document["total"]
    assert whole["ece"] == document["calibration"]["ece"]
    per_image = [row for row in rows if row["scope"] == "image" and row["term"] == "total"]
    assert [float(row["value"]) for row in per_image] == [
        image["total"] for image in document["per_image"]
    ]
    worst = [row for row in rows if row["scope"] == "worst" and row["term"] == "total"]
    assert [row["rank"] for row in worst] == ["1", "2"]

    table = run("loss", *args).stdout
    assert "Loss terms (whole set)" in table
    assert f"{document['total']:.4f}" in table
    assert "Worst 2 images" in table
    assert "Per image" in table
    markdown = run("loss", *args, "--format", "markdown").stdout
    assert markdown.startswith(f"## segeval loss: weighted total {document['total']:.4f}")
    assert "| ce |" in markdown


def test_values_equal_the_accumulator_on_the_arrays(tmp_path: Path) -> None:
    logits, gt = write_set(tmp_path)
    document = loss_json(str(logits), str(gt), *(f"--loss={term}" for term in ALL_TERMS))
    accumulator = LossAccumulator(ALL_TERMS, options=LossOptions(ignore_index=255))
    for name in ["img0", "img1", "img2", "sub/img3"]:
        from PIL import Image

        target = np.asarray(Image.open(gt / f"{name}.png"))
        accumulator.add_image(np.load(logits / f"{name}.npy"), target, name=name)
    expected = accumulator.result()
    for term in ALL_TERMS:
        assert document["terms"][term]["value"] == expected.values[term]
    assert document["pixels"] == expected.pixels


def test_weights_make_the_total(tmp_path: Path) -> None:
    logits, gt = write_set(tmp_path)
    document = loss_json(str(logits), str(gt), "--loss", "ce=2", "--loss", "dice=0.5")
    terms = document["terms"]
    assert terms["ce"]["weight"] == 2.0
    assert terms["dice"]["weight"] == 0.5
    expected = 2 * terms["ce"]["value"] + 0.5 * terms["dice"]["value"]
    assert math.isclose(document["total"], expected, rel_tol=1e-15)


def test_worst_n_ranks_images_by_total_with_each_term(tmp_path: Path) -> None:
    logits, gt = write_set(tmp_path)
    document = loss_json(
        str(logits), str(gt), "--loss", "ce", "--loss", "lovasz=3", "--per-image", "--worst", "3"
    )
    worst = document["worst"]
    assert [entry["rank"] for entry in worst] == [1, 2, 3]
    totals = [entry["total"] for entry in worst]
    assert totals == sorted(totals, reverse=True)
    every = sorted((image["total"] for image in document["per_image"]), reverse=True)
    assert totals == every[:3]
    for entry in worst:
        assert set(entry["values"]) == {"ce", "lovasz"}
        expected = entry["values"]["ce"] + 3 * entry["values"]["lovasz"]
        assert math.isclose(entry["total"], expected, rel_tol=1e-15)


def test_results_do_not_depend_on_jobs(tmp_path: Path) -> None:
    args = [*losses_args(tmp_path), "--calibration", "--per-image"]
    one, three = (loss_json(*args, "--jobs", jobs) for jobs in ("1", "3"))
    for document in (one, three):
        document["elapsed_seconds"] = 0.0
    assert one == three


def test_binary_scores_and_npz_inputs(tmp_path: Path) -> None:
    logits, gt = write_set(tmp_path / "npy", channels=1)
    plain = loss_json(str(logits), str(gt), "--loss", "bce", "--loss", "focal")
    assert plain["config"]["num_classes"] == 1
    targets, scores = [], []
    for name in ["img0", "img1", "img2", "sub/img3"]:
        from PIL import Image

        targets.append(np.asarray(Image.open(gt / f"{name}.png")).ravel())
        scores.append(np.load(logits / f"{name}.npy").ravel())
    expected = bce(np.concatenate(scores)[None], np.concatenate(targets)[None], ignore_index=255)
    assert math.isclose(plain["terms"]["bce"]["value"], expected, rel_tol=1e-13)

    packed = tmp_path / "npz"
    for index, path in enumerate(sorted(logits.rglob("*.npy"))):
        target = packed / path.relative_to(logits).with_suffix(".npz")
        target.parent.mkdir(parents=True, exist_ok=True)
        save = np.savez_compressed if index % 2 else np.savez
        save(target, logits=np.load(path))
    assert (
        loss_json(str(packed), str(gt), "--loss", "bce", "--loss", "focal")["terms"]
        == (plain["terms"])
    )


def test_ground_truth_is_read_as_for_score(tmp_path: Path) -> None:
    # --reduce-zero-label: raw 0 is ignored and raw v is class v - 1, as score reads it.
    logits, gt = write_set(tmp_path / "plain")
    shifted = tmp_path / "shifted"
    for path in gt.rglob("*.png"):
        from PIL import Image

        raw = np.asarray(Image.open(path)).astype(np.int64)
        raw = np.where(raw == 255, 0, raw + 1)
        save_mask(shifted / path.relative_to(gt), raw)
    plain = loss_json(str(logits), str(gt), "--loss", "ce", "--loss", "boundary")
    reduced = loss_json(
        str(logits), str(shifted), "--loss", "ce", "--loss", "boundary", "--reduce-zero-label"
    )
    assert reduced["terms"] == plain["terms"]
    assert reduced["config"]["ignore_values"] == [0, 255]


def test_calibration_alone(tmp_path: Path) -> None:
    logits, gt = write_set(tmp_path)
    document = loss_json(str(logits), str(gt), "--calibration", "--ece-bins", "5")
    assert document["terms"] == {}
    assert len(document["calibration"]["bin_counts"]) == 5
    assert sum(document["calibration"]["bin_counts"]) == document["pixels"]
    table = run("loss", str(logits), str(gt), "--calibration").stdout
    assert "Loss terms" not in table
    assert "ECE (15 bins, top label)" in table


def test_output_file_and_strict(tmp_path: Path) -> None:
    logits, gt = write_set(tmp_path)
    output = tmp_path / "out" / "loss.json"
    output.parent.mkdir()
    result = run(
        "loss", str(logits), str(gt), "--loss", "ce", "--format", "json", "--output", str(output)
    )
    assert result.exit_code == 0, result.output
    assert json.loads(output.read_text())["terms"]["ce"]["value"] > 0
    (logits / "img1.npy").unlink()
    result = run("loss", str(logits), str(gt), "--loss", "ce", "--missing", "skip", "--strict")
    assert result.exit_code == 2
    assert "Loss terms (whole set)" in result.stdout  # the report is written, then the exit
    assert "--strict: the run had warnings (missing-skipped)" in result.stderr


def _replace(path: Path, scores: np.ndarray) -> None:
    np.save(path, scores)


@pytest.mark.parametrize(
    ("case", "extra", "fragments"),
    [
        ("shape", [], ["img2.npy", "(3, 5, 10)", "(6, 10)", "img2.png"]),
        ("channels-of-one-file", [], ["img2.npy", "2 channels", "3 classes"]),
        ("channels-vs-classes", ["--num-classes", "4"], ["img0.npy", "3 channels", "4 classes"]),
        ("nan", [], ["img2.npy", "non-finite score nan at (row 1, col 2), channel 0"]),
        ("probs", ["--input", "probs"], ["img2.npy", "(row 0, col 0) sum to 0.9", "--input"]),
        ("integers", [], ["img2.npy", "integer dtype int64", "label mask given as scores"]),
        ("label", [], ["img2.png", "label 9", "outside class ids 0..2"]),
        ("budget", ["--loss", "lovasz", "--lovasz-budget", "1"], ["big.npy", "--lovasz-per-image"]),
        ("not-an-array", [], ["img2.npy", "not a NumPy array file"]),
    ],
)
def test_bad_input_is_one_line_naming_the_file(
    tmp_path: Path, case: str, extra: list[str], fragments: list[str]
) -> None:
    logits, gt = write_set(tmp_path)
    scores = np.load(logits / "img2.npy")
    if case == "shape":
        _replace(logits / "img2.npy", scores[:, :5])
    elif case == "channels-of-one-file":
        _replace(logits / "img2.npy", scores[:2])
    elif case == "nan":
        scores[0, 1, 2] = np.nan
        _replace(logits / "img2.npy", scores)
    elif case == "probs":
        for path in logits.rglob("*.npy"):
            exp = np.exp(np.load(path))
            _replace(path, exp / exp.sum(axis=0))
        _replace(logits / "img2.npy", np.full(scores.shape, 0.3, np.float32))
    elif case == "integers":
        _replace(logits / "img2.npy", np.zeros(scores.shape, np.int64))
    elif case == "label":
        save_mask(gt / "img2.png", np.full(scores.shape[1:], 9))
    elif case == "budget":
        save_mask(gt / "big.png", np.zeros((300, 400)))
        np.save(logits / "big.npy", np.zeros((3, 300, 400), np.float16))
    elif case == "not-an-array":
        (logits / "img2.npy").write_bytes(b"\x89PNG\r\n\x1a\n not scores")
    result = run("loss", str(logits), str(gt), "--loss", "ce", *extra)
    assert_one_line_error(result, *fragments)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "nothing to compute"),
        (["--loss", "mse"], "unknown term"),
        (["--loss", "ce", "--loss", "ce=2"], "given twice"),
        (["--loss", "ce=-1"], "weight >= 0"),
        (["--loss", "ce", "--class-weights", "1,x,2"], "not a number"),
        (["--loss", "ce", "--class-weights", "1,2"], "2 weights for 3 classes"),
        (["--loss", "bce"], "needs one channel"),
        (["--loss", "focal", "--alpha", "0.2,0.8"], "2 weights for 3 classes"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], fragment: str) -> None:
    logits, gt = write_set(tmp_path)
    assert_one_line_error(run("loss", str(logits), str(gt), *args), fragment)


def test_missing_scores_error_or_skip(tmp_path: Path) -> None:
    logits, gt = write_set(tmp_path)
    (logits / "img1.npy").unlink()
    assert_one_line_error(run("loss", str(logits), str(gt), "--loss", "ce"), "img1.png")
    result = run("loss", str(logits), str(gt), "--loss", "ce", "--missing", "skip")
    assert result.exit_code == 0, result.output
    assert "missing-skipped" in result.stderr
    assert run("loss", str(logits), str(gt), "--missing", "empty").exit_code == 2


def test_api_refuses_options_that_cannot_apply(tmp_path: Path) -> None:
    from segeval.errors import UsageError
    from segeval.run.options import ScoreOptions

    logits, gt = write_set(tmp_path)
    with pytest.raises(UsageError, match="--missing empty"):
        evaluate_losses(logits, gt, ["ce"], options=ScoreOptions(missing="empty"))
    with pytest.raises(UsageError, match="ignore_index must be None"):
        evaluate_losses(logits, gt, ["ce"], LossOptions(ignore_index=255))


def test_sample_loss_json_equals_golden_file() -> None:
    document = loss_json(
        *SAMPLE_LOSS_ARGS,
        *(f"--loss={term}" for term in ALL_TERMS),
        "--calibration",
        "--worst",
        "3",
    )
    document.update(elapsed_seconds=0.0, segeval_version="X", pred_dir="X", gt_dir="X")
    # 12 significant digits: exp and log may differ in the last bit between platforms.
    assert_golden("sample_loss.json", json.dumps(_rounded(document), indent=2) + "\n")


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def test_readme_shows_what_the_loss_example_prints() -> None:
    readme = (SAMPLE.parent / "README.md").read_text()
    start = readme.index("```sh\nsegeval loss sample_data/logits")
    command_end = readme.index("\n```", start)
    command = readme[start + len("```sh\n") : command_end].replace("\\\n", " ").split()
    repo = SAMPLE.parent
    args = [str(repo / arg) if arg.startswith("sample_data/") else arg for arg in command[2:]]
    output_start = readme.index("```text\n", command_end) + len("```text\n")
    shown = readme[output_start : readme.index("```", output_start)]
    result = CliRunner().invoke(cli, ["loss", *args])
    assert result.exit_code == 0, result.output
    assert result.stdout == shown


def test_boundary_without_scipy_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "scipy.ndimage", None)  # import fails as if absent
    logits, gt = write_set(tmp_path)
    result = run("loss", str(logits), str(gt), "--loss", "boundary")
    assert_one_line_error(result, "needs scipy", "pip install 'segeval-masks[losses]'")


def test_lovasz_budget_refusal_does_not_depend_on_jobs(tmp_path: Path) -> None:
    logits, gt = write_set(tmp_path)
    for index in range(3):
        save_mask(gt / f"big{index}.png", np.zeros((200, 300)))
        np.save(logits / f"big{index}.npy", np.zeros((3, 200, 300), np.float16))
    # 60,000 pixels x 26 bytes = 1.5 MiB per map: the second one crosses 2 MiB.
    args = ["loss", str(logits), str(gt), "--loss", "lovasz", "--lovasz-budget", "2"]
    one, two = (run(*args, "--jobs", jobs) for jobs in ("1", "2"))
    assert_one_line_error(one, "big1.npy", "budget of 2 MiB")
    assert two.stderr == one.stderr
