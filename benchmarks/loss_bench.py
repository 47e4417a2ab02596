"""Loss and calibration throughput on Cityscapes-sized stored logits, and peak memory.

Writes a few 19 x 1024 x 2048 float32 logit maps (160 MB each, ``.npy``) with
uint8 ground truth, then runs, each in a fresh process so that peak memory is
that run's alone:

* ``segeval``: :class:`segeval.losses.LossAccumulator` with every term (ce,
  focal, dice, jaccard, Lovasz per image, boundary) and calibration, scores
  memory-mapped and read in row blocks;
* ``segeval-pixel``: the same without Lovasz and boundary (the per-pixel and
  overlap terms, which need no sort and no distance transform);
* ``segeval-lovasz``, ``segeval-lovasz-set``, ``segeval-boundary``: one term
  alone (plus calibration), Lovasz per image and over the whole set;
* ``numpy-naive``: a PyTorch-free baseline written the obvious way: load the
  whole map, float64 softmax in memory, one-hot targets, every term on full
  arrays.

Peak memory is the child's peak resident set (``ru_maxrss``, file pages of the
memory map included) and the peak of Python-tracked allocations (tracemalloc,
which numpy reports to). One thread (``OMP_NUM_THREADS=1``).

Usage: python -m benchmarks.loss_bench [--images 2] [--dir /tmp/segeval-loss-bench]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

CLASSES, HEIGHT, WIDTH = 19, 1024, 2048
IGNORE = 255
TERMS_ALL = ["ce", "focal", "dice", "jaccard", "lovasz", "boundary"]
#: segeval runs: terms and whether Lovasz is per image. All also compute calibration.
SEGEVAL_RUNS: dict[str, tuple[list[str], bool]] = {
    "segeval": (TERMS_ALL, True),
    "segeval-pixel": (["ce", "focal", "dice", "jaccard"], True),
    "segeval-lovasz": (["lovasz"], True),
    "segeval-lovasz-set": (["lovasz"], False),
    "segeval-boundary": (["boundary"], True),
}
KINDS = [*SEGEVAL_RUNS, "numpy-naive"]


def make_set(directory: Path, images: int) -> list[tuple[Path, Path]]:
    """Logits correlated with a blocky ground truth (regions of 16 x 16 cells, 5 % void)."""
    directory.mkdir(parents=True, exist_ok=True)
    pairs = []
    for index in range(images):
        scores_path = directory / f"img{index}_logits.npy"
        gt_path = directory / f"img{index}_gt.npy"
        pairs.append((scores_path, gt_path))
        if scores_path.exists() and gt_path.exists():
            continue
        rng = np.random.default_rng(index)
        seeds = rng.integers(0, [HEIGHT // 16, WIDTH // 16], size=(60, 2))
        owner = rng.integers(0, CLASSES, size=60)
        rows, cols = np.mgrid[0 : HEIGHT // 16, 0 : WIDTH // 16]
        nearest = np.argmin(
            (rows[None] - seeds[:, 0, None, None]) ** 2
            + (cols[None] - seeds[:, 1, None, None]) ** 2,
            axis=0,
        )
        gt = np.kron(owner[nearest], np.ones((16, 16), dtype=np.int64)).astype(np.uint8)
        gt[rng.random((HEIGHT // 16, WIDTH // 16)).repeat(16, 0).repeat(16, 1) < 0.05] = IGNORE
        logits = np.lib.format.open_memmap(
            scores_path, mode="w+", dtype=np.float32, shape=(CLASSES, HEIGHT, WIDTH)
        )
        for start in range(0, HEIGHT, 128):
            block = rng.standard_normal((CLASSES, 128, WIDTH), dtype=np.float32)
            rows_gt = gt[start : start + 128]
            for class_id in range(CLASSES):
                block[class_id][rows_gt == class_id] += 3.0
            logits[:, start : start + 128] = block
        logits.flush()
        del logits
        np.save(gt_path, gt)
    return pairs


def run_segeval(
    pairs: list[tuple[Path, Path]], terms: list[str], per_image: bool
) -> dict[str, float]:
    from segeval.losses import LossAccumulator, LossOptions

    options = LossOptions(ignore_index=IGNORE, lovasz_per_image=per_image)
    accumulator = LossAccumulator(terms, num_classes=CLASSES, options=options, calibration=True)
    for scores_path, gt_path in pairs:
        accumulator.add_image(
            np.load(scores_path, mmap_mode="r"), np.load(gt_path), name=scores_path.name
        )
    report = accumulator.result()
    assert report.calibration is not None
    return {**report.values, "ece": report.calibration.ece}


def run_naive(pairs: list[tuple[Path, Path]]) -> dict[str, float]:
    """Per image, everything in memory: the way one writes it without streaming in mind."""
    from scipy.ndimage import distance_transform_edt  # type: ignore[import-untyped,unused-ignore]

    totals: dict[str, list[float]] = {name: [] for name in TERMS_ALL}
    confidences: list[np.ndarray] = []
    corrects: list[np.ndarray] = []
    sums = {"ce": 0.0, "focal": 0.0, "boundary": 0.0, "pixels": 0.0}
    inter = np.zeros(CLASSES)
    union_parts = np.zeros(CLASSES)
    truth_sum = np.zeros(CLASSES)
    for scores_path, gt_path in pairs:
        logits = np.load(scores_path).astype(np.float64)
        gt = np.load(gt_path).astype(np.int64)
        valid = gt != IGNORE
        safe = np.where(valid, gt, 0)
        shifted = logits - logits.max(axis=0)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=0))
        probs = np.exp(log_probs)
        onehot = (np.arange(CLASSES)[:, None, None] == gt[None]).astype(np.float64)
        log_true = np.take_along_axis(log_probs, safe[None], axis=0)[0]
        sums["ce"] += float(-log_true[valid].sum())
        sums["focal"] += float((-((1 - np.exp(log_true)) ** 2) * log_true)[valid].sum())
        masked = probs * valid
        inter += (masked * onehot).sum(axis=(1, 2))
        union_parts += masked.sum(axis=(1, 2))
        truth_sum += onehot.sum(axis=(1, 2))
        lovasz_losses = []
        flat_probs = probs[:, valid]
        flat_gt = gt[valid]
        for class_id in range(CLASSES):
            fg = (flat_gt == class_id).astype(np.float64)
            if not fg.any():
                continue
            errors = np.abs(fg - flat_probs[class_id])
            order = np.argsort(-errors)
            fg_sorted = fg[order]
            gts = fg_sorted.sum()
            jac = 1 - (gts - np.cumsum(fg_sorted)) / (gts + np.cumsum(1 - fg_sorted))
            jac[1:] = jac[1:] - jac[:-1]
            lovasz_losses.append(float(np.dot(errors[order], jac)))
        totals["lovasz"].append(float(np.mean(lovasz_losses)))
        phi = np.zeros_like(probs)
        for class_id in range(CLASSES):
            positive = onehot[class_id].astype(bool)
            if positive.any() and not positive.all():
                negative = ~positive
                phi[class_id] = (
                    distance_transform_edt(negative) * negative
                    - (distance_transform_edt(positive) - 1) * positive
                )
        sums["boundary"] += float((probs * phi).sum(axis=0)[valid].sum())
        sums["pixels"] += float(valid.sum())
        confidences.append(probs.max(axis=0)[valid])
        corrects.append((probs.argmax(axis=0) == gt)[valid])
    pixels = sums["pixels"]
    confidence = np.concatenate(confidences)
    correct = np.concatenate(corrects)
    ece = 0.0
    for lower, upper in itertools.pairwise(np.linspace(0, 1, 16)):
        in_bin = (confidence > lower) & (confidence <= upper)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    dice = (1 - 2 * inter / np.maximum(union_parts + truth_sum, 1e-7)) * (truth_sum > 0)
    jaccard = (1 - inter / np.maximum(union_parts + truth_sum - inter, 1e-7)) * (truth_sum > 0)
    return {
        "ce": sums["ce"] / pixels,
        "focal": sums["focal"] / pixels,
        "dice": float(dice.mean()),
        "jaccard": float(jaccard.mean()),
        "lovasz": float(np.mean(totals["lovasz"])),
        "boundary": sums["boundary"] / (pixels * CLASSES),
        "ece": float(ece),
    }


def worker(kind: str, directory: Path, images: int) -> None:
    pairs = make_set(directory, images)
    tracemalloc.start()
    start = time.perf_counter()
    run = SEGEVAL_RUNS.get(kind)
    values = run_naive(pairs) if run is None else run_segeval(pairs, *run)
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "kind": kind,
                "seconds": seconds,
                "traced_peak": traced_peak,
                "rss_peak": rss_peak,
                "values": values,
            }
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/segeval-loss-bench"))
    parser.add_argument("--worker", choices=KINDS)
    parser.add_argument("--only", nargs="*", choices=KINDS, default=KINDS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.dir, args.images)
        return
    make_set(args.dir, args.images)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    megapixels = args.images * HEIGHT * WIDTH / 1e6
    print(f"{args.images} images of {CLASSES} x {HEIGHT} x {WIDTH} float32 logits, one thread\n")
    print(f"{'run':19s} {'seconds':>8s} {'MPix/s':>7s} {'peak RSS MB':>12s} {'peak heap MB':>13s}")
    results: list[dict[str, Any]] = []
    for kind in args.only:
        command = [
            sys.executable,
            "-m",
            "benchmarks.loss_bench",
            "--worker",
            kind,
            "--dir",
            str(args.dir),
            "--images",
            str(args.images),
        ]
        output = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        result = json.loads(output.stdout.strip().splitlines()[-1])
        results.append(result)
        print(
            f"{kind:19s} {result['seconds']:8.2f} {megapixels / result['seconds']:7.2f} "
            f"{result['rss_peak'] / 2**20:12.0f} {result['traced_peak'] / 2**20:13.0f}"
        )
    print()
    for result in results:
        shown = ", ".join(f"{k}={v:.6f}" for k, v in result["values"].items())
        print(f"{result['kind']}: {shown}")


if __name__ == "__main__":
    main()
