"""Time the bootstrap: 2,000 resamples of 500 images x 19 classes (target < 2 s).

Every dataset-level metric and per-class IoU / Dice, BCa (the default) and
percentile, jobs 1 and 2; the best of several rounds is kept (interference from
the rest of the machine only ever adds time) and every round's range is shown.
``make bench`` (benchmarks/run.py) runs :func:`measure` and writes the result to
docs/performance.md; run this module alone for just these numbers.

Usage: python -m benchmarks.bootstrap_bench [--images 500] [--classes 19]
       [--resamples 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np

from segeval.stats import ImageCountTable, bootstrap_ci, paired_bootstrap


def synthetic_table(images: int, classes: int, seed: int) -> ImageCountTable:
    """Cityscapes-sized counts (2048 x 1024 pixels per image spread over the classes)."""
    rng = np.random.default_rng(seed)
    share = rng.dirichlet(np.full(classes, 0.5), size=images)
    support = (share * 2048 * 1024).astype(np.int64)
    tp = rng.binomial(support, 0.8)
    fn = support - tp
    fp = rng.binomial(fn.sum(axis=1, keepdims=True), 1 / classes, size=(images, classes))
    return ImageCountTable.from_arrays([f"img{i:05d}" for i in range(images)], tp, fp, fn)


def measure(
    images: int = 500, classes: int = 19, resamples: int = 2000, rounds: int = 5
) -> list[tuple[str, float, float]]:
    """Each case's best and slowest time in seconds over ``rounds`` (``make bench`` calls this)."""
    table = synthetic_table(images, classes, seed=0)
    other = synthetic_table(images, classes, seed=1)
    other = ImageCountTable(table.keys, other.counts)
    ci = partial(bootstrap_ci, table, n_resamples=resamples, seed=1)
    cases = [
        ("bootstrap_ci, BCa, 1 thread", ci),
        ("bootstrap_ci, BCa, 2 threads", partial(ci, jobs=2)),
        ("bootstrap_ci, percentile, 1 thread", partial(ci, method="percentile")),
        ("paired_bootstrap, BCa, 1 thread", partial(paired_bootstrap, table, other,
                                                    n_resamples=resamples, seed=1)),
    ]  # fmt: skip
    ci()  # warm up imports and BLAS threads outside the timed rounds
    results = []
    for label, run in cases:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        results.append((label, min(times), max(times)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    table = synthetic_table(args.images, args.classes, seed=0)
    print(
        f"{args.resamples} resamples of {args.images} images x {args.classes} classes "
        f"(table {table.nbytes / 1e3:.0f} kB, {table.counts.dtype}); best of {args.rounds}"
    )
    for label, best, worst in measure(args.images, args.classes, args.resamples, args.rounds):
        print(f"{label:36}: {best:.3f} s (range {best:.3f}-{worst:.3f})")


if __name__ == "__main__":
    main()
