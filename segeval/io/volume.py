"""Label volumes with a physical grid: NIfTI, NRRD, MetaImage and 3-D NPY.

A medical label map is an N-D integer array plus a *geometry*: the voxel
spacing in millimetres and the affine that maps voxel indices to world
coordinates. :class:`Volume` carries both; 2-D images have no geometry.

Conventions:

* Arrays keep the file's voxel index order ``(i, j, k)`` (x fastest, as NIfTI
  and ITK number voxels); NRRD and MetaImage data read through SimpleITK are
  transposed (a view, no copy) to the same order, so a NIfTI ground truth pairs
  with an NRRD prediction.
* Affines are 4 x 4, voxel index -> RAS+ millimetres (NIfTI's convention;
  ITK's LPS directions are converted).
* Integer labels keep their stored dtype. Floating-point data and scaled data
  (NIfTI ``scl_slope`` / ``scl_inter``) are refused: going through float is
  exactly how label values get silently altered.

The readers import nibabel or SimpleITK only when such a file is read (the
``medical`` extra); ``import segeval`` loads neither.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segeval.errors import MaskReadError, MissingDependencyError

__all__ = [
    "DEFAULT_GEOMETRY_TOLERANCE",
    "Geometry",
    "Volume",
    "geometry_mismatch",
    "is_gzipped_nifti",
    "nifti_header",
    "read_metaimage_or_nrrd",
    "read_nifti",
    "volume_suffix",
]

#: Largest difference (mm for spacing and translation, direction cosines x spacing
#: for the rest of the affine) at which two grids count as the same.
DEFAULT_GEOMETRY_TOLERANCE = 1e-3

#: Multi-part suffixes first: ``case.nii.gz`` is a NIfTI file, key ``case``.
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def volume_suffix(name: str) -> str | None:
    """The volume suffix a file name ends with (lower case), if any.

    Examples
    --------
    >>> volume_suffix("case_001.nii.gz"), volume_suffix("CT.NRRD"), volume_suffix("a.png")
    ('.nii.gz', '.nrrd', None)
    """
    lowered = name.lower()
    for suffix in VOLUME_SUFFIXES:
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return suffix
    return None


@dataclass(frozen=True, eq=False)
class Geometry:
    """Where a label array's voxels are in the world.

    Parameters
    ----------
    spacing : tuple of float
        Voxel size in millimetres along each array axis.
    affine : numpy.ndarray
        ``(4, 4)`` voxel index -> RAS+ millimetres (rows beyond the array's
        axes are the identity for 2-D files).

    Examples
    --------
    >>> geometry = Geometry.from_spacing((0.8, 0.8, 3.0))
    >>> geometry.orientation, geometry.describe_spacing()
    ('RAS', '0.8 x 0.8 x 3 mm')
    """

    spacing: tuple[float, ...]
    affine: np.ndarray = field(repr=False)

    @classmethod
    def from_spacing(cls, spacing: tuple[float, ...]) -> Geometry:
        """A grid aligned with the world axes, origin at 0."""
        affine = np.eye(4)
        for axis, size in enumerate(spacing[:3]):
            affine[axis, axis] = size
        return cls(tuple(float(size) for size in spacing), affine)

    @property
    def orientation(self) -> str:
        """Axis codes (``RAS``, ``LPS``...): the world direction each array axis points to."""
        codes = []
        for axis in range(min(3, len(self.spacing))):
            column = self.affine[:3, axis]
            world = int(np.argmax(np.abs(column)))
            codes.append(("LR", "PA", "IS")[world][int(column[world] > 0)])
        return "".join(codes)

    def describe_spacing(self) -> str:
        """Spacing as ``0.8 x 0.8 x 3 mm``."""
        return " x ".join(f"{size:.6g}" for size in self.spacing) + " mm"

    def describe_affine(self) -> str:
        """The affine's first three rows, on one line."""
        rows = ("[" + ", ".join(f"{value:.6g}" for value in row) + "]" for row in self.affine[:3])
        return "[" + ", ".join(rows) + "]"

    def to_dict(self) -> dict[str, Any]:
        """Spacing, orientation and affine as JSON-ready values."""
        return {
            "spacing": list(self.spacing),
            "orientation": self.orientation,
            "affine": [[float(value) for value in row] for row in self.affine],
        }


