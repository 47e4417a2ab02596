"""Report: JSON round trip, strict JSON, schema checks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from segeval.core.confusion import ConfusionMatrix
from segeval.core.metrics import MetricOptions
from segeval.errors import IncomparableReportsError
from segeval.render import render
from segeval.report import Report, build_report


def _report() -> Report:
    cm = ConfusionMatrix.from_counts(
        np.array([[5, 1, 0], [2, 3, 0], [0, 0, 0]]), missed=np.array([1, 0, 0])
    )
    return build_report(cm, class_names=["a", "b", "c"], metric_options=MetricOptions(beta=2.0))


def test_round_trip_through_json() -> None:
    report = _report()
    document = json.loads(json.dumps(report.to_dict()))
    again = Report.from_dict(document)
    assert again.to_dict() == report.to_dict()
    assert math.isnan(again.classes[2].iou)
    assert again.config.metric_options.beta == 2.0
    np.testing.assert_array_equal(again.confusion_matrix, report.confusion_matrix)


def test_json_is_strict_and_full_precision() -> None:
    text = render(_report(), "json")
    document = json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in JSON"))
    assert document["classes"][2]["iou"] is None
    assert document["classes"][0]["iou"] == 5 / 9  # no rounding
    assert document["confusion_matrix"]["missed"] == [1, 0, 0]


def test_counts_beyond_2_pow_53_stay_exact_in_json() -> None:
    big = 2**60 + 1
    report = build_report(
        ConfusionMatrix.from_counts(np.array([[big, 0], [0, 1]], dtype=np.uint64))
    )
    document = json.loads(render(report, "json"))
    assert document["confusion_matrix"]["counts"][0][0] == big
    assert document["classes"][0]["support"] == big


def test_from_dict_refuses_other_documents() -> None:
    with pytest.raises(
        IncomparableReportsError, match="expected a segeval/score/v1 report, found schema 'other'"
    ):
        Report.from_dict({"schema": "other"})


def test_every_metric_policy_is_recorded_and_read_back() -> None:
    options = MetricOptions(fscore="precision_recall", gt_empty="nan", empty_mean="zero")
    cm = ConfusionMatrix(2, pred_ignore="error")
    cm.update(np.array([[0, 1]]), np.array([[0, 1]]))
    report = build_report(cm, metric_options=options)
    config = report.to_dict()["config"]
    assert (config["fscore"], config["gt_empty"], config["empty_mean"]) == (
        "precision_recall",
        "nan",
        "zero",
    )
    assert config["pred_ignore"] == "error"
    assert Report.from_dict(json.loads(json.dumps(report.to_dict()))).config == report.config


def test_reports_written_before_the_policies_read_as_the_defaults() -> None:
    document = _report().to_dict()
    for key in ("fscore", "gt_empty", "empty_mean", "pred_ignore"):
        del document["config"][key]
    config = Report.from_dict(document).config
    assert config.metric_options.fscore == "counts"
    assert (config.metric_options.gt_empty, config.metric_options.empty_mean) == ("score", "nan")
    assert config.pred_ignore == "miss"
