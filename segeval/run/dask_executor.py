"""Run tasks on a Dask cluster: one more :class:`~segeval.run.engine.Executor`.

``distributed`` is an optional extra (``pip install segeval-masks[dask]``), imported
only when a :class:`DaskExecutor` is made. What travels where:

* client -> scheduler -> workers: the task function (a small ``Work`` record:
  read options and an empty accumulator) and one chunk of image tasks per Dask
  task: keys and file locations (paths or URLs), never pixels. Workers read
  the masks from the shared filesystem or the object store themselves.
* workers -> client: one :class:`~segeval.run.work.TaskResult` per chunk:
  C x C integer counts per submission and, with per-image scoring, 3 x C
  counts per image. For work whose result is only a sum,
  :meth:`DaskExecutor.reduce` adds results up on the cluster with a tree of
  ``combine`` tasks, so only the final sum crosses to the client.

A worker that dies mid-task (killed, out of memory, a crashing decoder) loses
its task; the scheduler runs it again on another worker (up to Dask's
``distributed.scheduler.allowed-failures``, 3 by default), and a task that
raised is retried ``retries`` times (transient store errors). Results are
integer sums, so a rerun task changes nothing. A task whose workers kept dying
comes back as :class:`~segeval.run.engine.WorkerCrash`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from segeval.errors import UsageError
from segeval.run.engine import TaskDone, WorkerCrash, chunked, default_jobs, tune_allocator

__all__ = ["DASK_MAX_CHUNK", "QUIET_WORKERS", "DaskExecutor"]

T = TypeVar("T")
R = TypeVar("R")

#: Most items per Dask task. A task costs about 1-2 ms of scheduling and
#: transfer on a local cluster (benchmarks/run.py --only dask), a Cityscapes
#: pair 25-40 ms of decoding and counting: 32 pairs make the overhead noise
#: while leaving four tasks per worker on a few hundred images.
DASK_MAX_CHUNK = 32

#: Results combined per reduction task.
FAN_IN = 8

#: Dask settings of the clusters segeval starts (``--scheduler local``). Measured on
#: an idle 2-worker cluster (benchmarks/dask_bench.py): Dask's defaults burn about
#: 0.07 CPU-seconds per second in the scheduler, nannies and workers (a 20 ms
#: event-loop watchdog tick in each of five servers, a 500 ms system monitor, a
#: 100 ms memory monitor), the whole of its extra CPU over the thread engine on a
#: run of a few seconds; these settings make it 0.015. None of them changes
#: scheduling; memory limits are checked every 0.5 s instead of 0.1 s.
QUIET_WORKERS: dict[str, object] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


def _distributed() -> Any:
    """The ``distributed`` module, imported on first use (an optional extra)."""
    return importlib.import_module("distributed")


@dataclass(frozen=True)
class _Raised:
    """A task's exception, held until its turn in input order."""

    error: Exception


def _config() -> Any:
    """``dask.config``, imported on first use."""
    return importlib.import_module("dask.config")


def _combine_all(combine: Callable[[R, R], R], *parts: R) -> R:
    return functools.reduce(combine, parts)


