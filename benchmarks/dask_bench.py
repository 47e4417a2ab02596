"""The Dask section of ``make bench``: what running on a cluster costs against threads.

Everything runs on this machine: a ``LocalCluster`` of 2 worker processes (one
thread each) on 127.0.0.1, against the thread engine with 2 threads, on the
same Cityscapes-like set. Measured:

* cluster start-up (processes up and connected), and warm-up (each worker's
  first import of segeval and numpy), separately from scoring;
* scoring on the *already running* cluster against the thread engine, the two
  alternating over the rounds, best of each kept (interference only adds):
  wall time, and CPU time (user + system, of this process, which also runs
  the scheduler, plus the workers), which other load on the machine changes
  far less than wall time;
* CPU time split into the time inside the tasks (each task's own thread CPU
  time: reading and counting, the same work on both engines) and the rest
  (scheduling, transfer, event loops): the rest is the engine's overhead, and
  it hardly moves with the load, which inflates the work inside the tasks of
  both engines alike;
* the cost of one task: an empty task's round trip, and the scoring run's
  extra CPU time outside the tasks divided by its number of tasks; and what the
  idle cluster burns (heartbeats, event loops) per second, which a slow run pays
  for longer, with segeval's settings (``QUIET_WORKERS``) and with Dask's defaults;
* the run time against the images per task (``max_chunk``).

Run alone with ``python -m benchmarks.run --only dask``.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

__all__ = ["DaskResults", "measure_dask", "render_dask"]


@dataclass
class DaskResults:
    """Seconds measured by :func:`measure_dask`."""

    pairs: int
    workers: int
    startup: float
    warmup: float
    threads: list[float] = field(default_factory=list)
    dask: list[float] = field(default_factory=list)
    threads_cpu: list[float] = field(default_factory=list)
    dask_cpu: list[float] = field(default_factory=list)
    threads_in_tasks: list[float] = field(default_factory=list)
    dask_in_tasks: list[float] = field(default_factory=list)
    tasks: int = 0
    images_per_task: int = 0
    empty_task: float = 0.0
    idle_cpu: float = 0.0
    idle_cpu_defaults: float = 0.0
    by_chunk: dict[int, float] = field(default_factory=dict)

    @property
    def overhead(self) -> float:
        """Dask's best run against the thread engine's best, minus 1."""
        return min(self.dask) / min(self.threads) - 1

    @property
    def cpu_overhead(self) -> float:
        """Dask's least CPU time against the thread engine's, minus 1."""
        return min(self.dask_cpu) / min(self.threads_cpu) - 1

    @property
    def threads_outside(self) -> float:
        """The thread engine's least CPU time outside its tasks."""
        return min(c - t for c, t in zip(self.threads_cpu, self.threads_in_tasks, strict=True))

    @property
    def dask_outside(self) -> float:
        """Dask's least CPU time outside its tasks (scheduler, transfers, event loops)."""
        return min(c - t for c, t in zip(self.dask_cpu, self.dask_in_tasks, strict=True))

    @property
    def outside_overhead(self) -> float:
        """Dask's extra CPU outside the tasks against the thread engine's least CPU time.

        The work inside the tasks is the same on both engines; what the load
        does to it (caches, frequency) is not the engine's cost.
        """
        return (self.dask_outside - self.threads_outside) / min(self.threads_cpu)

    @property
    def per_task(self) -> float:
        """The scoring run's extra CPU seconds outside the tasks, per task."""
        return (self.dask_outside - self.threads_outside) / self.tasks


def _empty(items: Sequence[int]) -> int:
    return len(items)


def _warm(_: object) -> str:
    import segeval.run.work  # noqa: F401  (what a first scoring task imports)

    return "ready"


def _thread_timed(function: Callable[[Any], Any], items: Any) -> tuple[Any, float]:
    """``function(items)`` and the CPU seconds its thread spent on it."""
    started = time.thread_time()
    result = function(items)
    return result, time.thread_time() - started


class _TaskClock:
    """An executor that adds up the CPU time spent inside its tasks (wraps another)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    def chunk(self, items: Sequence[Any]) -> list[Sequence[Any]]:
        return list(self.inner.chunk(items))

    def run(self, function: Any, items: Sequence[Any], on_done: Any = None) -> Iterator[Any]:
        for outcome in self.inner.run(partial(_thread_timed, function), items, on_done):
            if isinstance(outcome, tuple):
                result, seconds = outcome
                self.seconds += seconds
                yield result
            else:  # a WorkerCrash
                yield outcome


def _timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measured(run: Callable[[], Any], client: Any = None) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process (and of the workers, given a client)."""

    def cpu() -> float:
        workers = 0.0 if client is None else sum(client.run(_cpu_seconds).values())
        return _cpu_seconds() + workers

    cpu_before = cpu()
    wall = _timed(run)
    return wall, cpu() - cpu_before


