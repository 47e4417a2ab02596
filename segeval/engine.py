"""The parallel engine: score mask pairs in chunks, on worker threads.

Work is handed out as chunks of pairs. A worker reads, aligns and counts every
pair of its chunk into one :class:`~segeval.confusion.ConfusionMatrix` and
returns only that matrix (plus each image's TP / FP / FN when per-image results
are wanted): small count arrays, never pixels. Matrices merge by integer
addition, so the result does not depend on the number of workers or the order
in which chunks finish; chunks are nevertheless yielded in input order so
per-image rows come out sorted.

Workers are threads, not processes: the PNG decoders (imagecodecs, Pillow) and
numpy's array operations release the GIL, so threads keep every core busy, and
they start instantly, share one copy of everything and pickle nothing (a pool of
processes was slower end to end when this engine was measured, and used twice
the memory). Batch scoring of untrusted submissions uses processes instead, to
isolate crashes (:mod:`segeval.batch`).

With ``jobs=1`` everything runs in the calling thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from segeval.confusion import ConfusionMatrix
from segeval.metrics import counts_from_matrix
from segeval.pairing import MaskPair
from segeval.scoring import PairScorer

__all__ = [
    "ChunkResult",
    "ImageCounts",
    "Work",
    "default_jobs",
    "parallel_map",
    "run_chunks",
    "score_chunk",
    "tune_allocator",
]

ImageCounts = tuple[str, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Work:
    """Everything a worker needs to score pairs (picklable, sent once per chunk).

    Attributes
    ----------
    scorer : PairScorer
        How each side is read and aligned.
    template : ConfusionMatrix
        An empty accumulator with the run's mapping and policies.
    per_image : bool
        Also return each image's TP / FP / FN.
    """

    scorer: PairScorer
    template: ConfusionMatrix
    per_image: bool = False


@dataclass
class ChunkResult:
    """What scoring one chunk of pairs produced."""

    counts: ConfusionMatrix
    pairs: int
    resized: int = 0
    images: list[ImageCounts] = field(default_factory=list)


def score_chunk(work: Work, pairs: Sequence[MaskPair]) -> ChunkResult:
    """Score a chunk of pairs into one matrix (what each worker runs).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("gt.png", "pred.png"):
    ...     Image.fromarray(np.array([[0, 1]], dtype=np.uint8)).save(root / name)
    >>> pair = MaskPair("a", root / "gt.png", root / "pred.png")
    >>> result = score_chunk(Work(PairScorer(), ConfusionMatrix(2)), [pair, pair])
    >>> result.counts.counts.tolist(), result.pairs
    ([[2, 0], [0, 2]], 2)
    """
    total = work.template.copy_empty()
    result = ChunkResult(counts=total, pairs=len(pairs))
    for pair in pairs:
        scored = work.scorer.score(pair, total, own_counts=work.per_image)
        result.resized += scored.resized
        if scored.counts is not None:
            own = scored.counts
            result.images.append((pair.key, *counts_from_matrix(own.counts, own.missed)))
    return result


def default_jobs() -> int:
    """The number of CPU cores this process may use.

    Examples
    --------
    >>> default_jobs() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def chunk_size_for(num_pairs: int, jobs: int) -> int:
    """Pairs per chunk: a few chunks per worker for balance, at most 16.

    Examples
    --------
    >>> chunk_size_for(500, 2), chunk_size_for(40, 2), chunk_size_for(3, 1)
    (16, 5, 1)
    """
    return max(1, min(16, num_pairs // (jobs * 4)))


def tune_allocator() -> None:
    """Keep glibc from returning each image's buffers to the OS (and faulting them back).

    Large temporaries are allocated with mmap and unmapped on free by default,
    so every image pays page faults again; raising the thresholds keeps the
    memory in the process (bounded: a few images' worth). A no-op elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 256 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 512 * 1024 * 1024)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return


T = TypeVar("T")
R = TypeVar("R")


def parallel_map(function: Callable[[T], R], items: Sequence[T], jobs: int = 1) -> Iterator[R]:
    """``map`` on up to ``jobs`` worker threads, results in input order.

    Examples
    --------
    >>> list(parallel_map(lambda x: x * x, [1, 2, 3], jobs=2))
    [1, 4, 9]
    """
    jobs = max(1, min(jobs, len(items)))
    if jobs == 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="segeval") as executor:
        yield from executor.map(function, items)


def run_chunks(
    work: Work, pairs: Sequence[MaskPair], jobs: int = 1, chunk_size: int | None = None
) -> Iterator[ChunkResult]:
    """Score every pair; yield one result per chunk, in input order.

    Parameters
    ----------
    work : Work
        Scorer, empty accumulator, per-image flag.
    pairs : sequence of MaskPair
    jobs : int, default 1
        Worker threads; 1 scores in the calling thread.
    chunk_size : int, optional
        Pairs per chunk (default :func:`chunk_size_for`).

    Yields
    ------
    ChunkResult

    Raises
    ------
    SegevalError
        The first error of any pair.
    """
    size = chunk_size or chunk_size_for(len(pairs), jobs)
    chunks = [pairs[start : start + size] for start in range(0, len(pairs), size)]
    yield from parallel_map(lambda chunk: score_chunk(work, chunk), chunks, jobs)
