"""Content digests of inputs: what ``batch --resume`` compares before reusing a result.

Digests are of content, never of sizes or modification times (which a copy,
a checkout or a forger changes or keeps at will). Only regular files are read;
links contribute their target text and other special files their kind, so a
digest never opens a FIFO or a device.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from segeval.errors import UnsafeInputError
from segeval.inputs.pairing import walk_files

__all__ = ["file_digest", "folder_digest"]

_BLOCK = 1 << 20


def file_digest(path: Path) -> str:
    """SHA-256 of a regular file's bytes.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_bytes(b"abc")
    >>> file_digest(path)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_digest(root: Path) -> str:
    """SHA-256 over every entry under ``root``: relative path and content, in sorted order.

    Names are taken as bytes (``os.fsencode``), so names that are not UTF-8
    digest like any other.

    Raises
    ------
    UnsafeInputError
        A folder that cannot be listed or nests deeper than the walk allows.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.png").write_bytes(b"1")
    >>> before = folder_digest(root)
    >>> _ = (root / "a.png").write_bytes(b"2")
    >>> folder_digest(root) == before
    False
    """
    digest = hashlib.sha256()
    # The pairing's walk: iterative and depth-bounded (a hostile folder nests thousands
    # of levels), hidden folders skipped as scoring skips them.
    for path in walk_files(root, error=UnsafeInputError):
        relative = os.fsencode(path.relative_to(root))
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            content = file_digest(path).encode()
        elif stat.S_ISLNK(info.st_mode):
            content = b"link:" + os.fsencode(os.readlink(path))
        else:
            content = b"special:" + str(stat.S_IFMT(info.st_mode)).encode()
        digest.update(relative + b"\0" + content + b"\n")
    return digest.hexdigest()
