"""The CI gate: thresholds, regression checks, compare, Markdown and JUnit output."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from segeval import __version__
from segeval.cli import cli
from segeval.compare import compare_reports
from segeval.core.confusion import ConfusionMatrix
from segeval.core.metrics import MetricOptions
from segeval.errors import IncomparableReportsError, ThresholdError
from segeval.gate import (
    MaxDrop,
    Threshold,
    check_regressions,
    check_thresholds,
    load_thresholds,
)
from segeval.render.compare import render_comparison
from segeval.report import PairingSummary, Report, build_report
from tests.helpers import SAMPLE_ARGS, assert_golden


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture(scope="module")
def sample_miou() -> float:
    document = json.loads(run("score", *SAMPLE_ARGS, "--format", "json").stdout)
    return float(document["summary"]["miou"])


def test_threshold_just_below_passes_and_just_above_fails(sample_miou: float) -> None:
    below = run("score", *SAMPLE_ARGS, "--fail-under", f"miou={sample_miou - 1e-4}")
    assert below.exit_code == 0
    assert "segeval: gate: PASS miou" in below.stderr
    above = run("score", *SAMPLE_ARGS, "--fail-under", f"miou={sample_miou + 1e-4}")
    assert above.exit_code == 1
    assert "segeval: gate: FAIL miou = 0.8096 (required >= 0.8097)" in above.stderr
    assert "segeval: gate FAILED (1 of 1)" in above.stderr
    assert above.stdout.startswith("segeval ")  # the report is still printed


def test_each_threshold_form() -> None:
    result = run(
        "score", *SAMPLE_ARGS, "--format", "json",
        "--fail-under", "iou[road]=0.9",
        "--fail-under", "dice[4]=0.8",
        "--fail-under", "min_iou=0.6",
        "--fail-under", "min_dice=0.7",
        "--fail-over", "kappa=0.99",
    )  # fmt: skip
    assert result.exit_code == 1
    gate = json.loads(result.stdout)["gate"]
    outcome = {check["name"]: check["passed"] for check in gate["checks"]}
    assert outcome == {
        "iou[road]": True, "dice[vehicle]": False, "min_iou": True, "min_dice": True, "kappa": True,
    }  # fmt: skip
    assert gate["passed"] is False
    assert gate["checks"][0]["name"] == "dice[vehicle]"  # failed checks first
    assert next(c for c in gate["checks"] if c["name"] == "kappa")["comparison"] == "<="


def test_undefined_metric_fails_its_check() -> None:
    result = run("score", *SAMPLE_ARGS, "--fail-under", "iou[water]=0.1")
    assert result.exit_code == 1
    assert (
        "FAIL iou[water] = undefined (required >= 0.1000); the metric is undefined" in result.stderr
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "mIoU=0.7",
            "unknown metric 'mIoU' (did you mean 'miou'?); valid metrics: iou[CLASS], dice[CLASS]",
        ),
        ("iou[sky]=0.7", "unknown class 'sky'; use a class id 0..5 or one of: background"),
        ("iou=0.7", "write it as iou[CLASS]"),
        ("miou", "expected METRIC=VALUE"),
        ("miou=high", "'high' is not a number"),
        ("image_miou=0.5", "image_miou is a per-image metric; score with --per-image"),
    ],
)
def test_bad_thresholds_are_usage_errors(spec: str, message: str) -> None:
    result = run("score", *SAMPLE_ARGS, "--fail-under", spec)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_thresholds_file_toml_and_json(tmp_path: Path, sample_miou: float) -> None:
    toml = tmp_path / "gate.toml"
    toml.write_text(f'[fail_under]\nmiou = {sample_miou - 0.01}\n"iou[vehicle]" = 0.7\n')
    result = run("score", *SAMPLE_ARGS, "--thresholds", str(toml))
    assert result.exit_code == 1
    assert "FAIL iou[vehicle]" in result.stderr
    assert "PASS miou" in result.stderr
    as_json = tmp_path / "gate.json"
    as_json.write_text(json.dumps({"fail_under": {"miou": 0.5}, "fail_over": {"miou": 0.99}}))
    assert [t.direction for t in load_thresholds(as_json)] == ["under", "over"]
    assert run("score", *SAMPLE_ARGS, "--thresholds", str(as_json)).exit_code == 0


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.toml", "[fail_under\nmiou = 1", "invalid TOML"),
        ("a.json", "{", "invalid JSON"),
        ("a.toml", "[thresholds]\nmiou = 0.5\n", "unknown section 'thresholds'"),
        ("a.toml", '[fail_under]\nmiou = "high"\n', "fail_under.miou = 'high' is not a finite"),
        ("a.json", "[]", "expected fail_under and/or fail_over tables"),
        ("a.json", '{"fail_under": 3}', "fail_under must be a table"),
    ],
)
def test_thresholds_file_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ThresholdError, match=re.escape(message)):
        load_thresholds(path)
    result = run("score", *SAMPLE_ARGS, "--thresholds", str(path))
    assert result.exit_code == 2


def test_junit_file_parses_with_one_case_per_check(tmp_path: Path, sample_miou: float) -> None:
    junit = tmp_path / "gate.xml"
    result = run(
        "score", *SAMPLE_ARGS, "--junit", str(junit),
        "--fail-under", f"miou={sample_miou + 0.01}", "--fail-under", "iou[road]=0.5",
        "--fail-under", "iou[vehicle]=0.9",
    )  # fmt: skip
    assert result.exit_code == 1
    root = ElementTree.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    cases = {case.get("name"): case.find("failure") for case in suite.iter("testcase")}
    assert set(cases) == {"miou", "iou[road]", "iou[vehicle]"}
    assert cases["iou[road]"] is None
    failure = cases["iou[vehicle]"]
    assert failure is not None
    assert failure.get("message", "").startswith("iou[vehicle] = 0.6365 (required >= 0.9000)")


def test_markdown_and_junit_match_golden_files(tmp_path: Path) -> None:
    junit = tmp_path / "gate.xml"
    result = run(
        "score", *SAMPLE_ARGS, "--format", "markdown", "--junit", str(junit),
        "--fail-under", "miou=0.8", "--fail-under", "iou[vehicle]=0.7",
    )  # fmt: skip
    assert result.exit_code == 1
    markdown = result.stdout.replace(f"segeval {__version__}:", "segeval X:")
    assert_golden("sample_gate.md", markdown)
    assert_golden("sample_gate.junit.xml", junit.read_text())
    assert "<details><summary>Per class (6 classes)</summary>" in markdown
    assert markdown.index("**FAIL**") < markdown.index("| pass |")  # failed checks first


def test_github_summary_is_appended(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("previous step\n")
    result = run(
        "score", *SAMPLE_ARGS, "--github-summary", "--fail-under", "miou=0.5",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert result.exit_code == 0
    text = summary.read_text()
    assert text.startswith("previous step\n## segeval: mIoU 0.8096")
    assert "**Quality gate: passed**" in text
    unset = run("score", *SAMPLE_ARGS, "--github-summary", env={"GITHUB_STEP_SUMMARY": ""})
    assert "GITHUB_STEP_SUMMARY is not set" in unset.stderr


# ------------------------------------------------------------------ compare


def _report(counts: list[list[int]], images: str = "abc", **config_changes: Any) -> Report:
    """A two-class report of four images; ``config_changes`` go to its ScoreConfig."""
    report = build_report(ConfusionMatrix.from_counts(np.array(counts)), class_names=["bg", "car"])
    config = replace(report.config, **config_changes)
    return replace(
        report, config=config, num_images=4, pairing=PairingSummary(images_digest=images)
    )


BASE = [[8, 0], [0, 8]]
WORSE = [[8, 0], [2, 6]]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"ignore_index": (0,)},
            r"ignore values differ \(\[255\] in baseline, \[0\] in candidate\)",
        ),
        ({"aggregation": "dataset+image"}, r"aggregations \(--per-image\) differ"),
        ({"metric_options": MetricOptions(empty="zero")}, r"absent-class policies \(--empty\)"),
        ({"reduce_zero_label": True}, "--reduce-zero-label settings differ"),
        ({"images": "other"}, "image sets differ"),
    ],
)
def test_incomparable_reports_are_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(IncomparableReportsError, match=f"not comparable: {field}"):
        compare_reports(_report(BASE), _report(WORSE, **changes))


def test_classes_named_differently_are_matched_by_id_with_a_warning() -> None:
    named = build_report(
        ConfusionMatrix.from_counts(np.array(WORSE)), class_names=["background", "vehicle"]
    )
    renamed = replace(
        _report(WORSE),
        config=replace(named.config, classes="preset mine"),
        classes=named.classes,
    )
    comparison = compare_reports(_report(BASE), renamed)
    [warning] = comparison.warnings
    assert warning.code == "classes-matched-by-id"
    assert warning.message == (
        "baseline and candidate name their classes differently (bg = background, car = "
        "vehicle); their class definitions differ too (classes None vs 'preset mine'); classes "
        "were matched by id and are shown with candidate's names: check that each id means the "
        "same class in both."
    )
    assert [row.name for row in comparison.classes[:2]] == ["iou[background]", "dice[background]"]
    car = next(row for row in comparison.classes if row.name == "iou[vehicle]")
    assert (car.baseline, car.candidate) == (1.0, 0.75)
    # The same names from another definition: matched by id, and said so.
    [origin] = compare_reports(_report(BASE), _report(WORSE, classes="mine.toml")).warnings
    assert origin.code == "class-definitions-differ"
    assert "(classes None vs 'mine.toml')" in origin.message


def test_a_refusal_names_what_differs_besides_the_class_names() -> None:
    other = _report(WORSE, class_names=("x", "y"), ignore_index=(0,))
    with pytest.raises(IncomparableReportsError) as caught:
        compare_reports(_report(BASE), other, baseline_name="old.json", candidate_name="new.json")
    assert str(caught.value) == (
        "the reports are not comparable: ignore values differ ([255] in old.json, [0] in "
        "new.json); the class names differ too, which alone would only be a warning (classes "
        "are matched by id); score both the same way."
    )
    with pytest.raises(IncomparableReportsError, match="class counts differ"):
        compare_reports(_report(BASE), _report(WORSE, num_classes=3))


def test_different_images_can_be_allowed() -> None:
    with pytest.raises(
        IncomparableReportsError,
        match=r"image sets differ \(4 vs 4 images, different files\).*\(--allow-different-images",
    ):
        compare_reports(_report(BASE), _report(WORSE, images="x"))
    allowed = compare_reports(
        _report(BASE), _report(WORSE, images="x"), allow_different_images=True
    )
    assert allowed.candidate.pairing.images_digest == "x"
    # Allowing another image set changes no number: the rows are those of the same set.
    same = compare_reports(_report(BASE), _report(WORSE))
    assert allowed.summary == same.summary
    assert allowed.classes == same.classes
    miou = next(row for row in allowed.summary if row.name == "miou")
    assert miou.baseline == 1.0
    assert miou.candidate == pytest.approx((0.8 + 0.75) / 2)  # bg 8/10, car 6/8
    assert miou.improved is False


def test_max_drop_forms() -> None:
    baseline, candidate = _report(BASE), _report(WORSE)
    result = check_regressions(
        baseline, candidate,
        [MaxDrop("miou", 0.2), MaxDrop("iou[car]", 0.2), MaxDrop("any-class-iou", 0.1)],
    )  # fmt: skip
    # car IoU 1 -> 0.75 (drop 0.25), bg IoU 1 -> 0.8 (drop 0.2); mIoU drop 0.225.
    # any-class-iou expands to one check per class.
    names = sorted(check.name for check in result.checks)
    assert names == ["max-drop iou[bg]", "max-drop iou[car]", "max-drop iou[car]", "max-drop miou"]
    assert [round(check.value, 4) for check in result.checks if check.name.endswith("[bg]")] == [
        0.2
    ]
    assert not any(check.passed for check in result.checks)
    relaxed = check_regressions(baseline, candidate, [MaxDrop("any-class-iou", 0.25)])
    assert relaxed.passed
    with pytest.raises(ThresholdError, match="any-class-NAME"):
        check_regressions(baseline, candidate, [MaxDrop("any-class-miou", 0.1)])


def test_compare_cli_exit_codes_and_formats(tmp_path: Path) -> None:
    baseline, candidate = tmp_path / "base.json", tmp_path / "cand.json"
    baseline.write_text(json.dumps(_report(BASE).to_dict()))
    candidate.write_text(json.dumps(_report(WORSE).to_dict()))
    worse = run("compare", str(baseline), str(candidate), "--max-drop", "miou=0.01")
    assert worse.exit_code == 1
    assert "FAIL max-drop miou = 0.2250" in worse.stderr
    assert "-0.2250" in worse.stdout
    better = run("compare", str(candidate), str(baseline), "--max-drop", "miou=0.01")
    assert better.exit_code == 0
    document = json.loads(run("compare", str(baseline), str(candidate), "--format", "json").stdout)
    assert document["schema"] == "segeval/compare/v1"
    miou = next(row for row in document["summary"] if row["name"] == "miou")
    assert (miou["delta"], miou["improved"]) == (pytest.approx(-0.225), False)
    rows = run("compare", str(baseline), str(candidate), "--format", "csv").stdout.splitlines()
    assert rows[0] == "metric,class,baseline,candidate,delta"
    assert any(row.startswith("iou,car,1.0,0.75,-0.25") for row in rows)
    not_a_report = tmp_path / "other.json"
    not_a_report.write_text('{"schema": "something"}')
    refused = run("compare", str(baseline), str(not_a_report))
    assert refused.exit_code == 2
    assert "other.json: expected a segeval/score/v1 report" in refused.stderr


def test_compare_markdown_matches_golden() -> None:
    comparison = compare_reports(
        _report(BASE), _report(WORSE), max_drops=[MaxDrop("miou", 0.01)],
        baseline_name="release.json", candidate_name="candidate.json",
    )  # fmt: skip
    assert_golden("compare.md", render_comparison(comparison, "markdown"))


def test_checks_are_pure_functions_of_reports() -> None:
    baseline, candidate = _report(BASE), _report(WORSE)
    before = [json.dumps(report.to_dict(), sort_keys=True) for report in (baseline, candidate)]
    thresholds = [Threshold("miou", 0.7), Threshold("iou[car]", 0.8)]
    drops = [MaxDrop("miou", 0.25), MaxDrop("any-class-iou", 0.1)]
    gate = check_thresholds(candidate, thresholds)
    regressions = check_regressions(baseline, candidate, drops)
    # The values are the report's own, failed checks first.
    assert [(check.name, check.passed) for check in gate.checks] == [
        ("iou[car]", False),
        ("miou", True),
    ]
    assert [check.value for check in gate.checks] == [
        candidate.classes[1].iou,
        candidate.summary["miou"],
    ]
    assert [check.value for check in gate.checks] == pytest.approx([0.75, 0.775])
    drop = {check.name: (round(check.value, 4), check.passed) for check in regressions.checks}
    assert drop == {
        "max-drop miou": (0.225, True),
        "max-drop iou[bg]": (0.2, False),
        "max-drop iou[car]": (0.25, False),
    }
    # Calling again gives the same result, and neither report was changed or given a gate.
    assert check_thresholds(candidate, thresholds) == gate
    assert check_regressions(baseline, candidate, drops) == regressions
    after = [json.dumps(report.to_dict(), sort_keys=True) for report in (baseline, candidate)]
    assert after == before
    assert baseline.gate is None
    assert candidate.gate is None
