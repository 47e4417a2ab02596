"""Run many ``segeval`` commands fast: each one a fresh process forked from this one.

The hostile suite runs dozens of commands; starting Python and importing
numpy, Pillow and click for each costs far more than the command. This
server imports ``segeval`` once and then, for every request (one JSON line on
stdin), forks a child that becomes ``segeval ARGS``: its own process, with the
requested environment, ``TMPDIR``, address-space limit and output files,
reaped with ``wait4`` so that its peak memory (and its workers') is measured.
The answer is one JSON line on stdout.

Request: ``{"args", "env", "stdout", "stderr", "timeout", "address_space", "slow"}``.
Answer: ``{"returncode", "seconds", "peak_rss_bytes", "timed_out"}``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
import time
from typing import Any

import segeval.cli
from tests.slow_segeval import install_slow_disk


def _child(request: dict[str, Any]) -> None:
    """Become ``segeval ARGS`` and exit with its code (never returns)."""
    code = 70
    try:
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # TMPDIR is read again
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for descriptor, path in ((1, request["stdout"]), (2, request["stderr"])):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(handle, descriptor)
            os.close(handle)
        limit = request["address_space"]
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if request["slow"]:
            install_slow_disk()
        segeval.cli.main(request["args"])
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:  # a crash of the command itself: its traceback is the evidence
        import traceback

        traceback.print_exc()
        code = 71
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap(pid: int, timeout: float) -> tuple[int, resource.struct_rusage, bool]:
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), usage, timed_out
        if not timed_out and time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            timed_out = True
        time.sleep(0.005)


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(request)
        code, usage, timed_out = _reap(pid, request["timeout"])
        answer = {
            "returncode": code,
            "seconds": time.monotonic() - started,
            "peak_rss_bytes": usage.ru_maxrss * 1024,
            "timed_out": timed_out,
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve()
