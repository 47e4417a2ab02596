"""The parallel engine: how tasks run, in one place.

A task is a function applied to one chunk of work; an :class:`Executor` cuts
work into chunks (:meth:`Executor.chunk`), runs tasks and yields their results
**in input order** (:meth:`Executor.run`), or sums them
(:meth:`Executor.reduce`). Three executors exist:

* :class:`ThreadExecutor` (``score``): the PNG decoders (imagecodecs, Pillow)
  and numpy's array operations release the GIL, so threads keep every core
  busy, start instantly, share one copy of everything and pickle nothing (a pool
  of processes was slower end to end when this was measured, and used twice the
  memory). Its threads are daemons that stop taking tasks once the caller stops
  reading, so an interrupted run exits at once instead of finishing the queue.
* :class:`ProcessExecutor` (``batch``): untrusted submissions are decoded in
  worker processes, one task at a time per worker, so that a decoder crash
  kills one worker, not the run: the task that worker held comes back as a
  :class:`WorkerCrash` (and only that task). With a ``timeout``, a task running
  longer is stopped by killing its worker (a :class:`WorkerCrash` with
  ``timed_out``). Workers ignore Ctrl-C (the caller decides), die with the
  caller even if it is killed outright, and are killed when the caller stops
  reading results or closes the executor.

* :class:`~segeval.run.dask_executor.DaskExecutor` (``--scheduler``): the
  tasks run on a Dask cluster; it lives in its own module so that
  ``distributed`` is imported only when a cluster is asked for.

Results merge by integer addition, so they never depend on the executor, the
number of workers or the chunking; :func:`chunked` is the one rule that cuts
work into tasks (an executor only chooses its largest chunk).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:  # multiprocessing loads with the first ProcessExecutor (start-up: score never)
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext

__all__ = [
    "Executor",
    "ProcessExecutor",
    "ThreadExecutor",
    "WorkerCrash",
    "chunk_size_for",
    "chunked",
    "default_jobs",
    "fold",
    "tune_allocator",
]

T = TypeVar("T")
R = TypeVar("R")

#: ``on_done(index)``: the task at ``index`` of the input has finished.
TaskDone = Callable[[int], None]

#: Most items per task: small enough to balance two workers and to keep the
#: per-image rows flowing, large enough that a task's overhead is noise.
MAX_CHUNK = 16


@dataclass(frozen=True)
class WorkerCrash:
    """A task whose worker process died before returning (a decoder crash, a kill).

    Attributes
    ----------
    message : str
        What happened, for the reason of an invalid submission.
    timed_out : bool
        The task ran longer than the executor's ``timeout`` and was stopped.
    """

    message: str = "the worker process crashed"
    timed_out: bool = False


class Executor(Protocol):
    """Runs ``function`` on every item and yields the results in input order.

    ``function`` and the items are picklable for every executor but threads,
    so any work (counting, losses, boundary metrics) runs on any executor.
    """

    def chunk(self, items: Sequence[T]) -> list[Sequence[T]]:
        """Cut work into tasks with :func:`chunked`, for this executor's workers."""
        ...

    def run(
        self, function: Callable[[T], R], items: Sequence[T], on_done: TaskDone | None = None
    ) -> Iterator[R | WorkerCrash]:
        """Apply ``function`` to each item; a task whose worker died yields WorkerCrash.

        ``on_done(index)`` is called as each task finishes (in completion order,
        which a cluster does not keep), before the results are yielded in order.
        """
        ...

    def reduce(
        self,
        function: Callable[[T], R],
        items: Sequence[T],
        combine: Callable[[R, R], R],
        on_done: TaskDone | None = None,
    ) -> tuple[R | None, list[int]]:
        """``combine`` every task's result, in input order, into one.

        Returns
        -------
        total, crashed
            The combined result of the tasks that finished (None if none did),
            and the indices of tasks whose worker died.
        """
        ...


def _reporting(results: Iterable[R], on_done: TaskDone | None) -> Iterator[R]:
    """Yield in-order results, calling ``on_done(index)`` before each."""
    for index, result in enumerate(results):
        if on_done is not None:
            on_done(index)
        yield result


def fold(
    results: Iterable[R | WorkerCrash],
    combine: Callable[[R, R], R],
    on_done: TaskDone | None = None,
) -> tuple[R | None, list[int]]:
    """Combine in-order results one by one (:meth:`Executor.reduce` on one machine).

    Examples
    --------
    >>> fold([1, 2, WorkerCrash(), 4], lambda a, b: a + b)
    (7, [2])
    """
    total: R | None = None
    crashed = []
    for index, result in enumerate(results):
        if on_done is not None:
            on_done(index)
        if isinstance(result, WorkerCrash):
            crashed.append(index)
        else:
            total = result if total is None else combine(total, result)
    return total, crashed


