"""Cost of the boundary metrics on one Cityscapes-size pair, against plain scoring.

One synthetic 1024 x 2048, 19-class label map that looks like a street scene
(sky, road, buildings, poles, cars, people as rectangles and discs) and a
prediction with shifted, grown and shrunk objects plus spurious blobs. Times,
single thread, CPU time, best of a few runs:

* plain confusion counting (what ``segeval score`` does per pair),
* segeval's Boundary IoU, boundary F1 and surface distances,
* the obvious implementations: per-class erosion for Boundary IoU (the authors'
  ``mask_to_boundary`` per class), a per-class distance transform for BF, and
  MONAI-style per-class SciPy EDT (cropped to the union) for surface distances,

and checks that each fast result equals the obvious one.

Usage: python benchmarks/boundary_bench.py [--rounds 3] [--ratio 0.02]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np
from scipy import ndimage

from segeval.core import boundary
from segeval.core.boundary import (
    band_width,
    bf_tolerance,
    boundary_stats,
    prepare_prediction,
    prepare_reference,
    surface_stats,
)
from segeval.core.confusion import ConfusionMatrix
from segeval.io import read_mask

NUM_CLASSES = 19
IGNORE = 255
SHAPE = (1024, 2048)


def street_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A label map of horizontal layers and objects, and a plausible prediction."""
    rng = np.random.default_rng(seed)
    height, width = SHAPE
    gt = np.full(SHAPE, 10, dtype=np.uint8)  # sky
    gt[int(height * 0.55) :] = 0  # road
    gt[int(height * 0.55) : int(height * 0.62), : width // 3] = 1  # sidewalk
    rows, cols = np.mgrid[:height, :width]
    for _ in range(14):  # buildings, walls, fences, vegetation
        c = rng.choice([2, 3, 4, 8, 9])
        x0 = rng.integers(0, width - 100)
        top = rng.integers(int(height * 0.1), int(height * 0.45))
        gt[top : int(height * 0.58), x0 : x0 + rng.integers(80, 500)] = c
    for _ in range(12):  # poles, signs, lights
        x0 = rng.integers(0, width - 10)
        gt[rng.integers(100, 400) : int(height * 0.6), x0 : x0 + rng.integers(4, 14)] = 5
        gt[rng.integers(150, 300) :, x0 : x0 + 30][:30] = rng.choice([6, 7])
    for _ in range(25):  # cars, people, bikes as discs and boxes
        c = rng.choice([11, 12, 13, 14, 15, 16, 17, 18])
        cy, cx = rng.integers(int(height * 0.5), height), rng.integers(0, width)
        radius = rng.integers(8, 90)
        if rng.random() < 0.5:
            gt[(rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2] = c
        else:
            gt[cy - radius // 2 : cy + radius // 2, cx - radius : cx + radius] = c
    gt[-40:, :] = IGNORE  # ego vehicle
    gt[(rows - 300) ** 2 + (cols - 1700) ** 2 <= 25**2] = IGNORE

    pred = gt.copy()
    pred[pred == IGNORE] = 0
    for c in range(NUM_CLASSES):  # grow or shrink each class by a few pixels
        mask = pred == c
        k = int(rng.integers(1, 6))
        kernel = np.ones((k, k), np.uint8)
        if rng.random() < 0.5:
            pred[cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & ~mask] = c
        else:
            pred[mask & ~cv2.erode(mask.astype(np.uint8), kernel).astype(bool)] = 0
    pred = np.roll(pred, (3, -4), axis=(0, 1))
    for _ in range(30):  # spurious blobs
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        pred[(rows - cy) ** 2 + (cols - cx) ** 2 <= rng.integers(3, 30) ** 2] = rng.integers(19)
    return gt, pred


def best_of(rounds: int, func: Callable[[], Any]) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(rounds):
        # CPU time of this (single-threaded) process: the machine is shared, and
        # other jobs' load inflates wall time far more than it changes CPU time.
        start = time.process_time()
        result = func()
        times.append(time.process_time() - start)
    return min(times), result


# ----------------------------------------------------------------------------- obvious versions


def obvious_biou(gt: np.ndarray, pred: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The authors' mask_to_boundary for each class of each map (OpenCV, iterations=d)."""
    valid = gt != IGNORE
    kernel = np.ones((3, 3), np.uint8)
    inter = np.zeros(NUM_CLASSES, np.int64)
    union = np.zeros(NUM_CLASSES, np.int64)

    def band(mask: np.ndarray) -> np.ndarray:
        padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        eroded = cv2.erode(padded, kernel, iterations=width)[1:-1, 1:-1]
        return (mask - eroded).astype(bool)

    for c in range(NUM_CLASSES):
        gt_band = band((gt == c).astype(np.uint8)) & valid
        pred_band = band((pred == c).astype(np.uint8)) & valid
        inter[c] = np.count_nonzero(gt_band & pred_band)
        union[c] = np.count_nonzero(gt_band | pred_band)
    return inter, union


def _edges(mask: np.ndarray) -> np.ndarray:
    return mask ^ ndimage.binary_erosion(mask)


def _union_box(mask_a: np.ndarray, mask_b: np.ndarray, margin: int) -> tuple[slice, ...] | None:
    union = mask_a | mask_b
    if not union.any():
        return None
    rows = np.flatnonzero(union.any(axis=1))
    cols = np.flatnonzero(union.any(axis=0))
    return (
        slice(max(0, rows[0] - margin), rows[-1] + margin + 1),
        slice(max(0, cols[0] - margin), cols[-1] + margin + 1),
    )


def obvious_bf(gt: np.ndarray, pred: np.ndarray, theta: float) -> np.ndarray:
    """Per class: boundaries, a distance transform of each, cropped to the class (OpenCV)."""
    valid = gt != IGNORE
    counts = np.zeros((NUM_CLASSES, 4), np.int64)
    margin = math.ceil(theta) + 1
    for c in range(NUM_CLASSES):
        box = _union_box(gt == c, pred == c, margin)
        if box is None:
            continue
        g, p, v = gt[box] == c, pred[box] == c, valid[box]
        gt_edges = _edges(np.pad(g, 1))[1:-1, 1:-1] & v
        pred_edges = _edges(np.pad(p, 1))[1:-1, 1:-1] & v
        # Re-mark pixels on the image border, which the crop may have moved inside.
        gt_edges |= g & v & _image_frame(gt.shape, box)
        pred_edges |= p & v & _image_frame(gt.shape, box)
        to_gt = _cv_edt(~gt_edges)
        to_pred = _cv_edt(~pred_edges)
        counts[c] = (
            pred_edges.sum(),
            np.count_nonzero(to_gt[pred_edges] < theta) if gt_edges.any() else 0,
            gt_edges.sum(),
            np.count_nonzero(to_pred[gt_edges] < theta) if pred_edges.any() else 0,
        )
    return counts


def _image_frame(shape: tuple[int, ...], box: tuple[slice, ...]) -> np.ndarray:
    frame = np.zeros(shape, bool)
    frame[0, :] = frame[-1, :] = frame[:, 0] = frame[:, -1] = True
    return frame[box]


def _cv_edt(not_edges: np.ndarray) -> np.ndarray:
    if not_edges.all():
        return np.full(not_edges.shape, np.inf, np.float32)
    return cv2.distanceTransform(not_edges.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def monai_surface(gt: np.ndarray, pred: np.ndarray, tau: float, edt: str = "scipy") -> np.ndarray:
    """MONAI-style: per class, crop to the union, edges, EDT, percentiles."""
    valid = gt != IGNORE
    out = np.full((NUM_CLASSES, 5), np.nan)
    for c in range(NUM_CLASSES):
        box = _union_box(gt == c, pred == c, 1)
        if box is None:
            continue
        v = valid[box]
        gt_edges = _edges(np.pad(gt[box] == c, 1))[1:-1, 1:-1] & v
        pred_edges = _edges(np.pad(pred[box] == c, 1))[1:-1, 1:-1] & v
        gt_edges |= (gt[box] == c) & v & _image_frame(gt.shape, box)
        pred_edges |= (pred[box] == c) & v & _image_frame(gt.shape, box)
        if not gt_edges.any() or not pred_edges.any():
            out[c] = (math.inf,) * 4 + (0.0,)
            continue
        if edt == "scipy":
            to_gt = ndimage.distance_transform_edt(~gt_edges)[pred_edges]
            to_pred = ndimage.distance_transform_edt(~pred_edges)[gt_edges]
        else:
            to_gt = _cv_edt(~gt_edges)[pred_edges].astype(np.float64)
            to_pred = _cv_edt(~pred_edges)[gt_edges].astype(np.float64)
        pooled = np.concatenate([to_gt, to_pred])
        out[c] = (
            max(to_gt.max(), to_pred.max()),
            max(np.percentile(to_gt, 95), np.percentile(to_pred, 95)),
            np.percentile(pooled, 95),
            pooled.mean(),
            np.count_nonzero(pooled <= tau) / pooled.size,
        )
    return out


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ratio", type=float, default=0.02)
    parser.add_argument("--tau", type=float, default=2.0)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    gt, pred = street_scene()
    width = band_width(SHAPE, args.ratio)
    theta = bf_tolerance(SHAPE)
    rounds = args.rounds
    print(f"pair {SHAPE[0]}x{SHAPE[1]}, {NUM_CLASSES} classes, d={width}, theta={theta:.3f}")

    def plain() -> ConfusionMatrix:
        matrix = ConfusionMatrix(NUM_CLASSES, ignore_index=(IGNORE,))
        matrix.update(gt, pred)
        return matrix

    t_plain, _ = best_of(rounds, plain)
    with tempfile.TemporaryDirectory() as folder:
        gt_path, pred_path = Path(folder) / "gt.png", Path(folder) / "pred.png"
        cv2.imwrite(str(gt_path), gt)
        cv2.imwrite(str(pred_path), pred)

        def plain_score() -> ConfusionMatrix:
            matrix = ConfusionMatrix(NUM_CLASSES, ignore_index=(IGNORE,))
            matrix.update(read_mask(gt_path), read_mask(pred_path))
            return matrix

        t_score, _ = best_of(rounds, plain_score)

    def biou_both() -> boundary.BoundaryStats:
        return boundary_stats(prepare_reference(gt, NUM_CLASSES), pred, width=width, bf=False)

    t_biou, ours_biou = best_of(rounds, biou_both)
    reference = prepare_reference(gt, NUM_CLASSES)
    reference.gt.band(width)
    reference.gt.points(0)
    for c in range(NUM_CLASSES):
        reference.gt.tree(c)
    t_biou_pred, _ = best_of(rounds, lambda: boundary_stats(reference, pred, width=width, bf=False))
    t_codes, _ = best_of(rounds, lambda: prepare_prediction(reference, pred))
    prepared = prepare_prediction(reference, pred)
    t_band, _ = best_of(rounds, lambda: boundary.class_bands(prepared.codes, width, NUM_CLASSES))
    narrow = band_width(SHAPE, 0.005)
    t_biou_narrow, _ = best_of(
        rounds,
        lambda: boundary_stats(prepare_reference(gt, NUM_CLASSES), pred, width=narrow, bf=False),
    )
    t_obvious_biou, obvious = best_of(1, lambda: obvious_biou(gt, pred, width))
    assert np.array_equal(ours_biou.intersection[0], obvious[0])
    assert np.array_equal(ours_biou.union[0], obvious[1])

    def bf_both() -> np.ndarray:
        ref = prepare_reference(gt, NUM_CLASSES)
        return boundary._bf_counts(ref.gt, prepare_prediction(ref, pred), theta)

    t_bf, ours_bf = best_of(rounds, bf_both)
    t_bf_pred, _ = best_of(
        rounds,
        lambda: boundary._bf_counts(reference.gt, prepare_prediction(reference, pred), theta),
    )

    def points_only() -> None:
        prepare_prediction(reference, pred).points(0)

    t_points, _ = best_of(rounds, points_only)
    t_obvious_bf, obvious_counts = best_of(1, lambda: obvious_bf(gt, pred, theta))
    assert np.array_equal(ours_bf, obvious_counts), (ours_bf, obvious_counts)

    def surface_both() -> boundary.SurfaceStats:
        return surface_stats(prepare_reference(gt, NUM_CLASSES), pred, nsd_tolerance=args.tau)

    t_surface, ours_surface = best_of(rounds, surface_both)
    t_surface_pred, _ = best_of(
        rounds, lambda: surface_stats(reference, pred, nsd_tolerance=args.tau)
    )
    t_monai, monai = best_of(1, lambda: monai_surface(gt, pred, args.tau))
    t_monai_cv, monai_cv = best_of(1, lambda: monai_surface(gt, pred, args.tau, edt="opencv"))
    values = ours_surface.values[0]
    assert np.allclose(values, monai, rtol=1e-12, equal_nan=True)
    cv_error = np.nanmax(np.abs(np.where(np.isinf(monai), 0, monai - monai_cv)))

    def row(name: str, seconds: float, note: str = "") -> None:
        ratios = f"{seconds / t_plain:6.1f}x count {seconds / t_score:6.1f}x score"
        print(f"{name:<50} {seconds * 1e3:8.1f} ms {ratios}  {note}")

    print()
    row("plain confusion counting (decoded arrays)", t_plain)
    row("plain score of the pair (PNG decode + counting)", t_score)
    row("Boundary IoU, both maps (ours)", t_biou)
    row(f"Boundary IoU, both maps, d={narrow} (ratio 0.005)", t_biou_narrow)
    row("Boundary IoU, prediction only (GT prepared)", t_biou_pred)
    row("  of which: codes + label check (prediction)", t_codes)
    row("  of which: one-pass band (erode + dilate)", t_band)
    row(
        "Boundary IoU, per-class erosion (obvious)",
        t_obvious_biou,
        f"ours {t_obvious_biou / t_biou:.1f}x faster",
    )
    row("BF counts, both maps (ours)", t_bf)
    row("BF counts, prediction only (GT prepared)", t_bf_pred)
    row("  of which: codes + boundaries + grouping", t_points)
    row(
        "BF by per-class distance transform (obvious)",
        t_obvious_bf,
        f"ours {t_obvious_bf / t_bf:.1f}x faster",
    )
    row("surface distances, both maps (ours, KD-tree)", t_surface)
    row("surface distances, prediction only", t_surface_pred)
    row(
        "surface distances, MONAI-style scipy EDT",
        t_monai,
        f"ours {t_monai / t_surface:.1f}x faster",
    )
    row(
        "surface distances, same with OpenCV EDT",
        t_monai_cv,
        f"ours {t_monai_cv / t_surface:.1f}x faster",
    )
    print(
        f"\nOpenCV DIST_MASK_PRECISE vs SciPy EDT: max |difference| of any statistic {cv_error:.2e}"
    )
    print("all fast results equal the obvious implementations")


if __name__ == "__main__":
    main()
