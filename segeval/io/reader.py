"""Dispatch a mask file to the reader for its format, by content."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from segeval.defaults import DEFAULT_MAX_PIXELS, DEFAULT_MAX_VOXELS
from segeval.errors import MaskReadError
from segeval.io.colors import ColorTable
from segeval.io.files import DEFAULT_MAX_MASK_BYTES, read_regular_file, require_regular_file
from segeval.io.image import read_image
from segeval.io.storage import Location, RemotePath
from segeval.io.volume import (
    VOLUME_SUFFIXES,
    Volume,
    is_gzipped_nifti,
    nifti_header,
    read_metaimage_or_nrrd,
    read_nifti,
    volume_suffix,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_VOXELS",
    "MASK_SUFFIXES",
    "ReadOptions",
    "decode_mask",
    "mask_suffix",
    "read_mask",
    "read_volume",
    "sniff_format",
]

#: File name suffixes (lower case) that pairing treats as masks; anything else is
#: skipped. ``.nii.gz`` is one suffix: use :func:`mask_suffix` on file names.
MASK_SUFFIXES = frozenset(
    {".png", ".npy", ".npz", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg", *VOLUME_SUFFIXES}
)

#: Suffixes longer than one dot, matched before the last-dot rule.
_MULTI_PART = tuple(suffix for suffix in MASK_SUFFIXES if suffix.count(".") > 1)


def mask_suffix(name: str) -> str | None:
    """The mask suffix a file name ends with (matched case-insensitively), or ``None``.

    The one place a file name's suffix is decided: double suffixes such as
    ``.nii.gz`` count as one, so ``case_001.nii.gz`` has the key ``case_001``.

    Examples
    --------
    >>> mask_suffix("case_001.nii.gz"), mask_suffix("a.PNG"), mask_suffix("notes.txt")
    ('.nii.gz', '.png', None)
    >>> mask_suffix("archive.tar.gz") is None
    True
    """
    lowered = name.lower()
    for suffix in _MULTI_PART:
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return suffix
    dot = lowered.rfind(".")
    if dot <= 0:
        return None
    suffix = lowered[dot:]
    return suffix if suffix in MASK_SUFFIXES else None


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\x93NUMPY", "npy"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"PK\x03\x04", "npz"),
    (b"PK\x05\x06", "npz"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
    (b"GIF8", "gif"),
    (b"RIFF", "webp"),
    (b"NRRD", "nrrd"),
    (b"\x1f\x8b", "gzip"),
)

# MetaImage headers are "Key = value" lines; these keys can come first.
_METAIMAGE_KEYS = (b"ObjectType", b"NDims", b"Comment", b"ObjectSubType", b"DimSize")

_VOLUME_FORMATS = frozenset({"nifti", "nrrd", "metaimage"})

_IMAGE_FORMATS = frozenset({"png", "tiff", "bmp", "jpeg"})


@dataclass(frozen=True)
class ReadOptions:
    """How mask files are read.

    Parameters
    ----------
    colors : ColorTable, optional
        Colour -> label value, for RGB/RGBA masks. Without it colour masks are
        refused.
    unknown_color : {"error", "ignore"}, default "error"
        A colour not in the table: an error listing the unknown colours, or
        ``unknown_value``.
    unknown_value : int, default 255
        The label given to unknown colours under ``unknown_color="ignore"`` (an
        ignore value).
    allow_lossy : bool, default False
        Read JPEG masks (colours mapped to the nearest table colour).
    npz_key : str, optional
        The array to use from an NPZ file holding several.
    max_pixels : int or None, default DEFAULT_MAX_PIXELS
        Refuse images larger than this, from the header, before decoding
        (None: no limit, for trusted files).
    max_bytes : int or None, default DEFAULT_MAX_MASK_BYTES
        Refuse files larger than this, before reading them (None: no limit).
    max_voxels : int or None, default DEFAULT_MAX_VOXELS
        Refuse volumes (NIfTI, NRRD, MetaImage, 3-D NPY) with more voxels, from
        the header (None: no limit). Images keep ``max_pixels``.
    """

    colors: ColorTable | None = None
    unknown_color: Literal["error", "ignore"] = "error"
    unknown_value: int = 255
    allow_lossy: bool = False
    npz_key: str | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_bytes: int | None = DEFAULT_MAX_MASK_BYTES
    max_voxels: int | None = DEFAULT_MAX_VOXELS


def sniff_format(head: bytes) -> str:
    """Name the file format from the first bytes of a file.

    Parameters
    ----------
    head : bytes
        At least the first 8 bytes of the file.

    Returns
    -------
    str
        ``"png"``, ``"npy"``, ``"npz"``, ``"jpeg"``, ``"tiff"``, ``"bmp"``,
        ``"gif"``, ``"webp"``, ``"nifti"``, ``"nrrd"``, ``"metaimage"``, ``"gzip"``
        (a compressed stream: ``.nii.gz`` files), ``"empty"`` or ``"unknown"``.

    Examples
    --------
    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n")
    'png'
    >>> sniff_format(b"hello")
    'unknown'
    """
    if not head:
        return "empty"
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    if head.startswith(_METAIMAGE_KEYS):
        return "metaimage"
    if nifti_header(head):
        return "nifti"
    return "unknown"


def read_mask(
    path: str | os.PathLike[str] | RemotePath, options: ReadOptions | None = None
) -> np.ndarray:
    """Read one label mask as an integer array of raw label values.

    The format comes from the file's content; a ``.png`` holding a JPEG is
    reported as a JPEG. Volumes (NIfTI, NRRD, MetaImage, 3-D NPY) come back
    as 3-D arrays; :func:`read_volume` also returns their geometry.

    Parameters
    ----------
    path : str, path-like or RemotePath
        A local file, or an object in a store (read in one request).
        PNG (modes ``1``, ``L``, ``P``, ``I;16``, ``I``, and ``RGB``/``RGBA`` with
        a colour table), TIFF (8/16/32-bit integer, single page), BMP, NPY (2-D
        or 3-D integer array), NPZ (one array, or ``options.npz_key``), NIfTI
        (``.nii``, ``.nii.gz``), NRRD (``.nrrd``, ``.nhdr``), MetaImage
        (``.mha``, ``.mhd``).
    options : ReadOptions, optional
        Colour table, lossy input, NPZ key, pixel, voxel and byte limits.

    Returns
    -------
    numpy.ndarray
        Shape ``(height, width)`` for images, the voxel index order for
        volumes; ``uint8`` for 1-bit, 8-bit and palette images (palette
        indices, never colours), ``uint16`` for 16-bit images, the stored
        integer dtype for arrays and volumes, label values for colour masks.

    Raises
    ------
    MaskReadError
        Missing, empty, truncated or unsupported files, anything but a regular
        file (a FIFO, a device), colour masks without a colour table, unknown
        colours, floating-point data, too many pixels or bytes, no pixels.
    MissingDependencyError
        A volume format whose reader (the ``medical`` extra) is not installed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.array([[0, 1], [2, 255]], dtype=np.uint8)).save(folder / "m.png")
    >>> read_mask(folder / "m.png")
    array([[  0,   1],
           [  2, 255]], dtype=uint8)
    """
    return read_volume(path, options).labels


def read_volume(
    path: str | os.PathLike[str] | RemotePath, options: ReadOptions | None = None
) -> Volume:
    """Read one label mask or volume with its geometry (``None`` for images).

    Volume files (by suffix, confirmed by content) are opened by their readers,
    which memory-map uncompressed NIfTI; everything else is read whole and
    decoded by :func:`decode_mask`. Both go through the same checks: regular
    files only, ``max_bytes``, and a size limit from the header.

    Parameters
    ----------
    path : str, path-like or RemotePath
        Any file :func:`read_mask` reads. A volume in a store is fetched in one
        request and read from a temporary file (its libraries read files).
    options : ReadOptions, optional

    Returns
    -------
    Volume
        ``labels`` as :func:`read_mask` returns them; ``geometry`` (spacing,
        affine) from NIfTI, NRRD and MetaImage headers.

    Raises
    ------
    MaskReadError, MissingDependencyError

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "v.npy"
    >>> np.save(path, np.zeros((4, 5, 6), dtype=np.uint8))
    >>> volume = read_volume(path)
    >>> volume.labels.shape, volume.geometry, volume.spacing
    ((4, 5, 6), None, (1.0, 1.0, 1.0))
    """
    options = options or ReadOptions()
    if isinstance(path, RemotePath):
        # An object in a store: one request for its bytes, on the machine that reads.
        data = path.read_bytes(max_bytes=options.max_bytes)
        if volume_suffix(path.name) is not None and sniff_format(data[:16]) in _FILE_VOLUMES:
            return _volume_from_bytes(data, path, options)
        return Volume(decode_mask(data, path, options))
    path = Path(path)
    if volume_suffix(path.name) is not None:
        volume = _read_volume_file(path, options)
        if volume is not None:
            return volume
    data = read_regular_file(path, max_bytes=options.max_bytes)
    return Volume(decode_mask(data, path, options))


#: Formats whose libraries read files: a volume fetched from a store goes through one.
_FILE_VOLUMES = frozenset({"nifti", "nrrd", "metaimage", "gzip"})


def _volume_from_bytes(data: bytes, path: RemotePath, options: ReadOptions) -> Volume:
    """Read a volume fetched from a store through a temporary file of the same suffix."""
    import tempfile  # remote volumes only: start-up does not load it

    suffix = volume_suffix(path.name) or ""
    with tempfile.TemporaryDirectory(prefix="segeval-volume-") as folder:
        local = Path(folder) / f"volume{suffix}"
        local.write_bytes(data)
        volume = _read_volume_file(local, options)
        if volume is None:
            return Volume(decode_mask(data, path, options))
        # Uncompressed NIfTI is memory-mapped: keep the labels, not the mapping.
        return Volume(np.array(volume.labels), volume.geometry)


def _read_volume_file(path: Path, options: ReadOptions) -> Volume | None:
    """A NIfTI, NRRD or MetaImage file read by its library (None: not one after all)."""
    size = require_regular_file(path)
    if options.max_bytes is not None and size > options.max_bytes:
        # The same refusal as read_regular_file's, without reading the file.
        read_regular_file(path, max_bytes=options.max_bytes)
    try:
        with path.open("rb") as stream:
            head = stream.read(16)
    except OSError as err:
        raise MaskReadError(f"{path}: cannot open the file ({err.strerror or err}).") from err
    file_format = sniff_format(head)
    if file_format == "gzip" and is_gzipped_nifti(head, path):
        file_format = "nifti"
    if file_format == "nifti":
        return read_nifti(path, options.max_voxels)
    if file_format in ("nrrd", "metaimage"):
        return read_metaimage_or_nrrd(path, options.max_voxels)
    return None


def decode_mask(data: bytes, path: Location, options: ReadOptions) -> np.ndarray:
    """Decode the bytes of a mask file (read by :func:`read_mask`) into raw labels.

    Parameters
    ----------
    data : bytes
        The whole file.
    path : Location
        Where it came from (a path or a URL), for messages.
    options : ReadOptions

    Returns
    -------
    numpy.ndarray
        As :func:`read_mask` (3-D NPY arrays included; the other volume formats
        are read from files by :func:`read_volume`); never empty.

    Raises
    ------
    MaskReadError
        As :func:`read_mask`.
    """
    file_format = sniff_format(data[:16])
    if file_format == "jpeg" and not options.allow_lossy:
        raise MaskReadError(
            f"{path}: this is a JPEG file; lossy compression corrupts label values at "
            "every edge, so save label masks as PNG (or pass --allow-lossy to map "
            "colours to the nearest known colour)."
        )
    if file_format in _VOLUME_FORMATS:
        raise MaskReadError(
            f"{path}: this is a {file_format} volume named as another format; give it its "
            "suffix (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd) so segeval reads it as a volume."
        )
    if file_format in _IMAGE_FORMATS:
        labels = read_image(path, file_format, options, data)
    elif file_format == "npy":
        from segeval.io.arrays import read_npy  # array files only: start-up skips it

        labels = read_npy(
            path, options.max_pixels, data, volumes=True, max_voxels=options.max_voxels
        )
    elif file_format == "npz":
        from segeval.io.arrays import read_npz

        labels = read_npz(path, options.npz_key, options.max_pixels, data)
    elif file_format == "empty":
        raise MaskReadError(f"{path}: the file is empty; write the mask again.")
    else:
        raise MaskReadError(
            f"{path}: unsupported mask format ({file_format}); save label masks as PNG, "
            "TIFF, BMP, a 2-D integer NPY/NPZ array, or volumes as NIfTI, NRRD, MetaImage "
            "or 3-D NPY."
        )
    if labels.size == 0:
        raise MaskReadError(
            f"{path}: the mask holds no pixels (shape {labels.shape}); write the mask again."
        )
    return labels
