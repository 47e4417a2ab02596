"""iIoU through the command line and the engines, against cityscapesScripts 2.3.0's output.

The synthetic Cityscapes-layout set of tests/golden/cityscapes_instances
(scripts/make_cityscapes_golden.py) is laid out as a user has it: labelIds and
instanceIds side by side in the ground-truth folder, predictions in another.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator
from PIL import Image

from segeval.cli import cli
from segeval.compare import compare_reports, load_report
from segeval.errors import ShapeMismatchError
from segeval.inputs.classes import load_preset
from segeval.inputs.pairing import InstanceSource, PairingOptions
from segeval.render import score as score_formats
from segeval.report import Report
from segeval.run.batch import BatchOptions, run_batch
from segeval.run.engine import ProcessExecutor, ThreadExecutor
from segeval.run.evaluate import evaluate
from segeval.run.options import Execution, ScoreOptions
from segeval.schemas import load_schema

GOLDEN = Path(__file__).parent / "golden" / "cityscapes_instances"
OFFICIAL: dict[str, Any] = json.loads((GOLDEN / "official.json").read_text())
LABEL_SUFFIX, INSTANCE_SUFFIX = "_gtFine_labelIds.png", "_gtFine_instanceIds.png"
CITYSCAPES = ["--convention", "cityscapes", "--preset", "cityscapes", "--gt-suffix", LABEL_SUFFIX]


def _defined(scores: dict[str, float | None]) -> dict[str, float]:
    return {k: float(v) for k, v in scores.items() if v is not None and not math.isnan(v)}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``pred/`` (one file per image) and ``gt/`` (labelIds and instanceIds side by side)."""
    root = tmp_path_factory.mktemp("cityscapes")
    (root / "gt").mkdir()
    (root / "pred").mkdir()
    for stem in OFFICIAL["images"]:
        for suffix in (LABEL_SUFFIX, INSTANCE_SUFFIX):
            shutil.copy(GOLDEN / f"{stem}{suffix}", root / "gt" / f"{stem}{suffix}")
        shutil.copy(GOLDEN / f"{stem}_pred.png", root / "pred" / f"{stem}.png")
    return root / "pred", root / "gt"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def score_json(pred: Path, gt: Path, *extra: str) -> dict[str, Any]:
    result = run("score", str(pred), str(gt), *CITYSCAPES, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    document["elapsed_seconds"] = 0.0
    return document


def _assert_official(document: dict[str, Any]) -> None:
    classes = {entry["name"]: entry for entry in document["classes"]}
    assert {n: classes[n]["iou"] for n in _defined(OFFICIAL["classScores"])} == pytest.approx(
        _defined(OFFICIAL["classScores"]), abs=1e-12
    )
    iiou = {name: entry["iiou"] for name, entry in classes.items() if entry["iiou"] is not None}
    assert iiou == pytest.approx(_defined(OFFICIAL["classInstScores"]), abs=1e-12)
    categories = {entry["name"]: entry for entry in document["categories"]}
    assert {n: c["iou"] for n, c in categories.items()} == pytest.approx(
        _defined(OFFICIAL["categoryScores"]), abs=1e-12
    )
    category_iiou = {n: c["iiou"] for n, c in categories.items() if c["iiou"] is not None}
    assert category_iiou == pytest.approx(_defined(OFFICIAL["categoryInstScores"]), abs=1e-12)
    summary = document["summary"]
    means = {
        "miou": "averageScoreClasses",
        "miiou": "averageScoreInstClasses",
        "category_miou": "averageScoreCategories",
        "category_miiou": "averageScoreInstCategories",
    }
    for name, official in means.items():
        assert summary[name] == pytest.approx(OFFICIAL[official], abs=1e-12), name


def test_score_equals_the_official_evaluator(folders: tuple[Path, Path]) -> None:
    pred, gt = folders
    document = score_json(pred, gt, "--gt-instances", str(gt))
    assert OFFICIAL["versions"]["cityscapesscripts"] == "2.3.0"
    assert document["config"]["gt_instances"] is True
    _assert_official(document)
    assert not list(Draft202012Validator(load_schema("segeval/score/v1")).iter_errors(document))


def test_instance_folder_and_suffix_are_found_either_way(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    pred, gt = folders
    # --gt-instance-suffix alone looks in the ground-truth folder.
    alone = score_json(pred, gt, "--gt-instance-suffix", INSTANCE_SUFFIX)
    # Another folder, keyed by the extension.
    (tmp_path / "instances").mkdir()
    for stem in OFFICIAL["images"]:
        shutil.copy(gt / f"{stem}{INSTANCE_SUFFIX}", tmp_path / "instances" / f"{stem}.png")
    elsewhere = score_json(
        pred, gt, "--gt-instances", str(tmp_path / "instances"), "--gt-instance-suffix", ".png"
    )
    _assert_official(alone)
    assert elsewhere == alone


def test_threads_processes_and_one_job_give_identical_reports(folders: tuple[Path, Path]) -> None:
    pred, gt = folders
    options = ScoreOptions.for_convention(
        "cityscapes",
        classes=load_preset("cityscapes"),
        pairing=PairingOptions(gt_suffix=LABEL_SUFFIX),
        gt_instances=InstanceSource(),
    )

    def document(execution: Execution) -> str:
        report = evaluate(pred, gt, options, execution=execution)
        return json.dumps({**report.to_dict(), "elapsed_seconds": 0.0})

    with ProcessExecutor(2) as processes:
        documents = [
            document(Execution(jobs=1)),
            document(Execution(executor=ThreadExecutor(2))),
            document(Execution(executor=processes)),
        ]
    assert documents[0] == documents[1] == documents[2]
    _assert_official(json.loads(documents[0]))
    assert (
        json.loads(documents[0])["summary"]["miiou"]
        == score_json(pred, gt, "--gt-instances", str(gt), "--jobs", "1")["summary"]["miiou"]
    )


def test_batch_reports_carry_the_official_iiou(folders: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = folders
    shutil.copytree(pred, tmp_path / "subs" / "model")
    result = run(
        "batch", str(tmp_path / "subs"), str(gt), *CITYSCAPES, "--gt-instances", str(gt),
        "--rank-by", "miiou", "--output-dir", str(tmp_path / "out"), "--format", "json", "-q",
        "--jobs", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    board = json.loads(result.stdout)
    assert board["metrics"][0] == "miiou"
    assert board["submissions"][0]["metrics"]["miiou"] == pytest.approx(
        OFFICIAL["averageScoreInstClasses"], abs=1e-12
    )
    _assert_official(json.loads((tmp_path / "out" / "model.json").read_text()))
    options = BatchOptions(
        score=ScoreOptions(
            classes=load_preset("cityscapes"),
            pairing=PairingOptions(gt_suffix=LABEL_SUFFIX),
            gt_instances=InstanceSource(),
        ),
        rank_by="miiou",
    )
    (entry,) = run_batch(tmp_path / "subs", gt, options).entries
    assert entry.report is not None
    assert entry.report.summary["miiou"] == pytest.approx(
        OFFICIAL["averageScoreInstClasses"], abs=1e-12
    )


def test_gate_on_iiou(folders: tuple[Path, Path]) -> None:
    pred, gt = folders
    base = ["score", str(pred), str(gt), *CITYSCAPES, "--gt-instances", str(gt)]
    failed = run(*base, "--fail-under", "miiou=0.8")
    assert failed.exit_code == 1
    assert "FAIL miiou = 0.7297 (required >= 0.8000)" in failed.stderr
    assert run(*base, "--fail-under", "miiou=0.7").exit_code == 0
    category = run(*base, "--fail-under", "category_iiou[human]=0.81", "--format", "json")
    assert category.exit_code == 1
    (check,) = json.loads(category.stdout)["gate"]["checks"]
    assert check["value"] == pytest.approx(OFFICIAL["categoryInstScores"]["human"], abs=1e-12)
    assert run(*base, "--fail-under", "iiou[car]=0.7").exit_code == 0
    # Checked before any work: without instance maps the name cannot be gated on.
    refused = run("score", str(pred), str(gt), *CITYSCAPES, "--fail-under", "miiou=0.4")
    assert refused.exit_code == 2
    assert refused.stderr == (
        "segeval: error: miiou is computed with --gt-instances; score with --gt-instances to "
        "gate on it.\n"
    )


def test_compare_shows_the_miiou_delta(folders: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = folders
    worse = tmp_path / "worse"
    shutil.copytree(pred, worse)
    first = worse / f"{OFFICIAL['images'][0]}.png"
    mask = np.array(Image.open(first))
    mask[:12] = 26  # car over the top rows
    Image.fromarray(mask).save(first)
    paths = []
    for name, folder in (("base", pred), ("cand", worse)):
        path = tmp_path / f"{name}.json"
        result = run(
            "score", str(folder), str(gt), *CITYSCAPES, "--gt-instances", str(gt),
            "--format", "json", "--output", str(path),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        paths.append(path)
    baseline, candidate = (load_report(path) for path in paths)
    comparison = compare_reports(baseline, candidate)
    rows = {row.name: row for row in comparison.summary}
    assert rows["miiou"].baseline == pytest.approx(OFFICIAL["averageScoreInstClasses"], abs=1e-12)
    assert rows["miiou"].delta == candidate.summary["miiou"] - baseline.summary["miiou"]
    assert rows["miiou"].delta < 0
    assert {"category_miou", "category_miiou"} <= set(rows)
    assert "iiou[car]" in {row.name for row in comparison.classes}
    table = run("compare", *map(str, paths)).stdout
    (line,) = [line for line in table.splitlines() if line.startswith("miIoU ")]
    assert line.split()[-1] == f"{rows['miiou'].delta:+.4f}"
    gate = run("compare", *map(str, paths), "--max-drop", "miiou=0.0001")
    assert gate.exit_code == 1
    # A report without iIoU stays comparable: the shared metrics are lined up.
    plain = tmp_path / "plain.json"
    run("score", str(pred), str(gt), *CITYSCAPES, "--format", "json", "--output", str(plain))
    shared = compare_reports(load_report(plain), baseline)
    assert "miiou" not in {row.name for row in shared.summary}


def test_saved_report_keeps_iiou_through_from_dict_and_recomputed(
    folders: tuple[Path, Path],
) -> None:
    pred, gt = folders
    document = score_json(pred, gt, "--gt-instances", str(gt))
    again = Report.from_dict(document).recomputed()
    assert again.summary["miiou"] == document["summary"]["miiou"]
    car = next(result for result in again.classes if result.name == "car")
    assert car.value("iiou") == pytest.approx(OFFICIAL["classInstScores"]["car"], abs=1e-12)
    assert {c.name: c.iiou for c in again.categories}["vehicle"] == pytest.approx(
        OFFICIAL["categoryInstScores"]["vehicle"], abs=1e-12
    )
    assert json.dumps(again.to_dict()["classes"]) == json.dumps(document["classes"])


def test_every_format_shows_iiou(folders: tuple[Path, Path]) -> None:
    pred, gt = folders
    args = ["score", str(pred), str(gt), *CITYSCAPES, "--gt-instances", str(gt), "-q"]
    for output_format in score_formats.FORMATS:
        result = run(*args, "--format", output_format)
        assert result.exit_code == 0, (output_format, result.output)
        text = result.stdout
        if output_format == "csv":
            rows = {(row[0], row[2]): row[4] for row in csv.reader(io.StringIO(text))}
            assert float(rows[("miiou", "")]) == pytest.approx(
                OFFICIAL["averageScoreInstClasses"], abs=1e-12
            )
            assert float(rows[("iiou", "car")]) == pytest.approx(
                OFFICIAL["classInstScores"]["car"], abs=1e-12
            )
            assert float(rows[("category_iiou", "human")]) == pytest.approx(
                OFFICIAL["categoryInstScores"]["human"], abs=1e-12
            )
        elif output_format == "json":
            assert json.loads(text)["summary"]["category_miiou"] is not None
        elif output_format == "markdown":
            assert "miIoU 0.7297 · Category miIoU 0.8221" in text.splitlines()[0]
        elif output_format in ("junit",):
            continue  # the gate's checks only
        else:
            assert "miIoU" in text or "miiou" in text, output_format
            assert "0.7297" in text, output_format  # miIoU, 4 decimals
            assert "0.8221" in text, output_format  # category miIoU


def test_table_shows_the_four_cityscapes_numbers(folders: tuple[Path, Path]) -> None:
    pred, gt = folders
    table = run("score", str(pred), str(gt), *CITYSCAPES, "--gt-instances", str(gt)).stdout
    summary = {
        line[:15].strip(): line[15:].strip()
        for line in table.split("Per class")[0].splitlines()[3:]
    }
    assert summary["mIoU"] == "0.4449"
    assert summary["miIoU"] == "0.7297"
    assert summary["Category mIoU"] == "0.4993"
    assert summary["Category miIoU"] == "0.8221"
    assert "needs the ground truth's instance ids" not in table


def test_without_instances_the_cityscapes_convention_says_what_iiou_needs(
    folders: tuple[Path, Path],
) -> None:
    pred, gt = folders
    table = run("score", str(pred), str(gt), *CITYSCAPES)
    assert table.exit_code == 0
    assert (
        "Note: iIoU (instance-level IoU, one of the four Cityscapes numbers) needs the ground "
        "truth's instance ids: pass --gt-instances DIR (*_gtFine_instanceIds.png)."
    ) in table.stdout
    assert "miIoU" not in table.stdout
    listing = json.loads(run("conventions", "--format", "json").stdout)["cityscapes"]
    assert "iIoU needs the instance maps: pass --gt-instances DIR" in listing["differences"]
    assert "not computed" not in listing["differences"]
    assert listing["headline"][:4] == ["miou", "miiou", "category_miou", "category_miiou"]


def test_a_missing_instance_map_is_one_line_and_exit_2(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    pred, gt = folders
    shutil.copytree(gt, tmp_path / "gt")
    stem = OFFICIAL["images"][2]
    (tmp_path / "gt" / f"{stem}{INSTANCE_SUFFIX}").unlink()
    result = run("score", str(pred), str(tmp_path / "gt"), *CITYSCAPES, "--gt-instances",
                 str(tmp_path / "gt"))  # fmt: skip
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"segeval: error: {tmp_path / 'gt' / (stem + LABEL_SUFFIX)}: its instance map "
        f"{stem}{INSTANCE_SUFFIX} is not in {tmp_path / 'gt'}; add it, or point --gt-instances "
        "/ --gt-instance-suffix at the instance maps.\n"
    )


def test_a_mismatched_instance_map_is_one_line_and_exit_2(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    pred, gt = folders
    shutil.copytree(gt, tmp_path / "gt")
    stem = OFFICIAL["images"][1]
    path = tmp_path / "gt" / f"{stem}{INSTANCE_SUFFIX}"
    Image.fromarray(np.array(Image.open(path))[:20]).save(path)
    result = run("score", str(pred), str(tmp_path / "gt"), *CITYSCAPES, "--gt-instances",
                 str(tmp_path / "gt"))  # fmt: skip
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"segeval: error: {path}: instance map has shape (20, 96) ")
    assert "Traceback" not in result.output


def test_instance_options_need_average_sizes_and_a_way_to_tell_files_apart(
    folders: tuple[Path, Path],
) -> None:
    pred, gt = folders
    no_sizes = run("score", str(pred), str(gt), "--preset", "camvid", "--gt-instances", str(gt))
    assert no_sizes.exit_code == 2
    assert "average instance size" in no_sizes.stderr
    same_keys = run("score", str(pred), str(gt), "--preset", "cityscapes", "--gt-instances",
                    str(gt), "--gt-instance-suffix", INSTANCE_SUFFIX)  # fmt: skip
    assert same_keys.exit_code == 2
    assert "pass --gt-suffix" in same_keys.stderr
    assert same_keys.stderr.count("\n") == 1


def test_a_wrong_size_instance_map_stops_the_batch_without_blaming_submissions(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    pred, gt = folders
    shutil.copytree(gt, tmp_path / "gt")
    for name in ("alice", "bob"):
        shutil.copytree(pred, tmp_path / "subs" / name)
    stem = OFFICIAL["images"][1]
    path = tmp_path / "gt" / f"{stem}{INSTANCE_SUFFIX}"
    Image.fromarray(np.array(Image.open(path))[:20]).save(path)
    for jobs in ("1", "2"):
        result = run(
            "batch", str(tmp_path / "subs"), str(tmp_path / "gt"), *CITYSCAPES,
            "--gt-instances", str(tmp_path / "gt"), "--output-dir", str(tmp_path / "out"),
            "--format", "json", "-q", "--jobs", jobs,
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert result.stderr == (
            f"segeval: error: {path}: instance map has shape (20, 96) but its ground truth "
            f"{tmp_path / 'gt' / (stem + LABEL_SUFFIX)} has (48, 96); pair each ground truth "
            "with its own instance map (--gt-instances, --gt-instance-suffix).\n"
        )
        # No submission was judged: no report, valid or invalid, was written for either.
        assert not list((tmp_path / "out").rglob("*.json"))
    options = BatchOptions(
        score=ScoreOptions(
            classes=load_preset("cityscapes"),
            pairing=PairingOptions(gt_suffix=LABEL_SUFFIX),
            gt_instances=InstanceSource(),
        ),
        execution=Execution(jobs=1),
    )
    with pytest.raises(ShapeMismatchError, match=r"instance map has shape \(20, 96\)"):
        run_batch(tmp_path / "subs", tmp_path / "gt", options)


def test_batch_reads_large_instance_maps_like_its_trusted_ground_truth(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    pred, gt = folders
    shutil.copytree(pred, tmp_path / "subs" / "model")
    shutil.copytree(gt, tmp_path / "gt")
    for stem in OFFICIAL["images"]:  # uncompressed: 9 kB against the predictions' 2.3 kB
        path = tmp_path / "gt" / f"{stem}{INSTANCE_SUFFIX}"
        Image.open(path).save(path, compress_level=0)
        assert path.stat().st_size > 4096
    result = run(
        "batch", str(tmp_path / "subs"), str(tmp_path / "gt"), *CITYSCAPES,
        "--gt-instances", str(tmp_path / "gt"), "--max-mask-bytes", "4096",
        "--rank-by", "miiou", "--format", "json", "-q", "--jobs", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["submissions"]
    assert entry["status"] == "ok"
    assert entry["metrics"]["miiou"] == pytest.approx(
        OFFICIAL["averageScoreInstClasses"], abs=1e-12
    )


def test_instance_source_is_a_public_name() -> None:
    import segeval
    from segeval.inputs import pairing

    assert "InstanceSource" in segeval.__all__
    assert segeval.InstanceSource is pairing.InstanceSource


def test_per_image_rows_carry_each_image_s_own_iiou(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    pred, gt = folders
    names = load_preset("cityscapes").names
    # The oracle: each image scored alone, whose dataset iIoU is the image's own.
    alone: dict[str, dict[str, Any]] = {}
    for stem in OFFICIAL["images"]:
        (tmp_path / stem / "gt").mkdir(parents=True)
        (tmp_path / stem / "pred").mkdir()
        for suffix in (LABEL_SUFFIX, INSTANCE_SUFFIX):
            shutil.copy(gt / f"{stem}{suffix}", tmp_path / stem / "gt")
        shutil.copy(pred / f"{stem}.png", tmp_path / stem / "pred")
        document = score_json(tmp_path / stem / "pred", tmp_path / stem / "gt",
                              "--gt-instances", str(tmp_path / stem / "gt"))  # fmt: skip
        alone[stem] = {
            "miiou": document["summary"]["miiou"],
            "iiou": {entry["name"]: entry["iiou"] for entry in document["classes"]},
        }
    assert {stem: values["miiou"] for stem, values in alone.items()} == pytest.approx(
        {
            "synth_000000_000000": 0.36332102932343663,
            "synth_000000_000001": 0.09186914771858408,
            "synth_000000_000002": 0.28181812509244153,
            "synth_000000_000003": 0.28358955359600374,
        },
        abs=1e-12,
    )
    rows_csv, rows_jsonl = tmp_path / "images.csv", tmp_path / "images.jsonl"
    preset = ["--preset", "cityscapes", "--gt-suffix", LABEL_SUFFIX, "--gt-instances", str(gt)]
    for target in (rows_csv, rows_jsonl):
        result = run("score", str(pred), str(gt), *preset, "--per-image-output", str(target))
        assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(rows_csv.read_text())))
    assert list(table[0])[-len(names) - 1 :] == ["miiou", *(f"iiou[{n}]" for n in names)]
    lines = [json.loads(line) for line in rows_jsonl.read_text().splitlines()]
    validator = Draft202012Validator(load_schema("segeval/per-image/v1"))
    for row, line in zip(table, lines, strict=True):
        assert not list(validator.iter_errors(line))
        expected = alone[line["image"]]
        assert float(row["miiou"]) == line["miiou"] == expected["miiou"]
        assert line["iiou"] == expected["iiou"]
        assert {n: row[f"iiou[{n}]"] for n in names} == {
            n: "" if v is None else repr(v) for n, v in expected["iiou"].items()
        }
    # Without instance maps the rows keep their columns.
    plain = tmp_path / "plain.csv"
    result = run("score", str(pred), str(gt), *preset[:4], "--per-image-output", str(plain))
    assert result.exit_code == 0, result.output
    assert "iiou" not in plain.read_text().splitlines()[0]


def test_ci_says_plainly_that_iiou_has_no_interval(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    pred, gt = folders
    saved = tmp_path / "report.json"
    result = run(
        "score", str(pred), str(gt), *CITYSCAPES, "--gt-instances", str(gt),
        "--ci", "--seed", "1", "--bootstrap", "200", "--format", "json", "--output", str(saved),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(saved.read_text())
    message = (
        "miiou, category_miiou and iIoU per class and category have no confidence interval: "
        "the bootstrap resamples each image's TP, FP and FN per class, and iIoU needs each "
        "image's instance-weighted TP and FN too, which the per-image counts do not keep; they "
        "are shown without one (docs/statistics.md)."
    )
    assert {"code": "iiou-without-interval", "message": message} in document["warnings"]
    assert f"{message} [iiou-without-interval]" in result.stderr
    assert "miiou" not in document["intervals"]["summary"]
    assert "miou" in document["intervals"]["summary"]
    assert document["summary"]["miiou"] == pytest.approx(
        OFFICIAL["averageScoreInstClasses"], abs=1e-12
    )
    compared = run("compare", str(saved), str(saved), "--ci", "--seed", "1", "--bootstrap", "200",
                   "--format", "json")  # fmt: skip
    assert compared.exit_code == 0, compared.output
    codes = [item["code"] for item in json.loads(compared.stdout)["warnings"]]
    assert "iiou-without-interval" in codes
    # Without instance maps there is nothing to warn about.
    plain = run("score", str(pred), str(gt), *CITYSCAPES, "--ci", "--seed", "1",
                "--bootstrap", "200", "--format", "json")  # fmt: skip
    assert plain.exit_code == 0, plain.output
    assert "iiou-without-interval" not in plain.stdout
