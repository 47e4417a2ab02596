"""Write output files atomically: all of the new content or none of it.

What "writing a file" means depends on what the path names, decided here once
for every output segeval writes (reports, leaderboards, per-image tables, JUnit):

* a regular file, or nothing yet: the content is written to a temporary file
  beside it and renamed into place, so a reader never sees half a report and a
  failure (a full disk, Ctrl-C) leaves the previous file untouched. A symbolic
  link is followed: the file it points to is replaced, the link stays a link;
* a character device or a pipe that exists (``/dev/null``, a FIFO): written in
  place, never replaced by a regular file. A FIFO nobody reads is an error
  rather than a wait;
* ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``: written through the
  process's own descriptor, whatever it is (a terminal, a pipe, a file opened
  by the shell with ``>>``), exactly as ``-`` writes stdout;
* a block device, a socket or a folder: refused;
* a stream handed over by the caller (the command line's stdout for ``-``);
* a URL in an object store (``s3://...``, :class:`~segeval.io.storage.RemotePath`),
  which has no rename: the content is written to a local temporary file and
  uploaded in one request on commit. On S3 (and GCS, Azure blobs) an object
  appears whole when its upload completes (a multipart upload only when it is
  completed), so readers see the old object or the new one, never a part; a
  failure before commit uploads nothing. Two writers racing for one key: the
  last upload wins.

Every write error (ENOSPC, EPIPE, EFBIG...) becomes an
:class:`~segeval.errors.OutputError` that names the file, and the temporary
file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from segeval.errors import OutputError, UsageError
from segeval.io.storage import Location, RemotePath, location

__all__ = [
    "AtomicWriter",
    "read_text",
    "refuse_inside_inputs",
    "same_file",
    "write_bytes_atomic",
    "write_text_atomic",
]

_HINTS = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.EFBIG: "the file is larger than this system allows",
    errno.EPIPE: "the process reading the pipe has gone",
    errno.ENXIO: "no process is reading the pipe",
}


def _output_error(path: Location | str, err: OSError) -> OutputError:
    hint = _HINTS.get(err.errno or 0, "check the path and its permissions")
    return OutputError(f"{path}: cannot write the output ({err.strerror or err}); {hint}.")


_STANDARD = {"/dev/stdout": 1, "/dev/stderr": 2}
_DESCRIPTOR = re.compile(r"^/(?:dev|proc/self)/fd/(\d+)$")


def _inherited_descriptor(path: Path) -> int | None:
    """The descriptor a path like ``/dev/stdout`` or ``/dev/fd/3`` names, if any.

    Examples
    --------
    >>> _inherited_descriptor(Path("/dev/stdout")), _inherited_descriptor(Path("/dev/fd/3"))
    (1, 3)
    >>> _inherited_descriptor(Path("report.json")) is None
    True
    """
    text = str(path)
    if text in _STANDARD:
        return _STANDARD[text]
    match = _DESCRIPTOR.match(text)
    return int(match.group(1)) if match else None


def _special_mode(path: Path) -> int | None:
    """The mode of an existing non-regular file at ``path`` (links followed), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # nothing there yet (or a dangling link: its target gets created)
    return None if stat.S_ISREG(mode) else mode


