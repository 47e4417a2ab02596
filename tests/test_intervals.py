"""Confidence intervals end to end: score --ci, compare --ci, the gate, every format."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from segeval.cli import cli
from segeval.compare import compare_reports
from segeval.errors import IncomparableReportsError, UsageError
from segeval.intervals import IntervalOptions, paired_intervals, with_intervals
from segeval.report import Report
from segeval.run.evaluate import evaluate
from segeval.run.options import ScoreOptions
from segeval.stats import DATASET_SUMMARY_METRICS, ImageCountTable
from tests.helpers import CAMVID, REPO, SAMPLE_ARGS, MaskWriter, save_mask

#: The sample set's keys are street_01 .. street_10 and night/street_11, night/street_12.
TWO_GROUPS = r"^(\w+?)[/_]"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("segeval: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def score_json(*extra: str) -> dict:  # type: ignore[type-arg]
    result = run("score", *SAMPLE_ARGS, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def intervals_only(document: dict) -> dict:  # type: ignore[type-arg]
    return {key: document[key] for key in ("intervals", "image_counts", "summary", "warnings")}


# ------------------------------------------------------------------ score --ci


@pytest.fixture(scope="module")
def sample_ci() -> dict:  # type: ignore[type-arg]
    return score_json("--ci", "0.9", "--bootstrap", "300", "--seed", "7", "--jobs", "1")


def test_score_ci_json_has_intervals_and_image_counts(sample_ci: dict) -> None:  # type: ignore[type-arg]
    intervals = sample_ci["intervals"]
    assert intervals["confidence"] == 0.9
    assert intervals["n_resamples"] == 300
    assert intervals["seed"] == 7
    assert intervals["method"] == "bca"
    assert (intervals["unit"], intervals["num_units"], intervals["grouping"]) == ("image", 12, None)
    assert set(intervals["summary"]) == set(DATASET_SUMMARY_METRICS)
    assert len(intervals["classes"]["iou"]) == len(intervals["classes"]["dice"]) == 6
    # The interval's estimate is the report's value itself: the same formulas, the same counts.
    for name, interval in intervals["summary"].items():
        assert interval["estimate"] == sample_ci["summary"][name], name
        if interval["estimate"] is not None:
            assert interval["low"] <= interval["estimate"] <= interval["high"], name
    water = intervals["classes"]["iou"][5]  # absent from every image
    assert water["estimate"] is None
    assert water["low"] is None
    table = ImageCountTable.from_dict(sample_ci["image_counts"])
    assert table.num_images == 12
    assert "night/street_11" in table.keys
    tp, _, fn = table.totals()
    assert tp.tolist() == [entry["tp"] for entry in sample_ci["classes"]]
    assert fn.tolist() == [entry["fn"] for entry in sample_ci["classes"]]
    # Only --per-image changes the aggregation.
    assert sample_ci["config"]["aggregation"] == "dataset"


def test_score_ci_keeps_every_other_number(sample_ci: dict) -> None:  # type: ignore[type-arg]
    plain = score_json()
    for key in ("summary", "classes", "confusion_matrix", "num_images", "config"):
        assert sample_ci[key] == plain[key], key
    assert "intervals" not in plain
    assert "image_counts" not in plain


def test_report_round_trip_keeps_intervals_and_counts(sample_ci: dict) -> None:  # type: ignore[type-arg]
    report = Report.from_dict(sample_ci)
    assert report.intervals is not None
    assert report.image_counts is not None
    assert json.loads(json.dumps(Report.from_dict(report.to_dict()).to_dict())) == sample_ci


def test_score_ci_table_and_markdown_show_intervals(sample_ci: dict) -> None:  # type: ignore[type-arg]
    args = ("--ci", "0.9", "--bootstrap", "300", "--seed", "7")
    miou = sample_ci["intervals"]["summary"]["miou"]
    shown = f"{miou['estimate']:.4f} [{miou['low']:.4f}, {miou['high']:.4f}]"
    table = run("score", *SAMPLE_ARGS, *args)
    assert table.exit_code == 0, table.output
    assert "Intervals: 90% BCa bootstrap over 12 images, 300 resamples, seed 7" in table.stdout
    assert any(line.startswith("mIoU ") and shown in line for line in table.stdout.splitlines())
    assert "IoU [90% CI]" in table.stdout
    markdown = run("score", *SAMPLE_ARGS, *args, "--format", "markdown")
    assert markdown.exit_code == 0
    assert markdown.stdout.startswith(f"## segeval: mIoU {shown} · ")
    assert "| Metric | Value [90% CI] |" in markdown.stdout


def test_score_ci_csv_has_bounds_of_every_interval(sample_ci: dict) -> None:  # type: ignore[type-arg]
    result = run("score", *SAMPLE_ARGS, "--ci", "0.9", "--bootstrap", "300", "--seed", "7",
                 "--format", "csv")  # fmt: skip
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["metric", "class_id", "class", "pred_id", "value", "ci_low", "ci_high"]
    by_name = {(row["metric"], row["class_id"]): row for row in rows}
    miou = sample_ci["intervals"]["summary"]["miou"]
    assert float(by_name["miou", ""]["ci_low"]) == miou["low"]
    assert float(by_name["miou", ""]["ci_high"]) == miou["high"]
    road = sample_ci["intervals"]["classes"]["dice"][1]
    assert float(by_name["dice", "1"]["ci_low"]) == road["low"]
    assert by_name["precision", "1"]["ci_low"] == ""  # no interval for precision
    assert by_name["tp", "1"]["ci_high"] == ""


def test_score_ci_is_deterministic_for_any_jobs() -> None:
    args = ("--ci", "--bootstrap", "500", "--seed", "3")
    single = score_json(*args, "--jobs", "1")
    double = score_json(*args, "--jobs", "2")
    assert intervals_only(single) == intervals_only(double)
    other = score_json("--ci", "--bootstrap", "500", "--seed", "4", "--jobs", "2")
    assert other["intervals"]["summary"]["miou"] != single["intervals"]["summary"]["miou"]


def test_score_ci_without_seed_records_the_one_drawn() -> None:
    drawn = score_json("--ci", "--bootstrap", "200")
    seed = drawn["intervals"]["seed"]
    assert 0 <= seed < 2**32
    again = score_json("--ci", "--bootstrap", "200", "--seed", str(seed))
    assert again["intervals"] == drawn["intervals"]


def test_ci_alone_means_95_and_percentile_method() -> None:
    # `--ci` followed by a folder: the level defaults, the folder stays an argument.
    result = run("score", "--ci", *SAMPLE_ARGS, "--format", "json", "--bootstrap", "200",
                 "--seed", "1", "--ci-method", "percentile")  # fmt: skip
    assert result.exit_code == 0, result.output
    intervals = json.loads(result.stdout)["intervals"]
    assert (intervals["confidence"], intervals["method"]) == (0.95, "percentile")


def test_score_ci_with_per_image_keeps_both(sample_ci: dict) -> None:  # type: ignore[type-arg]
    document = score_json("--ci", "--per-image", "--bootstrap", "200", "--seed", "1")
    assert document["config"]["aggregation"] == "dataset+image"
    assert "image_miou" in document["summary"]
    assert "image_miou" not in document["intervals"]["summary"]  # means over images: no CI
    assert document["image_counts"] == sample_ci["image_counts"]


def test_group_by_resamples_groups_and_warns_about_few() -> None:
    result = run("score", *SAMPLE_ARGS, "--format", "json", "--ci", "--bootstrap", "200",
                 "--seed", "1", "--group-by", TWO_GROUPS)  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    intervals = document["intervals"]
    assert (intervals["unit"], intervals["num_units"], intervals["num_images"]) == ("group", 2, 12)
    assert intervals["grouping"] == f"--group-by {TWO_GROUPS!r}"
    warning = "the bootstrap resampled only 2 groups"
    notices = [item for item in document["warnings"] if item["code"] == "few-resampled-units"]
    assert len(notices) == 1
    assert warning in notices[0]["message"]
    assert f"segeval: warning: {warning}" in result.stderr
    assert "[few-resampled-units]" in result.stderr
    strict = run("score", *SAMPLE_ARGS, "--ci", "--bootstrap", "200", "--group-by", TWO_GROUPS,
                 "--strict")  # fmt: skip
    assert strict.exit_code == 2  # --strict: any warning is an error, after the report
    assert "few-resampled-units" in strict.stderr


def test_groups_csv(tmp_path: Path) -> None:
    mapping = tmp_path / "groups.csv"
    keys = [f"street_{i:02d}" for i in range(1, 11)] + ["night/street_11", "night/street_12"]
    mapping.write_text("image,patient\n" + "".join(f"{k},g{i % 4}\n" for i, k in enumerate(keys)))
    document = score_json("--ci", "--bootstrap", "200", "--seed", "1", "--groups-csv", str(mapping))
    assert (document["intervals"]["unit"], document["intervals"]["num_units"]) == ("group", 4)
    mapping.write_text("street_01,g1\n")
    result = run("score", *SAMPLE_ARGS, "--ci", "--groups-csv", str(mapping))
    assert_one_line_error(result, "groups.csv: 11 image keys have no group")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--ci", "--group-by", "(seq"], ["--group-by '(seq' is not a regular expression"]),
        (["--ci", "--group-by", "^nomatch"], ["does not match 12 image keys"]),
        (["--ci", "1.5"], ["--ci must be a confidence level between 0 and 1"]),
        (["--bootstrap", "100"], ["--bootstrap sets up confidence intervals; add --ci"]),
        (["--seed", "1"], ["--seed sets up confidence intervals; add --ci"]),
        (["--group-by", "x"], ["--group-by sets up confidence intervals; add --ci"]),
        (["--ci", "--group-by", "x", "--groups-csv", "g.csv"], ["pass one of them"]),
        (["--ci", "--groups-csv", "missing.csv"], ["missing.csv: cannot open the group mapping"]),
    ],
)
def test_bad_interval_options_are_one_line_errors(args: list[str], fragments: list[str]) -> None:
    assert_one_line_error(run("score", *SAMPLE_ARGS, *args), *fragments)


def test_bad_regex_fails_before_any_image_is_read(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.zeros((2, 2))}, {})  # unpaired: scoring would fail
    result = run("score", str(pred), str(gt), "--ci", "--group-by", "[")
    assert_one_line_error(result, "not a regular expression")


def test_bootstrap_option_rejects_fewer_than_two_resamples() -> None:
    result = run("score", *SAMPLE_ARGS, "--ci", "--bootstrap", "1")
    assert result.exit_code == 2
    assert "--bootstrap" in result.stderr


# ------------------------------------------------------------------ compare --ci


GT_SHAPE = (16, 16)


@pytest.fixture(scope="module")
def two_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Reports of 14 images: `good` predicts far better than `poor`, `tied` as well as `good`."""
    root = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(0)
    for index in range(14):
        name = f"seq{index % 7}_{index:02d}.png"
        gt_mask = rng.integers(0, 3, GT_SHAPE)
        save_mask(root / "gt" / name, gt_mask)
        for kind, error in (("good", 0.1), ("poor", 0.4)):
            wrong = rng.random(GT_SHAPE) < error
            save_mask(root / kind / name, np.where(wrong, (gt_mask + 1) % 3, gt_mask))
    reports = {}
    for kind in ("good", "poor"):
        reports[kind] = root / f"{kind}.json"
        result = run("score", str(root / kind), str(root / "gt"), "--num-classes", "3",
                     "--ci", "--bootstrap", "200", "--seed", "1", "--format", "json",
                     "--output", str(reports[kind]))  # fmt: skip
        assert result.exit_code == 0, result.output
    plain = root / "plain.json"
    result = run("score", str(root / "good"), str(root / "gt"), "--num-classes", "3",
                 "--format", "json", "--output", str(plain))  # fmt: skip
    assert result.exit_code == 0, result.output
    reports["plain"] = plain
    return reports


