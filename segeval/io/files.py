"""Open input files safely: regular files only, without blocking, never past a limit.

Every file segeval reads on a user's or a stranger's behalf (masks, class
files, thresholds, reports) goes through :func:`read_regular_file`, the one
place that decides what may be opened:

* only regular files: a FIFO would block the reader forever, a device could
  stream without end or act on being opened, so both are refused with their
  kind named. The type is checked with ``stat`` before opening and again with
  ``fstat`` on the open descriptor (opened with ``O_NONBLOCK``, so even a FIFO
  swapped in between cannot block);
* never more than ``max_bytes``: checked from the size before reading, and
  again while reading, in case the file grows.

:func:`zip_entry_count` reads how many members a zip file declares from its
end record, before :mod:`zipfile` builds an object per member.
"""

from __future__ import annotations

import io
import os
import stat
import struct
from pathlib import Path
from typing import IO

from segeval.defaults import DEFAULT_MAX_MASK_BYTES
from segeval.errors import MaskReadError, SegevalError, format_bytes

__all__ = [
    "DEFAULT_MAX_MASK_BYTES",
    "MAX_ARCHIVE_MEMBERS",
    "file_kind",
    "read_regular_file",
    "require_regular_file",
    "zip_entry_count",
]

#: Most members a zip (an archive or an NPZ mask) or a tar archive may declare:
#: each costs memory before anything is read.
MAX_ARCHIVE_MEMBERS = 100_000

_READ_BLOCK = 1 << 20
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def file_kind(mode: int) -> str:
    """Name the type of a file from its ``st_mode``, for messages.

    Examples
    --------
    >>> file_kind(stat.S_IFIFO), file_kind(stat.S_IFREG | 0o644)
    ('a FIFO (named pipe)', 'a regular file')
    """
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def _refuse_special(path: Path, mode: int, error: type[SegevalError]) -> None:
    if not stat.S_ISREG(mode):
        raise error(
            f"{path}: {file_kind(mode)}, not a regular file; segeval reads only regular "
            "files (a pipe or device could block or never end)."
        )


def _too_large(
    path: Path,
    size: int,
    max_bytes: int,
    what: str,
    option: str | None,
    error: type[SegevalError],
) -> SegevalError:
    advice = f"pass a larger {option} if it is genuine" if option else "the limit is fixed"
    return error(
        f"{path}: {what} holds {format_bytes(size)}, more than the limit of "
        f"{format_bytes(max_bytes)}; {advice}."
    )


def read_regular_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None,
    error: type[SegevalError] = MaskReadError,
    what: str = "the file",
    option: str | None = "--max-mask-bytes",
) -> bytes:
    """The whole content of a regular file, refusing anything else or anything larger.

    Parameters
    ----------
    path : str or path-like
        The file (symbolic links are followed).
    max_bytes : int or None
        Refuse files larger than this (None: no limit).
    error : type of SegevalError, default MaskReadError
        What to raise, so that each caller reports in its own terms.
    what : str, default "the file"
        How the message names the file's role ("the mask", "the report").
    option : str or None, default "--max-mask-bytes"
        The option that raises the limit, named in the message (None: a fixed limit).

    Returns
    -------
    bytes

    Raises
    ------
    SegevalError
        Of type ``error``: a missing or unreadable file, a FIFO, socket, device
        or folder, or a file over ``max_bytes``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.txt").write_bytes(b"road")
    >>> read_regular_file(folder / "a.txt", max_bytes=10)
    b'road'
    >>> os.mkfifo(folder / "x.png")
    >>> read_regular_file(folder / "x.png", max_bytes=10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.MaskReadError: .../x.png: a FIFO (named pipe), not a regular file; ...
    """
    path = Path(path)
    try:
        _refuse_special(path, os.stat(path).st_mode, error)
        handle = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        raise error(f"{path}: cannot open {what} ({err.strerror or err}).") from err
    try:
        info = os.fstat(handle)
        _refuse_special(path, info.st_mode, error)  # swapped since the check above
        if max_bytes is not None and info.st_size > max_bytes:
            raise _too_large(path, info.st_size, max_bytes, what, option, error)
        blocks = []
        total = 0
        while True:
            block = os.read(handle, _READ_BLOCK)
            if not block:
                break
            total += len(block)
            if max_bytes is not None and total > max_bytes:
                raise _too_large(path, total, max_bytes, what, option, error)
            blocks.append(block)
    except OSError as err:
        raise error(f"{path}: cannot read {what} ({err.strerror or err}).") from err
    finally:
        os.close(handle)
    return b"".join(blocks)


def require_regular_file(
    path: str | os.PathLike[str], *, error: type[SegevalError] = MaskReadError
) -> int:
    """Check, without blocking, that ``path`` is a regular file; return its size.

    For readers that map a file rather than read it (score maps): the same
    checks as :func:`read_regular_file`, without reading.

    Raises
    ------
    SegevalError
        Of type ``error``: a missing file, a FIFO, socket, device or folder.
    """
    path = Path(path)
    try:
        _refuse_special(path, os.stat(path).st_mode, error)
        handle = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        raise error(f"{path}: cannot open the file ({err.strerror or err}).") from err
    try:
        info = os.fstat(handle)
        _refuse_special(path, info.st_mode, error)
        return info.st_size
    finally:
        os.close(handle)


_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")


def zip_entry_count(source: bytes | IO[bytes]) -> int | None:
    """How many members a zip file declares, from its end record (None if not found).

    Read before :class:`zipfile.ZipFile` parses the central directory, which
    holds one object per declared member in memory.

    Examples
    --------
    >>> import zipfile
    >>> buffer = io.BytesIO()
    >>> with zipfile.ZipFile(buffer, "w") as archive:
    ...     archive.writestr("a.npy", b"")
    ...     archive.writestr("b.npy", b"")
    >>> zip_entry_count(buffer.getvalue())
    2
    """
    stream: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        size = stream.seek(0, os.SEEK_END)
        tail_start = max(0, size - _EOCD.size - 0xFFFF)
        stream.seek(tail_start)
        tail = stream.read()
        position = tail.rfind(b"PK\x05\x06")
        if position < 0 or len(tail) - position < _EOCD.size:
            return None
        record = _EOCD.unpack_from(tail, position)
        entries = int(record[4])
        if entries != 0xFFFF and record[5] != 0xFFFFFFFF and record[6] != 0xFFFFFFFF:
            return entries
        locator_at = position - _EOCD64_LOCATOR.size
        if locator_at < 0:
            return entries
        locator = _EOCD64_LOCATOR.unpack_from(tail, locator_at)
        if locator[0] != b"PK\x06\x07":
            return entries
        stream.seek(int(locator[2]))
        header = stream.read(_EOCD64.size)
        if len(header) < _EOCD64.size or header[:4] != b"PK\x06\x06":
            return entries
        return int(_EOCD64.unpack(header)[7])
    except (OSError, struct.error):
        return None