@dataclass(frozen=True, eq=False)
class Volume:
    """A label array and, for volume formats, its geometry.

    Attributes
    ----------
    labels : numpy.ndarray
        Raw integer labels in the stored dtype, voxel index order.
    geometry : Geometry or None
        ``None`` for 2-D images and NPY arrays (no header).
    """

    labels: np.ndarray
    geometry: Geometry | None = None

    @property
    def spacing(self) -> tuple[float, ...]:
        """The voxel spacing, 1 along every axis without a geometry."""
        if self.geometry is None:
            return (1.0,) * self.labels.ndim
        return self.geometry.spacing


def geometry_mismatch(
    gt: Geometry, pred: Geometry, tolerance: float = DEFAULT_GEOMETRY_TOLERANCE
) -> str | None:
    """Say how two grids differ beyond ``tolerance``, or ``None`` when they agree.

    Examples
    --------
    >>> a, b = Geometry.from_spacing((0.8, 0.8, 3.0)), Geometry.from_spacing((1.0, 1.0, 1.0))
    >>> geometry_mismatch(a, a) is None
    True
    >>> geometry_mismatch(b, a)
    'spacing 0.8 x 0.8 x 3 mm, but the ground truth has 1 x 1 x 1 mm'
    """
    if len(gt.spacing) != len(pred.spacing) or not np.allclose(
        gt.spacing, pred.spacing, rtol=0, atol=tolerance
    ):
        return (
            f"spacing {pred.describe_spacing()}, but the ground truth has {gt.describe_spacing()}"
        )
    if not np.allclose(gt.affine, pred.affine, rtol=0, atol=tolerance):
        orientation = (
            f"orientation {pred.orientation}, but the ground truth is {gt.orientation}"
            if pred.orientation != gt.orientation
            else "a different affine (origin or direction)"
        )
        return (
            f"{orientation}: affine {pred.describe_affine()} against the ground truth's "
            f"{gt.describe_affine()}"
        )
    return None


# ----------------------------------------------------------------------- NIfTI


def _missing(path: Path, package: str, what: str) -> MissingDependencyError:
    return MissingDependencyError(
        f"{path}: reading {what} needs {package}, which is not installed; "
        "pip install 'segeval-masks[medical]'."
    )


def _check_labels(labels: np.ndarray, path: Path, how: str) -> np.ndarray:
    if labels.dtype == np.bool_:
        return labels.view(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer):
        raise MaskReadError(
            f"{path}: the volume stores {labels.dtype} values, not integer labels; "
            f"save label maps with an integer type ({how})."
        )
    return labels


def _squeeze_trailing(shape: tuple[int, ...]) -> tuple[int, ...]:
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _check_size(path: Path, shape: tuple[int, ...], max_voxels: int | None) -> None:
    voxels = math.prod(shape)
    if max_voxels is not None and voxels > max_voxels:
        raise MaskReadError(
            f"{path}: the volume declares shape {shape} ({voxels / 1e6:.1f} million voxels), "
            f"more than the limit of {max_voxels / 1e6:.1f} million; pass a larger "
            "--max-voxels if it is genuine."
        )


def read_nifti(path: Path, max_voxels: int | None = None) -> Volume:
    """Read a NIfTI-1 or NIfTI-2 label volume (``.nii``, ``.nii.gz``) with nibabel.

    The on-disk dtype is checked from the header before any data is read, and
    the data are taken unscaled (``dataobj.get_unscaled()``), so integer labels
    never pass through float. Uncompressed files are memory-mapped.

    Parameters
    ----------
    path : pathlib.Path
    max_voxels : int, optional
        Refuse volumes with more voxels (from the header).

    Returns
    -------
    Volume
        Labels in the stored integer dtype; geometry from the header (the
        affine nibabel chooses: sform, else qform, else the zooms).

    Raises
    ------
    MaskReadError
        Floating-point or scaled data, more than one component or time point,
        unreadable files.
    MissingDependencyError
        nibabel is not installed.
    """
    try:
        import nibabel as nib  # optional: the medical extra
    except ImportError as err:
        raise _missing(path, "nibabel", "NIfTI files") from err
    try:
        image: Any = nib.load(str(path))
    except Exception as err:  # nibabel raises many types on damaged files
        raise MaskReadError(f"{path}: cannot read it as NIfTI ({err}).") from err
    header = image.header
    shape = _squeeze_trailing(tuple(int(size) for size in image.shape))
    if len(shape) > 3:
        raise MaskReadError(
            f"{path}: the NIfTI image has shape {tuple(image.shape)} (time points or "
            "components); save one 3-D label volume per file."
        )
    _check_size(path, shape, max_voxels)
    stored = np.dtype(header.get_data_dtype())
    if not (np.issubdtype(stored, np.integer) or stored == np.bool_):
        raise MaskReadError(
            f"{path}: the NIfTI file stores {stored} values, not integer labels; "
            "save label maps as integers (nibabel: img.set_data_dtype(numpy.uint8) before "
            "saving, SimpleITK: sitk.Cast(image, sitk.sitkUInt8))."
        )
    # nibabel reads a slope of 0 or NaN as "no scaling" (1, 0), as the NIfTI standard says.
    slope, inter = float(image.dataobj.slope), float(image.dataobj.inter)
    if (slope, inter) != (1.0, 0.0):
        raise MaskReadError(
            f"{path}: the NIfTI header scales the stored {stored} values (scl_slope={slope}, "
            f"scl_inter={inter}), so labels would go through float; save the label map "
            "unscaled (scl_slope 1 or 0, scl_inter 0)."
        )
    try:
        labels = np.asanyarray(image.dataobj.get_unscaled()).reshape(shape, order="A")
    except Exception as err:
        raise MaskReadError(f"{path}: cannot read the NIfTI data ({err}).") from err
    labels = _check_labels(labels, path, "for instance uint8")
    zooms = tuple(float(size) for size in header.get_zooms()[: len(shape)])
    return Volume(labels, Geometry(zooms, np.asarray(image.affine, dtype=np.float64)))