class AtomicWriter:
    """A text output written all at once (see the module docstring for what a path means).

    Parameters
    ----------
    path : str, path-like or RemotePath
        Destination; a local folder must exist. Named in error messages. A URL
        is uploaded on commit.
    stream : text stream, optional
        Write to this stream instead (not closed); ``path`` only names it.

    Raises
    ------
    OutputError
        The destination cannot be opened (a FIFO nobody reads, a block device).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "rows.csv"
    >>> writer = AtomicWriter(target)
    >>> writer.write("a,b\\n")
    >>> target.exists()
    False
    >>> writer.commit()
    >>> target.read_text()
    'a,b\\n'
    """

    def __init__(
        self, path: str | os.PathLike[str] | RemotePath, *, stream: IO[str] | None = None
    ) -> None:
        found = location(path)
        self.path: Location = found
        self._remote = found if isinstance(found, RemotePath) else None
        self._temporary: Path | None = None
        self._destination = Path(str(found))
        self._owned = stream is None
        self._binary: IO[bytes] | None = None
        if stream is not None:
            self.stream = stream
            return
        import tempfile  # files only: a report on stdout (start-up) does not load it

        if isinstance(found, RemotePath):
            # No rename in an object store: a local temporary, uploaded on commit.
            try:
                handle, temporary = tempfile.mkstemp(prefix=f".{found.name}.", suffix=".tmp")
            except OSError as err:
                raise _output_error(found.url, err) from err
            self._temporary = Path(temporary)
            self._open(handle)
            return
        descriptor = _inherited_descriptor(found)
        if descriptor is not None:
            try:  # our own copy of the descriptor: its offset and append mode are kept
                handle = os.dup(descriptor)
            except OSError as err:
                raise _output_error(found, err) from err
            self._open(handle)
            return
        mode = _special_mode(found)
        if mode is not None:
            self._open(self._open_in_place(found, mode))
            return
        # Follow symbolic links: the file they lead to is replaced, the links stay.
        self._destination = Path(os.path.realpath(found))
        try:
            handle, temporary = tempfile.mkstemp(
                dir=self._destination.parent, prefix=f".{self._destination.name}.", suffix=".tmp"
            )
        except OSError as err:
            raise _output_error(found, err) from err
        self._temporary = Path(temporary)
        self._open(handle)

    def _open(self, handle: int) -> None:
        binary = os.fdopen(handle, "wb")
        self._binary = binary
        # A name that is not UTF-8 (a surrogate escape) is written escaped, never a crash.
        self.stream = io.TextIOWrapper(
            binary, encoding="utf-8", errors="backslashreplace", newline=""
        )

    def _open_in_place(self, path: Path, mode: int) -> int:
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
            raise OutputError(
                f"{path}: a block device, socket or folder cannot receive a report; "
                "name a file (or a pipe, or - for stdout)."
            )
        try:
            # O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of waiting forever.
            handle = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as err:
            raise _output_error(path, err) from err
        flags = fcntl.fcntl(handle, fcntl.F_GETFL)
        fcntl.fcntl(handle, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)  # then block like any write
        return handle

    def write(self, text: str) -> None:
        """Append text; a write error raises OutputError naming the file."""
        try:
            self.stream.write(text)
        except OSError as err:
            self.abort()
            raise _output_error(self.path, err) from err

    def write_bytes(self, data: bytes) -> None:
        """Append bytes (a figure); a write error raises OutputError naming the file."""
        if self._binary is None:
            raise OutputError(f"{self.path}: bytes cannot be written to a text stream.")
        try:
            self.stream.flush()
            self._binary.write(data)
        except OSError as err:
            self.abort()
            raise _output_error(self.path, err) from err

    def commit(self) -> None:
        """Flush to disk and rename into place (or finish writing in place)."""
        try:
            self.stream.flush()
            if self._temporary is None:
                if self._owned:
                    self.stream.close()
                return
            if self._remote is not None:
                self.stream.close()
                self._remote.upload(self._temporary)
                self._temporary.unlink()
                self._temporary = None
                return
            os.fsync(self.stream.fileno())
            self.stream.close()
            # mkstemp creates the file 0600; give it the permissions open() would.
            os.chmod(self._temporary, 0o666 & ~_current_umask())
            os.replace(self._temporary, self._destination)
            self._temporary = None
        except OSError as err:
            self.abort()
            raise _output_error(self.path, err) from err
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard what was written (in place, what was written stays written)."""
        if self._owned:
            # Closing flushes, and the flush of a failed write fails again.
            with contextlib.suppress(OSError):
                self.stream.close()
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None


def write_text_atomic(path: str | os.PathLike[str] | RemotePath, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :class:`AtomicWriter`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "report.json"
    >>> write_text_atomic(target, "{}\\n")
    >>> target.read_text()
    '{}\\n'
    """
    writer = AtomicWriter(path)
    try:
        writer.write(text)
    except BaseException:
        writer.abort()
        raise
    writer.commit()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a figure, an image; see :class:`AtomicWriter`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "figure.png"
    >>> write_bytes_atomic(target, b"\\x89PNG")
    >>> target.read_bytes()
    b'\\x89PNG'
    """
    writer = AtomicWriter(path)
    try:
        writer.write_bytes(data)
    except BaseException:
        writer.abort()
        raise
    writer.commit()


def read_text(path: str | os.PathLike[str] | RemotePath) -> str:
    """The UTF-8 text of a local file or an object in a store.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_text_atomic(target, "hello")
    >>> read_text(f"file://{target}")
    'hello'
    """
    found = location(path)
    if isinstance(found, RemotePath):
        return found.read_bytes().decode("utf-8")
    return found.read_text(encoding="utf-8")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def same_file(first: Path, second: Path) -> bool:
    """Whether two paths name the same file (links and ``..`` resolved, hard links too).

    Examples
    --------
    >>> same_file(Path("/tmp/a/../b.json"), Path("/tmp/b.json"))
    True
    """
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False  # one of them does not exist yet


def refuse_inside_inputs(output: Location, option: str, inputs: Sequence[Location]) -> None:
    """Refuse an output path inside an input folder (segeval never writes into its inputs).

    Parameters
    ----------
    output : Location
        The file or folder an option names.
    option : str
        The option, for the message (``--output``).
    inputs : sequence of Location
        The input folders (a URL prefix holds what is under it).

    Raises
    ------
    UsageError

    Examples
    --------
    >>> refuse_inside_inputs(Path("/data/gt/r.json"), "--output", [Path("/data/gt")])
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.UsageError: --output /data/gt/r.json is inside the input folder /data/gt; ...
    """
    for folder in inputs:
        if _inside(output, folder):
            raise UsageError(
                f"{option} {output} is inside the input folder {folder}; segeval never "
                "writes into its inputs, so write it elsewhere."
            )


def _inside(output: Location, folder: Location) -> bool:
    if isinstance(output, RemotePath) or isinstance(folder, RemotePath):
        return (
            isinstance(output, RemotePath)
            and isinstance(folder, RemotePath)
            and output.is_relative_to(folder)
        )
    return output.resolve().is_relative_to(folder.resolve())
