"""``segeval loss`` on Cityscapes-sized stored logits: throughput and peak memory.

Writes a few 19 x 1024 x 2048 float32 logit maps (160 MB each, ``.npy``) with
8-bit PNG ground truth (60 Voronoi regions of 16 x 16 cells, 5 % void = 255)
under ``benchmarks/.cache/``, then runs each of these in a fresh process, so
that peak memory is that run's alone:

* ``segeval``: the command itself, ``segeval loss`` with every multi-class term
  (ce, focal, dice, jaccard, lovasz per image, boundary) and calibration, at
  ``--jobs 1`` and at ``--jobs N``;
* ``segeval-set``: the same with the default whole-set Lovasz (it keeps every
  pixel's error of every class until the end);
* ``segeval-pixel``: ce, focal, dice, jaccard and calibration only (no sort,
  no distance transform);
* ``numpy``: a PyTorch-free baseline written the obvious way: load the whole
  map, float64 softmax in memory, one-hot targets, every term on full arrays
  (the same definitions as ``segeval`` with ``--lovasz-per-image``; the values
  are compared).

Peak memory is the process's peak resident set (``ru_maxrss``: the memory-mapped
logit pages it touched count) and the peak of the allocations numpy reports to
tracemalloc (its arrays). BLAS and OpenMP pools are held to one thread.

Usage: python -m benchmarks.loss_bench [--images 3] [--jobs 2]
(``python -m benchmarks.run --only losses`` also writes the section of
docs/performance.md.)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / ".cache"
CLASSES, HEIGHT, WIDTH = 19, 1024, 2048
IGNORE = 255
TERMS = ["ce", "focal", "dice", "jaccard", "lovasz", "boundary"]
PIXEL_TERMS = ["ce", "focal", "dice", "jaccard"]
KINDS = ("segeval", "segeval-set", "segeval-pixel", "numpy")


def make_set(images: int, cache: Path = CACHE) -> Path:
    """``logits/imgN.npy`` and ``gt/imgN.png`` under ``cache/loss-cityscapes-<images>``."""
    from PIL import Image

    root = cache / f"loss-cityscapes-{images}"
    if (root / ".complete").exists():
        return root
    for side in ("logits", "gt"):
        (root / side).mkdir(parents=True, exist_ok=True)
    for index in range(images):
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
            root / "logits" / f"img{index}.npy",
            mode="w+",
            dtype=np.float32,
            shape=(CLASSES, HEIGHT, WIDTH),
        )
        for start in range(0, HEIGHT, 128):
            block = rng.standard_normal((CLASSES, 128, WIDTH), dtype=np.float32)
            rows_gt = gt[start : start + 128]
            for class_id in range(CLASSES):
                block[class_id][rows_gt == class_id] += 3.0
            logits[:, start : start + 128] = block
        logits.flush()
        del logits
        Image.fromarray(gt).save(root / "gt" / f"img{index}.png")
    (root / ".complete").touch()
    return root


def run_segeval(root: Path, jobs: int, terms: list[str], per_image: bool) -> dict[str, float]:
    """The command line itself, in this process (so that its memory is measured)."""
    from segeval.cli import main

    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "loss.json"
        argv = [
            "loss",
            str(root / "logits"),
            str(root / "gt"),
            *(f"--loss={term}" for term in terms),
            "--calibration",
            "--jobs",
            str(jobs),
            "--quiet",
            "--format",
            "json",
            "--output",
            str(output),
        ]
        if per_image:
            argv.append("--lovasz-per-image")
        try:
            main(argv)
        except SystemExit as done:
            if done.code:
                raise RuntimeError(f"segeval loss exited with {done.code}") from None
        document = json.loads(output.read_text())
    values = {term: entry["value"] for term, entry in document["terms"].items()}
    return {**values, "ece": document["calibration"]["ece"]}


def run_numpy(root: Path) -> dict[str, float]:
    """Per image, everything in memory: the way one writes it without streaming in mind."""
    from PIL import Image
    from scipy.ndimage import distance_transform_edt

    lovasz: list[float] = []
    confidences: list[np.ndarray] = []
    corrects: list[np.ndarray] = []
    sums = {"ce": 0.0, "focal": 0.0, "boundary": 0.0, "pixels": 0.0}
    inter = np.zeros(CLASSES)
    pred_sum = np.zeros(CLASSES)
    truth_sum = np.zeros(CLASSES)
    for scores_path in sorted((root / "logits").glob("*.npy")):
        logits = np.load(scores_path).astype(np.float64)
        gt = np.asarray(Image.open(root / "gt" / f"{scores_path.stem}.png")).astype(np.int64)
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
        pred_sum += masked.sum(axis=(1, 2))
        truth_sum += onehot.sum(axis=(1, 2))
        image_lovasz = []
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
            image_lovasz.append(float(np.dot(errors[order], jac)))
        lovasz.append(float(np.mean(image_lovasz)))
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
    dice = (1 - 2 * inter / np.maximum(pred_sum + truth_sum, 1e-7)) * (truth_sum > 0)
    jaccard = (1 - inter / np.maximum(pred_sum + truth_sum - inter, 1e-7)) * (truth_sum > 0)
    return {
        "ce": sums["ce"] / pixels,
        "focal": sums["focal"] / pixels,
        "dice": float(dice.mean()),
        "jaccard": float(jaccard.mean()),
        "lovasz": float(np.mean(lovasz)),
        "boundary": sums["boundary"] / (pixels * CLASSES),
        "ece": float(ece),
    }


def worker(kind: str, images: int, jobs: int) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    root = make_set(images)
    tracemalloc.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    if kind == "numpy":
        values = run_numpy(root)
    else:
        terms = PIXEL_TERMS if kind == "segeval-pixel" else TERMS
        values = run_segeval(root, jobs, terms, per_image=kind != "segeval-set")
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    _, traced_peak = tracemalloc.get_traced_memory()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {"kind": kind, "jobs": jobs, "seconds": seconds, "cpu_seconds": cpu_seconds}
    result["values"] = values
    print(json.dumps({**result, "traced_peak": traced_peak, "rss_peak": rss_peak}))


def measure(kind: str, images: int, jobs: int = 1) -> dict[str, Any]:
    """Run one worker in a fresh process (one BLAS/OpenMP thread) and return its result."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "benchmarks.loss_bench", "--worker", kind]
    command += ["--images", str(images), "--jobs", str(jobs)]
    output = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