def measure_dask(folder: Path, *, workers: int = 2, rounds: int = 3) -> DaskResults:
    """Measure the Dask executor against the thread engine on ``folder``/pred and /gt."""
    import dask.config
    import distributed

    from segeval.run.dask_executor import QUIET_WORKERS, DaskExecutor
    from segeval.run.engine import ThreadExecutor, tune_allocator
    from segeval.run.evaluate import evaluate
    from segeval.run.options import Execution, ScoreOptions

    tune_allocator()
    options = ScoreOptions(num_classes=19)
    pred, gt = folder / "pred", folder / "gt"
    started = time.perf_counter()
    size = {"n_workers": workers, "threads_per_worker": 1}
    local = distributed.LocalCluster
    with dask.config.set(QUIET_WORKERS):  # as --scheduler local starts its cluster
        cluster = local(host="127.0.0.1", dashboard_address="127.0.0.1:0", **size)
    client = distributed.Client(cluster)
    client.wait_for_workers(workers)
    startup = time.perf_counter() - started
    warmup = _timed(lambda: client.gather(client.map(_warm, range(workers * 4), pure=False)))
    results = DaskResults(pairs=0, workers=workers, startup=startup, warmup=warmup)
    try:
        executor = DaskExecutor(client)
        clocks = {"threads": _TaskClock(ThreadExecutor(workers)), "dask": _TaskClock(executor)}
        evaluate(pred, gt, options, execution=Execution(executor=clocks["dask"]))  # file cache
        for _ in range(rounds):
            for name, clock in clocks.items():
                clock.seconds = 0.0
                run = partial(evaluate, pred, gt, options, execution=Execution(executor=clock))
                wall, cpu = _measured(run, client if name == "dask" else None)
                getattr(results, name).append(wall)
                getattr(results, f"{name}_cpu").append(cpu)
                getattr(results, f"{name}_in_tasks").append(clock.seconds)
        pairs = sorted(path.name for path in gt.iterdir())
        results.pairs = len(pairs)
        chunks = executor.chunk(pairs)
        results.tasks, results.images_per_task = len(chunks), len(chunks[0])
        empty = [[index] for index in range(200)]
        list(executor.run(_empty, empty))
        results.empty_task = min(
            _timed(lambda: list(executor.run(_empty, empty))) / len(empty) for _ in range(rounds)
        )
        wall, cpu = _measured(lambda: time.sleep(5), client)
        results.idle_cpu = cpu / wall
        for max_chunk in (4, 8, 16, 32):
            sized = DaskExecutor(client, max_chunk=max_chunk)
            count = len(sized.chunk(pairs)[0])
            started = time.perf_counter()
            evaluate(pred, gt, options, execution=Execution(executor=sized))
            results.by_chunk[count] = time.perf_counter() - started
    finally:
        client.close()
        cluster.close()
    results.idle_cpu_defaults = _idle_cpu(workers, {"distributed.worker.profile.enabled": True})
    return results


def _idle_cpu(workers: int, settings: dict[str, Any]) -> float:
    """CPU seconds per second of an idle cluster started with ``settings`` (Dask's defaults)."""
    import dask.config
    import distributed

    size = {"n_workers": workers, "threads_per_worker": 1}
    with dask.config.set(settings):
        cluster = distributed.LocalCluster(  # on 127.0.0.1 only, the dashboard too
            host="127.0.0.1", dashboard_address="127.0.0.1:0", **size
        )
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(workers)
        time.sleep(1)
        wall, cpu = _measured(lambda: time.sleep(5), client)
        return cpu / wall
    finally:
        client.close()
        cluster.close()


def _seconds(values: Sequence[float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


def render_dask(results: DaskResults) -> list[str]:
    """The Markdown section of docs/performance.md (and docs/scale-out.md's numbers)."""
    best_threads, best_dask = min(results.threads), min(results.dask)
    ok = results.overhead < 0.15
    spread = " ".join(f"{seconds:.2f}" for seconds in results.dask)
    thread_spread = " ".join(f"{seconds:.2f}" for seconds in results.threads)
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    return [
        "## On a Dask cluster",
        "",
        f"Load average when this section ended: {load} (1 / 5 / 15 min; {os.cpu_count()} cores).",
        "",
        f"{results.pairs} Cityscapes-like pairs, {results.workers} workers on this machine: "
        f"a `LocalCluster` of {results.workers} processes (one thread each, 127.0.0.1) "
        f"against the thread engine with {results.workers} threads; the two alternate, best "
        f"of {len(results.dask)} runs each, the cluster already running.",
        "",
        "| | seconds |",
        "|---|--:|",
        f"| cluster start-up ({results.workers} worker processes connected) | "
        f"{results.startup:.2f} |",
        f"| warm-up (each worker's first import of segeval) | {results.warmup:.2f} |",
        f"| thread engine, {results.pairs} pairs (all runs: {thread_spread}) | "
        f"{best_threads:.2f} |",
        f"| Dask engine, {results.pairs} pairs (all runs: {spread}) | {best_dask:.2f} |",
        f"| Dask overhead against threads, wall time | {100 * results.overhead:+.1f} % "
        f"({'met' if ok else '**not met**'}: target under 15 %) |",
        f"| CPU time, thread engine / Dask (client, scheduler and workers), least | "
        f"{min(results.threads_cpu):.2f} / {min(results.dask_cpu):.2f} "
        f"({100 * results.cpu_overhead:+.1f} %) |",
        f"| CPU inside the tasks (reading, counting), threads / Dask, all runs | "
        f"{_seconds(results.threads_in_tasks)} / {_seconds(results.dask_in_tasks)} |",
        f"| CPU outside the tasks, threads / Dask, least | {results.threads_outside:.2f} / "
        f"{results.dask_outside:.2f} |",
        f"| Dask overhead, extra CPU outside the tasks against the thread engine's CPU | "
        f"{100 * results.outside_overhead:+.1f} % |",
        f"| {results.tasks} tasks of {results.images_per_task} images: extra CPU per task | "
        f"{1000 * results.per_task:.1f} ms |",
        f"| an empty task's round trip (200 tasks) | {1000 * results.empty_task:.2f} ms |",
        f"| the idle cluster's CPU (heartbeats, event loops), per second of wall time: "
        f"segeval's settings / Dask's defaults | "
        f"{results.idle_cpu:.3f} / {results.idle_cpu_defaults:.3f} |",
        "",
        "Run time against images per task (one run each):",
        "",
        "| images per task | seconds |",
        "|--:|--:|",
        *(f"| {count} | {seconds:.2f} |" for count, seconds in sorted(results.by_chunk.items())),
        "",
    ]
