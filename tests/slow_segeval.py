"""``segeval`` with a slow disk, for tests that need a process to wait deterministically.

Run as ``python tests/slow_segeval.py ARGS...``: the same command line as
``segeval ARGS...``, except that opening any file whose path contains
``$SEGEVAL_TEST_SLOW`` first appends the process id to ``$SEGEVAL_TEST_MARKER``
(so the test knows the command, or its worker, is now waiting) and then sleeps
for an hour. Worker processes are forked, so they inherit the slow disk.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import segeval.inspection
import segeval.io.files
import segeval.io.reader
from segeval.cli import main

_real_read = segeval.io.files.read_regular_file


def _slow_read(path: Any, **options: Any) -> bytes:
    if os.environ["SEGEVAL_TEST_SLOW"] in str(path):
        with Path(os.environ["SEGEVAL_TEST_MARKER"]).open("a") as marker:
            marker.write(f"{os.getpid()}\n")
        time.sleep(3600)
    return _real_read(path, **options)


def install_slow_disk() -> None:
    """Make file reads slow as described above (in this process and its forks)."""
    # Each module holds its own reference to the function: replace both.
    for module in (segeval.io.reader, segeval.inspection):
        vars(module)["read_regular_file"] = _slow_read


if __name__ == "__main__":  # never on import: pytest imports every module for doctests
    install_slow_disk()
    main(sys.argv[1:])
