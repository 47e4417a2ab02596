"""Boundary metrics everywhere the other metrics are: score, batch, formats, gate, compare.

The values through the command line are checked against the per-class oracles
of ``test_boundary`` (the authors' ``mask_to_boundary``, MATLAB's boundary and
matching rule, MONAI's edges and percentile), summed and averaged here the way
the docs say.
"""

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
from segeval.compare import compare_reports, load_report
from segeval.core.boundary import (
    BoundaryOptions,
    Reference,
    physical_diagonal,
    prepare_reference,
)
from segeval.errors import IncomparableReportsError
from segeval.report import Report
from segeval.run.options import ScoreOptions
from segeval.run.work import ImageTask, PairReader, Work, count_tasks
from tests.helpers import save_mask
from tests.test_boundary import (
    IGNORE,
    blob_map,
    oracle_bf_counts,
    oracle_biou,
    oracle_f1,
    oracle_surface,
    perturb,
)

NUM_CLASSES = 4
WIDTH = 2  # --boundary-width
NSD_TAU = 1.5


def _dataset(seed: int = 0, images: int = 6) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Small label maps of two sizes, ignore pixels, a missed and a spurious class."""
    rng = np.random.default_rng(seed)
    gts, preds = {}, {}
    for index in range(images):
        shape = (30, 41) if index % 2 else (26, 36)
        gt = blob_map(rng, shape, NUM_CLASSES, ignore_rate=0.03 * (index % 3))
        pred = perturb(rng, gt, NUM_CLASSES)
        if index == 1:
            pred[pred == 3] = 0  # class 3 missed wherever the ground truth has it
            gt[:5, :5] = 2
        if index == 2:
            gt[gt == 1] = 0
            pred[10:14, 10:14] = 1  # class 1 spurious
        gts[f"img{index}"], preds[f"img{index}"] = gt, pred
    return gts, preds


def _write(root: Path, gts: dict[str, np.ndarray], preds: dict[str, np.ndarray]) -> tuple[str, str]:
    for name in gts:
        save_mask(root / "gt" / f"{name}.png", gts[name])
        save_mask(root / "pred" / f"{name}.png", preds[name])
    return str(root / "pred"), str(root / "gt")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


BOUNDARY_ARGS = [
    "--num-classes", str(NUM_CLASSES), "--boundary", "--surface-distances",
    "--boundary-width", str(WIDTH), "--nsd-tolerance", str(NSD_TAU),
]  # fmt: skip


def score_json(pred: str, gt: str, *extra: str) -> dict:  # type: ignore[type-arg]
    result = run("score", pred, gt, *BOUNDARY_ARGS, *extra, "--format", "json", "-q")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def data() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return _dataset()


@pytest.fixture(scope="module")
def folders(
    tmp_path_factory: pytest.TempPathFactory,
    data: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
) -> tuple[str, str]:
    return _write(tmp_path_factory.mktemp("boundary"), *data)


@pytest.fixture(scope="module")
def document(folders: tuple[str, str]) -> dict:  # type: ignore[type-arg]
    return score_json(*folders)


def _from_json(value: float | str | None) -> float:
    return math.nan if value is None else float(value)


# ------------------------------------------------------------------ values


def test_score_values_equal_the_per_class_oracles(
    data: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
    document: dict,  # type: ignore[type-arg]
) -> None:
    gts, preds = data
    inter = np.zeros(NUM_CLASSES, np.int64)
    union = np.zeros(NUM_CLASSES, np.int64)
    bf: list[list[float]] = [[] for _ in range(NUM_CLASSES)]
    hd95: list[list[float]] = [[] for _ in range(NUM_CLASSES)]
    image_bf_means = []
    missed = spurious = 0
    for name in gts:
        gt, pred = gts[name], preds[name]
        i, u = oracle_biou(gt, pred, NUM_CLASSES, WIDTH)
        inter, union = inter + i, union + u
        theta = 0.0075 * physical_diagonal(gt.shape)
        counts = oracle_bf_counts(gt, pred, NUM_CLASSES, theta)
        image_f1 = [oracle_f1(counts[c]) for c in range(NUM_CLASSES)]
        for c, f1 in enumerate(image_f1):
            if not math.isnan(f1):
                bf[c].append(f1)
        image_bf_means.append(np.nanmean(image_f1))
        for c in range(NUM_CLASSES):
            values = oracle_surface(gt, pred, c, NSD_TAU)
            if values is not None:
                hd95[c].append(values[1])
                if math.isinf(values[0]):
                    has_gt = bool(np.any((gt == c) & (gt != IGNORE)))
                    missed, spurious = missed + has_gt, spurious + (not has_gt)
    classes = document["classes"]
    for c in range(NUM_CLASSES):
        entry = classes[c]["boundary"]
        assert entry["band_intersection"] == inter[c]
        assert entry["band_union"] == union[c]
        assert entry["biou"] == pytest.approx(inter[c] / union[c], rel=1e-12)
        assert entry["bf"] == pytest.approx(np.mean(bf[c]), rel=1e-12)
        assert entry["bf_images"] == len(bf[c])
        assert _from_json(entry["hd95"]) == pytest.approx(np.mean(hd95[c]), rel=1e-12)
    section = document["boundary"]
    assert section["summary"]["mean_biou"] == pytest.approx(np.mean(inter / union), rel=1e-12)
    assert section["summary"]["mean_bf"] == pytest.approx(np.mean(image_bf_means), rel=1e-12)
    assert section["summary"]["hd95"] == "inf"  # a class is missed in one image
    assert section["empty_cases"] == {"missed": missed, "spurious": spurious}
    assert min(missed, spurious) >= 1
    assert section["band_widths"] == [WIDTH]


def test_replace_inf_uses_each_image_diagonal(
    data: tuple[dict[str, np.ndarray], dict[str, np.ndarray]], folders: tuple[str, str]
) -> None:
    gts, preds = data
    document = score_json(*folders, "--replace-inf", "diagonal", "--hd95", "medpy")
    for c in range(NUM_CLASSES):
        expected = []
        for name in gts:
            values = oracle_surface(gts[name], preds[name], c, NSD_TAU)
            if values is not None:
                diagonal = physical_diagonal(gts[name].shape)
                expected.append(diagonal if math.isinf(values[2]) else values[2])
        assert document["classes"][c]["boundary"]["hd95"] == pytest.approx(
            np.mean(expected), rel=1e-12
        )
    settings = document["boundary"]["settings"]
    assert (settings["replace_inf"], settings["hd95"]) == ("diagonal", "medpy")
    assert math.isfinite(document["boundary"]["summary"]["hd95"])


def test_results_identical_for_any_jobs_and_chunking(tmp_path: Path) -> None:
    # 12 images: one image per task with 2 workers, three per task with one.
    pred, gt = _write(tmp_path, *_dataset(seed=3, images=12))
    one = score_json(pred, gt, "--jobs", "1", "--per-image")
    two = score_json(pred, gt, "--jobs", "2", "--per-image")
    for document in (one, two):
        document.pop("elapsed_seconds")
    assert one == two
    assert one["boundary"]["images"] == 12


def test_batch_computes_ground_truth_boundaries_once_per_image(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    data: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
) -> None:
    gts, preds = data
    for name in gts:
        save_mask(tmp_path / "gt" / f"{name}.png", gts[name])
        for submission in ("a", "b", "c"):
            save_mask(tmp_path / submission / f"{name}.png", preds[name])
    prepared: list[tuple[int, ...]] = []

    def counting(gt_mask: np.ndarray, *args: Any, **kwargs: Any) -> Reference:
        prepared.append(gt_mask.shape)
        return prepare_reference(gt_mask, *args, **kwargs)

    # The unit of work calls the core's prepare_reference once per ground-truth
    # image (importing it from the core when the first pair needs it); counting
    # its calls is the only way to see that from outside.
    monkeypatch.setattr("segeval.core.boundary.prepare_reference", counting)
    options = BoundaryOptions(boundary=True, surface=True, width=WIDTH)
    work = Work(
        PairReader(), ScoreOptions(num_classes=NUM_CLASSES).new_accumulator(), boundary=options
    )
    tasks = [
        ImageTask(name, tmp_path / "gt" / f"{name}.png",
                  tuple((i, tmp_path / s / f"{name}.png") for i, s in enumerate("abc")))
        for name in gts
    ]  # fmt: skip
    result = count_tasks(work, tasks)
    assert len(prepared) == len(gts)  # once per ground-truth image, not per submission
    assert [len(result.boundary[i]) for i in range(3)] == [len(gts)] * 3
    assert np.array_equal(result.boundary[0][0].union, result.boundary[2][0].union)


def test_batch_reports_equal_score_reports(
    tmp_path: Path,
    data: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
    document: dict,  # type: ignore[type-arg]
) -> None:
    gts, preds = data
    worse = {name: np.roll(pred, 2, axis=1) for name, pred in preds.items()}
    for name in gts:
        save_mask(tmp_path / "gt" / f"{name}.png", gts[name])
        save_mask(tmp_path / "subs" / "good" / f"{name}.png", preds[name])
        save_mask(tmp_path / "subs" / "shifted" / f"{name}.png", worse[name])
    result = run(
        "batch", str(tmp_path / "subs"), str(tmp_path / "gt"), *BOUNDARY_ARGS,
        "--rank-by", "hd95", "--replace-inf", "diagonal", "--output-dir", str(tmp_path / "out"),
        "--format", "json", "-q", "--jobs", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    board = json.loads(result.stdout)
    assert [entry["name"] for entry in board["submissions"]] == ["good", "shifted"]
    assert board["metrics"][0] == "hd95"
    stored = json.loads((tmp_path / "out" / "good.json").read_text())
    direct = score_json(
        str(tmp_path / "subs" / "good"), str(tmp_path / "gt"), "--replace-inf", "diagonal"
    )
    assert stored["boundary"]["summary"] == direct["boundary"]["summary"]
    assert [c["boundary"] for c in stored["classes"]] == [c["boundary"] for c in direct["classes"]]
    # Resumed: the stored boundary values are reused as they are.
    again = run(
        "batch", str(tmp_path / "subs"), str(tmp_path / "gt"), *BOUNDARY_ARGS,
        "--rank-by", "hd95", "--replace-inf", "diagonal", "--output-dir", str(tmp_path / "out"),
        "--resume", "--format", "json", "-q",
    )  # fmt: skip
    assert (
        json.loads(again.stdout)["submissions"][0]["metrics"] == board["submissions"][0]["metrics"]
    )


# ------------------------------------------------------------------ formats


def test_every_format_carries_the_boundary_metrics(folders: tuple[str, str]) -> None:
    pred, gt = folders
    table = run("score", pred, gt, *BOUNDARY_ARGS, "-q").stdout
    assert "Boundary summary" in table
    assert "Boundary per class" in table
    assert "Boundary IoU: band d = 2 px" in table
    assert "in the ground truth only (missed): " in table
    rows = list(
        csv.reader(io.StringIO(run("score", pred, gt, *BOUNDARY_ARGS, "--format", "csv").stdout))
    )
    by_metric = {(row[0], row[1]): row[4] for row in rows[1:]}
    assert float(by_metric[("mean_biou", "")]) > 0
    assert by_metric[("hd95", "")] == "inf"
    assert {("biou", "3"), ("missed", "3")} <= set(by_metric)
    markdown = run("score", pred, gt, *BOUNDARY_ARGS, "--format", "markdown").stdout
    assert "mBIoU" in markdown.splitlines()[0]
    assert "HD95 inf" in markdown.splitlines()[0]
    assert "<details><summary>Boundary per class</summary>" in markdown
    html = run("score", pred, gt, *BOUNDARY_ARGS, "--format", "html", "-q").stdout
    assert all(name in html for name in ("mean_biou", "Boundary IoU", "HD95"))


def test_per_image_output_has_boundary_columns(folders: tuple[str, str], tmp_path: Path) -> None:
    pred, gt = folders
    for suffix in ("csv", "jsonl"):
        target = tmp_path / f"images.{suffix}"
        result = run("score", pred, gt, *BOUNDARY_ARGS, "--per-image-output", str(target), "-q")
        assert result.exit_code == 0, result.output
        text = target.read_text()
        if suffix == "csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            assert len(rows) == 6
            assert {"mean_biou", "mean_bf", "hd95", "biou[class_0]", "nsd[class_3]"} <= set(rows[0])
            assert rows[1]["hd95[class_3]"] == "inf"  # missed in img1
        else:
            lines = [json.loads(line) for line in text.splitlines()]
            assert lines[1]["hd95"]["class_3"] == "inf"
            assert lines[0]["biou"]["class_0"] is not None


def test_report_round_trip_keeps_and_validates_boundary_values(
    document: dict,  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    report = Report.from_dict(document)
    assert report.to_dict() == document
    again = report.recomputed()
    assert again.boundary == report.boundary
    assert [c.boundary for c in again.classes] == [c.boundary for c in report.classes]
    assert again.classes[3].value("hd95") == math.inf
    forged = json.loads(json.dumps(document))
    forged["classes"][0]["boundary"]["biou"] = "excellent"
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    with pytest.raises(IncomparableReportsError, match=r"forged\.json"):
        load_report(path)


# ------------------------------------------------------------------ gate and compare


def test_gate_on_boundary_names(folders: tuple[str, str], document: dict) -> None:  # type: ignore[type-arg]
    pred, gt = folders
    mean_biou = document["boundary"]["summary"]["mean_biou"]
    road_bf = document["classes"][0]["boundary"]["bf"]
    finite = next(c for c in document["classes"] if c["boundary"]["hd95"] != "inf")
    passed = run(
        "score", pred, gt, *BOUNDARY_ARGS, "-q",
        "--fail-under", f"mean_biou={mean_biou - 1e-6}", "--fail-under", f"bf[0]={road_bf - 1e-6}",
        "--fail-over", "nsd=1.0", "--fail-over", f"hd95[{finite['name']}]=1000",
    )  # fmt: skip
    assert passed.exit_code == 0, passed.stderr
    failed = run("score", pred, gt, *BOUNDARY_ARGS, "-q", "--fail-over", "hd95=10")
    assert failed.exit_code == 1
    assert "segeval: gate: FAIL hd95 = inf (required <= 10.0000)" in failed.stderr
    missing = run("score", pred, gt, "--num-classes", "4", "-q", "--fail-under", "mean_biou=0.1")
    assert missing.exit_code == 2
    assert "mean_biou is computed with --boundary; score with --boundary" in missing.stderr
    wrong = run("score", pred, gt, *BOUNDARY_ARGS, "-q", "--fail-under", "biou=0.1")
    assert wrong.exit_code == 2
    assert "write it as biou[CLASS]" in wrong.stderr


def test_compare_shows_boundary_deltas_in_the_right_direction(
    tmp_path: Path,
    data: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
    folders: tuple[str, str],
) -> None:
    gts, preds = data
    for name in gts:
        save_mask(tmp_path / "worse" / f"{name}.png", np.roll(preds[name], 3, axis=0))
    extra = ["--replace-inf", "diagonal", "--format", "json", "--output"]
    base, cand = tmp_path / "base.json", tmp_path / "cand.json"
    assert run("score", *folders, *BOUNDARY_ARGS, *extra, str(base)).exit_code == 0
    worse = [str(tmp_path / "worse"), folders[1]]
    assert run("score", *worse, *BOUNDARY_ARGS, *extra, str(cand)).exit_code == 0
    comparison = compare_reports(load_report(base), load_report(cand))
    rows = {row.name: row for row in comparison.summary}
    assert rows["hd95"].candidate > rows["hd95"].baseline
    assert rows["hd95"].improved is False  # a larger distance is worse
    assert rows["mean_biou"].improved is False
    assert {"biou[class_0]", "bf[class_0]", "hd95[class_0]"} <= {r.name for r in comparison.classes}
    gate = run("compare", str(base), str(cand), "--max-drop", "hd95=0.5", "--format", "json")
    assert gate.exit_code == 1
    checks = json.loads(gate.stdout)["gate"]["checks"]
    assert checks[0]["name"] == "max-drop hd95"
    assert checks[0]["value"] > 0.5
    per_class = run("compare", str(base), str(cand), "--max-drop", "any-class-hd95=1000")
    assert per_class.exit_code == 0, per_class.output


def test_compare_refuses_other_boundary_parameters(
    tmp_path: Path, folders: tuple[str, str]
) -> None:
    base, cand = tmp_path / "a.json", tmp_path / "b.json"
    assert (
        run("score", *folders, *BOUNDARY_ARGS, "--format", "json", "--output", str(base)).exit_code
        == 0
    )
    other = [*BOUNDARY_ARGS[:-1], "3.0"]  # another NSD tolerance
    assert run("score", *folders, *other, "--format", "json", "--output", str(cand)).exit_code == 0
    result = run("compare", str(base), str(cand))
    assert result.exit_code == 2
    assert "boundary nsd_tolerance (1.5 vs 3.0)" in result.stderr


# ------------------------------------------------------------------ options


def test_option_rules_and_the_cityscapes_band(folders: tuple[str, str]) -> None:
    pred, gt = folders
    lonely = run("score", pred, gt, "--boundary-width", "3")
    assert lonely.exit_code == 2
    assert "--boundary-width sets a parameter of --boundary; pass --boundary too." in lonely.stderr
    wrong_metric = run("score", pred, gt, "--boundary", "--nsd-tolerance", "2")
    assert "pass --surface-distances too" in wrong_metric.stderr
    both = run("score", pred, gt, "--boundary", "--boundary-width", "3", "--boundary-ratio", "0.1")
    assert "--boundary-width and --boundary-ratio both set the band" in both.stderr
    args = ["--num-classes", "4", "--boundary", "--format", "json", "-q"]
    cityscapes = json.loads(run("score", pred, gt, *args, "--convention", "cityscapes").stdout)
    assert cityscapes["boundary"]["settings"]["band_ratio"] == 0.005
    mine = run("score", pred, gt, *args, "--convention", "cityscapes", "--boundary-ratio", "0.1")
    assert json.loads(mine.stdout)["boundary"]["settings"]["band_ratio"] == 0.1
    assert json.loads(mine.stdout)["boundary"]["band_widths"] == [4, 5]  # 0.1 x 44.4, 50.8


def test_inferred_class_count_and_missing_predictions(tmp_path: Path) -> None:
    # The first image has only class 0, so the class count grows after it.
    gts = {"a": np.zeros((12, 12), np.uint8), "b": np.eye(12, dtype=np.uint8) * 2}
    preds = {"a": np.zeros((12, 12), np.uint8), "b": np.eye(12, dtype=np.uint8) * 2}
    pred, gt = _write(tmp_path, gts, preds)
    args = ["--boundary", "--surface-distances", "--format", "json", "-q"]
    inferred = json.loads(run("score", pred, gt, *args).stdout)
    known = json.loads(run("score", pred, gt, *args, "--num-classes", "3").stdout)
    assert inferred["boundary"]["summary"] == known["boundary"]["summary"]
    assert inferred["classes"][2]["boundary"]["biou"] == 1.0
    (tmp_path / "pred" / "b.png").unlink()
    empty = json.loads(
        run("score", pred, gt, *args, "--num-classes", "3", "--missing", "empty").stdout
    )
    assert empty["classes"][2]["boundary"]["missed"] == 1
    assert empty["classes"][2]["boundary"]["biou"] == 0.0


def test_metrics_listing_names_the_boundary_metrics() -> None:
    names = json.loads(run("metrics", "--format", "json").stdout)
    assert names["hd95"]["higher_is_better"] is False
    assert names["nsd"]["higher_is_better"] is True
    assert names["biou"]["per_class"] is True
    assert names["mean_biou"]["per_class"] is False
    table = run("metrics").stdout
    assert all(name in table for name in ("hd95[CLASS]", "biou[CLASS]", "mean_bf"))