# ----------------------------------------------------------- NRRD and MetaImage

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def read_metaimage_or_nrrd(path: Path, max_voxels: int | None = None) -> Volume:
    """Read an NRRD (``.nrrd``, ``.nhdr``) or MetaImage (``.mha``, ``.mhd``) volume.

    Read with SimpleITK; the array is transposed to voxel index order and the
    LPS direction and origin converted to a RAS affine.

    Parameters
    ----------
    path : pathlib.Path
    max_voxels : int, optional
        Refuse volumes with more voxels (from the header).

    Returns
    -------
    Volume

    Raises
    ------
    MaskReadError
        Vector or floating-point images, unreadable files.
    MissingDependencyError
        SimpleITK is not installed.
    """
    try:
        import SimpleITK  # optional: the medical extra
    except ImportError as err:
        raise _missing(path, "SimpleITK", "NRRD and MetaImage files") from err
    sitk: Any = SimpleITK  # partly typed; used through its documented calls only
    reader: Any = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise MaskReadError(f"{path}: cannot read the image header ({_first_line(err)}).") from err
    shape = _squeeze_trailing(tuple(int(size) for size in reader.GetSize()))
    _check_size(path, shape, max_voxels)
    if reader.GetNumberOfComponents() != 1:
        raise MaskReadError(
            f"{path}: the image has {reader.GetNumberOfComponents()} components per voxel; "
            "save one label value per voxel."
        )
    try:
        image = reader.Execute()
    except RuntimeError as err:
        raise MaskReadError(f"{path}: cannot read the image data ({_first_line(err)}).") from err
    labels = _check_labels(
        sitk.GetArrayFromImage(image).T, path, "SimpleITK: sitk.Cast(image, sitk.sitkUInt8)"
    )
    ndim = labels.ndim
    spacing = tuple(float(size) for size in image.GetSpacing())[:ndim]
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(
        image.GetDimension(), image.GetDimension()
    )[:ndim, :ndim]
    origin = np.asarray(image.GetOrigin(), dtype=np.float64)[:ndim]
    affine = np.eye(4)
    affine[:ndim, :ndim] = direction * np.asarray(spacing)
    affine[:ndim, 3] = origin
    flip = np.eye(4)
    flip[:3, :3] = _LPS_TO_RAS
    labels = labels.reshape(shape, order="A")
    return Volume(labels, Geometry(spacing, flip @ affine))


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def is_gzipped_nifti(head: bytes, path: Path) -> bool:
    """True for a gzip stream whose content starts with a NIfTI header."""
    if not head.startswith(b"\x1f\x8b"):
        return False
    import gzip  # gzip files only

    try:
        with gzip.open(path, "rb") as stream:
            return nifti_header(stream.read(4))
    except (OSError, EOFError):
        return False


def nifti_header(head: bytes) -> bool:
    """True when ``head`` starts with a NIfTI-1 (348) or NIfTI-2 (540) header size."""
    if len(head) < 4:
        return False
    return any(int.from_bytes(head[:4], order) in (348, 540) for order in ("little", "big"))