def compare(reports: dict[str, Path], baseline: str, candidate: str, *args: str) -> Result:
    return run("compare", str(reports[baseline]), str(reports[candidate]), *args)


def test_compare_ci_every_format_parses(two_reports: dict[str, Path]) -> None:
    args = ("--ci", "--bootstrap", "400", "--seed", "2")
    document = json.loads(compare(two_reports, "poor", "good", *args, "--format", "json").stdout)
    miou = next(row for row in document["summary"] if row["name"] == "miou")
    assert miou["delta"] > 0
    assert 0 < miou["ci_low"] <= miou["delta"] <= miou["ci_high"]
    assert miou["p_value"] == pytest.approx(2 / 401)
    assert document["bootstrap"]["n_resamples"] == 400
    assert document["bootstrap"]["num_images"] == 14
    assert all("ci_low" in row for row in document["classes"])

    rows = list(csv.DictReader(io.StringIO(compare(two_reports, "poor", "good", *args,
                                                   "--format", "csv").stdout)))  # fmt: skip
    assert list(rows[0])[-3:] == ["ci_low", "ci_high", "p_value"]
    csv_miou = next(row for row in rows if row["metric"] == "miou")
    assert float(csv_miou["ci_low"]) == miou["ci_low"]
    assert float(csv_miou["p_value"]) == miou["p_value"]

    table = compare(two_reports, "poor", "good", *args)
    assert table.exit_code == 0, table.output
    shown = f"{miou['delta']:+.4f} [{miou['ci_low']:+.4f}, {miou['ci_high']:+.4f}]"
    assert "Paired 95% BCa bootstrap over 14 images, 400 resamples, seed 2" in table.stdout
    assert any(line.startswith("mIoU") and shown in line and line.endswith("0.005")
               for line in table.stdout.splitlines())  # fmt: skip

    markdown = compare(two_reports, "poor", "good", *args, "--format", "markdown").stdout
    assert markdown.startswith(f"## segeval compare: mIoU {miou['candidate']:.4f} ({shown}, p = ")
    assert "| Metric | poor.json | good.json | Delta [95% CI] | p |" in markdown


