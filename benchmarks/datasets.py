"""Synthetic benchmark sets that look like real label maps (numpy and Pillow only).

* Cityscapes-like: 2048 x 1024 8-bit label PNGs, 19 classes + 255 (void and
  the ego-vehicle band), street-scene layout: sky and buildings above, road
  below, warped region boundaries, poles, signs, cars and people.
* ADE20K-like: 512 x 512, 150 classes, irregular regions, some void.

Predictions are the ground truth sampled through a smooth displacement field
(boundary errors of a few pixels), plus wrong blobs and one region-level
confusion, so they compress and count like real model output. Files are saved
with Pillow's defaults and cached under ``benchmarks/.cache``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["ensure_ade_set", "ensure_cityscapes_set", "smooth_field"]


def smooth_field(
    rng: np.random.Generator, height: int, width: int, cell: int, amplitude: float
) -> np.ndarray:
    """Bilinearly interpolated noise: a smooth random field of the given amplitude."""
    coarse = rng.standard_normal((height // cell + 2, width // cell + 2)).astype(np.float32)
    y = np.arange(height, dtype=np.float32) / cell
    x = np.arange(width, dtype=np.float32) / cell
    y0, x0 = y.astype(np.intp), x.astype(np.intp)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy) * amplitude


def _regions(
    rng: np.random.Generator,
    height: int,
    width: int,
    seeds: int,
    classes: np.ndarray,
    seed_y: np.ndarray,
    y_stretch: float,
    warp: float,
) -> np.ndarray:
    """Warped Voronoi regions (wide cells when y_stretch > 1), one class per seed."""
    scale = 4
    low_h, low_w = height // scale, width // scale
    seed_x = rng.uniform(0, low_w, seeds)
    yy, xx = np.mgrid[0:low_h, 0:low_w].astype(np.float32)
    yy += smooth_field(rng, low_h, low_w, 16, warp / scale)
    xx += smooth_field(rng, low_h, low_w, 16, 2 * warp / scale)
    best = np.full((low_h, low_w), np.inf, dtype=np.float32)
    owner = np.zeros((low_h, low_w), dtype=np.intp)
    for index in range(seeds):
        distance = ((yy - seed_y[index] / scale) * y_stretch) ** 2 + (xx - seed_x[index]) ** 2
        closer = distance < best
        best[closer] = distance[closer]
        owner[closer] = index
    low = classes[owner]
    # Full resolution through a fine displacement field: jagged, not blocky, edges.
    fy = np.clip(
        (np.arange(height)[:, None] + smooth_field(rng, height, width, 8, 3.0)) / scale,
        0,
        low_h - 1,
    ).astype(np.intp)
    fx = np.clip(
        (np.arange(width)[None, :] + smooth_field(rng, height, width, 8, 3.0)) / scale, 0, low_w - 1
    ).astype(np.intp)
    return np.asarray(low[fy, fx], dtype=np.uint8)


def _city_classes(rng: np.random.Generator, relative_y: np.ndarray) -> np.ndarray:
    choices = [
        (0.25, [10, 10, 2, 8, 8, 2]),  # sky, building, vegetation
        (0.5, [2, 2, 8, 3, 4, 9, 255]),  # building, vegetation, wall, fence, terrain, void
        (0.65, [2, 8, 1, 13, 9, 255]),
        (1.01, [0, 0, 0, 1, 1, 9, 255]),  # road, sidewalk, terrain
    ]
    out = np.empty(relative_y.shape, dtype=np.uint8)
    for index, y in enumerate(relative_y):
        options = next(values for limit, values in choices if y < limit)
        out[index] = rng.choice(options)
    return out


def _objects(rng: np.random.Generator, labels: np.ndarray) -> None:
    height, width = labels.shape
    yy, xx = np.ogrid[0:height, 0:width]
    for _ in range(int(rng.integers(4, 25))):  # poles and signs
        x, pole_width = int(rng.integers(0, width - 12)), int(rng.integers(3, 12))
        top = int(rng.integers(int(height * 0.1), int(height * 0.45)))
        bottom = int(rng.integers(int(height * 0.5), int(height * 0.75)))
        labels[top:bottom, x : x + pole_width] = 5
        if rng.random() < 0.6:
            sign_h, sign_w = int(rng.integers(15, 50)), int(rng.integers(15, 50))
            labels[top : top + sign_h, max(0, x - sign_w // 2) : x + sign_w // 2] = rng.choice(
                [6, 7]
            )
    for _ in range(int(rng.integers(2, 8))):  # cars, trucks, buses
        cy, cx = (
            int(rng.integers(int(height * 0.5), int(height * 0.75))),
            int(rng.integers(0, width)),
        )
        ry, rx = int(rng.integers(30, 120)), int(rng.integers(60, 260))
        labels[((yy - cy) / ry) ** 4 + ((xx - cx) / rx) ** 4 < 1] = rng.choice([13, 13, 13, 14, 15])
    for _ in range(int(rng.integers(0, 25))):  # people, riders, bikes
        cy, cx = (
            int(rng.integers(int(height * 0.45), int(height * 0.7))),
            int(rng.integers(0, width)),
        )
        ry, rx = int(rng.integers(30, 90)), int(rng.integers(8, 30))
        labels[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = rng.choice([11, 11, 12, 17, 18])


def _prediction(
    rng: np.random.Generator,
    labels: np.ndarray,
    num_classes: int,
    shift: float,
    blobs: int,
    blob_radius: int,
) -> np.ndarray:
    height, width = labels.shape
    fy = np.clip(
        np.arange(height)[:, None] + smooth_field(rng, height, width, 32, shift), 0, height - 1
    )
    fx = np.clip(
        np.arange(width)[None, :] + smooth_field(rng, height, width, 32, shift), 0, width - 1
    )
    pred = labels[fy.astype(np.intp), fx.astype(np.intp)]
    yy, xx = np.ogrid[0:height, 0:width]
    for _ in range(blobs):
        cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
        ry = int(rng.integers(blob_radius // 3, blob_radius))
        rx = int(rng.integers(blob_radius // 3, blob_radius))
        pred[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = rng.integers(0, num_classes)
    wrong, right = rng.integers(0, num_classes, 2)
    band = pred[int(rng.integers(0, height // 2)) :][: height // 3]
    band[band == wrong] = right
    pred[pred == 255] = 0
    return pred


def cityscapes_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One 1024 x 2048 ground truth (trainIds + 255) and its prediction."""
    height, width = 1024, 2048
    seeds = int(rng.integers(40, 160))
    seed_y = rng.uniform(0, height, seeds)
    labels = _regions(
        rng, height, width, seeds, _city_classes(rng, seed_y / height), seed_y, 3.0, 25.0
    )
    _objects(rng, labels)
    clean = labels.copy()
    clean[clean == 255] = 2
    gt = labels
    curve = (
        height * rng.uniform(0.78, 0.85)
        + ((np.arange(width) - width / 2) / (width / 2)) ** 2 * height * 0.06
    )
    gt[np.arange(height)[:, None] >= curve[None, :]] = 255  # the ego-vehicle band
    return gt, _prediction(rng, clean, 19, 4.0, int(rng.integers(2, 6)), 80)


