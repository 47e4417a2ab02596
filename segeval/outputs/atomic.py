"""Write output files atomically: all of the new content or none of it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from segeval.errors import UsageError

__all__ = ["AtomicWriter", "refuse_inside_inputs", "write_bytes_atomic", "write_text_atomic"]


class AtomicWriter:
    """A text file written beside its destination and renamed into place.

    A reader never sees a half-written file, and a failure leaves any previous
    file untouched.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder must exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "rows.csv"
    >>> writer = AtomicWriter(target)
    >>> _ = writer.stream.write("a,b\\n")
    >>> target.exists()
    False
    >>> writer.commit()
    >>> target.read_text()
    'a,b\\n'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        handle, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        self._temporary = Path(temporary)
        self.stream: IO[str] = os.fdopen(handle, "w", encoding="utf-8", newline="")

    def commit(self) -> None:
        """Flush to disk and rename into place."""
        try:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            self.stream.close()
            # mkstemp creates the file 0600; give it the permissions open() would.
            os.chmod(self._temporary, 0o666 & ~_current_umask())
            os.replace(self._temporary, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard what was written."""
        self.stream.close()
        self._temporary.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
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
        writer.stream.write(text)
    except BaseException:
        writer.abort()
        raise
    writer.commit()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a figure, an image).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "figure.png"
    >>> write_bytes_atomic(target, b"\\x89PNG")
    >>> target.read_bytes()
    b'\\x89PNG'
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def refuse_inside_inputs(output: Path, option: str, inputs: Sequence[Path]) -> None:
    """Refuse an output path inside an input folder (segeval never writes into its inputs).

    Parameters
    ----------
    output : pathlib.Path
        The file or folder an option names.
    option : str
        The option, for the message (``--output``).
    inputs : sequence of pathlib.Path
        The input folders.

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
    resolved = output.resolve()
    for folder in inputs:
        if resolved.is_relative_to(folder.resolve()):
            raise UsageError(
                f"{option} {output} is inside the input folder {folder}; segeval never "
                "writes into its inputs, so write it elsewhere."
            )