class _OneMachine:
    """What the executors of this machine share: ``jobs`` workers, chunks, and a fold."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)

    def chunk(self, items: Sequence[T]) -> list[Sequence[T]]:
        """See :class:`Executor`."""
        return chunked(items, self.jobs)

    def run(
        self, function: Callable[[T], R], items: Sequence[T], on_done: TaskDone | None = None
    ) -> Iterator[R | WorkerCrash]:
        """See :class:`Executor`."""
        raise NotImplementedError

    def reduce(
        self,
        function: Callable[[T], R],
        items: Sequence[T],
        combine: Callable[[R, R], R],
        on_done: TaskDone | None = None,
    ) -> tuple[R | None, list[int]]:
        """See :class:`Executor`: results combined in order as they arrive."""
        return fold(self.run(function, items), combine, on_done)


class _Slot:
    """One task's outcome, filled by a worker thread and awaited by the caller.

    What :class:`concurrent.futures.Future` does here, without loading
    ``concurrent.futures`` (and ``logging`` with it) at start-up.
    """

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def set(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error
        self._done.set()

    def get(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class ThreadExecutor(_OneMachine):
    """Worker threads (or the calling thread with ``jobs=1``).

    Examples
    --------
    >>> list(ThreadExecutor(2).run(lambda x: x * x, [1, 2, 3]))
    [1, 4, 9]
    """

    def run(
        self, function: Callable[[T], R], items: Sequence[T], on_done: TaskDone | None = None
    ) -> Iterator[R | WorkerCrash]:
        """See :class:`Executor`; an exception in a task propagates."""
        jobs = min(self.jobs, len(items))
        if jobs <= 1:
            yield from _reporting(map(function, items), on_done)
            return
        slots = [_Slot() for _ in items]
        stop = threading.Event()
        lock = threading.Lock()
        claimed = iter(range(len(items)))

        def serve() -> None:
            while not stop.is_set():
                with lock:
                    index = next(claimed, None)
                if index is None:
                    return
                try:
                    slots[index].set(function(items[index]))
                except BaseException as err:  # handed to the caller, who re-raises it
                    slots[index].set(error=err)

        for number in range(jobs):
            # Daemons: an interrupted caller exits without waiting for a task to end.
            threading.Thread(target=serve, name=f"segeval-{number}", daemon=True).start()
        try:
            for index, slot in enumerate(slots):
                result: R = slot.get()
                if on_done is not None:
                    on_done(index)
                yield result
        finally:
            stop.set()


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this worker when its parent dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _serve(connection: Connection, parent: int) -> None:
    """A worker process: run ``(function, item)`` messages until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    _die_with_parent(parent)
    tune_allocator()
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        function, item = message
        try:
            reply: tuple[bool, Any] = (True, function(item))
        except Exception as err:  # handed to the caller, who re-raises it
            reply = (False, err)
        try:
            connection.send(reply)
        except Exception as err:  # an unpicklable result or exception
            connection.send((False, RuntimeError(f"cannot return the result: {err!r}")))


class _Worker:
    """One worker process, its pipe, and the task it holds."""

    def __init__(self, context: BaseContext) -> None:
        ours, theirs = context.Pipe()
        self.process = context.Process(  # type: ignore[attr-defined]
            target=_serve, args=(theirs, os.getpid()), daemon=True, name="segeval-worker"
        )
        self.process.start()
        theirs.close()
        self.connection = ours
        self.task: int | None = None
        self.started = 0.0

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.connection.close()


