"""One timed measurement, run in its own process by ``benchmarks/run.py``.

Usage: python -m benchmarks.worker MODE PRED_DIR GT_DIR [--jobs N] [--limit K]
       [--classes C]

Modes:
  floor        decode both masks of every pair, nothing else (same decoder,
               same chunks and processes as segeval): the floor segeval aims at
  segeval      segeval.run.evaluate end to end
  segeval-per-image  the same with per-image means (each pair counted on its own)
  segeval-ci   the same with bootstrap confidence intervals (score --ci: 2,000 resamples)
  sklearn      Pillow + sklearn.metrics.confusion_matrix per image (a naive loop)
  numpy        Pillow + masked np.bincount(gt * C + pred) per image (the usual
               hand-written loop)
  torchmetrics Pillow + torchmetrics MulticlassConfusionMatrix.update per image
               (default argument validation)
  count        counting alone as score counts (many classes: chunk-summed with
               RawPairCounts, one fold per 16 pairs), on pairs decoded beforehand
               (use --limit)
  count-pairs  counting alone pair by pair (ConfusionMatrix.update, as with --per-image)
  batch        segeval batch: PRED_DIR holds one folder per submission
  segeval-boundary, segeval-surface
               segeval.run.evaluate with --boundary (Boundary IoU + BF) or
               --surface-distances, end to end
  boundary-core
               on --limit pairs decoded beforehand, one thread: segeval's
               Boundary IoU, BF and surface distances against the obvious
               per-class implementations (benchmarks/boundary_bench.py), with
               the results checked equal; prints every timing

Prints one JSON line: {"seconds", "pairs", "pixels", "cpu_seconds"}; imports are
not timed. CPU time is what the boundary section compares: on a shared machine
other jobs inflate wall time far more than they change CPU time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segeval.core.boundary import BoundaryOptions
from segeval.core.histogram import RawPairCounts
from segeval.inputs.pairing import MaskPair, pair_folders
from segeval.intervals import IntervalOptions, with_intervals
from segeval.run.batch import BatchOptions, run_batch
from segeval.run.engine import MAX_CHUNK, ThreadExecutor, chunked, tune_allocator
from segeval.run.evaluate import evaluate
from segeval.run.options import Execution, ScoreOptions
from segeval.run.work import SUMMED_MIN_CODES, PairReader


def _decode_chunk(pairs: Sequence[MaskPair]) -> int:
    scorer = PairReader()
    pixels = 0
    for pair in pairs:
        gt, _, _ = scorer.read(pair)
        pixels += gt.size
    return pixels


def floor(pairs: Sequence[MaskPair], jobs: int) -> int:
    """Decode every pair with segeval's reader, chunked and run by segeval's own engine."""
    tune_allocator()
    return sum(ThreadExecutor(jobs).run(_decode_chunk, chunked(pairs, jobs)))  # type: ignore[misc]


def _pillow(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def sklearn_loop(pairs: Sequence[MaskPair], classes: int) -> int:
    from sklearn.metrics import confusion_matrix

    total = np.zeros((classes, classes), dtype=np.int64)
    pixels = 0
    for pair in pairs:
        assert pair.pred_path is not None
        gt, pred = _pillow(pair.gt_path).ravel(), _pillow(pair.pred_path).ravel()
        keep = gt != 255
        total += confusion_matrix(gt[keep], pred[keep], labels=list(range(classes)))
        pixels += gt.size
    return pixels


def numpy_loop(pairs: Sequence[MaskPair], classes: int) -> int:
    total = np.zeros(classes * classes, dtype=np.int64)
    pixels = 0
    for pair in pairs:
        assert pair.pred_path is not None
        gt, pred = _pillow(pair.gt_path).ravel(), _pillow(pair.pred_path).ravel()
        keep = gt != 255
        total += np.bincount(gt[keep].astype(np.int64) * classes + pred[keep], minlength=classes**2)
        pixels += gt.size
    return pixels


def torchmetrics_loop(pairs: Sequence[MaskPair], classes: int) -> int:
    import torch
    from torchmetrics.classification import MulticlassConfusionMatrix

    torch.set_num_threads(1)
    metric = MulticlassConfusionMatrix(num_classes=classes, ignore_index=255)
    pixels = 0
    for pair in pairs:
        assert pair.pred_path is not None
        gt = torch.from_numpy(_pillow(pair.gt_path).astype(np.int64))
        pred = torch.from_numpy(_pillow(pair.pred_path).astype(np.int64))
        metric.update(pred, gt)
        pixels += gt.numel()
    metric.compute()
    return pixels


def _pillow_bytes() -> Callable[[bytes], np.ndarray]:
    import io

    def decode(blob: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(blob)) as image:
            return np.asarray(image)

    return decode


def _imagecodecs() -> Callable[[bytes], np.ndarray]:
    import imagecodecs

    return imagecodecs.png_decode  # type: ignore[no-any-return]


def _pyspng() -> Callable[[bytes], np.ndarray]:
    import pyspng

    return pyspng.load  # type: ignore[no-any-return]


def _opencv() -> Callable[[bytes], np.ndarray]:
    import cv2

    def decode(blob: bytes) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)  # type: ignore[no-any-return]

    return decode


DECODERS: dict[str, Callable[[], Callable[[bytes], np.ndarray]]] = {
    "pillow": _pillow_bytes,
    "imagecodecs": _imagecodecs,
    "pyspng": _pyspng,
    "opencv": _opencv,
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "mode",
        choices=[
            "floor", "segeval", "segeval-per-image", "segeval-ci", "count", "count-pairs",
            "batch", "sklearn", "numpy", "torchmetrics",
            "segeval-boundary", "segeval-surface", "boundary-core",
            "decode-pillow", "decode-imagecodecs", "decode-pyspng", "decode-opencv",
        ],
    )  # fmt: skip
    parser.add_argument("pred", type=Path)
    parser.add_argument("gt", type=Path)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--classes", type=int, default=19)
    args = parser.parse_args(argv)
    if args.mode == "batch":  # PRED_DIR is a folder of submission folders
        started = time.perf_counter()
        board = run_batch(
            args.pred,
            args.gt,
            BatchOptions(
                score=ScoreOptions(num_classes=args.classes), execution=Execution(jobs=args.jobs)
            ),
        )
        seconds = time.perf_counter() - started
        assert not board.invalid, board.invalid
        count = len(board.entries) * board.images
        json.dump({"seconds": seconds, "pairs": count, "pixels": 0}, sys.stdout)
        sys.stdout.write("\n")
        return
    pairs = pair_folders(args.pred, args.gt).pairs[: args.limit]
    if args.mode == "boundary-core":
        json.dump(boundary_core(pairs, args.classes), sys.stdout)
        sys.stdout.write("\n")
        return
    started = time.perf_counter()
    cpu_started = time.process_time()
    if args.mode.startswith("decode-"):  # one decoder alone, one thread, files in the cache
        decode = DECODERS[args.mode.removeprefix("decode-")]()
        files = [pair.gt_path for pair in pairs] + [pair.pred_path for pair in pairs]
        blobs = [Path(path).read_bytes() for path in files if path is not None]
        decode(blobs[0])
        started = time.perf_counter()
        pixels = sum(decode(blob).size for blob in blobs)
        seconds = time.perf_counter() - started
        json.dump({"seconds": seconds, "pairs": len(blobs), "pixels": pixels}, sys.stdout)
        sys.stdout.write("\n")
        return
    if args.mode in ("count", "count-pairs"):  # on masks decoded beforehand (not timed)
        tune_allocator()
        masks = [PairReader().read(pair)[:2] for pair in pairs]
        accumulator = ScoreOptions(num_classes=args.classes).new_accumulator()
        started = time.perf_counter()
        # Few classes: count_tasks folds each pair too.
        if args.mode == "count-pairs" or accumulator.mapping.code_count < SUMMED_MIN_CODES:
            for gt, pred in masks:
                accumulator.update(pred, gt)
        else:  # what count_tasks does without per-image output: one fold per chunk
            for start in range(0, len(masks), MAX_CHUNK):
                summed = RawPairCounts(accumulator.chunk_pixels)
                for gt, pred in masks[start : start + MAX_CHUNK]:
                    if gt.dtype == pred.dtype == np.uint8:
                        summed.add(gt, pred)
                    else:
                        accumulator.update(pred, gt)
                part = accumulator.copy_empty()
                part.add_raw_histogram(summed.histogram(), summed.pairs)
                accumulator += part
        pixels = sum(gt.size for gt, _ in masks)
    elif args.mode == "floor":
        pixels = floor(pairs, args.jobs)
    elif args.mode.startswith("segeval"):
        if args.limit is not None:
            parser.error("segeval scores whole folders; build a folder of the size wanted")
        tune_allocator()
        boundary = {
            "segeval-boundary": BoundaryOptions(boundary=True),
            "segeval-surface": BoundaryOptions(surface=True),
        }.get(args.mode)
        options = ScoreOptions(
            num_classes=args.classes,
            boundary=boundary,
            per_image=args.mode == "segeval-per-image",
            image_counts=args.mode == "segeval-ci",
        )
        report = evaluate(args.pred, args.gt, options, execution=Execution(jobs=args.jobs))
        if args.mode == "segeval-ci":
            report = with_intervals(
                report, IntervalOptions(confidence=0.95, seed=0), jobs=args.jobs
            )
        pixels = report.scored_pixels + report.ignored_pixels
    elif args.mode == "sklearn":
        pixels = sklearn_loop(pairs, args.classes)
    elif args.mode == "numpy":
        pixels = numpy_loop(pairs, args.classes)
    else:
        pixels = torchmetrics_loop(pairs, args.classes)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    json.dump(
        {"seconds": seconds, "pairs": len(pairs), "pixels": pixels, "cpu_seconds": cpu_seconds},
        sys.stdout,
    )
    sys.stdout.write("\n")


def boundary_core(pairs: Sequence[MaskPair], classes: int) -> dict[str, float]:
    """CPU seconds per stage over the pairs, ours and the obvious implementations.

    Each result is checked equal to the obvious implementation's (to 1e-12 for
    distances), so a speed-up never hides a different answer. Stages of ours:
    ``codes`` (both maps to class codes), ``bands`` (codes and every class's
    band, both maps), ``points`` (codes and every class's boundary points).
    """
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    from benchmarks import boundary_bench as obvious
    from segeval.core import boundary

    cv2.setNumThreads(1)
    masks = [PairReader().read(pair)[:2] for pair in pairs]
    timings: dict[str, float] = {}

    def timed(name: str, function: Callable[[np.ndarray, np.ndarray], Any]) -> list[Any]:
        started = time.process_time()
        results = [function(gt, pred) for gt, pred in masks]
        timings[name] = time.process_time() - started
        return results

    def prepared(gt: np.ndarray, pred: np.ndarray) -> tuple[boundary.LabelMap, boundary.LabelMap]:
        reference = boundary.prepare_reference(gt, classes)
        return reference.gt, boundary.prepare_prediction(reference, pred)

    def bands(gt: np.ndarray, pred: np.ndarray) -> list[np.ndarray]:
        return [label_map.band(boundary.band_width(gt.shape)) for label_map in prepared(gt, pred)]

    def points(gt: np.ndarray, pred: np.ndarray) -> list[np.ndarray]:
        return [label_map.class_starts() for label_map in prepared(gt, pred)]

    def biou(gt: np.ndarray, pred: np.ndarray) -> boundary.BoundaryStats:
        width = boundary.band_width(gt.shape)
        return boundary.boundary_stats(gt, pred, classes, width=width, bf=False)

    def bf(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
        return boundary._bf_counts(*prepared(gt, pred), boundary.bf_tolerance(gt.shape))

    def surface(gt: np.ndarray, pred: np.ndarray) -> boundary.SurfaceStats:
        return boundary.surface_stats(gt, pred, classes, nsd_tolerance=2.0)

    def count(gt: np.ndarray, pred: np.ndarray) -> None:
        ScoreOptions(num_classes=classes).new_accumulator().update(pred, gt)

    # Warm up on the first pair (SciPy's KD-tree import, OpenCV's first calls).
    gt0, pred0 = masks[0]
    count(gt0, pred0), biou(gt0, pred0), bf(gt0, pred0), surface(gt0, pred0)
    timed("count", count)
    timed("codes", prepared)
    timed("bands", bands)
    timed("points", points)
    codes = {id(gt): prepared(gt, pred) for gt, pred in masks}

    def bands_only(gt: np.ndarray, pred: np.ndarray) -> list[np.ndarray]:
        width = boundary.band_width(gt.shape)
        return [boundary.class_bands(m.codes, width, classes) for m in codes[id(gt)]]

    timed("bands_opencv", bands_only)
    opencv = boundary._opencv
    boundary._opencv = lambda: None  # the fallback without OpenCV: SciPy's min/max filters
    try:
        timed("bands_scipy", bands_only)
    finally:
        boundary._opencv = opencv
    ours_biou = timed("biou", biou)
    obvious_biou = timed(
        "biou_obvious",
        lambda gt, pred: obvious.obvious_biou(gt, pred, boundary.band_width(gt.shape)),
    )
    for ours, other in zip(ours_biou, obvious_biou, strict=True):
        assert np.array_equal(ours.intersection[0], other[0])
        assert np.array_equal(ours.union[0], other[1])
    ours_bf = timed("bf", bf)
    obvious_bf = timed(
        "bf_obvious",
        lambda gt, pred: obvious.obvious_bf(gt, pred, boundary.bf_tolerance(gt.shape)),
    )
    for ours, other in zip(ours_bf, obvious_bf, strict=True):
        assert np.array_equal(ours, other)
    ours_surface = timed("surface", surface)
    monai = timed("surface_monai", lambda gt, pred: obvious.monai_surface(gt, pred, 2.0))
    for ours, other in zip(ours_surface, monai, strict=True):
        assert np.allclose(ours.values[0], other, rtol=1e-12, equal_nan=True)
    timed("surface_monai_opencv", lambda gt, pred: obvious.monai_surface(gt, pred, 2.0, "opencv"))
    first = masks[0][0]
    return {
        "pairs": len(masks),
        "width": boundary.band_width(first.shape),
        "theta": boundary.bf_tolerance(first.shape),
        **timings,
    }


if __name__ == "__main__":
    main()
