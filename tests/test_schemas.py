"""Every JSON document segeval writes validates against its published JSON Schema.

The schemas live in ``segeval/schemas/`` (shipped in the wheel) and are copied
to ``schemas/`` at the top of the repository; each ``$id`` is the ``schema``
field of its documents. Each test below produces one shape of document (an
option that adds or changes a section) through the command line and validates
it with jsonschema, an independent, well-kept validator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator

from segeval.cli import cli
from segeval.schemas import SCHEMA_FILES, load_schema
from tests.helpers import REPO, SAMPLE, SAMPLE_ARGS, save_mask

PACKAGE_SCHEMAS = REPO / "segeval" / "schemas"
TOP_LEVEL_SCHEMAS = REPO / "schemas"


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def assert_valid(document: Any, schema_name: str | None = None) -> None:
    """Validate against the schema the document names (or ``schema_name``)."""
    name = schema_name or document["schema"]
    validator = Draft202012Validator(
        load_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{error.json_path}: {error.message}" for error in validator.iter_errors(document)]
    assert errors == [], name


def json_of(*args: object) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


# ------------------------------------------------------------------ the schema files


def test_each_schema_is_valid_and_its_id_is_the_documents_schema_field() -> None:
    assert sorted(path.name for path in PACKAGE_SCHEMAS.glob("*.json")) == sorted(
        SCHEMA_FILES.values()
    )
    for name in SCHEMA_FILES:
        schema = load_schema(name)
        Draft202012Validator.check_schema(schema)
        assert schema["$id"] == name
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        if name != "segeval/per-image/v1":  # JSON lines carry no schema field
            assert schema["properties"]["schema"] == {"const": name}


def test_the_top_level_schemas_folder_is_a_copy_of_the_package_one() -> None:
    package = {path.name: path.read_bytes() for path in PACKAGE_SCHEMAS.glob("*.json")}
    top_level = {path.name: path.read_bytes() for path in TOP_LEVEL_SCHEMAS.glob("*.json")}
    assert top_level == package, "copy them: cp segeval/schemas/*.json schemas/"


def test_the_schemas_are_package_data() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "schemas/*.json" in project["tool"]["setuptools"]["package-data"]["segeval"]


def test_a_schema_rejects_a_document_that_breaks_it() -> None:
    document = json_of("score", *SAMPLE_ARGS)
    document["summary"]["miou"] = "high"
    del document["pixels"]
    validator = Draft202012Validator(load_schema("segeval/score/v1"))
    messages = sorted(error.message for error in validator.iter_errors(document))
    assert messages == ["'high' is not of type 'number', 'null'", "'pixels' is a required property"]
    document = json_of("score", *SAMPLE_ARGS)
    document["surprise"] = 1
    assert not validator.is_valid(document)


# ------------------------------------------------------------------ score


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--per-image"],
        ["--normalize", "gt"],
        ["--normalize", "pred", "--confusion-matrix"],
        ["--normalize", "all"],
        ["--fail-under", "miou=0.5", "--fail-over", "rvd[road]=0.5", "--fail-under", "min_iou=0.9"],
        ["--convention", "nnunet"],
        ["--convention", "ade20k"],
        ["--beta", "2", "--exclude-class", "background", "--empty", "zero"],
        ["--per-image", "--ci", "--seed", "1", "--bootstrap", "50"],
        [
            "--ci",
            "0.9",
            "--seed",
            "2",
            "--bootstrap",
            "40",
            "--group-by",
            "^(night|street_0|street_1)",
        ],
    ],
    ids=lambda options: " ".join(options) or "default",
)
def test_score_json_validates(options: list[str]) -> None:
    document = json_of("score", *SAMPLE_ARGS, *options)
    assert_valid(document)


def test_score_json_with_inferred_classes_and_warnings_validates(tmp_path: Path) -> None:
    # 0/255 masks: 255 is ignored, so the foreground vanishes (binary-255); an extra
    # prediction has no ground truth (extra-predictions); a missing one is skipped.
    rng = np.random.default_rng(3)
    for name in ("a", "b", "c"):
        save_mask(tmp_path / "gt" / f"{name}.png", rng.choice([0, 255], size=(8, 8)))
    for name in ("a", "b", "extra"):
        save_mask(tmp_path / "pred" / f"{name}.png", rng.choice([0, 255], size=(8, 8)))
    document = json_of("score", tmp_path / "pred", tmp_path / "gt", "--missing", "skip")
    codes = [warning["code"] for warning in document["warnings"]]
    assert {"binary-255", "extra-predictions", "missing-skipped"} <= set(codes)
    assert document["config"]["num_classes_inferred"] is True
    assert_valid(document)


def test_score_json_with_categories_validates(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    gt = rng.integers(0, 34, size=(20, 30)).astype(np.uint8)
    save_mask(tmp_path / "gt" / "a.png", gt)
    save_mask(tmp_path / "pred" / "a.png", np.roll(gt, 1, axis=1))
    document = json_of("score", tmp_path / "pred", tmp_path / "gt", "--preset", "cityscapes")
    assert [entry["name"] for entry in document["categories"]][:2] == ["flat", "construction"]
    assert_valid(document)


def test_score_json_written_to_a_file_validates(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    result = run("score", *SAMPLE_ARGS, "--format", "json", "--output", target)
    assert result.exit_code == 0, result.output
    assert_valid(json.loads(target.read_text(encoding="utf-8")))


def test_per_image_rows_validate(tmp_path: Path) -> None:
    target = tmp_path / "images.jsonl"
    result = run("score", *SAMPLE_ARGS, "--per-image-output", target, "--boundary",
                 "--surface-distances")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 12
    for row in rows:
        assert_valid(row, "segeval/per-image/v1")


# ------------------------------------------------------------------ batch


@pytest.fixture
def submissions(tmp_path: Path) -> Path:
    """One good submission (the sample predictions), one invalid, one with a warning."""
    root = tmp_path / "submissions"
    for path in (SAMPLE / "pred").rglob("*"):
        if path.is_file():
            target = root / "good" / path.relative_to(SAMPLE / "pred")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            constant = root / "constant" / path.relative_to(SAMPLE / "pred")
            constant.parent.mkdir(parents=True, exist_ok=True)
            save_mask(constant.with_suffix(".png"), np.ones((64, 96), dtype=np.uint8))
    (root / "broken").mkdir()
    (root / "broken" / "street_01.png").write_bytes(b"not a png")
    return root


def test_batch_json_and_its_kept_reports_validate(submissions: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    document = json_of(
        "batch", submissions, SAMPLE / "gt", "--class-names", SAMPLE / "class_names.txt",
        "--output-dir", reports,
    )  # fmt: skip
    statuses = {entry["name"]: entry["status"] for entry in document["submissions"]}
    assert statuses == {"good": "ok", "constant": "ok", "broken": "invalid"}
    constant = next(entry for entry in document["submissions"] if entry["name"] == "constant")
    assert [warning["code"] for warning in constant["warnings"]] == ["constant-prediction"]
    assert_valid(document)
    kept = sorted(reports.rglob("*.json"))
    assert [path.relative_to(reports).as_posix() for path in kept] == [
        "constant.json", "good.json", "invalid/broken.json",
    ]  # fmt: skip
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in kept]
    assert [document["schema"] for document in documents] == [
        "segeval/score/v1", "segeval/score/v1", "segeval/invalid-submission/v1",
    ]  # fmt: skip
    for document in documents:
        assert_valid(document)


# ------------------------------------------------------------------ compare


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Score reports of the sample set: plain, with --ci, per image, on fewer images."""
    folder = tmp_path_factory.mktemp("reports")
    variants = {
        "plain": [],
        "ci": ["--ci", "--seed", "1", "--bootstrap", "50"],
        "per_image": ["--per-image"],
        "fewer": ["--gt-glob", "street_0*", "--missing", "skip"],
        "numbered": [],
    }
    paths = {}
    for name, options in variants.items():
        paths[name] = folder / f"{name}.json"
        args = (
            [str(SAMPLE / "pred"), str(SAMPLE / "gt"), "--num-classes", "6"]
            if name == "numbered"
            else SAMPLE_ARGS
        )
        result = run("score", *args, *options, "--format", "json", "--output", paths[name])
        assert result.exit_code == 0, result.output
    return paths


