"""The parallel engine: how tasks run, in one place.

A task is a function applied to one chunk of work; an :class:`Executor` runs
tasks and yields their results **in input order**. Two executors exist:

* :class:`ThreadExecutor` (``score``): the PNG decoders (imagecodecs, Pillow)
  and numpy's array operations release the GIL, so threads keep every core
  busy, start instantly, share one copy of everything and pickle nothing (a pool
  of processes was slower end to end when this was measured, and used twice the
  memory).
* :class:`ProcessExecutor` (``batch``): untrusted submissions are decoded in
  worker processes so that a decoder crash kills a worker, not the run; a task
  whose worker died comes back as a :class:`WorkerCrash` instead of a result.

A third executor (a Dask cluster, say) is one more class with the same
``run`` method. Results merge by integer addition, so they never depend on
the executor, the number of workers or the chunking; :func:`chunked` is the one
rule that cuts work into tasks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol, TypeVar

__all__ = [
    "Executor",
    "ProcessExecutor",
    "ThreadExecutor",
    "WorkerCrash",
    "chunk_size_for",
    "chunked",
    "default_jobs",
    "tune_allocator",
]

T = TypeVar("T")
R = TypeVar("R")

#: Most items per task: small enough to balance two workers and to keep the
#: per-image rows flowing, large enough that a task's overhead is noise.
MAX_CHUNK = 16


@dataclass(frozen=True)
class WorkerCrash:
    """A task whose worker process died before returning (a decoder crash, a kill)."""

    message: str = "the worker process crashed"


class Executor(Protocol):
    """Runs ``function`` on every item and yields the results in input order."""

    def run(self, function: Callable[[T], R], items: Sequence[T]) -> Iterator[R | WorkerCrash]:
        """Apply ``function`` to each item; a task whose worker died yields WorkerCrash."""
        ...


class ThreadExecutor:
    """Worker threads (or the calling thread with ``jobs=1``).

    Examples
    --------
    >>> list(ThreadExecutor(2).run(lambda x: x * x, [1, 2, 3]))
    [1, 4, 9]
    """

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)

    def run(self, function: Callable[[T], R], items: Sequence[T]) -> Iterator[R | WorkerCrash]:
        """See :class:`Executor`; an exception in a task propagates."""
        jobs = min(self.jobs, len(items))
        if jobs <= 1:
            yield from map(function, items)
            return
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="segeval") as pool:
            yield from pool.map(function, items)


class ProcessExecutor:
    """Worker processes that isolate crashes (forked on Linux).

    ``function`` and the items must be picklable. When a worker dies the pool
    is broken: every task not finished by then yields :class:`WorkerCrash`, and
    the caller decides how to retry (batch retries one submission at a time).
    """

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)

    def run(self, function: Callable[[T], R], items: Sequence[T]) -> Iterator[R | WorkerCrash]:
        """See :class:`Executor`."""
        context = (
            multiprocessing.get_context("fork")
            if sys.platform.startswith("linux")
            else multiprocessing.get_context()
        )
        with ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=context, initializer=tune_allocator
        ) as pool:
            futures: list[Future[R]] = [pool.submit(function, item) for item in items]
            broken = False
            for future in futures:
                if broken:
                    yield WorkerCrash()
                    continue
                try:
                    yield future.result()
                except BrokenProcessPool:
                    broken = True
                    yield WorkerCrash()


def chunk_size_for(num_items: int, jobs: int) -> int:
    """Items per task: about four tasks per worker for balance, at most :data:`MAX_CHUNK`.

    Examples
    --------
    >>> chunk_size_for(500, 2), chunk_size_for(40, 2), chunk_size_for(3, 1)
    (16, 5, 1)
    """
    return max(1, min(MAX_CHUNK, num_items // (jobs * 4)))


def chunked(items: Sequence[T], jobs: int, size: int | None = None) -> list[Sequence[T]]:
    """Cut work into tasks of :func:`chunk_size_for` items (the one chunking rule).

    Examples
    --------
    >>> chunked(list(range(5)), jobs=1, size=2)
    [[0, 1], [2, 3], [4]]
    """
    size = size or chunk_size_for(len(items), jobs)
    return [items[start : start + size] for start in range(0, len(items), size)]


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
