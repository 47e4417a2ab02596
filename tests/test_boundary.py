"""Boundary metrics against plain per-class reference implementations.

The oracles below are written the way the reference tools define the metrics,
one class mask at a time and by brute force:

* Boundary IoU: the authors' ``mask_to_boundary`` (pad by one zero pixel, erode
  d times with a 3 x 3 square, crop, subtract).
* Boundary F1: MATLAB ``bfscore``'s boundary (mask AND NOT the erosion of the
  zero-padded mask by the cross) and its matching rule (distance < theta,
  strictly), with all pairwise distances.
* Surface distances: MONAI's edges (mask XOR ``binary_erosion``), distances read
  from a SciPy Euclidean distance transform, ``np.percentile`` (linear).
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from scipy.spatial.distance import cdist

from segeval.core.boundary import (
    BOTH_EMPTY,
    DEFINED,
    GT_EMPTY,
    PRED_EMPTY,
    BoundaryStats,
    SurfaceStats,
    band_width,
    bf_tolerance,
    boundary_stats,
    class_bands,
    inner_boundaries,
    prepare_prediction,
    prepare_reference,
    surface_stats,
)
from segeval.errors import LabelRangeError, ShapeMismatchError, UsageError

IGNORE = 255
CROSS = ndimage.generate_binary_structure(2, 1)

# ----------------------------------------------------------------------------- oracles


def mask_to_boundary(mask: np.ndarray, width: int) -> np.ndarray:
    """The authors' band: pad by one zero, erode ``width`` times with a 3 x 3 square."""
    padded = np.pad(mask, 1, constant_values=False)
    eroded = ndimage.binary_erosion(padded, structure=np.ones((3, 3)), iterations=width)
    return np.asarray(mask & ~eroded[1:-1, 1:-1])