@pytest.mark.parametrize(
    ("baseline", "candidate", "options"),
    [
        ("plain", "plain", []),
        ("per_image", "per_image", []),
        ("plain", "plain", ["--max-drop", "miou=0.01", "--max-drop", "any-class-iou=0.0"]),
        ("ci", "ci", ["--ci", "--seed", "3", "--bootstrap", "40", "--require-improvement", "miou"]),
        ("plain", "fewer", ["--allow-different-images"]),
        ("numbered", "plain", []),
    ],
    ids=["plain", "per-image", "gate", "ci", "different-images", "names-by-id"],
)
def test_compare_json_validates(
    reports: dict[str, Path], baseline: str, candidate: str, options: list[str]
) -> None:
    document = json_of("compare", reports[baseline], reports[candidate], *options)
    assert_valid(document)


def test_compare_json_with_bootstrap_rows_validates(reports: dict[str, Path]) -> None:
    document = json_of("compare", reports["ci"], reports["ci"], "--ci", "--bootstrap", "40")
    assert document["bootstrap"]["difference"] == "candidate - baseline"
    miou = next(row for row in document["summary"] if row["name"] == "miou")
    assert set(miou) >= {"ci_low", "ci_high", "p_value"}
    assert_valid(document)


# ------------------------------------------------------------------ loss