class ProcessExecutor(_OneMachine):
    """Worker processes that isolate crashes and enforce a time limit per task.

    ``function`` and the items must be picklable (workers are forked on Linux unless
    the application set another start method).
    Used as a context manager, the workers serve several :meth:`run` calls and
    are killed on exit; otherwise each :meth:`run` starts and kills its own.

    Examples
    --------
    >>> with ProcessExecutor(2) as executor:
    ...     list(executor.run(abs, [-1, 2, -3]))
    [1, 2, 3]
    """

    def __init__(self, jobs: int = 1) -> None:
        super().__init__(jobs)
        self._workers: list[_Worker] = []
        self._entered = False
        self._running = False
        # A start method the application chose (multiprocessing.set_start_method) wins;
        # else fork on Linux (cheap, nothing to re-import), the platform's default
        # elsewhere (spawn on Windows and macOS: the caller needs the __main__ guard).
        import multiprocessing

        method = multiprocessing.get_start_method(allow_none=True)
        if method is None and sys.platform.startswith("linux"):
            method = "fork"
        self._context: BaseContext = multiprocessing.get_context(method)

    def __enter__(self) -> ProcessExecutor:
        self._entered = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Kill every worker (a worker may be stuck: there is nothing to wait for)."""
        while self._workers:
            self._workers.pop().kill()

    def _discard(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        worker.kill()

    def run(
        self,
        function: Callable[[T], R],
        items: Sequence[T],
        on_done: TaskDone | None = None,
        *,
        timeout: float | None = None,
    ) -> Iterator[R | WorkerCrash]:
        """See :class:`Executor`.

        Parameters
        ----------
        function, items, on_done
            As :class:`Executor`; an exception raised by ``function`` is
            re-raised here when its result is due.
        timeout : float, optional
            Seconds a task may run; a task running longer is stopped (its
            worker killed) and yields ``WorkerCrash(timed_out=True)``.
        """
        if self._running:
            raise RuntimeError("one run at a time: finish reading the previous run's results")
        self._running = True
        try:
            yield from _reporting(self._run(function, items, timeout), on_done)
        finally:
            self._running = False
            # Tasks still running belong to nobody now: stop them.
            for worker in [worker for worker in self._workers if worker.task is not None]:
                self._discard(worker)
            if not self._entered:
                self.close()

    def _run(
        self, function: Callable[[T], R], items: Sequence[T], timeout: float | None
    ) -> Iterator[R | WorkerCrash]:
        outcomes: dict[int, tuple[bool, Any]] = {}
        submitted = delivered = 0
        while delivered < len(items):
            submitted = self._dispatch(function, items, submitted)
            if delivered in outcomes:
                succeeded, value = outcomes.pop(delivered)
                delivered += 1
                if not succeeded:
                    raise value
                yield value
                continue
            self._collect(outcomes, timeout)

    def _dispatch(self, function: Callable[[T], R], items: Sequence[T], submitted: int) -> int:
        """Hand items to idle workers (starting workers up to ``jobs``)."""
        while submitted < len(items):
            worker = next((w for w in self._workers if w.task is None), None)
            if worker is not None and not worker.process.is_alive():
                self._discard(worker)  # killed from outside while idle: start another
                continue
            if worker is None:
                if len(self._workers) >= self.jobs:
                    break
                worker = _Worker(self._context)
                self._workers.append(worker)
            try:
                worker.connection.send((function, items[submitted]))
            except (BrokenPipeError, ConnectionResetError):
                self._discard(worker)  # it died while idle: start another
                continue
            worker.task, worker.started = submitted, time.monotonic()
            submitted += 1
        return submitted

    def _collect(self, outcomes: dict[int, tuple[bool, Any]], timeout: float | None) -> None:
        """Wait for a reply, a dead worker or a deadline, and record what happened."""
        import multiprocessing.connection

        busy = [worker for worker in self._workers if worker.task is not None]
        wait = None
        if timeout is not None:
            wait = max(0.0, min(worker.started for worker in busy) + timeout - time.monotonic())
        handles: list[Any] = [worker.connection for worker in busy]
        handles += [worker.process.sentinel for worker in busy]
        ready = multiprocessing.connection.wait(handles, timeout=wait)
        for worker in busy:
            task = worker.task
            assert task is not None
            if worker.connection in ready:
                try:
                    outcomes[task] = worker.connection.recv()
                    worker.task = None
                    continue
                except (EOFError, OSError):
                    pass  # died while replying
            elif worker.process.sentinel not in ready:
                if timeout is None or time.monotonic() - worker.started < timeout:
                    continue
                outcomes[task] = (True, WorkerCrash(_timed_out(timeout), timed_out=True))
                self._discard(worker)
                continue
            outcomes[task] = (True, WorkerCrash())
            self._discard(worker)


def _timed_out(timeout: float) -> str:
    return f"the work took longer than the time limit of {timeout:g} s and was stopped"


def chunk_size_for(num_items: int, jobs: int, max_chunk: int = MAX_CHUNK) -> int:
    """Items per task: about four tasks per worker for balance, at most ``max_chunk``.

    Examples
    --------
    >>> chunk_size_for(500, 2), chunk_size_for(40, 2), chunk_size_for(3, 1)
    (16, 5, 1)
    """
    return max(1, min(max_chunk, num_items // (jobs * 4)))


def chunked(
    items: Sequence[T], jobs: int, size: int | None = None, *, max_chunk: int = MAX_CHUNK
) -> list[Sequence[T]]:
    """Cut work into tasks of :func:`chunk_size_for` items (the one chunking rule).

    Examples
    --------
    >>> chunked(list(range(5)), jobs=1, size=2)
    [[0, 1], [2, 3], [4]]
    """
    size = size or chunk_size_for(len(items), jobs, max_chunk)
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
    import ctypes

    try:
        # The process's own symbols, glibc's among them: no library search (which
        # runs ldconfig in a subprocess, a few ms on every start).
        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 256 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 512 * 1024 * 1024)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