def test_compare_ci_is_deterministic_for_any_jobs(two_reports: dict[str, Path]) -> None:
    outputs = {
        jobs: compare(two_reports, "poor", "good", "--ci", "--seed", "5", "--jobs", jobs,
                      "--format", "json").stdout
        for jobs in ("1", "2", "3")
    }  # fmt: skip
    assert outputs["1"] == outputs["2"] == outputs["3"]
    assert json.loads(outputs["1"])["bootstrap"]["n_resamples"] == 2000


def test_require_improvement_passes_and_fails(two_reports: dict[str, Path], tmp_path: Path) -> None:
    improve = ("--require-improvement", "miou", "--require-improvement", "iou[1]")
    better = compare(two_reports, "poor", "good", "--ci", "--seed", "1", *improve)
    assert better.exit_code == 0, better.output
    assert "segeval: gate: PASS improvement miou = " in better.stderr
    assert "segeval: gate: PASS improvement iou[class_1] = " in better.stderr

    junit = tmp_path / "gate.xml"
    worse = compare(two_reports, "good", "poor", "--ci", "--seed", "1", "--format", "markdown",
                    "--require-improvement", "miou", "--junit", str(junit))  # fmt: skip
    assert worse.exit_code == 1, worse.output
    assert "segeval: gate: FAIL improvement miou = " in worse.stderr
    assert "**Quality gate: failed**" in worse.stdout
    assert "| improvement miou |" in worse.stdout
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    assert [(case.get("name"), case.find("failure") is not None) for case in cases] == [
        ("improvement miou", True)
    ]

    same = compare(two_reports, "good", "good", "--ci", "--seed", "1",
                   "--require-improvement", "miou")  # fmt: skip
    assert same.exit_code == 1  # no difference is not an improvement
    assert "p = 1" in same.stderr