def ade_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One 512 x 512 ground truth (150 classes + 255) and its prediction."""
    size = 512
    seeds = int(rng.integers(10, 40))
    seed_y = rng.uniform(0, size, seeds)
    labels = _regions(
        rng, size, size, seeds, rng.integers(0, 150, seeds).astype(np.uint8), seed_y, 1.5, 12.0
    )
    gt = labels.copy()
    yy, xx = np.ogrid[0:size, 0:size]
    cy, cx = rng.integers(0, size, 2)
    gt[((yy - cy) / 40.0) ** 2 + ((xx - cx) / 70.0) ** 2 < 1] = 255
    return gt, _prediction(rng, labels, 150, 3.0, int(rng.integers(2, 6)), 40)


def _ensure(root: Path, count: int, make_pair, seed: int) -> Path:  # type: ignore[no-untyped-def]
    done = root / f".complete-{count}"
    if done.exists():
        return root
    rng = np.random.default_rng(seed)
    for side in ("gt", "pred"):
        (root / side).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        gt, pred = make_pair(rng)
        Image.fromarray(gt).save(root / "gt" / f"{index:05d}.png")
        Image.fromarray(pred).save(root / "pred" / f"{index:05d}.png")
    done.touch()
    return root


def ensure_cityscapes_set(cache: Path, count: int) -> Path:
    """The Cityscapes-like set of ``count`` pairs (generated once, then cached)."""
    return _ensure(cache / f"cityscapes-{count}", count, cityscapes_pair, seed=2026)


def ensure_ade_set(cache: Path, count: int) -> Path:
    """The ADE20K-like set of ``count`` pairs (generated once, then cached)."""
    return _ensure(cache / f"ade20k-{count}", count, ade_pair, seed=150)