class DaskExecutor:
    """Tasks on a Dask cluster: an existing scheduler, or a local cluster for the run.

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``tcp://host:8786`` connects to a running scheduler; ``local`` starts a
        ``LocalCluster`` on 127.0.0.1 (its HTTP endpoint on a free loopback port) and stops it on
        :meth:`close`; a ``Client`` is used as it is (and left open).
    workers : int, optional
        With ``local``: worker processes, one thread each (default: every core).
    retries : int, default 1
        Extra runs of a task that raised (a worker's death is handled by the
        scheduler, see the module docstring).
    max_chunk : int, default DASK_MAX_CHUNK
        Most items per task.

    Examples
    --------
    Use it as a context manager so a local cluster is stopped::

        with DaskExecutor("local", workers=2) as executor:
            report = evaluate(pred, gt, execution=Execution(executor=executor))
    """

    def __init__(
        self,
        scheduler: Any,
        *,
        workers: int | None = None,
        retries: int = 1,
        max_chunk: int = DASK_MAX_CHUNK,
    ) -> None:
        try:
            distributed = _distributed()
        except ImportError as err:
            raise UsageError(
                "--scheduler needs Dask's distributed scheduler; pip install 'segeval-masks[dask]'."
            ) from err
        self.retries = retries
        self.max_chunk = max_chunk
        self._cluster: Any = None
        self._owns_client = not isinstance(scheduler, distributed.Client)
        if not self._owns_client:
            self.client = scheduler
        elif scheduler == "local":
            size = {"n_workers": workers or default_jobs(), "threads_per_worker": 1}
            # Loopback only, the scheduler's HTTP endpoint on a free port (the default
            # 8787 may be taken), no profiler (its sampling costs CPU): a run's cluster
            # serves this process alone.
            cluster = distributed.LocalCluster
            with _config().set(QUIET_WORKERS):
                self._cluster = cluster(host="127.0.0.1", dashboard_address="127.0.0.1:0", **size)
            self.client = distributed.Client(self._cluster)
        else:
            try:
                self.client = distributed.Client(str(scheduler), timeout="20s")
            except (OSError, TimeoutError) as err:
                raise UsageError(
                    f"--scheduler {scheduler}: cannot reach the Dask scheduler ({err}); start "
                    "it (dask scheduler) or pass --scheduler local."
                ) from err

        # As the local engines do: keep each image's buffers in the worker (no page faults).
        self.client.run(tune_allocator)

    @property
    def jobs(self) -> int:
        """Worker threads in the cluster now (at least 1)."""
        return max(1, int(sum(self.client.nthreads().values())))

    def chunk(self, items: Sequence[T]) -> list[Sequence[T]]:
        """See :class:`~segeval.run.engine.Executor`; at most :attr:`max_chunk` per task."""
        return chunked(items, self.jobs, max_chunk=self.max_chunk)

    def _submit(self, function: Callable[[T], R], items: Sequence[T]) -> list[Any]:
        return list(self.client.map(function, items, retries=self.retries, pure=False))

    def run(
        self, function: Callable[[T], R], items: Sequence[T], on_done: TaskDone | None = None
    ) -> Iterator[R | WorkerCrash]:
        """See :class:`~segeval.run.engine.Executor`.

        An exception in a task propagates when its turn in input order comes,
        so the error reported is the one the local engine reports.
        """
        as_completed = _distributed().as_completed
        futures = self._submit(function, items)
        index_of = {future.key: index for index, future in enumerate(futures)}
        ready: dict[int, Any] = {}
        next_index = 0
        try:
            for future in as_completed(futures):
                index = index_of[future.key]
                try:
                    ready[index] = self._outcome(future)
                except Exception as err:
                    ready[index] = _Raised(err)
                future.release()  # frees the result on the worker
                if on_done is not None:
                    on_done(index)
                while next_index in ready:
                    outcome = ready.pop(next_index)
                    if isinstance(outcome, _Raised):
                        raise outcome.error
                    yield outcome
                    next_index += 1
        finally:
            self._cancel_unfinished(futures)

    def reduce(
        self,
        function: Callable[[T], R],
        items: Sequence[T],
        combine: Callable[[R, R], R],
        on_done: TaskDone | None = None,
    ) -> tuple[R | None, list[int]]:
        """See :class:`~segeval.run.engine.Executor`: a tree of ``combine`` tasks on the cluster.

        Neighbours are combined in input order, ``FAN_IN`` at a time, so a
        combine that concatenates (per-image rows) keeps the order.
        """
        as_completed = _distributed().as_completed
        leaves = self._submit(function, items)
        if not leaves:
            return None, []
        index_of = {future.key: index for index, future in enumerate(leaves)}
        root = self._tree(leaves, combine)
        crashed: list[int] = []
        try:
            for future in as_completed(leaves):
                if future.status == "error":
                    outcome = self._outcome(future)  # raises unless the workers died
                    if isinstance(outcome, WorkerCrash):
                        crashed.append(index_of[future.key])
                if on_done is not None:
                    on_done(index_of[future.key])
            if crashed:  # combine what finished; the caller decides about the rest
                finished = [leaf for index, leaf in enumerate(leaves) if index not in crashed]
                root = self._tree(finished, combine) if finished else None
            return (None if root is None else root.result()), sorted(crashed)
        finally:
            self._cancel_unfinished([*leaves, *([] if root is None else [root])])

    def _cancel_unfinished(self, futures: Sequence[Any]) -> None:
        """Cancel what an interrupted or failed run left running (finished ones are released)."""
        unfinished = [future for future in futures if not future.done()]
        if unfinished:
            self.client.cancel(unfinished)

    def _tree(self, futures: list[Any], combine: Callable[[R, R], R]) -> Any:
        level = futures
        while len(level) > 1:
            level = [
                self.client.submit(
                    _combine_all, combine, *level[start : start + FAN_IN], pure=False
                )
                for start in range(0, len(level), FAN_IN)
            ]
        return level[0]

    @staticmethod
    def _outcome(future: Any) -> Any:
        if future.status != "error":
            return future.result()
        error = future.exception()
        if isinstance(error, _distributed().KilledWorker):
            return WorkerCrash(f"the Dask workers running this task died ({error})")
        raise error

    def close(self) -> None:
        """Close the client and stop the local cluster, when this executor made them."""
        if self._owns_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