def oracle_biou(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    valid = gt != IGNORE
    inter = np.zeros(num_classes, dtype=np.int64)
    union = np.zeros(num_classes, dtype=np.int64)
    for c in range(num_classes):
        gt_band = mask_to_boundary(gt == c, width) & valid
        pred_band = mask_to_boundary(pred == c, width) & valid
        inter[c] = np.count_nonzero(gt_band & pred_band)
        union[c] = np.count_nonzero(gt_band | pred_band)
    return inter, union


def matlab_boundary(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1, constant_values=False)
    return np.asarray(mask & ~ndimage.binary_erosion(padded, structure=CROSS)[1:-1, 1:-1])


def brute_min_distances(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return np.zeros(0)
    if len(targets) == 0:
        return np.full(len(points), np.inf)
    return np.asarray(cdist(points, targets).min(axis=1))


def oracle_bf_counts(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, theta: float
) -> np.ndarray:
    valid = gt != IGNORE
    counts = np.zeros((num_classes, 4), dtype=np.int64)
    for c in range(num_classes):
        gt_points = np.argwhere(matlab_boundary(gt == c) & valid)
        pred_points = np.argwhere(matlab_boundary(pred == c) & valid)
        counts[c] = (
            len(pred_points),
            np.count_nonzero(brute_min_distances(pred_points, gt_points) < theta),
            len(gt_points),
            np.count_nonzero(brute_min_distances(gt_points, pred_points) < theta),
        )
    return counts


def oracle_f1(counts: np.ndarray) -> float:
    pred_total, pred_matched, gt_total, gt_matched = counts
    if pred_total == 0 and gt_total == 0:
        return math.nan
    precision = pred_matched / pred_total if pred_total else 0.0
    recall = gt_matched / gt_total if gt_total else 0.0
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def monai_edges(mask: np.ndarray) -> np.ndarray:
    return np.asarray(mask ^ ndimage.binary_erosion(mask))


SurfaceValues = tuple[float, float, float, float, float]


def oracle_surface(
    gt: np.ndarray,
    pred: np.ndarray,
    c: int,
    tau: float,
    spacing: tuple[float, ...] | None = None,
) -> SurfaceValues | None:
    """MONAI's way: edges, EDT of the other edge map, percentile with linear interpolation."""
    valid = gt != IGNORE
    gt_edges = monai_edges(gt == c) & valid
    pred_edges = monai_edges(pred == c) & valid
    if not gt_edges.any() and not pred_edges.any():
        return None
    if not gt_edges.any() or not pred_edges.any():
        return (math.inf, math.inf, math.inf, math.inf, 0.0)
    to_gt = ndimage.distance_transform_edt(~gt_edges, sampling=spacing)[pred_edges]
    to_pred = ndimage.distance_transform_edt(~pred_edges, sampling=spacing)[gt_edges]
    pooled = np.concatenate([to_gt, to_pred])
    return (
        float(max(to_gt.max(), to_pred.max())),
        float(max(np.percentile(to_gt, 95), np.percentile(to_pred, 95))),
        float(np.percentile(pooled, 95)),
        float(pooled.mean()),
        np.count_nonzero(pooled <= tau) / pooled.size,
    )


# ----------------------------------------------------------------------------- data


def blob_map(
    rng: np.random.Generator,
    shape: tuple[int, int],
    num_classes: int,
    shapes: int = 6,
    ignore_rate: float = 0.0,
) -> np.ndarray:
    """A label map of rectangles and discs on a background, optionally with ignore blobs."""
    height, width = shape
    labels = np.full(shape, rng.integers(num_classes), dtype=np.uint8)
    rows, cols = np.mgrid[:height, :width]
    for _ in range(shapes):
        c = rng.integers(num_classes)
        if rng.random() < 0.5:
            r0, c0 = rng.integers(height), rng.integers(width)
            labels[r0 : r0 + rng.integers(1, height), c0 : c0 + rng.integers(1, width)] = c
        else:
            radius = rng.integers(1, max(2, min(shape) // 2))
            centre = rng.integers(height), rng.integers(width)
            labels[(rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2] = c
    if ignore_rate:
        labels[rng.random(shape) < ignore_rate] = IGNORE
    return labels


def perturb(rng: np.random.Generator, labels: np.ndarray, num_classes: int) -> np.ndarray:
    pred = labels.copy()
    pred[pred == IGNORE] = rng.integers(num_classes)
    shift = tuple(rng.integers(-3, 4, size=2))
    pred = np.roll(pred, shift, axis=(0, 1))
    r0, c0 = rng.integers(pred.shape[0]), rng.integers(pred.shape[1])
    pred[r0 : r0 + 5, c0 : c0 + 7] = rng.integers(num_classes)
    return pred


CASES = [
    # (seed, shape, classes, ignore rate)
    (0, (24, 31), 1, 0.0),
    (1, (24, 31), 2, 0.0),
    (2, (40, 40), 3, 0.0),
    (3, (33, 47), 5, 0.05),
    (4, (17, 64), 7, 0.0),
    (5, (50, 30), 4, 0.2),
]


# ----------------------------------------------------------------------------- Boundary IoU


@pytest.mark.parametrize(("seed", "shape", "num_classes", "ignore_rate"), CASES)
@pytest.mark.parametrize("width", [1, 2, 3, 7])
def test_biou_counts_equal_per_class_mask_to_boundary(
    seed: int, shape: tuple[int, int], num_classes: int, ignore_rate: float, width: int
) -> None:
    rng = np.random.default_rng(seed)
    gt = blob_map(rng, shape, num_classes, ignore_rate=ignore_rate)
    pred = perturb(rng, gt, num_classes)
    stats = boundary_stats(prepare_reference(gt, num_classes), pred, width=width, bf=False)
    inter, union = oracle_biou(gt, pred, num_classes, width)
    np.testing.assert_array_equal(stats.intersection[0], inter)
    np.testing.assert_array_equal(stats.union[0], union)


@pytest.mark.parametrize("backend", ["opencv", "scipy"])
@pytest.mark.parametrize("width", [1, 2, 5, 46])
def test_one_pass_band_equals_per_class_erosion(
    monkeypatch: pytest.MonkeyPatch, backend: str, width: int
) -> None:
    if backend == "scipy":
        monkeypatch.setattr("segeval.core.boundary._opencv", lambda: None)
    rng = np.random.default_rng(width)
    num_classes = 19
    labels = blob_map(rng, (96, 128), num_classes, shapes=30, ignore_rate=0.01)
    codes = np.where(labels == IGNORE, num_classes, labels).astype(np.uint8)
    band = class_bands(codes, width, num_classes)
    expected = np.zeros_like(band)
    for c in range(num_classes):
        expected |= mask_to_boundary(labels == c, width)
    np.testing.assert_array_equal(band, expected)


def test_band_with_uint16_codes_many_classes() -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 300, size=(20, 20)).astype(np.uint16)
    labels[5:15, 5:15] = 299
    stats = boundary_stats(prepare_reference(labels, 300, ignore_values=()), labels, width=2)
    inter, union = stats.intersection[0], stats.union[0]
    np.testing.assert_array_equal(inter, union)
    assert stats.compute().mean_biou == 1.0


def test_band_width_follows_the_authors_rounding() -> None:
    assert band_width((1024, 2048)) == 46
    assert band_width((1024, 2048), ratio=0.005) == 11
    assert band_width((10, 10), ratio=0.001) == 1  # never below one pixel
    # round(2.5) == 2: Python's round halves to even, as the authors' code does.
    assert band_width((3, 4), ratio=0.5) == 2
    with pytest.raises(UsageError):
        band_width((3, 4), ratio=0)


def test_small_objects_band_is_whole_mask_so_biou_equals_iou() -> None:
    gt = np.zeros((30, 30), dtype=np.uint8)
    gt[10:14, 10:14] = 1
    pred = np.zeros_like(gt)
    pred[11:15, 11:15] = 1
    result = boundary_stats(gt, pred, num_classes=2, width=3, bf=False).compute()
    assert result.biou[1] == pytest.approx(9 / 23)


def test_one_pixel_masks_and_border_touching_masks() -> None:
    gt = np.zeros((9, 9), dtype=np.uint8)
    gt[0, 0] = 1  # one pixel in the corner
    gt[4, 4] = 2  # one pixel inside
    gt[:, 8] = 3  # a column on the border
    pred = gt.copy()
    pred[4, 4] = 0
    pred[4, 5] = 2
    for width in (1, 2, 4):
        stats = boundary_stats(gt, pred, num_classes=4, width=width)
        inter, union = oracle_biou(gt, pred, 4, width)
        np.testing.assert_array_equal(stats.intersection[0], inter)
        np.testing.assert_array_equal(stats.union[0], union)
        theta = bf_tolerance(gt.shape)
        np.testing.assert_array_equal(stats.bf_counts[0], oracle_bf_counts(gt, pred, 4, theta))
    result = boundary_stats(gt, pred, num_classes=4, width=1).compute()
    assert result.biou[1] == 1.0
    assert result.biou[2] == 0.0
    assert result.biou[3] == 1.0


def test_whole_image_one_class_band_is_the_frame() -> None:
    gt = np.zeros((10, 12), dtype=np.uint8)
    stats = boundary_stats(gt, gt, num_classes=1, width=2)
    # Everything within 2 pixels of the border: 120 - 6 * 8.
    assert stats.union[0].tolist() == [120 - 6 * 8]


def test_ignore_pixels_are_not_class_for_bands_and_never_counted() -> None:
    gt = np.zeros((12, 12), dtype=np.uint8)
    gt[:, 6:] = IGNORE
    pred = np.zeros_like(gt)  # predicts class 0 everywhere, including the ignored half
    stats = boundary_stats(gt, pred, num_classes=2, width=1)
    # GT band of class 0 includes the column next to the ignore region; the
    # prediction's band there does not, and its band inside the ignore region is not counted.
    inter, union = oracle_biou(gt, pred, 2, 1)
    np.testing.assert_array_equal(stats.intersection[0], inter)
    np.testing.assert_array_equal(stats.union[0], union)
    assert stats.union[0, 0] > stats.intersection[0, 0]


def test_biou_empty_policy_and_exclude() -> None:
    gt = np.zeros((8, 8), dtype=np.uint8)
    stats = boundary_stats(gt, gt, num_classes=3, width=1)
    result = stats.compute()
    assert result.biou[0] == 1.0
    assert np.isnan(result.biou[1:]).all()
    assert result.mean_biou == 1.0
    assert stats.compute(empty="zero").mean_biou == pytest.approx(1 / 3)
    assert stats.compute(empty="one").biou.tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(stats.compute(exclude=[0]).mean_biou)
    with pytest.raises(UsageError):
        stats.compute(empty="maybe")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Boundary F1


@pytest.mark.parametrize(("seed", "shape", "num_classes", "ignore_rate"), CASES)
@pytest.mark.parametrize("fraction", [0.0075, 0.05, 0.1])
@pytest.mark.parametrize(("budget", "near"), [(400, 50), (2, 2), (2, 5)])
def test_bf_counts_equal_brute_force_matlab(
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    shape: tuple[int, int],
    num_classes: int,
    ignore_rate: float,
    fraction: float,
    budget: int,
    near: int,
) -> None:
    # budget 400: matched by offsets alone; budget 2: the tolerance does not fit, so
    # the nearest `near` offsets, then KD-trees.
    monkeypatch.setattr("segeval.core.boundary._OFFSET_BUDGET", budget)
    monkeypatch.setattr("segeval.core.boundary._NEAR_BUDGET", near)
    rng = np.random.default_rng(seed + 100)
    gt = blob_map(rng, shape, num_classes, ignore_rate=ignore_rate)
    pred = perturb(rng, gt, num_classes)
    stats = boundary_stats(gt, pred, num_classes=num_classes, bf_fraction=fraction)
    theta = bf_tolerance(shape, fraction)
    expected = oracle_bf_counts(gt, pred, num_classes, theta)
    np.testing.assert_array_equal(stats.bf_counts[0], expected)
    f1 = stats.image_bf()[0]
    np.testing.assert_array_equal(f1, [oracle_f1(row) for row in expected])


def test_bf_matching_is_strict() -> None:
    gt = np.zeros((10, 10), dtype=np.uint8)
    gt[:, 5:] = 1
    pred = np.zeros_like(gt)
    pred[:, 7:] = 1
    # Class 1 boundaries: GT columns 5 and 9 plus rows 0/9; prediction column 7 ...
    theta_exact = 2.0
    counts = oracle_bf_counts(gt, pred, 2, theta_exact)
    from segeval.core import boundary

    reference = prepare_reference(gt, 2)
    ours = boundary._bf_counts(reference.gt, prepare_prediction(reference, pred), theta_exact)
    np.testing.assert_array_equal(ours, counts)
    # Column 5 is exactly 2 from column 7: not matched at theta = 2.
    loose = boundary._bf_counts(reference.gt, prepare_prediction(reference, pred), 2.0001)
    assert loose[1, 3] > ours[1, 3]


def test_bf_empty_rules() -> None:
    gt = np.zeros((16, 16), dtype=np.uint8)
    gt[4:8, 4:8] = 1
    pred = np.zeros_like(gt)
    pred[10:14, 10:14] = 2
    stats = boundary_stats(gt, pred, num_classes=4)
    f1 = stats.image_bf()[0]
    assert f1[1] == 0.0  # only the ground truth has a boundary
    assert f1[2] == 0.0  # only the prediction has one
    assert np.isnan(f1[3])  # neither: undefined, left out
    result = stats.compute()
    assert result.bf_defined_images.tolist() == [1, 1, 1, 0]
    assert np.isnan(result.bf[3])
    assert result.mean_bf == pytest.approx(np.mean(f1[:3]))
    assert result.image_bf[0] == pytest.approx(np.mean(f1[:3]))


def test_bf_dataset_mean_is_mean_of_image_means() -> None:
    rng = np.random.default_rng(11)
    stats = BoundaryStats.empty(3)
    images = []
    for i in range(4):
        gt = blob_map(rng, (20, 20), 3)
        pred = perturb(rng, gt, 3)
        stats = stats + boundary_stats(gt, pred, num_classes=3, bf_fraction=0.1, key=str(i))
        images.append(stats.image_bf()[-1])
    per_image = np.array(images)
    result = stats.compute()
    np.testing.assert_allclose(result.image_bf, np.nanmean(per_image, axis=1))
    assert result.mean_bf == pytest.approx(np.nanmean(np.nanmean(per_image, axis=1)))
    np.testing.assert_allclose(result.bf, np.nanmean(per_image, axis=0))
    assert stats.keys == ("0", "1", "2", "3")


# ----------------------------------------------------------------------------- surface distances


@pytest.mark.parametrize(("seed", "shape", "num_classes", "ignore_rate"), CASES)
def test_surface_distances_equal_monai_definition(
    seed: int, shape: tuple[int, int], num_classes: int, ignore_rate: float
) -> None:
    rng = np.random.default_rng(seed + 200)
    gt = blob_map(rng, shape, num_classes, ignore_rate=ignore_rate)
    pred = perturb(rng, gt, num_classes)
    stats = surface_stats(gt, pred, num_classes=num_classes, nsd_tolerance=2.0)
    for c in range(num_classes):
        expected = oracle_surface(gt, pred, c, 2.0)
        if expected is None:
            assert stats.status[0, c] == BOTH_EMPTY
            assert np.isnan(stats.values[0, c]).all()
        else:
            np.testing.assert_allclose(stats.values[0, c], expected, rtol=1e-12, atol=1e-12)


def test_surface_distances_with_spacing_in_3d() -> None:
    rng = np.random.default_rng(3)
    gt = np.zeros((6, 14, 15), dtype=np.uint8)
    gt[1:5, 3:10, 2:12] = 1
    gt[2:4, 5:8, 4:9] = 2
    pred = np.roll(gt, 1, axis=2)
    pred[0, 0, :3] = 2
    spacing = (2.5, 0.7, 1.1)
    reference = prepare_reference(gt, 3, spacing=spacing)
    stats = surface_stats(reference, pred, nsd_tolerance=1.5)
    for c in range(3):
        valid = gt != IGNORE
        gt_edges = (
            (gt == c)
            ^ ndimage.binary_erosion(gt == c, structure=ndimage.generate_binary_structure(3, 1))
        ) & valid
        pred_edges = (
            (pred == c)
            ^ ndimage.binary_erosion(pred == c, structure=ndimage.generate_binary_structure(3, 1))
        ) & valid
        to_gt = ndimage.distance_transform_edt(~gt_edges, sampling=spacing)[pred_edges]
        to_pred = ndimage.distance_transform_edt(~pred_edges, sampling=spacing)[gt_edges]
        pooled = np.concatenate([to_gt, to_pred])
        expected = (
            max(to_gt.max(), to_pred.max()),
            max(np.percentile(to_gt, 95), np.percentile(to_pred, 95)),
            np.percentile(pooled, 95),
            pooled.mean(),
            np.count_nonzero(pooled <= 1.5) / pooled.size,
        )
        np.testing.assert_allclose(stats.values[0, c], expected, rtol=1e-12)
    assert rng is not None
    # Boundary IoU and BF work on volumes too (SciPy path).
    assert boundary_stats(reference, pred, width=1).num_images == 1


def test_surface_empty_cases_are_flagged_and_counted() -> None:
    gt = np.zeros((10, 10), dtype=np.uint8)
    gt[2:5, 2:5] = 1
    pred = np.zeros_like(gt)
    pred[6:8, 6:8] = 2
    stats = surface_stats(gt, pred, num_classes=4)
    assert stats.status[0].tolist() == [DEFINED, PRED_EMPTY, GT_EMPTY, BOTH_EMPTY]
    assert stats.values[0, 1].tolist() == [math.inf] * 4 + [0.0]
    result = stats.compute()
    assert result.missed.tolist() == [0, 1, 0, 0]
    assert result.spurious.tolist() == [0, 0, 1, 0]
    assert result.defined_images.tolist() == [1, 1, 1, 0]
    assert math.isinf(result.hd95[1])
    assert np.isnan(result.hd95[3])
    assert math.isinf(result.mean_hd95)
    replaced = stats.compute(replace_inf=True)
    assert replaced.hd95[1] == pytest.approx(math.hypot(10, 10))
    assert replaced.nsd[1] == 0.0
    assert math.isfinite(replaced.mean_hd95)


def test_surface_no_background_class_fills_image() -> None:
    gt = np.zeros((7, 9), dtype=np.uint8)  # class 0 everywhere: no background at all
    pred = gt.copy()
    pred[3, 4] = 1
    stats = surface_stats(gt, pred, num_classes=2, nsd_tolerance=0.0)
    expected = oracle_surface(gt, pred, 0, 0.0)
    assert expected is not None
    np.testing.assert_allclose(stats.values[0, 0], expected)
    assert stats.status[0, 1] == GT_EMPTY
    assert surface_stats(gt, gt, num_classes=1).values[0, 0].tolist() == [0, 0, 0, 0, 1]


def test_surface_one_pixel_masks() -> None:
    gt = np.zeros((8, 8), dtype=np.uint8)
    gt[0, 0] = 1
    pred = np.zeros_like(gt)
    pred[3, 4] = 1
    stats = surface_stats(gt, pred, num_classes=2, nsd_tolerance=5.0)
    assert stats.values[0, 1].tolist() == [5.0, 5.0, 5.0, 5.0, 1.0]


# ----------------------------------------------------------------------------- API and errors


def test_reference_is_reused_across_predictions_and_matches_raw_calls() -> None:
    rng = np.random.default_rng(5)
    gt = blob_map(rng, (30, 40), 4, ignore_rate=0.05)
    reference = prepare_reference(gt, 4)
    for _ in range(3):
        pred = perturb(rng, gt, 4)
        prepared = prepare_prediction(reference, pred)
        a = boundary_stats(reference, prepared, width=2)
        b = boundary_stats(gt, pred, num_classes=4, width=2)
        np.testing.assert_array_equal(a.intersection, b.intersection)
        np.testing.assert_array_equal(a.bf_counts, b.bf_counts)
        s1 = surface_stats(reference, prepared)
        s2 = surface_stats(gt, pred, num_classes=4)
        np.testing.assert_array_equal(s1.values, s2.values)


def test_errors() -> None:
    gt = np.zeros((4, 4), dtype=np.uint8)
    with pytest.raises(LabelRangeError, match="value 7"):
        prepare_reference(np.full((4, 4), 7, dtype=np.uint8), 3)
    with pytest.raises(LabelRangeError, match="prediction"):
        boundary_stats(gt, np.full((4, 4), 9, dtype=np.int32), num_classes=3)
    with pytest.raises(ShapeMismatchError):
        boundary_stats(gt, np.zeros((4, 5), dtype=np.uint8), num_classes=3)
    with pytest.raises(UsageError):
        boundary_stats(gt, gt)  # no num_classes for a raw array
    with pytest.raises(UsageError):
        prepare_reference(gt.astype(np.float32), 3)
    with pytest.raises(UsageError):
        prepare_reference(gt, 3, spacing=(1.0,))
    with pytest.raises(UsageError):
        surface_stats(gt, gt, num_classes=3, nsd_tolerance=-1)
    with pytest.raises(UsageError):
        BoundaryStats.empty(2) + BoundaryStats.empty(3)
    with pytest.raises(UsageError):
        SurfaceStats.empty(2, 1.0) + SurfaceStats.empty(2, 2.0)
    with pytest.raises(UsageError):
        boundary_stats(gt, gt, num_classes=2).compute(exclude=[5])


def test_signed_and_wide_integer_inputs() -> None:
    gt = np.array([[0, 1, -1], [1, 1, 0]], dtype=np.int64)
    reference = prepare_reference(gt, 2, ignore_values=(-1,))
    assert reference.valid is not None
    assert int(reference.valid.sum()) == 5
    assert boundary_stats(reference, gt, width=1).compute().mean_biou == 1.0


def test_inner_boundaries_match_matlab_for_every_class() -> None:
    rng = np.random.default_rng(9)
    labels = blob_map(rng, (25, 37), 6, shapes=12)
    edge = inner_boundaries(labels, non_class=6)
    expected = np.zeros_like(edge)
    for c in range(6):
        expected |= matlab_boundary(labels == c)
    np.testing.assert_array_equal(edge, expected)


# ----------------------------------------------------------------------------- streaming


def _same(a: object, b: object) -> None:
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    num_images=st.integers(1, 6),
    cuts=st.lists(st.integers(0, 6), max_size=4),
    order_seed=st.integers(0, 1000),
)
def test_streaming_over_any_split_and_order_equals_whole(
    seed: int, num_images: int, cuts: list[int], order_seed: int
) -> None:
    rng = np.random.default_rng(seed)
    num_classes = 4
    rows_b, rows_s = [], []
    for i in range(num_images):
        gt = blob_map(rng, (18, 22), num_classes, shapes=4, ignore_rate=0.05 * (i % 2))
        pred = perturb(rng, gt, num_classes)
        if i == 0:
            pred[pred == 3] = 0  # a missed class somewhere
        reference = prepare_reference(gt, num_classes)
        rows_b.append(boundary_stats(reference, pred, width=2, bf_fraction=0.1, key=str(i)))
        rows_s.append(surface_stats(reference, pred, nsd_tolerance=1.0, key=str(i)))
    whole_b = sum(rows_b, BoundaryStats.empty(num_classes))
    whole_s = sum(rows_s, SurfaceStats.empty(num_classes, 1.0))

    order = list(range(num_images))
    random.Random(order_seed).shuffle(order)
    bounds = sorted({0, num_images, *(min(cut, num_images) for cut in cuts)})
    part_b, part_s = [], []
    for start, stop in itertools.pairwise(bounds):
        chunk = order[start:stop]
        part_b.append(sum((rows_b[i] for i in chunk), BoundaryStats.empty(num_classes)))
        part_s.append(sum((rows_s[i] for i in chunk), SurfaceStats.empty(num_classes, 1.0)))
    random.Random(order_seed + 1).shuffle(part_b)
    random.Random(order_seed + 1).shuffle(part_s)
    merged_b = sum(part_b, BoundaryStats.empty(num_classes))
    merged_s = sum(part_s, SurfaceStats.empty(num_classes, 1.0))

    for empty in ("nan", "zero"):
        a, b = whole_b.compute(empty=empty), merged_b.compute(empty=empty)
        for name in ("biou", "mean_biou", "bf", "mean_bf", "pooled_bf", "bf_defined_images"):
            _same(getattr(a, name), getattr(b, name))
        _same(np.sort(a.image_bf), np.sort(b.image_bf))
    for replace_inf in (False, True):
        whole, merged = whole_s.compute(replace_inf), merged_s.compute(replace_inf)
        for name in whole.__dataclass_fields__:
            _same(getattr(whole, name), getattr(merged, name))


# ----------------------------------------------------------------------------- paths


@pytest.mark.parametrize("num_classes", [130, 300])
def test_many_classes_use_the_general_counting_path(num_classes: int) -> None:
    rng = np.random.default_rng(num_classes)
    gt = rng.integers(0, num_classes, size=(6, 7)).repeat(4, axis=0).repeat(4, axis=1)
    gt = gt.astype(np.uint16)
    gt[rng.random(gt.shape) < 0.05] = IGNORE if num_classes < IGNORE else 999
    pred = np.roll(gt, 1, axis=1)
    pred[pred == 999] = 0
    ignore = (IGNORE,) if num_classes < IGNORE else (999,)
    reference = prepare_reference(gt, num_classes, ignore_values=ignore)
    stats = boundary_stats(reference, pred, width=2, bf=False)
    gt_oracle = np.where(gt == ignore[0], IGNORE, gt)
    pred_oracle = np.where(pred == ignore[0], IGNORE, pred)
    inter, union = oracle_biou(gt_oracle, pred_oracle, num_classes, 2)
    np.testing.assert_array_equal(stats.intersection[0], inter)
    np.testing.assert_array_equal(stats.union[0], union)


def test_without_opencv_the_scipy_and_numpy_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(21)
    gt = blob_map(rng, (40, 50), 6, ignore_rate=0.05)
    pred = perturb(rng, gt, 6)
    pred[:3, :3] = IGNORE  # the prediction's ignore value means no class
    with_cv = boundary_stats(gt, pred, num_classes=6, width=3)
    monkeypatch.setattr("segeval.core.boundary._opencv", lambda: None)
    without_cv = boundary_stats(gt, pred, num_classes=6, width=3)
    np.testing.assert_array_equal(with_cv.intersection, without_cv.intersection)
    np.testing.assert_array_equal(with_cv.union, without_cv.union)
    inter, union = oracle_biou(gt, pred, 6, 3)
    np.testing.assert_array_equal(without_cv.intersection[0], inter)
    np.testing.assert_array_equal(without_cv.union[0], union)


def test_far_boundaries_need_the_unbounded_search() -> None:
    gt = np.zeros((30, 40), dtype=np.uint8)
    gt[0, 0] = 1
    pred = np.zeros_like(gt)
    pred[0, 20] = 1
    pred[29, 39] = 1
    values = surface_stats(gt, pred, num_classes=2).values[0, 1]
    to_gt = [20.0, math.hypot(29, 39)]
    to_pred = [20.0]
    assert values[0] == pytest.approx(math.hypot(29, 39))
    assert values[3] == pytest.approx(np.mean(to_gt + to_pred))


def test_importing_the_core_loads_no_heavy_dependency() -> None:
    import subprocess
    import sys

    code = (
        "import sys, segeval.core.boundary; "
        "print(sorted(m for m in ('scipy', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("budget", [1, 2, 5, 20, 400])
@pytest.mark.parametrize("bound", [math.inf, 3.0, 2.0])
@pytest.mark.parametrize("spacing", [None, (1.0, 2.5)])
def test_nearest_boundary_search_is_exact_for_any_budget(
    budget: int, bound: float, spacing: tuple[float, float] | None
) -> None:
    from segeval.core import boundary

    rng = np.random.default_rng(budget)
    gt = blob_map(rng, (30, 26), 4, ignore_rate=0.03)
    pred = perturb(rng, gt, 4)
    reference = prepare_reference(gt, 4, spacing=spacing)
    prediction = prepare_prediction(reference, pred)
    found = boundary._nearest(prediction, reference.gt, bound, budget)
    scale = np.asarray(spacing or (1.0, 1.0))
    valid = gt != IGNORE
    for c in range(4):
        source = np.argwhere(matlab_boundary(pred == c) & valid) * scale
        target = np.argwhere(matlab_boundary(gt == c) & valid) * scale
        expected = brute_min_distances(source, target)
        expected[expected >= bound] = np.inf
        np.testing.assert_allclose(found[c], expected, rtol=1e-12)
