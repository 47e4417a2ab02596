"""Open score maps (logits or probabilities) stored as ``.npy`` or ``.npz`` arrays.

Score maps are large (19 x 1024 x 2048 float32 is 160 MB), so they are never
loaded here: an ``.npy`` file, and an array stored uncompressed in an ``.npz``
(``numpy.savez``), come back memory-mapped, and the loss accumulator reads them
in row blocks. Only a compressed ``.npz`` member (``numpy.savez_compressed``)
has to be decompressed into memory, and only up to
:data:`MAX_DECOMPRESSED_BYTES`. Values are not checked here (dtype, shape
against the ground truth, finiteness): the loss accumulator does that with the
file's name in every message. Files are opened as masks are (regular files only,
checked without blocking: :func:`~segeval.io.files.require_regular_file`).

A score map in an object store (a :class:`~segeval.io.storage.RemotePath`)
cannot be mapped: it is read with ranged requests (headers first, so every
limit is checked before any array byte is fetched) into the memory of the
worker that reads it, and an array may declare at most the bytes its object
or member holds.
"""

from __future__ import annotations

import math
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from segeval.errors import MaskReadError, format_bytes
from segeval.io.files import MAX_ARCHIVE_MEMBERS, require_regular_file, zip_entry_count
from segeval.io.storage import Location, RemotePath, StorageError
from segeval.wording import counted

__all__ = ["MAX_DECOMPRESSED_BYTES", "ScoreHeader", "read_score_header", "read_scores"]

#: Largest array decompressed into memory from a compressed ``.npz`` member
#: (``numpy.savez`` stores arrays uncompressed, and those are memory-mapped).
MAX_DECOMPRESSED_BYTES = 2**30

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a zip member's local file header


@dataclass(frozen=True)
class ScoreHeader:
    """What an array file declares, read without loading it."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    @property
    def pixels(self) -> int:
        """Pixels of one channel (the last two axes; 0 for fewer than two axes)."""
        return self.shape[-2] * self.shape[-1] if len(self.shape) >= 2 else 0


def _read_header(stream: IO[bytes], source: str) -> tuple[ScoreHeader, bool]:
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, OSError, EOFError) as err:
        raise MaskReadError(
            f"{source}: cannot read the NPY header ({err}); save scores with numpy.save."
        ) from err
    return ScoreHeader(tuple(int(n) for n in shape), np.dtype(dtype)), bool(fortran)


def _open(path: Location) -> IO[bytes]:
    """The file's bytes: a local file, or an object read with ranged requests."""
    if isinstance(path, RemotePath):
        return path.open_read()
    return path.open("rb")


def _format(path: Location) -> str:
    if isinstance(path, Path):
        require_regular_file(path)  # a FIFO named like scores would block the open below
    try:
        with _open(path) as stream:
            head = stream.read(6)
    except OSError as err:
        raise MaskReadError(f"{path}: cannot open the file ({err.strerror or err}).") from err
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "npz"
    raise MaskReadError(
        f"{path}: not a NumPy array file; save scores (logits or probabilities, shape "
        "(C, H, W)) with numpy.save as .npy, or numpy.savez as .npz."
    )


@contextmanager
def _open_npz(path: Location) -> Iterator[zipfile.ZipFile]:
    with _open(path) as stream:
        entries = zip_entry_count(stream)
        if entries is not None and entries > MAX_ARCHIVE_MEMBERS:
            raise MaskReadError(
                f"{path}: the NPZ file declares {counted(entries, 'member')}, more than the "
                f"{MAX_ARCHIVE_MEMBERS} segeval reads; save one array per file."
            )
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            yield archive


def _member(archive: zipfile.ZipFile, path: Location, key: str | None) -> zipfile.ZipInfo:
    names = [name.removesuffix(".npy") for name in archive.namelist()]
    if key is None:
        if len(names) != 1:
            raise MaskReadError(
                f"{path}: the NPZ file holds {len(names)} arrays "
                f"({', '.join(sorted(names)[:10])}); pass --npz-key to choose one."
            )
        key = names[0]
    if key not in names:
        raise MaskReadError(
            f"{path}: no array named {key!r} in the NPZ file; it holds "
            f"{', '.join(sorted(names)[:10])}."
        )
    if f"{key}.npy" not in archive.namelist():
        raise MaskReadError(
            f"{path}: member {key!r} of the NPZ file is not an .npy array; save the scores "
            "with numpy.savez."
        )
    return archive.getinfo(f"{key}.npy")


def read_score_header(path: str | Path | RemotePath, npz_key: str | None = None) -> ScoreHeader:
    """Shape and dtype of a score file, from its header alone.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.npy"
    >>> np.save(path, np.zeros((3, 4, 5), np.float32))
    >>> read_score_header(path)
    ScoreHeader(shape=(3, 4, 5), dtype=dtype('float32'))
    """
    path = path if isinstance(path, RemotePath) else Path(path)
    try:
        if _format(path) == "npy":
            with _open(path) as stream:
                return _read_header(stream, str(path))[0]
        with _open_npz(path) as archive:
            member = _member(archive, path, npz_key)
            with archive.open(member) as stream:
                return _read_header(stream, f"{path}[{member.filename}]")[0]
    except (MaskReadError, StorageError):
        raise
    except Exception as err:  # zipfile, zlib and numpy on hostile bytes: any failure
        raise MaskReadError(f"{path}: cannot read the array file ({err}).") from err