@pytest.mark.parametrize(
    "options",
    [
        ["--loss", "ce"],
        ["--loss", "ce", "--loss", "dice=0.5", "--loss", "jaccard", "--loss-convention", "monai"],
        ["--loss", "ce", "--loss", "lovasz", "--calibration", "--per-image", "--worst", "2"],
        ["--loss", "focal", "--loss", "boundary=0.01", "--class-weights", "1,1,1,1,1,2",
         "--gt-glob", "street_0*", "--missing", "skip"],
    ],
    ids=["ce", "dice-jaccard", "calibration-per-image-worst", "focal-boundary-missing"],
)  # fmt: skip
def test_loss_json_validates(options: list[str]) -> None:
    args = [SAMPLE / "logits", SAMPLE / "gt", "--class-names", SAMPLE / "class_names.txt"]
    document = json_of("loss", *args, *options)
    assert document["schema"] == "segeval/loss/v1"
    assert_valid(document)


def test_loss_json_from_the_python_api_validates() -> None:
    from segeval.losses import LossAccumulator

    accumulator = LossAccumulator({"ce": 1.0, "dice": 0.5}, num_classes=2)
    accumulator.add_image(np.zeros((2, 1, 2)), np.array([[0, 1]]), name="a")
    assert_valid(accumulator.result().to_dict(worst=1))


# ------------------------------------------------------------------ inspect


def test_inspect_json_carries_its_schema_and_validates(tmp_path: Path) -> None:
    document = json_of("inspect", SAMPLE / "gt")
    assert document["schema"] == "segeval/inspect/v1"
    assert_valid(document)
    colour = np.zeros((4, 5, 3), dtype=np.uint8)
    colour[:, 2:] = (128, 64, 128)
    save_mask(tmp_path / "rgb" / "a.png", colour, mode="RGB")
    (tmp_path / "rgb" / "b.png").write_bytes(b"\x89PNG broken")
    document = json_of("inspect", tmp_path / "rgb", "--preset", "cityscapes")
    assert document["colors"][0] == {"rgb": [128, 64, 128], "pixels": 12}
    assert len(document["unreadable"]) == 1
    assert_valid(document)