def measure_all(images: int, jobs: int) -> list[dict[str, Any]]:
    """Every run of the section: segeval at 1 and ``jobs`` workers, whole set, numpy."""
    make_set(images)
    runs = [
        ("segeval", 1),
        ("segeval", jobs),
        ("segeval-set", jobs),
        ("segeval-pixel", 1),
        ("numpy", 1),
    ]
    results = []
    for kind, workers in dict.fromkeys(runs):
        print(f"  {kind}, {workers} worker(s) ...", flush=True)
        load = os.getloadavg()[0]
        results.append({**measure(kind, images, workers), "load": load})
    return results


def section(results: list[dict[str, Any]], images: int) -> list[str]:
    """The Markdown lines of docs/performance.md's loss section."""
    megapixels = images * HEIGHT * WIDTH / 1e6
    baseline = next(result for result in results if result["kind"] == "numpy")
    titles = {
        "segeval": "`segeval loss`, every term, Lovasz per image",
        "segeval-set": "`segeval loss`, every term, Lovasz over the whole set (the default)",
        "segeval-pixel": "`segeval loss`, ce, focal, dice, jaccard",
        "numpy": "numpy, the obvious way (whole map in memory, float64 softmax, one-hot), "
        "every term, Lovasz per image",
    }

    def ratios(result: dict[str, Any]) -> str:
        if result["kind"] == "segeval-pixel":  # fewer terms: no like-for-like baseline
            return "- | - |"
        return (
            f"{baseline['seconds'] / result['seconds']:.2f} x | "
            f"{baseline['cpu_seconds'] / result['cpu_seconds']:.2f} x |"
        )

    rows = [
        f"| {titles[result['kind']]} | {result['jobs']} | {result['seconds']:.1f} | "
        f"{result['cpu_seconds']:.1f} | {megapixels / result['cpu_seconds']:.2f} | "
        f"{result['rss_peak'] / 2**20:.0f} | {result['traced_peak'] / 2**20:.0f} | "
        + ratios(result)
        for result in results
    ]
    per_image = [result for result in results if result["kind"] == "segeval"]
    agreement = max(
        abs(result["values"][name] - value) / max(abs(value), 1e-300)
        for result in per_image
        for name, value in baseline["values"].items()
    )
    loads = [result["load"] for result in results]
    return [
        "## Losses on stored logits",
        "",
        f"`segeval loss` with calibration (ECE, Brier) on {images} stored 19 x 1024 x 2048 "
        "float32 logit maps (160 MB each, `.npy`, memory-mapped) and 8-bit PNG ground truth "
        "with 5 % void (`benchmarks/loss_bench.py`); every term is ce, focal, dice, jaccard, "
        "lovasz and boundary. Each run in a fresh process, one run each, BLAS held to one "
        "thread. The machine was shared (load average "
        f"{min(loads):.0f} to {max(loads):.0f} on its {os.cpu_count()} cores), so wall time "
        "is mostly waiting: CPU seconds (all threads) compare better, and the megapixels per "
        "CPU second are what one free core gives. Peak RSS counts the mapped logit pages the "
        "process touched; numpy heap is the peak of the arrays numpy allocated "
        "(tracemalloc). The numpy baseline computes the same definitions; its values and "
        f"segeval's agree to {agreement:.1e} (relative).",
        "",
        "| run | workers | seconds | CPU seconds | MPix per CPU s | peak RSS, MiB | "
        "numpy heap, MiB | faster than numpy (wall) | less CPU than numpy |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
        *rows,
        "",
        "The boundary loss's exact distance transforms (scipy, two per class present) and "
        "the Lovasz sorts are what the difference between the first and the fourth row "
        "costs. Memory per worker is bounded by one image whatever the number of images, "
        "except the whole-set Lovasz, which keeps every pixel's error (docs/losses.md, "
        '"Streaming and memory").',
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker", choices=KINDS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.images, args.jobs)
        return
    print("\n".join(section(measure_all(args.images, args.jobs), args.images)))


if __name__ == "__main__":
    main()