def read_scores(
    path: str | Path | RemotePath, npz_key: str | None = None, max_pixels: int | None = None
) -> np.ndarray:
    """Open a score map without loading it (memory-mapped when the file allows).

    Parameters
    ----------
    path : str, path-like or RemotePath
        ``.npy``, or ``.npz`` holding one array (or ``npz_key``); the format is
        recognised from the content. An object in a store is read into memory.
    npz_key : str, optional
        The array to use from an ``.npz`` holding several.
    max_pixels : int, optional
        Refuse maps with more pixels per channel, from the header.

    Returns
    -------
    numpy.ndarray
        Read-only; a ``numpy.memmap`` for ``.npy`` and uncompressed ``.npz``.

    Raises
    ------
    MaskReadError
        Not an array file, truncated, pickled objects, too many pixels.
    StorageError
        An object that cannot be read (missing, denied).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> np.savez(folder / "a.npz", logits=np.ones((2, 3, 4), np.float16))
    >>> scores = read_scores(folder / "a.npz")
    >>> type(scores).__name__, scores.shape, float(scores.sum())
    ('memmap', (2, 3, 4), 24.0)
    """
    path = path if isinstance(path, RemotePath) else Path(path)
    try:
        if isinstance(path, RemotePath):
            return _read_remote(path, npz_key, max_pixels)
        if _format(path) == "npy":
            with path.open("rb") as stream:
                header, _ = _read_header(stream, str(path))
            _check_size(header, str(path), max_pixels)
            scores: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
            return scores
        return _read_npz(path, npz_key, max_pixels)
    except (MaskReadError, StorageError):
        raise
    except Exception as err:  # zipfile, zlib and numpy on hostile bytes: any failure
        raise MaskReadError(
            f"{path}: cannot load the array ({err}); save scores with numpy.save as a plain "
            "float array."
        ) from err


def _read_npz(path: Path, key: str | None, max_pixels: int | None) -> np.ndarray:
    with _open_npz(path) as archive:
        member = _member(archive, path, key)
        source = f"{path}[{member.filename.removesuffix('.npy')}]"
        with archive.open(member) as stream:
            header, fortran = _read_header(stream, source)
            array_offset = stream.tell()
        _check_size(header, source, max_pixels)
        if member.compress_type != zipfile.ZIP_STORED or header.dtype.hasobject:
            # Compressed: the array exists only once decompressed, and numpy allocates
            # what the header declares before reading: bound it first.
            declared = math.prod(header.shape) * header.dtype.itemsize
            if declared > min(member.file_size, MAX_DECOMPRESSED_BYTES):
                raise MaskReadError(
                    f"{source}: the compressed array declares {format_bytes(declared)}, more "
                    f"than its member holds or the {format_bytes(MAX_DECOMPRESSED_BYTES)} "
                    "decompressed into memory; save the scores with numpy.savez (uncompressed)."
                )
            with archive.open(member) as stream:
                return np.lib.format.read_array(stream, allow_pickle=False)
    # Stored uncompressed (numpy.savez): map the bytes in place, past the member's
    # local header (its name and extra field lengths are only known from there).
    with path.open("rb") as raw:
        raw.seek(member.header_offset)
        fields = _LOCAL_HEADER.unpack(raw.read(_LOCAL_HEADER.size))
    name_length, extra_length = fields[-2], fields[-1]
    start = member.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    return np.memmap(
        path,
        dtype=header.dtype,
        mode="r",
        offset=start + array_offset,
        shape=header.shape,
        order="F" if fortran else "C",
    )


def _read_remote(path: RemotePath, key: str | None, max_pixels: int | None) -> np.ndarray:
    """A score map from a store, into memory: headers and limits first, then the array."""
    if _format(path) == "npz":
        with _open_npz(path) as archive:
            member = _member(archive, path, key)
            source = f"{path}[{member.filename.removesuffix('.npy')}]"
            with archive.open(member) as stream:
                header, _ = _read_header(stream, source)
                _check_size(header, source, max_pixels)
                holds = member.file_size - stream.tell()
                if member.compress_type != zipfile.ZIP_STORED:
                    holds = min(holds, MAX_DECOMPRESSED_BYTES)
                _check_declared(header, holds, source)
            with archive.open(member) as stream:
                return np.lib.format.read_array(stream, allow_pickle=False)
    with _open(path) as stream:
        header, _ = _read_header(stream, str(path))
        _check_size(header, str(path), max_pixels)
        array_offset = stream.tell()
        _check_declared(header, stream.seek(0, 2) - array_offset, str(path))
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)


def _check_declared(header: ScoreHeader, holds: int, source: str) -> None:
    """numpy allocates what a header declares before reading: never more than is there."""
    declared = math.prod(header.shape) * header.dtype.itemsize
    if header.dtype.hasobject or declared > holds:
        raise MaskReadError(
            f"{source}: the array declares {format_bytes(declared)}, more than the "
            f"{format_bytes(max(holds, 0))} stored (or the limit read into memory); save the "
            "scores with numpy.save as a plain float array."
        )


def _check_size(header: ScoreHeader, source: str, max_pixels: int | None) -> None:
    if max_pixels is not None and header.pixels > max_pixels:
        raise MaskReadError(
            f"{source}: the scores declare shape {header.shape} ({header.pixels / 1e6:.1f} "
            f"million pixels per channel), more than the limit of {max_pixels / 1e6:.1f} "
            "megapixels; pass a larger --max-pixels if it is genuine."
        )