def test_max_drop_ci_judges_the_pessimistic_bound(two_reports: dict[str, Path]) -> None:
    args = ("--ci", "--seed", "1", "--format", "json")
    drop = json.loads(compare(two_reports, "good", "poor", *args).stdout)
    miou = next(row for row in drop["summary"] if row["name"] == "miou")
    point, worst = -miou["delta"], -miou["ci_low"]  # drops, positive
    allowed = f"miou={(point + worst) / 2}"  # between the point drop and the bound's
    plain = compare(two_reports, "good", "poor", "--max-drop", allowed)
    assert plain.exit_code == 0, plain.output
    judged = compare(two_reports, "good", "poor", *args, "--max-drop", allowed, "--max-drop-ci")
    assert judged.exit_code == 1
    check = json.loads(judged.stdout)["gate"]["checks"][0]
    assert (check["name"], check["passed"]) == ("max-drop-ci miou", False)
    assert check["value"] == pytest.approx(worst)
    loose = compare(two_reports, "good", "poor", *args, "--max-drop", f"miou={worst + 0.01}",
                    "--max-drop-ci")  # fmt: skip
    assert loose.exit_code == 0


def test_compare_ci_with_groups_warns_and_is_wider(two_reports: dict[str, Path]) -> None:
    args = ("--ci", "--seed", "1", "--bootstrap", "500", "--format", "json")
    images = json.loads(compare(two_reports, "poor", "good", *args).stdout)
    grouped = compare(two_reports, "poor", "good", *args, "--group-by", r"^(seq\d)_")
    assert grouped.exit_code == 0, grouped.output
    document = json.loads(grouped.stdout)
    assert (document["bootstrap"]["unit"], document["bootstrap"]["num_units"]) == ("group", 7)
    assert "the bootstrap resampled only 7 groups" in grouped.stderr
    assert [item["code"] for item in document["warnings"]] == ["few-resampled-units"]
    assert "only 7 groups" in document["warnings"][0]["message"]

    def width(doc: dict, name: str) -> float:  # type: ignore[type-arg]
        row = next(row for row in doc["summary"] if row["name"] == name)
        return float(row["ci_high"] - row["ci_low"])

    assert width(document, "miou") != width(images, "miou")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--require-improvement", "miou"], ["--require-improvement judges", "add --ci"]),
        (["--max-drop", "miou=0.1", "--max-drop-ci"], ["--max-drop-ci judges", "add --ci"]),
        (["--ci", "--max-drop-ci"], ["add --max-drop METRIC=DELTA"]),
        (["--ci", "--require-improvement", "mIoU"], ["unknown metric 'mIoU'"]),
        (["--ci", "--require-improvement", "precision[1]"], ["no bootstrap interval"]),
        (["--ci", "--group-by", "("], ["not a regular expression"]),
    ],
)
def test_compare_ci_usage_errors(
    two_reports: dict[str, Path], args: list[str], fragments: list[str]
) -> None:
    assert_one_line_error(compare(two_reports, "poor", "good", *args), *fragments)


