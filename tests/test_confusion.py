"""The accumulator: exact counts against scikit-learn, merging, chunking, label checks."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import confusion_matrix

from segeval.core.confusion import ConfusionMatrix
from segeval.core.histogram import RawPairCounts
from segeval.core.labels import LabelMapping
from segeval.errors import (
    LabelRangeError,
    PredictedIgnoreError,
    ShapeMismatchError,
    UsageError,
)


def _sklearn_counts(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, ignore: int | None
) -> np.ndarray:
    keep = np.ones(gt.shape, dtype=bool) if ignore is None else gt != ignore
    if not keep.any():  # scikit-learn refuses empty input
        return np.zeros((num_classes, num_classes), dtype=np.int64)
    labels = list(range(num_classes))
    return np.asarray(confusion_matrix(gt[keep].ravel(), pred[keep].ravel(), labels=labels))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
@pytest.mark.parametrize("num_classes", [2, 7, 19])
def test_counts_equal_sklearn_on_random_masks(
    dtype: type[np.integer[Any]], num_classes: int
) -> None:
    rng = np.random.default_rng(num_classes)
    gt = rng.integers(0, num_classes, size=(61, 83)).astype(dtype)
    pred = rng.integers(0, num_classes, size=(61, 83)).astype(dtype)
    gt[rng.random(gt.shape) < 0.1] = 255
    cm = ConfusionMatrix(num_classes, ignore_index=[255])
    cm.update(pred, gt)
    expected = _sklearn_counts(gt, pred, num_classes, 255)
    np.testing.assert_array_equal(cm.counts, expected)
    assert cm.counts.dtype == np.uint64
    assert cm.ignored_pixels == int((gt == 255).sum())
    assert cm.scored_pixels == int((gt != 255).sum())


def test_many_classes_use_the_general_path_and_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 1000, size=(50, 40)).astype(np.uint16)
    pred = rng.integers(0, 1000, size=(50, 40)).astype(np.uint16)
    cm = ConfusionMatrix(1000, ignore_index=[])
    cm.update(pred, gt)
    np.testing.assert_array_equal(
        cm.counts, confusion_matrix(gt.ravel(), pred.ravel(), labels=range(1000))
    )


def test_rows_are_ground_truth_and_columns_prediction() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.array([[0, 0, 1]], np.uint8), np.array([[2, 2, 2]], np.uint8))
    assert cm.counts[2].tolist() == [2, 1, 0]
    assert cm.counts[:, 2].tolist() == [0, 0, 0]


def test_prediction_of_an_ignore_value_is_a_miss_of_the_gt_class() -> None:
    cm = ConfusionMatrix(2, ignore_index=[255])
    cm.update(np.array([[255, 1, 255]], np.uint8), np.array([[0, 1, 1]], np.uint8))
    assert cm.counts.tolist() == [[0, 0], [0, 1]]
    assert cm.missed.tolist() == [1, 1]
    assert cm.pred_ignore_pixels == 2
    tp_fn = cm.counts.sum(axis=1) + cm.missed
    assert tp_fn.tolist() == [1, 2]


def test_several_ignore_values_are_all_dropped() -> None:
    cm = ConfusionMatrix(3, ignore_index=[0, 255])
    cm.update(np.array([[1, 1, 2, 2]], np.uint8), np.array([[0, 1, 2, 255]], np.uint8))
    assert cm.counts.tolist() == [[0, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert cm.ignored_pixels == 2


def test_no_ignore_value_counts_every_pixel() -> None:
    cm = ConfusionMatrix(256, ignore_index=None)
    cm.update(np.array([[255, 0]], np.uint8), np.array([[255, 0]], np.uint8))
    assert int(cm.counts[255, 255]) == 1
    assert cm.ignored_pixels == 0


def test_gt_label_out_of_range_names_label_and_pixel_count() -> None:
    cm = ConfusionMatrix(3)
    gt = np.array([[0, 7, 7, 9]], np.uint8)
    with pytest.raises(
        LabelRangeError, match=r"ground truth label 7 \(2 pixels\) \(and 1 other"
    ) as info:
        cm.update(np.zeros_like(gt), gt)
    assert (info.value.side, info.value.label, info.value.pixel_count) == ("gt", 7, 2)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_pred_label_out_of_range_is_an_error_by_default(dtype: type[np.integer[Any]]) -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(
        LabelRangeError, match=r"prediction label 5 \(1 pixel\) is outside class ids 0..2"
    ):
        cm.update(np.array([[0, 5]], dtype), np.zeros((1, 2), dtype))
    assert cm.num_images == 0  # nothing was added


def test_pred_out_of_range_can_count_as_a_miss() -> None:
    cm = ConfusionMatrix(3, out_of_range="miss")
    cm.update(np.array([[1, 9, 9]], np.uint8), np.array([[1, 1, 255]], np.uint8))
    assert cm.counts[1, 1] == 1
    assert cm.missed.tolist() == [0, 1, 0]
    assert cm.out_of_range_pixels == 1


def test_negative_labels_in_arrays_are_out_of_range() -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(LabelRangeError, match="ground truth label -1"):
        cm.update(np.array([[0, 0]]), np.array([[-1, 0]]))


def test_negative_ignore_value_and_labels_beyond_16_bits() -> None:
    cm = ConfusionMatrix(2, ignore_index=[-100])
    cm.update(np.array([[0, 1]]), np.array([[-100, 1]]))
    assert cm.counts.tolist() == [[0, 0], [0, 1]]
    assert cm.ignored_pixels == 1
    with pytest.raises(LabelRangeError, match=r"prediction label 70000 \(1 pixel\)"):
        cm.update(np.array([[70000, 0]]), np.array([[1, 0]]))


def test_shape_mismatch() -> None:
    with pytest.raises(ShapeMismatchError, match=r"\(2, 2\) but prediction has shape \(2, 3\)"):
        ConfusionMatrix(2).update(np.zeros((2, 3), np.uint8), np.zeros((2, 2), np.uint8))


def test_missing_prediction_makes_every_scored_pixel_a_miss() -> None:
    cm = ConfusionMatrix(3)
    cm.update(None, np.array([[0, 2, 2, 255]], np.uint8))
    assert cm.counts.sum() == 0
    assert cm.missed.tolist() == [1, 0, 2]
    assert cm.scored_pixels == 3


def test_inferred_class_count_grows_with_the_labels_seen() -> None:
    cm = ConfusionMatrix()
    cm.update(np.array([[1, 1]], np.uint8), np.array([[0, 1]], np.uint8))
    assert cm.num_classes == 2
    cm.update(np.array([[0, 3]], np.uint8), np.array([[4, 255]], np.uint8))
    assert cm.num_classes == 5
    assert cm.num_classes_inferred
    expected = np.zeros((5, 5), dtype=np.uint64)
    expected[0, 1] = expected[1, 1] = expected[4, 0] = 1
    np.testing.assert_array_equal(cm.counts, expected)


def test_inferring_refuses_absurd_labels() -> None:
    with pytest.raises(LabelRangeError, match=r"label 60000 would mean 60001 classes"):
        ConfusionMatrix().update(np.array([[0]], np.uint16), np.array([[60000]], np.uint16))


def test_mapping_applies_to_both_sides() -> None:
    mapping = LabelMapping(2, ignore_values=[0, 255], value_to_class={7: 0, 8: 1, 9: 1})
    cm = ConfusionMatrix(mapping=mapping)
    cm.update(np.array([[7, 9, 8, 8]], np.uint8), np.array([[7, 8, 9, 0]], np.uint8))
    assert cm.counts.tolist() == [[1, 0], [0, 2]]
    with pytest.raises(LabelRangeError, match="outside values listed in the label map"):
        cm.update(np.array([[7]], np.uint8), np.array([[3]], np.uint8))


def test_counts_beyond_2_pow_32_do_not_overflow() -> None:
    big = 3 * 2**32 + 5
    part = ConfusionMatrix.from_counts(np.array([[big, 1], [2, big]], dtype=np.uint64))
    total = part + part + part
    assert int(total.counts[0, 0]) == 3 * big
    assert total.counts.dtype == np.uint64
    assert total.scored_pixels == 6 * big + 9
    iou = total.metrics().per_class.iou
    assert iou[0] == pytest.approx(3 * big / (3 * big + 9))


def test_merging_incompatible_matrices_is_refused() -> None:
    with pytest.raises(UsageError, match="different ignore values"):
        _ = ConfusionMatrix(2, ignore_index=[255]) + ConfusionMatrix(2, ignore_index=[0])
    with pytest.raises(UsageError, match="3-class matrix into a 2-class"):
        _ = ConfusionMatrix(2) + ConfusionMatrix(3)


masks = st.integers(1, 40).flatmap(
    lambda width: st.tuples(
        hnp.arrays(
            np.uint8,
            st.tuples(st.integers(1, 12), st.just(width)),
            elements=st.sampled_from([0, 1, 2, 3, 255]),
        ),
        st.integers(0, 2**31),
    )
)


@settings(max_examples=60, deadline=None)
@given(masks, st.integers(1, 64))
def test_chunk_size_does_not_matter(case: tuple[np.ndarray, int], chunk_pixels: int) -> None:
    gt, seed = case
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 4, size=gt.shape).astype(np.uint8)
    whole = ConfusionMatrix(4)
    whole.update(pred, gt)
    chunked = ConfusionMatrix(4, chunk_pixels=chunk_pixels)
    chunked.update(pred, gt)
    wide = ConfusionMatrix(4, chunk_pixels=chunk_pixels)
    wide.update(pred.astype(np.int64), gt.astype(np.int64))
    np.testing.assert_array_equal(whole.counts, chunked.counts)
    np.testing.assert_array_equal(whole.counts, wide.counts)
    assert whole.ignored_pixels == chunked.ignored_pixels == wide.ignored_pixels


@settings(max_examples=40, deadline=None)
@given(st.lists(masks, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_merging_parts_in_any_order_equals_the_whole(
    cases: list[tuple[np.ndarray, int]], shuffle: random.Random
) -> None:
    pairs = []
    for gt, seed in cases:
        pred = np.random.default_rng(seed).integers(0, 4, size=gt.shape).astype(np.uint8)
        pairs.append((gt, pred))
    whole = ConfusionMatrix(4)
    for gt, pred in pairs:
        whole.update(pred, gt)
    parts = []
    for gt, pred in pairs:
        part = ConfusionMatrix(4)
        part.update(pred, gt)
        parts.append(part)
    shuffle.shuffle(parts)
    merged = ConfusionMatrix(4)
    for part in parts:
        merged += part
    np.testing.assert_array_equal(merged.counts, whole.counts)
    assert merged.num_images == whole.num_images == len(pairs)
    all_gt = np.concatenate([gt.ravel() for gt, _ in pairs])
    all_pred = np.concatenate([pred.ravel() for _, pred in pairs])
    np.testing.assert_array_equal(whole.counts, _sklearn_counts(all_gt, all_pred, 4, 255))


@settings(max_examples=40, deadline=None)
@given(masks)
def test_pixel_order_does_not_matter(case: tuple[np.ndarray, int]) -> None:
    gt, seed = case
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 4, size=gt.shape).astype(np.uint8)
    order = rng.permutation(gt.size)
    original = ConfusionMatrix(4)
    original.update(pred, gt)
    shuffled = ConfusionMatrix(4)
    shuffled.update(pred.ravel()[order].reshape(gt.shape), gt.ravel()[order].reshape(gt.shape))
    np.testing.assert_array_equal(original.counts, shuffled.counts)


def _blocky(rng: np.random.Generator, shape: tuple[int, int], values: int) -> np.ndarray:
    """Region-like labels: long runs, as in real label maps."""
    coarse = rng.integers(0, values, size=(shape[0] // 8 + 1, shape[1] // 16 + 1))
    return np.repeat(np.repeat(coarse, 8, axis=0), 16, axis=1)[: shape[0], : shape[1]].astype(
        np.uint8
    )


@pytest.mark.parametrize("share", [0.0, 0.1, 2.0])
def test_run_length_and_fallback_kernels_agree(
    monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    import segeval.core.histogram

    rng = np.random.default_rng(5)
    gt = _blocky(rng, (100, 203), 6)
    pred = gt.copy()
    pred[rng.random(gt.shape) < 0.01] = 3  # some noise, still mostly runs
    gt[:3, :7] = 255
    # A module constant, not an option: no public way to force either kernel.
    monkeypatch.setattr(segeval.core.histogram, "RUN_FALLBACK_SHARE", share)
    cm = ConfusionMatrix(6, chunk_pixels=1000)
    cm.update(pred, gt)
    np.testing.assert_array_equal(cm.counts, _sklearn_counts(gt, pred, 6, 255))
    coded = ConfusionMatrix(6, chunk_pixels=1000)
    coded.update(pred.astype(np.uint16), gt.astype(np.uint16))  # codes path, same kernel
    np.testing.assert_array_equal(coded.counts, cm.counts)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 5000))
def test_blocky_masks_match_sklearn_for_any_chunk(seed: int, chunk_pixels: int) -> None:
    rng = np.random.default_rng(seed)
    gt = _blocky(rng, (37, 61), 5)
    pred = _blocky(rng, (37, 61), 5)
    cm = ConfusionMatrix(5, chunk_pixels=chunk_pixels)
    cm.update(pred, gt)
    np.testing.assert_array_equal(cm.counts, _sklearn_counts(gt, pred, 5, 255))


def test_thousand_classes_on_region_like_masks() -> None:
    rng = np.random.default_rng(9)
    coarse_gt = rng.integers(0, 1000, size=(20, 30))
    coarse_pred = np.where(
        rng.random(coarse_gt.shape) < 0.7, coarse_gt, rng.integers(0, 1000, coarse_gt.shape)
    )
    gt = np.repeat(np.repeat(coarse_gt, 6, 0), 9, 1).astype(np.uint16)
    pred = np.repeat(np.repeat(coarse_pred, 6, 0), 9, 1).astype(np.uint16)
    cm = ConfusionMatrix(1000, ignore_index=[], chunk_pixels=2000)
    cm.update(pred, gt)
    expected = confusion_matrix(gt.ravel(), pred.ravel(), labels=range(1000))
    np.testing.assert_array_equal(cm.counts, expected)


@pytest.mark.parametrize("noisy", [False, True])
def test_missing_prediction_on_both_kernels(noisy: bool) -> None:
    rng = np.random.default_rng(3)
    gt = _blocky(rng, (40, 64), 4)
    if noisy:
        gt = rng.integers(0, 4, size=(40, 64)).astype(np.uint8)
    cm = ConfusionMatrix(4)
    cm.update(None, gt)
    assert cm.counts.sum() == 0
    np.testing.assert_array_equal(cm.missed, np.bincount(gt.ravel(), minlength=4))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.bool_, st.integers(0, 200)))
def test_sparse_nonzero_equals_flatnonzero(flags: np.ndarray) -> None:
    from segeval.core.histogram import _nonzero_sparse

    np.testing.assert_array_equal(_nonzero_sparse(flags), np.flatnonzero(flags))


def test_predicted_ignore_is_a_miss_or_an_error() -> None:
    gt = np.array([[0, 0], [1, 255]], dtype=np.uint8)
    pred = np.array([[255, 0], [1, 255]], dtype=np.uint8)  # the second 255 is not scored
    miss = ConfusionMatrix(2)
    miss.update(pred, gt)
    assert (miss.missed.tolist(), miss.pred_ignore_pixels) == ([1, 0], 1)
    refuse = ConfusionMatrix(2, pred_ignore="error")
    with pytest.raises(PredictedIgnoreError) as info:
        refuse.update(pred, gt)
    assert info.value.message == "prediction holds the ignore value 255 on 1 scored pixel"
    assert (info.value.side, info.value.label, info.value.pixel_count) == ("pred", 255, 1)
    assert refuse.num_images == 0  # nothing added
    refuse.update(np.array([[0, 0], [1, 255]], dtype=np.uint8), gt)  # no such pixel: counted
    assert refuse.counts.tolist() == [[2, 0], [0, 1]]
    with pytest.raises(UsageError, match="predicted-ignore"):
        miss += refuse
    with pytest.raises(UsageError, match="pred_ignore"):
        ConfusionMatrix(2, pred_ignore="drop")  # type: ignore[arg-type]


# ------------------------------------------------------------- many classes


@pytest.mark.parametrize("dtype", [np.uint16, np.int64])
def test_many_classes_are_counted_sparsely_and_exactly(dtype: type) -> None:
    rng = np.random.default_rng(5)
    num_classes = 600
    gt: np.ndarray = rng.integers(0, num_classes, size=(37, 53)).astype(dtype)
    pred = np.where(rng.random(gt.shape) < 0.7, gt, rng.integers(0, num_classes, gt.shape))
    pred = pred.astype(dtype)
    whole = ConfusionMatrix(num_classes, ignore_index=(), max_classes=num_classes, chunk_pixels=97)
    whole.update(pred, gt)
    halves = ConfusionMatrix(num_classes, ignore_index=(), max_classes=num_classes)
    for rows in (slice(0, 20), slice(20, None)):
        part = halves.copy_empty()
        part.update(pred[rows], gt[rows])
        halves += part
    expected = _sklearn_counts(gt, pred, num_classes, ignore=None)
    assert whole.is_sparse
    for matrix in (whole, halves):
        np.testing.assert_array_equal(matrix.counts, expected)
        dense = ConfusionMatrix.from_counts(matrix.counts, matrix.missed)
        np.testing.assert_array_equal(matrix.metrics().per_class.iou, dense.metrics().per_class.iou)
        assert matrix.scored_pixels == gt.size


def test_an_inferred_count_turns_sparse_past_256_classes_and_still_merges() -> None:
    small = ConfusionMatrix()
    small.update(np.array([[1, 2]], np.uint8), np.array([[1, 1]], np.uint8))
    large = ConfusionMatrix()
    large.update(np.array([[300, 7]], np.uint16), np.array([[300, 300]], np.uint16))
    assert not small.is_sparse
    assert large.is_sparse
    total = small + large
    assert total.num_classes == 301
    expected = np.zeros((301, 301), dtype=np.uint64)
    expected[1, 1] = expected[1, 2] = expected[300, 300] = expected[300, 7] = 1
    np.testing.assert_array_equal(total.counts, expected)


def test_the_class_limit_names_the_memory_a_matrix_would_need() -> None:
    with pytest.raises(UsageError, match=r"2000 x 2000 confusion matrix of 30\.5 MiB"):
        ConfusionMatrix(2000)
    with pytest.raises(LabelRangeError, match=r"label 4095 would mean 4096 classes: .*128\.0 MiB"):
        ConfusionMatrix().update(np.array([[4095]], np.uint16), np.array([[0]], np.uint16))
    wide = ConfusionMatrix(max_classes=5000)
    wide.update(np.array([[4095]], np.uint16), np.array([[0]], np.uint16))
    assert wide.num_classes == 4096
    assert wide.is_sparse


# ------------------------------------------------ the chunk-summed path (issue 17)
# Many uint8 pairs counted into one raw histogram and folded once must give
# exactly what counting them one by one gives, however they are cut and ordered.


def _summed(pairs: list[tuple[np.ndarray, np.ndarray]], block_pixels: int) -> ConfusionMatrix:
    summed = RawPairCounts(block_pixels)
    for gt, pred in pairs:
        summed.add(gt, pred)
    total = ConfusionMatrix(4)
    total.add_raw_histogram(summed.histogram(), summed.pairs)
    return total


def _one_by_one(pairs: list[tuple[np.ndarray, np.ndarray]]) -> ConfusionMatrix:
    total = ConfusionMatrix(4)
    for gt, pred in pairs:
        total.update(pred, gt)
    return total


def _assert_same(left: ConfusionMatrix, right: ConfusionMatrix) -> None:
    np.testing.assert_array_equal(left.counts, right.counts)
    np.testing.assert_array_equal(left.missed, right.missed)
    assert left.ignored_pixels == right.ignored_pixels
    assert left.num_images == right.num_images


def _with_predictions(cases: list[tuple[np.ndarray, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (gt, np.random.default_rng(seed).integers(0, 4, size=gt.shape).astype(np.uint8))
        for gt, seed in cases
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(masks, min_size=1, max_size=6), st.integers(1, 64))
def test_summed_chunk_equals_pair_by_pair_for_any_block_size(
    cases: list[tuple[np.ndarray, int]], block_pixels: int
) -> None:
    pairs = _with_predictions(cases)
    _assert_same(_summed(pairs, block_pixels), _one_by_one(pairs))
    all_gt = np.concatenate([gt.ravel() for gt, _ in pairs])
    all_pred = np.concatenate([pred.ravel() for _, pred in pairs])
    expected = _sklearn_counts(all_gt, all_pred, 4, 255)
    np.testing.assert_array_equal(_summed(pairs, block_pixels).counts, expected)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(masks, min_size=1, max_size=8),
    st.integers(1, 4),
    st.randoms(use_true_random=False),
)
def test_summed_chunks_merged_in_any_order_equal_the_whole(
    cases: list[tuple[np.ndarray, int]], chunk: int, shuffle: random.Random
) -> None:
    pairs = _with_predictions(cases)
    parts = [_summed(pairs[start : start + chunk], 16) for start in range(0, len(pairs), chunk)]
    shuffle.shuffle(parts)
    merged = ConfusionMatrix(4)
    for part in parts:
        merged += part
    _assert_same(merged, _one_by_one(pairs))


@settings(max_examples=40, deadline=None)
@given(st.lists(masks, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_summed_pixel_and_pair_order_do_not_matter(
    cases: list[tuple[np.ndarray, int]], shuffle: random.Random
) -> None:
    pairs = _with_predictions(cases)
    shuffled = []
    for gt, pred in pairs:
        order = np.random.default_rng(gt.size).permutation(gt.size)
        shuffled.append(
            (gt.ravel()[order].reshape(gt.shape), pred.ravel()[order].reshape(gt.shape))
        )
    shuffle.shuffle(shuffled)
    _assert_same(_summed(shuffled, 7), _summed(pairs, 7))


@pytest.mark.parametrize("share", [0.0, 2.0])
def test_summed_path_on_both_kernels_and_when_keys_are_binned_early(
    monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    import segeval.core.histogram

    rng = np.random.default_rng(11)
    pairs = []
    for _ in range(5):
        gt = _blocky(rng, (30, 50), 4)
        gt[:2, :5] = 255
        pairs.append((gt, _blocky(rng, (30, 50), 4)))
    monkeypatch.setattr(segeval.core.histogram, "RUN_FALLBACK_SHARE", share)
    monkeypatch.setattr(RawPairCounts, "MAX_PENDING_KEYS", 10)
    _assert_same(_summed(pairs, 200), _one_by_one(pairs))


def test_summed_path_infers_the_class_count() -> None:
    pairs = [
        (np.array([[0, 1]], np.uint8), np.array([[1, 1]], np.uint8)),
        (np.array([[4, 255]], np.uint8), np.array([[2, 0]], np.uint8)),
    ]
    summed = RawPairCounts()
    inferred = ConfusionMatrix()
    one_by_one = ConfusionMatrix()
    for gt, pred in pairs:
        summed.add(gt, pred)
        one_by_one.update(pred, gt)
    inferred.add_raw_histogram(summed.histogram(), summed.pairs)
    assert inferred.num_classes == one_by_one.num_classes == 5
    _assert_same(inferred, one_by_one)


@pytest.mark.parametrize(
    ("gt_value", "pred_value", "message"),
    [
        (9, 1, "ground truth label 9 (2 pixels) is outside class ids 0..3"),
        (1, 9, "prediction label 9 (2 pixels) is outside class ids 0..3"),
    ],
)
def test_summed_path_refuses_invalid_values_and_adds_nothing(
    gt_value: int, pred_value: int, message: str
) -> None:
    summed = RawPairCounts()
    for _ in range(2):
        summed.add(np.array([[0, gt_value]], np.uint8), np.array([[0, pred_value]], np.uint8))
    total = ConfusionMatrix(4)
    with pytest.raises(LabelRangeError, match=re.escape(message)):
        total.add_raw_histogram(summed.histogram(), summed.pairs)
    assert total.num_images == 0
    assert int(total.counts.sum()) == 0


def test_summed_path_predicted_out_of_range_can_count_as_a_miss() -> None:
    summed = RawPairCounts()
    summed.add(np.array([[0, 1, 255]], np.uint8), np.array([[9, 1, 9]], np.uint8))
    total = ConfusionMatrix(4, out_of_range="miss")
    total.add_raw_histogram(summed.histogram(), summed.pairs)
    one = ConfusionMatrix(4, out_of_range="miss")
    one.update(np.array([[9, 1, 9]], np.uint8), np.array([[0, 1, 255]], np.uint8))
    _assert_same(total, one)
    assert total.out_of_range_pixels == one.out_of_range_pixels == 1


def test_summed_path_on_sparse_counts_equals_pair_by_pair() -> None:
    rng = np.random.default_rng(21)
    pairs = [(_blocky(rng, (20, 40), 250), _blocky(rng, (20, 40), 250)) for _ in range(4)]
    summed = RawPairCounts()
    one_by_one = ConfusionMatrix(300, ignore_index=[])
    for gt, pred in pairs:
        summed.add(gt, pred)
        one_by_one.update(pred, gt)
    total = ConfusionMatrix(300, ignore_index=[])
    total.add_raw_histogram(summed.histogram(), summed.pairs)
    assert total.is_sparse
    _assert_same(total, one_by_one)


def test_summed_path_refuses_a_predicted_ignore_value_like_the_pair_path() -> None:
    gt = np.array([[0, 0], [1, 255]], dtype=np.uint8)
    pred = np.array([[255, 0], [1, 255]], dtype=np.uint8)  # the second 255 is not scored
    summed = RawPairCounts()
    summed.add(gt, pred)
    with pytest.raises(PredictedIgnoreError) as from_sums:
        ConfusionMatrix(2, pred_ignore="error").add_raw_histogram(summed.histogram(), 1)
    with pytest.raises(PredictedIgnoreError) as from_pair:
        ConfusionMatrix(2, pred_ignore="error").update(pred, gt)
    assert str(from_sums.value) == str(from_pair.value)
