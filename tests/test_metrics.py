"""Metrics from counts: hand-computed cases, scikit-learn as oracle, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    f1_score,
    fbeta_score,
    jaccard_score,
    precision_recall_fscore_support,
)

from segeval.core.confusion import ConfusionMatrix
from segeval.core.metrics import (
    DATASET_SUMMARY_METRICS,
    PER_CLASS_METRICS,
    REGISTRY,
    EmptyPolicy,
    MetricOptions,
    class_metrics,
    compute_metrics,
    counts_from_matrix,
    normalize_matrix,
    summary_arrays,
    summary_metrics,
)
from segeval.errors import UsageError
from segeval.render import render
from segeval.report import build_report

# A hand-worked 3-class matrix (rows = GT, columns = prediction):
#         pred0 pred1 pred2
# gt0       5     1     0      support 6
# gt1       2     3     1      support 6
# gt2       0     0     0      support 0 (predicted once: a pure false positive)
HAND = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 0]], dtype=np.uint64)


def test_hand_computed_per_class_values() -> None:
    m = class_metrics(*counts_from_matrix(HAND))
    # class 0: TP 5, FP 2, FN 1; class 1: TP 3, FP 1, FN 3; class 2: TP 0, FP 1, FN 0
    assert m.tp.tolist() == [5, 3, 0]
    assert m.fp.tolist() == [2, 1, 1]
    assert m.fn.tolist() == [1, 3, 0]
    np.testing.assert_allclose(m.iou, [5 / 8, 3 / 7, 0.0])
    np.testing.assert_allclose(m.dice, [10 / 13, 6 / 10, 0.0])
    np.testing.assert_allclose(m.precision, [5 / 7, 3 / 4, 0.0])
    assert m.recall[:2].tolist() == [5 / 6, 3 / 6]
    assert math.isnan(m.recall[2])  # no ground truth: undefined, not 0


def test_hand_computed_summary() -> None:
    s = summary_metrics(class_metrics(*counts_from_matrix(HAND)))
    assert s["pixel_accuracy"] == pytest.approx(8 / 12)
    assert s["miou"] == pytest.approx((5 / 8 + 3 / 7 + 0) / 3)
    assert s["mdice"] == pytest.approx((10 / 13 + 0.6 + 0) / 3)
    assert s["mean_accuracy"] == pytest.approx((5 / 6 + 0.5) / 2)
    assert s["fwiou"] == pytest.approx(0.5 * 5 / 8 + 0.5 * 3 / 7)
    assert s["min_iou"] == 0.0
    # kappa: p_o = 8/12, p_e = (6*7 + 6*4 + 0*1) / 144
    p_e = (6 * 7 + 6 * 4) / 144
    assert s["kappa"] == pytest.approx((8 / 12 - p_e) / (1 - p_e))


def test_class_absent_from_both_sides_is_nan_and_left_out() -> None:
    counts = np.array([[4, 0], [0, 0]], dtype=np.uint64)
    result = compute_metrics(*counts_from_matrix(counts))
    assert math.isnan(result.per_class.iou[1])
    assert result.summary["miou"] == 1.0
    assert result.classes_averaged == 1


@pytest.mark.parametrize(
    ("policy", "value", "miou"), [("nan", math.nan, 1.0), ("zero", 0.0, 0.5), ("one", 1.0, 1.0)]
)
def test_empty_policy(policy: EmptyPolicy, value: float, miou: float) -> None:
    counts = np.array([[4, 0], [0, 0]], dtype=np.uint64)
    result = compute_metrics(*counts_from_matrix(counts), MetricOptions(empty=policy))
    for name in ("iou", "dice", "precision", "recall", "fbeta"):
        got = getattr(result.per_class, name)[1]
        assert (math.isnan(got) and math.isnan(value)) or got == value
    assert result.summary["miou"] == miou


@pytest.mark.parametrize("policy", ["nan", "zero", "one"])
def test_false_positives_on_an_absent_class_always_score_zero(policy: EmptyPolicy) -> None:
    counts = np.array([[3, 1], [0, 0]], dtype=np.uint64)
    m = class_metrics(*counts_from_matrix(counts), MetricOptions(empty=policy))
    assert m.iou[1] == 0.0
    assert m.dice[1] == 0.0


def test_zero_division_zero_fills_one_sided_ratios() -> None:
    counts = np.array([[3, 1], [0, 0]], dtype=np.uint64)
    m = class_metrics(*counts_from_matrix(counts), MetricOptions(zero_division="zero"))
    assert m.recall[1] == 0.0


def test_missed_pixels_count_as_false_negatives_only() -> None:
    tp, fp, fn = counts_from_matrix(np.array([[2, 0], [0, 2]]), missed=np.array([2, 0]))
    assert fn.tolist() == [2, 0]
    assert fp.tolist() == [0, 0]
    s = summary_metrics(class_metrics(tp, fp, fn))
    assert s["pixel_accuracy"] == pytest.approx(4 / 6)


def test_excluded_classes_leave_the_means_but_not_pixel_accuracy() -> None:
    options = MetricOptions(exclude=frozenset({0}))
    result = compute_metrics(*counts_from_matrix(HAND), options)
    assert result.summary["miou"] == pytest.approx((3 / 7 + 0) / 2)
    assert result.summary["pixel_accuracy"] == pytest.approx(8 / 12)
    assert result.summary["fwiou"] == pytest.approx(3 / 7)
    assert result.classes_averaged == 2


def test_normalize_matrix_variants() -> None:
    counts = np.array([[3, 1], [0, 0]])
    np.testing.assert_allclose(normalize_matrix(counts, how="gt"), [[0.75, 0.25], [np.nan, np.nan]])
    np.testing.assert_allclose(normalize_matrix(counts, how="pred"), [[1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalize_matrix(counts, how="all"), [[0.75, 0.25], [0.0, 0.0]])
    np.testing.assert_allclose(
        normalize_matrix(counts, np.array([4, 0]), how="gt")[0], [3 / 8, 1 / 8]
    )
    with pytest.raises(UsageError):
        normalize_matrix(counts, how="rows")


def test_options_are_validated() -> None:
    with pytest.raises(UsageError, match="empty must be"):
        MetricOptions(empty="maybe")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="beta must be a positive"):
        MetricOptions(beta=0)


def test_registry_names_every_summary_value_and_directions() -> None:
    summary = summary_metrics(class_metrics(*counts_from_matrix(HAND)))
    # Boundary metrics (spec.option) come from per-image statistics, not from the matrix.
    counted = {name: spec for name, spec in REGISTRY.items() if spec.option is None}
    summary_names = {
        name
        for name, spec in counted.items()
        if not spec.per_class and not spec.per_image and not spec.per_category
    }
    assert set(summary) == summary_names
    assert all(spec.formula for spec in REGISTRY.values())
    per_class = {name for name, spec in counted.items() if spec.per_class}
    # Every dataset-level per-class metric is computed, reported and written as CSV rows.
    values = class_metrics(*counts_from_matrix(HAND)).values
    assert set(values) == set(PER_CLASS_METRICS)
    assert set(values) == per_class - {"image_iou", "image_dice", "category_iou"}
    report = build_report(ConfusionMatrix.from_counts(HAND))
    assert set(PER_CLASS_METRICS) <= set(report.to_dict()["classes"][0])
    csv_names = {line.split(",")[0] for line in render(report, "csv").splitlines()}
    assert set(PER_CLASS_METRICS) <= csv_names


# ------------------------------------------------------------- sklearn oracle


def _random_labels(seed: int, num_classes: int, size: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, num_classes, size=size)
    # Predictions agree most of the time, so the metrics are far from trivial.
    pred = np.where(rng.random(size) < 0.6, gt, rng.integers(0, num_classes, size=size))
    return gt, pred


@pytest.mark.parametrize("seed", range(5))
def test_per_class_and_averages_match_sklearn(seed: int) -> None:
    num_classes = 6
    gt, pred = _random_labels(seed, num_classes)
    # Make one class absent from GT but predicted, another absent from both.
    pred[pred == 5] = 4
    gt[gt == 5] = 0
    gt[gt == 4] = 3
    labels = list(range(num_classes))
    cm = ConfusionMatrix(num_classes, ignore_index=None)
    cm.update(pred.reshape(40, 100).astype(np.uint8), gt.reshape(40, 100).astype(np.uint8))
    result = cm.metrics()
    m = result.per_class
    present = [c for c in labels if c in set(gt) | set(pred)]
    np.testing.assert_allclose(
        m.iou[present], jaccard_score(gt, pred, labels=present, average=None)
    )
    np.testing.assert_allclose(m.dice[present], f1_score(gt, pred, labels=present, average=None))
    p, r, f, support = precision_recall_fscore_support(
        gt, pred, labels=labels, zero_division=np.nan
    )
    np.testing.assert_allclose(m.precision, p, equal_nan=True)
    np.testing.assert_allclose(m.recall, r, equal_nan=True)
    np.testing.assert_allclose(m.dice, f, equal_nan=True)
    np.testing.assert_array_equal(m.support, support)
    s = result.summary
    iou_average = {"macro": "miou", "micro": "micro_iou", "weighted": "fwiou"}
    for average, name in iou_average.items():
        expected = jaccard_score(gt, pred, labels=present, average=average)
        assert s[name] == pytest.approx(expected), average
    assert s["pixel_accuracy"] == pytest.approx(accuracy_score(gt, pred))
    assert s["kappa"] == pytest.approx(cohen_kappa_score(gt, pred))
    assert s["miou"] == pytest.approx(jaccard_score(gt, pred, labels=present, average="macro"))
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            gt, pred, labels=present, average=average, zero_division=np.nan
        )
        assert s[f"{average}_precision"] == pytest.approx(p), average
        assert s[f"{average}_recall"] == pytest.approx(r), average
        assert s[f"{average}_f1"] == pytest.approx(f), average


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_fbeta_matches_sklearn(beta: float) -> None:
    gt, pred = _random_labels(11, 4)
    cm = ConfusionMatrix(4, ignore_index=None)
    cm.update(pred.reshape(40, 100).astype(np.uint8), gt.reshape(40, 100).astype(np.uint8))
    result = cm.metrics(MetricOptions(beta=beta))
    np.testing.assert_allclose(
        result.per_class.fbeta, fbeta_score(gt, pred, beta=beta, average=None)
    )
    assert result.summary["macro_fbeta"] == pytest.approx(
        fbeta_score(gt, pred, beta=beta, average="macro")
    )
    assert result.summary["weighted_fbeta"] == pytest.approx(
        fbeta_score(gt, pred, beta=beta, average="weighted")
    )
    assert result.summary["micro_fbeta"] == pytest.approx(
        fbeta_score(gt, pred, beta=beta, average="micro")
    )


# ------------------------------------------------------------------ properties

matrices = hnp.arrays(
    np.uint64, st.integers(1, 8).map(lambda c: (c, c)), elements=st.integers(0, 10**12)
)


@settings(max_examples=200, deadline=None)
@given(matrices)
def test_every_metric_lies_in_unit_interval(counts: np.ndarray) -> None:
    result = compute_metrics(*counts_from_matrix(counts))
    for name in ("iou", "dice", "precision", "recall", "fbeta"):
        values = getattr(result.per_class, name)
        finite = values[~np.isnan(values)]
        assert np.all((finite >= 0) & (finite <= 1)), name
    for name, value in result.summary.items():
        if name != "kappa" and not math.isnan(value):
            assert 0 <= value <= 1 + 1e-12, name


@settings(max_examples=200, deadline=None)
@given(matrices)
def test_dice_equals_2iou_over_1_plus_iou(counts: np.ndarray) -> None:
    m = class_metrics(*counts_from_matrix(counts))
    np.testing.assert_allclose(m.dice, 2 * m.iou / (1 + m.iou), rtol=1e-12, equal_nan=True)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.uint64, st.integers(1, 8), elements=st.integers(0, 10**9)))
def test_perfect_prediction_scores_one(diagonal: np.ndarray) -> None:
    result = compute_metrics(*counts_from_matrix(np.diag(diagonal)))
    present = diagonal > 0
    for name in ("iou", "dice", "precision", "recall"):
        assert np.all(getattr(result.per_class, name)[present] == 1.0)
    if present.any():
        for name in ("miou", "mdice", "pixel_accuracy", "mean_accuracy", "fwiou", "min_iou"):
            assert result.summary[name] == 1.0, name


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registry_metric_is_documented(name: str) -> None:
    from tests.helpers import REPO

    assert f"`{name}" in (REPO / "docs" / "metrics.md").read_text()


def test_specificity_matches_a_one_vs_rest_confusion_matrix() -> None:
    from sklearn.metrics import confusion_matrix as sk_confusion

    rng = np.random.default_rng(3)
    gt, pred = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    values = class_metrics(*counts_from_matrix(sk_confusion(gt, pred, labels=range(4)))).values
    for label in range(4):
        tn, fp, _, _ = sk_confusion(gt == label, pred == label, labels=[False, True]).ravel()
        assert values["specificity"][label] == tn / (tn + fp)


def test_volume_measures_match_their_definitions_on_masks() -> None:
    from sklearn.metrics import confusion_matrix as sk_confusion

    rng = np.random.default_rng(8)
    gt, pred = rng.integers(0, 3, 400), rng.integers(0, 3, 400)
    values = class_metrics(*counts_from_matrix(sk_confusion(gt, pred, labels=range(3)))).values
    for label in range(3):
        predicted, reference = int((pred == label).sum()), int((gt == label).sum())
        # seg-metrics / Taha & Hanbury: 1 - | |P| - |G| | / (|P| + |G|); MedPy ravd.
        assert values["volume_similarity"][label] == pytest.approx(
            1 - abs(predicted - reference) / (predicted + reference), abs=1e-15
        )
        assert values["rvd"][label] == pytest.approx((predicted - reference) / reference, abs=1e-15)


def test_a_signed_metric_is_gated_and_compared_by_its_size() -> None:
    from segeval.compare import ComparisonRow, compare_reports
    from segeval.gate import MaxDrop, Threshold, check_regressions, check_thresholds
    from segeval.report import build_report

    # class 1: GT 4 pixels; baseline predicts 3 of them (rvd -0.25), candidate 5 (rvd +0.25).
    baseline = build_report(ConfusionMatrix.from_counts(np.array([[4, 0], [1, 3]])))
    candidate = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    assert baseline.classes[1].value("rvd") == -0.25
    assert candidate.classes[1].value("rvd") == 0.25
    gate = check_thresholds(baseline, [Threshold("rvd[1]", 0.2, "over")])
    assert not gate.passed  # |-0.25| > 0.2
    assert check_regressions(baseline, candidate, [MaxDrop("rvd[1]", 0.0)]).passed  # same size
    row = ComparisonRow("rvd[class_1]", "RVD", "class_1", -0.25, 0.2, False, zero_is_best=True)
    assert row.improved is True  # closer to 0, although larger
    assert compare_reports(baseline, candidate).gate.passed


# ------------------------------------------------------------------ one definition, two shapes


@pytest.mark.parametrize(
    "options",
    [
        MetricOptions(),
        MetricOptions(empty="one", zero_division="zero", beta=2.0),
        MetricOptions(empty="zero", exclude=frozenset({0, 3})),
    ],
)
@pytest.mark.parametrize("num_classes", [5, 19, 150])
def test_batch_rows_are_bit_identical_to_scoring_each_row(
    options: MetricOptions, num_classes: int
) -> None:
    # The bootstrap scores (resamples, classes) arrays with the report's functions; every
    # row must be the very float the report gets (not merely close): one definition.
    rng = np.random.default_rng(num_classes)
    rows = 120
    present = rng.random((rows, num_classes)) > rng.random((rows, 1))  # rows differ in NaNs
    tp, fp, fn = (rng.integers(0, 10**6, (rows, num_classes)) * present for _ in range(3))
    tp[:3] = fp[:3] = fn[:3] = 0  # nothing scored: every metric undefined or a policy value
    fp[3] = fn[3] = 0  # only true positives
    batch = class_metrics(tp, fp, fn, options)
    summary = summary_arrays(batch, options)
    assert list(summary) == list(DATASET_SUMMARY_METRICS)
    for row in range(rows):
        alone = compute_metrics(tp[row], fp[row], fn[row], options)
        for name in PER_CLASS_METRICS:
            np.testing.assert_array_equal(batch[name][row], alone.per_class[name], err_msg=name)
        for name, value in alone.summary.items():
            np.testing.assert_array_equal(summary[name][row], value, err_msg=name)


def test_summary_metrics_refuses_a_batch() -> None:
    batch = class_metrics(np.ones((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(UsageError, match="use summary_arrays"):
        summary_metrics(batch)


# ------------------------------------------- F-score rule and classes without ground truth


@given(
    hnp.arrays(np.int64, st.integers(1, 6), elements=st.integers(0, 50)),
    hnp.arrays(np.int64, 6, elements=st.integers(0, 50)),
    hnp.arrays(np.int64, 6, elements=st.integers(0, 50)),
    st.sampled_from([0.5, 1.0, 2.0]),
)
@settings(max_examples=50, deadline=None)
def test_fscore_from_precision_and_recall_differs_only_without_true_positives(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, beta: float
) -> None:
    fp, fn = fp[: tp.size], fn[: tp.size]
    counts = class_metrics(tp, fp, fn, MetricOptions(beta=beta)).fbeta
    rule = class_metrics(tp, fp, fn, MetricOptions(beta=beta, fscore="precision_recall")).fbeta
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        from_pr = (1 + beta**2) * precision * recall / (beta**2 * precision + recall)
    np.testing.assert_allclose(rule[tp > 0], from_pr[tp > 0], rtol=1e-12)
    np.testing.assert_allclose(rule[tp > 0], counts[tp > 0], rtol=1e-12)
    assert np.isnan(rule[tp == 0]).all()


def test_fscore_rule_applies_to_every_f1_summary() -> None:
    # gt [[0, 1]], pred [[0, 0]]: class 1 has no true positive.
    tp, fp, fn = np.array([1, 0]), np.array([1, 0]), np.array([0, 1])
    counts = compute_metrics(tp, fp, fn).summary
    rule = compute_metrics(tp, fp, fn, MetricOptions(fscore="precision_recall")).summary
    assert counts["macro_f1"] == counts["macro_fbeta"] == counts["mdice"] == pytest.approx(1 / 3)
    assert rule["macro_f1"] == rule["macro_fbeta"] == pytest.approx(2 / 3)
    assert rule["weighted_f1"] == pytest.approx(2 / 3)
    assert rule["mdice"] == counts["mdice"]  # Dice is not an F-score rule
    zero = MetricOptions(fscore="precision_recall", zero_division="zero")
    assert compute_metrics(tp, fp, fn, zero).summary["macro_fbeta"] == pytest.approx(1 / 3)


def test_gt_empty_nan_makes_a_class_without_ground_truth_undefined() -> None:
    # class 0 right, class 1 predicted on one pixel without ground truth, class 2 absent
    tp, fp, fn = np.array([3, 0, 0]), np.array([0, 1, 0]), np.array([1, 0, 0])
    scored = class_metrics(tp, fp, fn)
    assert scored.iou[1] == 0.0
    ignored = class_metrics(tp, fp, fn, MetricOptions(gt_empty="nan"))
    for name in PER_CLASS_METRICS:
        assert math.isnan(ignored[name][1]), name
        np.testing.assert_equal(ignored[name][0], scored[name][0])  # NaN-aware
    # the empty policy still decides a class absent from both sides
    assert class_metrics(tp, fp, fn, MetricOptions(gt_empty="nan", empty="one")).iou[2] == 1.0


@pytest.mark.parametrize(
    ("field", "value"), [("fscore", "pr"), ("gt_empty", "zero"), ("empty_mean", "one")]
)
def test_new_policies_are_validated(field: str, value: str) -> None:
    with pytest.raises(UsageError, match=field):
        MetricOptions(**{field: value})  # type: ignore[arg-type]