def test_compare_ci_needs_reports_scored_with_ci(two_reports: dict[str, Path]) -> None:
    result = compare(two_reports, "plain", "good", "--ci")
    assert_one_line_error(result, "plain.json carries no per-image counts", "score it with --ci")
    # Without --ci a report with counts compares as before.
    assert compare(two_reports, "plain", "good").exit_code == 0


def test_compare_refuses_per_image_counts_that_disagree_with_the_matrix(
    two_reports: dict[str, Path], tmp_path: Path
) -> None:
    document = json.loads(two_reports["good"].read_text())
    table = ImageCountTable.from_dict(document["image_counts"])
    counts = table.counts.copy()
    counts[0, 0, 1] += 1  # one more true positive than the confusion matrix holds
    document["image_counts"] = ImageCountTable(table.keys, counts).to_dict()
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    result = run("compare", str(two_reports["poor"]), str(edited), "--ci")
    assert_one_line_error(result, "edited.json", "image_counts' tp do not add up")


# ------------------------------------------------------------------ library


def test_library_paired_intervals_use_the_shared_images(make_dataset: MaskWriter) -> None:
    gts = {f"img{i}": np.arange(16).reshape(4, 4) % 3 for i in range(5)}
    preds = {name: np.zeros((4, 4)) for name in gts}
    pred, gt = make_dataset(preds, gts)
    full = evaluate(pred, gt, ScoreOptions(num_classes=3, image_counts=True))
    assert full.image_counts is not None
    trimmed = replace(full, image_counts=full.image_counts.select(["img0", "img1", "img2"]))
    result, warnings = paired_intervals(full, trimmed, IntervalOptions(seed=0, n_resamples=100))
    assert result.num_images == 3
    assert [notice.code for notice in warnings] == ["few-resampled-units", "images-not-shared"]
    assert "resampled only 3 images" in warnings[0].message
    assert "left out: 2 only in the baseline, 0 only in the candidate" in warnings[1].message
    comparison = compare_reports(full, full, intervals=IntervalOptions(seed=0, n_resamples=100))
    assert comparison.paired is not None
    miou = next(row for row in comparison.summary if row.name == "miou")
    assert miou.difference is not None
    assert (miou.difference.estimate, miou.difference.p_value) == (0.0, 1.0)


