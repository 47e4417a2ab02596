"""The command line: exit codes, one-line errors, every format parsed back, golden JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from segeval import __version__
from segeval.cli import cli
from segeval.report import Report
from tests.helpers import SAMPLE, SAMPLE_ARGS, MaskWriter, assert_golden, save_mask


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("segeval: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def _stable(document: dict[str, Any]) -> dict[str, Any]:
    document = dict(document)
    document["elapsed_seconds"] = 0.0
    document["segeval_version"] = "X"
    return document


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"segeval {__version__}\n"


def test_score_sample_data_table() -> None:
    result = run("score", *SAMPLE_ARGS)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("segeval ")
    assert "12 images" in lines[0]
    assert "5 of 6 classes averaged" in result.stdout
    water = next(line for line in lines if " water " in line)
    assert water.split()[2:6] == ["-", "-", "-", "-"]


def test_sample_json_equals_golden_file() -> None:
    result = run("score", *SAMPLE_ARGS, "--format", "json")
    assert result.exit_code == 0, result.output
    document = _stable(json.loads(result.stdout))
    assert_golden("sample_score.json", json.dumps(document, indent=2) + "\n")


def test_sample_json_agrees_with_sklearn() -> None:
    from sklearn.metrics import accuracy_score, jaccard_score, precision_recall_fscore_support

    from segeval.inputs.pairing import pair_folders
    from segeval.io import read_mask

    document = json.loads(run("score", *SAMPLE_ARGS, "--format", "json").stdout)
    gts, preds = [], []
    for pair in pair_folders(SAMPLE / "pred", SAMPLE / "gt").pairs:
        assert pair.pred_path is not None
        gt, pred = read_mask(pair.gt_path).ravel(), read_mask(pair.pred_path).ravel()
        gts.append(gt[gt != 255])
        preds.append(pred[gt != 255])
    gt_all, pred_all = np.concatenate(gts), np.concatenate(preds)
    present = [0, 1, 2, 3, 4]
    iou = jaccard_score(gt_all, pred_all, labels=present, average=None)
    precision, recall, f1, support = precision_recall_fscore_support(
        gt_all, pred_all, labels=present
    )
    scored = [document["classes"][index] for index in present]
    assert [c["iou"] for c in scored] == pytest.approx(list(iou), rel=1e-12)
    assert [c["dice"] for c in scored] == pytest.approx(list(f1), rel=1e-12)
    assert [c["precision"] for c in scored] == pytest.approx(list(precision), rel=1e-12)
    assert [c["recall"] for c in scored] == pytest.approx(list(recall), rel=1e-12)
    assert [c["support"] for c in scored] == list(support)
    assert document["classes"][5]["iou"] is None
    assert document["summary"]["miou"] == pytest.approx(iou.mean(), rel=1e-12)
    assert document["summary"]["pixel_accuracy"] == pytest.approx(
        accuracy_score(gt_all, pred_all), rel=1e-12
    )
    assert document["pixels"]["scored"] == gt_all.size


def test_csv_parses_and_carries_every_number() -> None:
    result = run("score", *SAMPLE_ARGS, "--format", "csv", "--confusion-matrix")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    document = json.loads(run("score", *SAMPLE_ARGS, "--format", "json").stdout)
    by_name = {row["metric"]: row for row in rows if row["class_id"] == ""}
    assert float(by_name["miou"]["value"]) == document["summary"]["miou"]
    road_iou = next(r for r in rows if r["metric"] == "iou" and r["class"] == "road")
    assert float(road_iou["value"]) == document["classes"][1]["iou"]
    water_iou = next(r for r in rows if r["metric"] == "iou" and r["class"] == "water")
    assert water_iou["value"] == ""
    confusion = [r for r in rows if r["metric"] == "confusion"]
    assert len(confusion) == 6 * 7
    cell = next(r for r in confusion if r["class_id"] == "1" and r["pred_id"] == "0")
    assert int(cell["value"]) == document["confusion_matrix"]["counts"][1][0]


def test_markdown_has_tables() -> None:
    result = run(
        "score", *SAMPLE_ARGS, "--format", "markdown", "--confusion-matrix", "--normalize", "gt"
    )
    assert result.exit_code == 0
    assert "| ID | Class | IoU |" in result.stdout
    assert "normalised by ground-truth row" in result.stdout
    assert "| background |" in result.stdout


def test_json_with_normalized_matrix_rows_sum_to_one() -> None:
    result = run("score", *SAMPLE_ARGS, "--format", "json", "--normalize", "gt")
    matrix = json.loads(result.stdout)["confusion_matrix"]
    assert matrix["normalize"] == "gt"
    for index, row in enumerate(matrix["normalized"][:5]):
        assert sum(row) == pytest.approx(1.0), index
    assert matrix["normalized"][5] == [None] * 6


def test_table_with_confusion_matrix() -> None:
    result = run("score", *SAMPLE_ARGS, "--confusion-matrix")
    assert (
        "Confusion matrix (rows: ground truth, columns: prediction; pixel counts)" in result.stdout
    )


def test_output_file_is_written_and_stdout_stays_empty(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    result = run("score", *SAMPLE_ARGS, "--format", "json", "--output", str(target))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(target.read_text())["schema"] == "segeval/score/v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_output_is_not_written_when_scoring_fails(tmp_path: Path, make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.zeros((2, 2))}, {"a": np.zeros((2, 3))})
    target = tmp_path / "out" / "report.json"
    target.parent.mkdir()
    result = run("score", str(pred), str(gt), "--output", str(target))
    assert result.exit_code == 2
    assert list(target.parent.iterdir()) == []


def test_output_inside_an_input_folder_is_refused(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.zeros((2, 2))}, {"a": np.zeros((2, 2))})
    result = run("score", str(pred), str(gt), "--output", str(gt / "report.json"))
    assert_one_line_error(result, "is inside the input folder", "report.json")
    assert not (gt / "report.json").exists()


def test_inferred_class_count_is_reported(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[0, 1], [2, 2]])}, {"a": np.array([[0, 1], [2, 1]])})
    document = json.loads(run("score", str(pred), str(gt), "--format", "json").stdout)
    assert document["config"]["num_classes"] == 3
    assert document["config"]["num_classes_inferred"] is True
    table = run("score", str(pred), str(gt)).stdout
    assert "inferred from the largest label seen" in table


def test_ignore_index_options(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[0, 1, 1, 1]])}, {"a": np.array([[0, 1, 255, 2]])})
    default = json.loads(
        run("score", str(pred), str(gt), "--format", "json", "--num-classes", "3").stdout
    )
    assert default["pixels"] == {"scored": 3, "ignored": 1, "pred_ignore": 0, "out_of_range": 0}
    several = json.loads(
        run(
            "score",
            str(pred),
            str(gt),
            "--format",
            "json",
            "--num-classes",
            "3",
            "--ignore-index",
            "255",
            "--ignore-index",
            "2",
        ).stdout
    )
    assert several["pixels"]["ignored"] == 2
    assert several["config"]["ignore_index"] == [2, 255]
    none = run("score", str(pred), str(gt), "--ignore-index", "none", "--num-classes", "3")
    assert_one_line_error(none, "gt/a.png", "ground truth label 255 (1 pixel)")


def test_debug_shows_the_exception(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.zeros((2, 2))}, {"a": np.zeros((2, 3))})
    result = run("score", str(pred), str(gt), "--debug")
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "ShapeMismatchError"


# ---------------------------------------------------------------- error paths


def test_error_missing_prediction(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset(
        {"a": np.zeros((2, 2))}, {"a": np.zeros((2, 2)), "sub/b": np.zeros((2, 2))}
    )
    assert_one_line_error(
        run("score", str(pred), str(gt)), "1 ground-truth file has no prediction", "b.png"
    )


def test_extra_prediction_is_a_warning_and_an_error_with_strict(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.zeros((2, 2)), "c": np.zeros((2, 2))}, {"a": np.zeros((2, 2))})
    lenient = run("score", str(pred), str(gt), "--format", "json")
    assert lenient.exit_code == 0
    assert lenient.stderr.startswith("segeval: warning: 1 prediction has no ground truth")
    assert "c.png" in lenient.stderr
    document = json.loads(lenient.stdout)
    assert document["pairing"]["extra"] == 1
    assert document["num_images"] == 1
    assert_one_line_error(
        run("score", str(pred), str(gt), "--strict"), "1 prediction has no ground truth", "c.png"
    )


def test_error_duplicate_key(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset(
        {"a": np.zeros((2, 2)), "a.npy": np.zeros((2, 2), np.uint8)}, {"a": np.zeros((2, 2))}
    )
    assert_one_line_error(
        run("score", str(pred), str(gt)), "a.npy", "a.png", "shared by more than one file"
    )


def test_error_rgb_mask(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({}, {"a": np.zeros((2, 2))})
    Image.new("RGB", (2, 2)).save(pred / "a.png")
    assert_one_line_error(
        run("score", str(pred), str(gt)), "pred/a.png", "colour image (mode 'RGB')"
    )


def test_error_float_array(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({}, {"a": np.zeros((2, 2))})
    save_mask(pred / "a.npy", np.zeros((2, 2), dtype=np.float32))
    assert_one_line_error(run("score", str(pred), str(gt)), "pred/a.npy", "got dtype float32")


def test_error_shape_mismatch_names_both_files(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.zeros((4, 6))}, {"a": np.zeros((4, 5))})
    assert_one_line_error(
        run("score", str(pred), str(gt)),
        "pred/a.png: prediction is 6x4 (width x height)",
        "gt/a.png is 5x4",
    )


def test_error_prediction_label_out_of_range(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[0, 9, 9]])}, {"a": np.array([[0, 1, 1]])})
    assert_one_line_error(
        run("score", str(pred), str(gt), "--num-classes", "3"),
        "pred/a.png: prediction label 9 (2 pixels) is outside class ids 0..2",
    )


def test_error_gt_label_out_of_range(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.array([[0, 1]])}, {"a": np.array([[0, 4]])})
    assert_one_line_error(
        run("score", str(pred), str(gt), "--num-classes", "3"),
        "gt/a.png: ground truth label 4 (1 pixel)",
        "--num-classes",
    )


def test_error_truncated_png(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.arange(400).reshape(20, 20) % 3}, {"a": np.zeros((20, 20))})
    data = (pred / "a.png").read_bytes()
    (pred / "a.png").write_bytes(data[: len(data) // 2])
    assert_one_line_error(
        run("score", str(pred), str(gt)), "pred/a.png: the image data ends before the last row"
    )


def test_error_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "gt").mkdir()
    assert_one_line_error(
        run("score", str(tmp_path / "nope"), str(tmp_path / "gt")), "nope: does not exist"
    )


def test_error_class_names_disagree_with_num_classes(tmp_path: Path) -> None:
    result = run("score", *SAMPLE_ARGS, "--num-classes", "4")
    assert_one_line_error(result, "--num-classes 4 disagrees with the 6 class names")


def test_error_bad_class_names_file(tmp_path: Path) -> None:
    names = tmp_path / "names.json"
    names.write_text('["road", "road"]')
    result = run("score", str(SAMPLE / "pred"), str(SAMPLE / "gt"), "--class-names", str(names))
    assert_one_line_error(result, "names.json: class name 'road' appears twice")


def test_error_bad_ignore_index() -> None:
    assert_one_line_error(
        run("score", *SAMPLE_ARGS, "--ignore-index", "void"), "--ignore-index 'void'"
    )


def test_click_usage_errors_exit_2() -> None:
    result = run("score", str(SAMPLE / "pred"))
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


def test_results_do_not_depend_on_jobs_or_chunking(tmp_path: Path) -> None:
    from segeval.inputs.pairing import pair_folders
    from segeval.run.options import ScoreOptions
    from segeval.run.work import ImageTask, Work, count_tasks

    args = [*SAMPLE_ARGS, "--format", "json", "--per-image-output"]
    documents = []
    for jobs in ("1", "2", "3"):
        rows = tmp_path / f"rows{jobs}.csv"
        result = run("score", *args, str(rows), "--jobs", jobs)
        assert result.exit_code == 0, result.output
        documents.append(_stable(json.loads(result.stdout)))
        documents[-1]["rows"] = rows.read_text()
    assert documents[0] == documents[1] == documents[2]
    # Chunks merged in any completion order give the same integers.
    options = ScoreOptions(num_classes=6)
    tasks = [
        ImageTask(pair.key, pair.gt_path, ((0, pair.pred_path),))
        for pair in pair_folders(SAMPLE / "pred", SAMPLE / "gt").pairs
    ]
    work = Work(options.pair_reader(), options.new_accumulator())
    chunks = [count_tasks(work, tasks[start : start + 5]) for start in range(0, len(tasks), 5)]
    forward, backward = options.new_accumulator(), options.new_accumulator()
    for chunk in chunks:
        forward += chunk.counts[0]
    for chunk in reversed(chunks):
        backward += chunk.counts[0]
    np.testing.assert_array_equal(forward.counts, backward.counts)
    assert forward.counts.tolist() == documents[0]["confusion_matrix"]["counts"]


def test_version_verbose_names_the_decoder() -> None:
    result = run("--version", "--verbose")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"segeval {__version__}"
    assert any(line.startswith("PNG decoder: ") for line in lines)


# ---------------------------------------------------------------- exit codes
# The library call of `score` is replaced by one that raises, to reach each
# branch of the CLI's one error boundary (_SegevalGroup.invoke).


def _raising(error: BaseException) -> Callable[..., Report]:
    def evaluate(*_args: object, **_kwargs: object) -> Report:
        raise error

    return evaluate


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["plain", "debug"])
def test_ctrl_c_exits_130_with_one_line(monkeypatch: pytest.MonkeyPatch, debug: list[str]) -> None:
    monkeypatch.setattr("segeval.run.evaluate.evaluate", _raising(KeyboardInterrupt()))
    result = run("score", *SAMPLE_ARGS, *debug)
    assert result.exit_code == 130  # not click's "Aborted!" with 1, which means "gate failed"
    assert result.stdout == ""
    assert result.stderr == "segeval: interrupted\n"


def test_an_unexpected_exception_is_an_internal_error_exiting_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("segeval.run.evaluate.evaluate", _raising(RuntimeError("boom")))
    result = run("score", *SAMPLE_ARGS)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "segeval: error: internal error: RuntimeError: boom (rerun with --debug and report it)\n"
    )


def test_debug_reraises_an_unexpected_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    error = RuntimeError("boom")
    monkeypatch.setattr("segeval.run.evaluate.evaluate", _raising(error))
    result = run("score", *SAMPLE_ARGS, "--debug")
    assert result.exception is error  # propagated, so Python prints its traceback
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            PermissionError(13, "Permission denied", "/data/gt/a.png"),
            "segeval: error: /data/gt/a.png: Permission denied\n",
        ),
        (OSError("no space left"), "segeval: error: no space left\n"),
    ],
    ids=["with-filename", "without-filename"],
)
def test_an_os_error_is_one_line_exiting_2(
    monkeypatch: pytest.MonkeyPatch, error: OSError, line: str
) -> None:
    monkeypatch.setattr("segeval.run.evaluate.evaluate", _raising(error))
    result = run("score", *SAMPLE_ARGS)
    assert result.exit_code == 2
    assert result.stderr == line


def test_a_broken_pipe_exits_0_and_says_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "segeval.run.evaluate.evaluate", _raising(BrokenPipeError(32, "Broken pipe"))
    )
    result = run("score", *SAMPLE_ARGS)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ""


def test_a_closed_stdout_pipe_exits_0_and_says_nothing() -> None:
    """`segeval score ... | head`, for real: the reader is gone before the report is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        process = subprocess.run(
            [sys.executable, "-m", "segeval", "score", *SAMPLE_ARGS],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write)
    assert process.returncode == 0
    assert process.stderr == ""


def test_names_cannot_inject_formulas_or_rows(make_dataset: MaskWriter, tmp_path: Path) -> None:
    pred, gt = make_dataset({"a": np.array([[0, 1]])}, {"a": np.array([[0, 1]])})
    names = tmp_path / "names.json"
    names.write_text(json.dumps(["=HYPERLINK(1)", "line\nbreak"]))
    args = ["score", str(pred), str(gt), "--class-names", str(names)]
    rows = list(csv.reader(io.StringIO(run(*args, "--format", "csv").stdout)))
    assert {row[2] for row in rows if row[1] == "0"} == {"'=HYPERLINK(1)"}
    assert [row[4] for row in rows if row[0] == "miou"] == ["1.0"]  # numbers stay numbers
    for output_format in ("table", "markdown"):
        text = run(*args, "--format", output_format).stdout
        assert "line\\nbreak" in text
        assert not any(line.startswith("break") for line in text.splitlines())
