"""segeval.losses against golden reference values, numpy oracles and scikit-learn."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss, log_loss

from segeval.errors import LabelRangeError, SegevalError, ShapeMismatchError, UsageError
from segeval.losses import (
    TERMS,
    ChannelCountError,
    LossAccumulator,
    LossMemoryError,
    LossOptions,
    ScoreValueError,
    bce,
    boundary,
    brier_score,
    ce,
    dice,
    expected_calibration_error,
    focal,
    jaccard,
    lovasz,
    signed_distance,
)
from segeval.losses.lovasz import lovasz_from_errors

GOLDEN = Path(__file__).parent / "golden" / "losses"
CASES = json.loads((GOLDEN / "golden.json").read_text())["cases"]
IGNORE = 255


def fixture(name: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = np.load(GOLDEN / f"{name}.npz")
    scores: np.ndarray = arrays["scores"]
    target: np.ndarray = arrays["target"]
    return scores, target


def options_from(raw: dict[str, Any], **extra: Any) -> LossOptions:
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return LossOptions(**values, **extra)


def softmax(scores: np.ndarray, axis: int = 1) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=axis, keepdims=True))
    probs: np.ndarray = shifted / shifted.sum(axis=axis, keepdims=True)
    return probs


def close(got: float, expected: float, tol: float = 1e-12) -> bool:
    return abs(got - expected) <= tol * max(1.0, abs(expected))


# -- golden values ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_matches_reference(case: dict[str, Any]) -> None:
    scores, target = fixture(case["fixture"])
    accumulator = LossAccumulator([case["term"]], options=options_from(case["options"]))
    accumulator.update(scores, target)
    report = accumulator.result()
    assert close(report.values[case["term"]], case["value"])
    per_image = [image.values[case["term"]] for image in report.per_image]
    assert all(map(close, per_image, case["per_image"]))


@pytest.mark.parametrize("case", CASES[:12], ids=[case["id"] for case in CASES[:12]])
def test_row_blocks_and_float32_memmap_do_not_change_values(
    case: dict[str, Any], tmp_path: Path
) -> None:
    scores, target = fixture(case["fixture"])
    options = options_from(case["options"], block_bytes=1)  # one row per block
    accumulator = LossAccumulator([case["term"]], options=options)
    for index in range(scores.shape[0]):
        path = tmp_path / f"{index}.npy"
        np.save(path, scores[index])
        accumulator.add_image(np.load(path, mmap_mode="r"), target[index], name=path.name)
    assert close(accumulator.result().values[case["term"]], case["value"])


# -- numpy and scikit-learn oracles -------------------------------------------------------


def test_weighted_ce_equals_sklearn_log_loss() -> None:
    scores, target = fixture("multiclass_full")
    weights = np.array([0.3, 2.0, 1.1])
    probs = np.moveaxis(softmax(scores), 1, -1).reshape(-1, 3)
    labels = target.ravel()
    expected = log_loss(labels, probs, sample_weight=weights[labels], labels=[0, 1, 2])
    assert close(ce(scores, target, class_weights=weights.tolist()), expected)


def test_ce_label_smoothing_oracle() -> None:
    scores, target = fixture("multiclass")
    weights = np.array([0.5, 2.0, 1.0, 3.0, 0.7])
    log_probs = np.log(softmax(scores))
    valid = target != IGNORE
    safe = np.where(valid, target, 0)
    nll = -np.take_along_axis(log_probs, safe[:, None], axis=1)[:, 0] * weights[safe]
    smooth = -(log_probs * weights[None, :, None, None]).sum(axis=1)
    denominator = weights[safe][valid].sum()
    expected = 0.8 * nll[valid].sum() / denominator + 0.2 / 5 * smooth[valid].sum() / denominator
    got = ce(scores, target, class_weights=weights.tolist(), label_smoothing=0.2, ignore_index=255)
    assert close(got, expected)


def test_binary_brier_equals_sklearn_and_multiclass_the_sum() -> None:
    scores, target = fixture("binary")
    probs = 1.0 / (1.0 + np.exp(-scores[:, 0]))
    valid = target != IGNORE
    expected = brier_score_loss(target[valid], probs[valid])
    assert close(brier_score(probs[:, None], target, ignore_index=IGNORE), expected)

    scores, target = fixture("multiclass_full")
    probs = softmax(scores)
    onehot = np.eye(3)[target].transpose(0, 3, 1, 2)
    expected = ((probs - onehot) ** 2).sum(axis=1).mean()
    assert close(brier_score(probs, target), expected)
    flat = np.moveaxis(probs, 1, -1).reshape(-1, 3)
    assert close(brier_score_loss(target.ravel(), flat, labels=[0, 1, 2]), expected)


def test_ece_oracle() -> None:
    scores, target = fixture("multiclass")
    probs = softmax(scores)
    valid = target != IGNORE
    confidence = probs.max(axis=1)[valid]
    correct = (probs.argmax(axis=1) == target)[valid]
    edges = np.linspace(0, 1, 11)
    expected = 0.0
    for lower, upper in itertools.pairwise(edges):
        in_bin = (confidence > lower) & (confidence <= upper)
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - confidence[in_bin].mean())
            expected += in_bin.mean() * gap
    got = expected_calibration_error(probs, target, n_bins=10, ignore_index=IGNORE)
    assert close(got, expected)


def test_dice_and_boundary_oracles() -> None:
    scores, target = fixture("multiclass_full")
    probs = softmax(scores)
    onehot = np.eye(3)[target].transpose(0, 3, 1, 2)
    inter = (probs * onehot).sum(axis=(0, 2, 3))
    total = probs.sum(axis=(0, 2, 3)) + onehot.sum(axis=(0, 2, 3))
    assert close(dice(scores, target), float(np.mean(1 - 2 * inter / total)))
    assert close(jaccard(scores, target), float(np.mean(1 - inter / (total - inter))))
    phi = np.stack([[signed_distance(image == c) for c in range(3)] for image in target])
    assert close(boundary(scores, target), float((probs * phi).mean()))


def test_lovasz_equals_its_integral_form() -> None:
    rng = np.random.default_rng(3)
    errors = rng.random(50)
    fg = (rng.random(50) < 0.4).astype(np.float64)
    order = np.argsort(-errors)
    sorted_errors = np.append(errors[order], 0.0)
    expected = 0.0
    for k in range(1, 51):  # Delta(top-k) = k / (|G| + background among them)
        delta = k / (fg.sum() + (1 - fg[order[:k]]).sum())
        expected += (sorted_errors[k - 1] - sorted_errors[k]) * delta
    assert close(lovasz_from_errors(errors, fg), expected)


def test_functions_agree_with_golden_spot_checks() -> None:
    by_id = {case["id"]: case["value"] for case in CASES}
    scores, target = fixture("binary")
    assert close(bce(scores, target, ignore_index=IGNORE), by_id["binary-bce-23"])
    assert close(
        focal(scores, target, gamma=1.5, alpha=0.6, ignore_index=IGNORE),
        by_id["binary-focal_sigmoid-26"],
    )
    scores, target = fixture("multiclass")
    assert close(
        lovasz(scores, target, per_image=True, ignore_index=IGNORE), by_id["multiclass-lovasz-19"]
    )
    assert close(
        dice(scores, target, convention="monai", ignore_index=IGNORE),
        by_id["multiclass-dice_monai-14"],
    )


# -- streaming -------------------------------------------------------------------------


@st.composite
def split_data(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int], int]:
    channels = draw(st.sampled_from([1, 2, 4]))
    images = draw(st.integers(1, 4))
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scores = rng.normal(scale=3.0, size=(images, channels, height, width))
    target = rng.integers(0, max(2, channels), size=(images, height, width))
    target[rng.random(target.shape) < 0.2] = IGNORE
    cuts = sorted(draw(st.lists(st.integers(0, images), max_size=3)))
    block_bytes = draw(st.integers(1, channels * width * 8 * height))
    return scores, target, cuts, block_bytes


@settings(max_examples=40, deadline=None)
@given(split_data())
def test_any_split_equals_one_shot(data: tuple[np.ndarray, np.ndarray, list[int], int]) -> None:
    scores, target, cuts, block_bytes = data
    binary = scores.shape[1] == 1
    terms = ["bce" if binary else "ce", "focal", "dice", "jaccard", "lovasz", "boundary"]
    options = LossOptions(ignore_index=IGNORE)
    whole = LossAccumulator(terms, options=options, calibration=True)
    whole.update(scores, target)
    expected = whole.result()

    split_options = LossOptions(ignore_index=IGNORE, block_bytes=block_bytes)
    parts = []
    for start, stop in zip([0, *cuts], [*cuts, len(scores)], strict=True):
        part = LossAccumulator(terms, options=split_options, calibration=True)
        for index in range(start, stop):
            part.add_image(scores[index], target[index], name=f"#{index}")
        parts.append(part)
    merged = parts[0]
    for part in parts[1:]:
        merged = merged + part
    got = merged.result()
    for term in terms:
        assert np.isnan(expected.values[term]) == np.isnan(got.values[term])
        if not np.isnan(expected.values[term]):
            assert close(got.values[term], expected.values[term], 1e-10)
    assert got.calibration is not None
    assert expected.calibration is not None
    assert got.calibration.bin_counts == expected.calibration.bin_counts
    assert np.allclose(got.calibration.ece, expected.calibration.ece, rtol=1e-10, equal_nan=True)


def test_report_total_per_image_and_worst() -> None:
    scores, target = fixture("multiclass")
    accumulator = LossAccumulator({"ce": 1.0, "dice": 2.0}, options=LossOptions(ignore_index=255))
    accumulator.update(scores, target, names=["a", "b", "c"])
    report = accumulator.result()
    assert close(report.total, report.values["ce"] + 2 * report.values["dice"])
    assert [image.name for image in report.per_image] == ["a", "b", "c"]
    worst = report.worst(1)[0]
    assert worst.total == max(image.total for image in report.per_image)
    terms = json.loads(json.dumps(report.to_dict()))["terms"]
    assert {term: entry["weight"] for term, entry in terms.items()} == {"ce": 1.0, "dice": 2.0}


# -- edge cases -------------------------------------------------------------------------


def test_all_pixels_ignored_gives_nan() -> None:
    scores = np.zeros((2, 2, 3))
    target = np.full((2, 3), IGNORE)
    accumulator = LossAccumulator(
        ["ce", "focal", "dice", "jaccard", "lovasz", "boundary"],
        options=LossOptions(ignore_index=IGNORE),
        calibration=True,
    )
    accumulator.add_image(scores, target)
    report = accumulator.result()
    assert all(np.isnan(value) for value in report.values.values())
    assert report.calibration is not None
    assert np.isnan(report.calibration.ece)


def test_class_absent_from_whole_set_counts_zero_in_smp_mean() -> None:
    probs = np.array([[[1.0, 0.0]], [[0.0, 1.0]], [[0.0, 0.0]]])
    assert dice(probs, np.array([[0, 1]]), input="probs") == 0.0


def test_signed_distance_empty_and_full_masks_are_zero() -> None:
    assert not signed_distance(np.zeros((3, 4), dtype=bool)).any()
    assert not signed_distance(np.ones((3, 4), dtype=bool)).any()


def test_lovasz_whole_set_budget_error_suggests_per_image() -> None:
    options = LossOptions(lovasz_budget_bytes=100)
    accumulator = LossAccumulator(["lovasz"], options=options)
    with pytest.raises(LossMemoryError, match="--lovasz-per-image"):
        accumulator.add_image(np.zeros((3, 4, 4)), np.zeros((4, 4), dtype=np.uint8), name="x")
    per_image = LossAccumulator(
        ["lovasz"], options=LossOptions(lovasz_budget_bytes=100, lovasz_per_image=True)
    )
    per_image.add_image(np.zeros((3, 4, 4)), np.zeros((4, 4), dtype=np.uint8), name="x")


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "target", "options", "error", "message"),
    [
        (
            np.zeros((3, 4, 5)),
            np.zeros((4, 6), int),
            {},
            ShapeMismatchError,
            r"img\.npy: scores of shape \(3, 4, 5\) .* target of shape \(4, 6\)",
        ),
        (
            np.zeros((3, 4, 5), np.int64),
            np.zeros((4, 5), int),
            {},
            ScoreValueError,
            "integer dtype int64",
        ),
        (np.zeros((2, 4, 5), bool), np.zeros((4, 5), int), {}, ScoreValueError, "boolean dtype"),
        (
            np.full((3, 4, 5), np.nan),
            np.zeros((4, 5), int),
            {},
            ScoreValueError,
            r"non-finite score nan at \(row 0, col 0\)",
        ),
        (
            np.full((2, 4, 5), 0.4),
            np.zeros((4, 5), int),
            {"input": "probs"},
            ScoreValueError,
            r"probabilities at \(row 0, col 0\) sum to 0\.8",
        ),
        (
            np.full((2, 4, 5), 1.5),
            np.zeros((4, 5), int),
            {"input": "probs"},
            ScoreValueError,
            r"probability 1\.5 .* outside \[0, 1\]",
        ),
        (
            np.zeros((3, 4, 5)),
            np.full((4, 5), 7),
            {},
            LabelRangeError,
            r"target value 7 .* \(20 pixels\) is outside the classes 0\.\.2",
        ),
        (np.zeros((1, 4, 5)), np.full((4, 5), 2), {}, LabelRangeError, r"classes 0\.\.1"),
    ],
)
def test_bad_input_one_line_error(
    scores: np.ndarray, target: np.ndarray, options: dict[str, Any], error: type, message: str
) -> None:
    terms = ["dice"]
    accumulator = LossAccumulator(terms, options=LossOptions(**options))
    with pytest.raises(error, match=message) as raised:
        accumulator.add_image(scores, target, name="img.npy")
    assert isinstance(raised.value, SegevalError)
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith("img.npy: ")


def test_channel_count_and_term_errors() -> None:
    with pytest.raises(ChannelCountError, match=r"4 channels .* but 3 classes"):
        LossAccumulator(["dice"], num_classes=3).add_image(
            np.zeros((4, 2, 2)), np.zeros((2, 2), int), name="a.npy"
        )
    with pytest.raises(UsageError, match="unknown term 'mse'"):
        LossAccumulator(["mse"])
    with pytest.raises(UsageError, match="use bce for one channel"):
        LossAccumulator(["ce"], num_classes=1)
    with pytest.raises(UsageError, match="3 weights for 2 classes"):
        LossAccumulator(["ce"], num_classes=2, options=LossOptions(class_weights=(1, 1, 1)))
    assert set(TERMS) == {"ce", "bce", "focal", "dice", "jaccard", "lovasz", "boundary"}


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.floats(0.05, 0.95),
    st.integers(0, 2**32 - 1),
)
def test_signed_distance_equals_reference_formula(
    height: int, width: int, density: float, seed: int
) -> None:
    from scipy.ndimage import distance_transform_edt

    mask = np.random.default_rng(seed).random((height, width)) < density
    if not mask.any() or mask.all():
        return
    expected = distance_transform_edt(~mask) * ~mask - (distance_transform_edt(mask) - 1) * mask
    assert np.array_equal(signed_distance(mask), expected)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_lovasz_merge_sort_equals_argsort(size: int, seed: int, ties: bool, hinge: bool) -> None:
    rng = np.random.default_rng(seed)
    errors = rng.integers(0, 4, size) / 4.0 if ties else rng.normal(size=size)
    fg = (rng.random(size) < 0.5).astype(np.float64)
    order = np.argsort(-errors, kind="stable")
    sorted_errors = np.maximum(errors[order], 0.0) if hinge else errors[order]
    total = fg.sum()
    jaccard = 1 - (total - np.cumsum(fg[order])) / (total + np.cumsum(1 - fg[order]))
    expected = float(np.dot(sorted_errors, np.diff(jaccard, prepend=0.0)))
    assert close(lovasz_from_errors(errors, fg, hinge=hinge), expected)


def test_accumulator_pickles_float16_and_batch_names() -> None:
    import pickle

    scores, target = fixture("multiclass")
    accumulator = LossAccumulator(["ce", "lovasz"], options=LossOptions(ignore_index=IGNORE))
    accumulator.update(scores.astype(np.float16), target, names=["a", "b", "c"])
    restored = pickle.loads(pickle.dumps(accumulator))
    assert restored.result().values == accumulator.result().values
    reference = ce(scores.astype(np.float16).astype(np.float64), target, ignore_index=IGNORE)
    assert close(accumulator.result().values["ce"], reference)


def test_lovasz_budget_counts_every_pixel_and_holds_for_merges() -> None:
    # 3 classes x 4 x 4 pixels: 16 * (8 * 3 + 2) = 416 bytes per image, ignored pixels too.
    options = LossOptions(lovasz_budget_bytes=416, ignore_index=IGNORE)
    ignored = np.full((4, 4), IGNORE)
    first, second = (LossAccumulator(["lovasz"], options=options) for _ in range(2))
    first.add_image(np.zeros((3, 4, 4)), ignored, name="a")
    second.add_image(np.zeros((3, 4, 4)), ignored, name="b")
    with pytest.raises(LossMemoryError, match=r"^b: the whole-set Lovasz"):
        first + second
    with pytest.raises(LossMemoryError, match=r"^c: "):
        first.add_image(np.zeros((3, 4, 4)), ignored, name="c")