def test_with_intervals_needs_counts(make_dataset: MaskWriter) -> None:
    pred, gt = make_dataset({"a": np.eye(4)}, {"a": np.eye(4)})
    report = evaluate(pred, gt, ScoreOptions(num_classes=2))
    with pytest.raises(UsageError, match="no per-image counts"):
        with_intervals(report, IntervalOptions())
    with pytest.raises(IncomparableReportsError, match="the baseline report carries no"):
        paired_intervals(report, report, IntervalOptions())


# ------------------------------------------------------------------ CamVid (the acceptance run)


@pytest.mark.skipif(not CAMVID.is_dir(), reason="CamVid data not present beside the repo")
def test_camvid_sequence_level_interval_is_wider(tmp_path: Path) -> None:
    reports = {}
    for name in ("weak", "hgb"):
        reports[name] = tmp_path / f"{name}.json"
        result = run("score", str(CAMVID / f"pred_{name}"), str(CAMVID / "testannot"),
                     "--num-classes", "11", "--ignore-index", "11", "--ci", "--seed", "18",
                     "--format", "json", "--output", str(reports[name]))  # fmt: skip
        assert result.exit_code == 0, result.output
    base = ("compare", str(reports["weak"]), str(reports["hgb"]), "--ci", "--seed", "18")
    widths = {}
    for label, extra in (("images", ()), ("sequences", ("--group-by", "^([^_]+)_"))):
        result = run(*base, "--format", "json", *extra)
        assert result.exit_code == 0, result.output
        miou = next(row for row in json.loads(result.stdout)["summary"] if row["name"] == "miou")
        assert miou["delta"] == pytest.approx(0.1278, abs=5e-5)
        assert 0 < miou["ci_low"] < miou["delta"] < miou["ci_high"]
        assert miou["p_value"] < 0.001
        widths[label] = miou["ci_high"] - miou["ci_low"]
    assert widths["sequences"] > 2 * widths["images"]
    # The README shows this very run.
    readme = (REPO / "README.md").read_text()
    start = readme.index("```text\nsegeval compare: weak.json") + len("```text\n")
    shown, gate = readme[start : readme.index("```", start)].split("...\n")
    result = run(*base, "--require-improvement", "miou")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(shown)
    assert result.stderr == gate


def test_terminal_comparison_with_intervals_draws_every_column(
    two_reports: dict[str, Path],
) -> None:
    from rich.console import Console

    from segeval.compare import load_report
    from segeval.render.terminal import print_comparison

    comparison = compare_reports(
        load_report(two_reports["poor"]),
        load_report(two_reports["good"]),
        intervals=IntervalOptions(seed=1, n_resamples=200),
    )
    buffer = io.StringIO()
    print_comparison(comparison, Console(file=buffer, width=250))
    drawn = buffer.getvalue()
    assert "Paired 95% BCa bootstrap over 14 images" in drawn
    assert "Dice delta [95% CI]" in drawn
    assert "Dice p" in drawn


def test_ci_with_categories_keeps_every_csv_row_one_width(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    for index in range(4):
        gt_mask = rng.integers(0, 34, size=(20, 24)).astype(np.uint8)
        keep = rng.random(gt_mask.shape) < 0.6
        pred_mask = np.where(keep, gt_mask, rng.integers(0, 34, size=gt_mask.shape))
        save_mask(tmp_path / "gt" / f"{index}.png", gt_mask)
        save_mask(tmp_path / "pred" / f"{index}.png", pred_mask.astype(np.uint8))
    result = run("score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--preset", "cityscapes",
                 "--ci", "--bootstrap", "100", "--seed", "1", "--format", "csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert {len(row) for row in rows} == {7}
    categories = [row for row in rows if row[0] == "category_iou"]
    assert len(categories) == 7
    assert all(row[5:] == ["", ""] for row in categories)  # categories have no interval
    assert not any(row[0] == "category_miou" and row[5] for row in rows)
