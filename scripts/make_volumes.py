"""Write synthetic label volumes with known overlaps and distances, as NIfTI.

Spheres, shells and boxes on an anisotropic grid (0.8 x 0.8 x 3.0 mm, the
spacing of a typical abdominal CT series), saved with real headers (qform and
sform, millimetre units) so spacing and orientation travel with the files.
Every case is built from physical coordinates, so its expected values are known
by hand:

* ``case_001``: label 1 a sphere of radius 10 mm (prediction: 12 mm), label 2
  the shell from 10 to 16 mm (prediction: 12 to 16 mm), same centre.
  Continuous Dice: label 1 2 * 10^3 / (10^3 + 12^3) = 0.7331, label 2
  2 (16^3 - 12^3) / ((16^3 - 10^3) + (16^3 - 12^3)) = 0.8668; the voxel counts
  come close (the tests check both).
* ``case_002``: label 1 a box, predicted 2 slices higher: the surfaces are
  exactly 2 x 3.0 = 6.0 mm apart at most (Hausdorff distance 6.0 mm); label 2
  absent from both sides (nnU-Net: NaN).
* ``case_003``: label 1 a sphere predicted exactly; label 2 a small sphere the
  prediction misses (Dice 0, distances infinite).

With ``--mismatch`` a folder ``pred_mismatched/`` holds ``case_001`` with its
slices 2.5 mm apart in the header (a prediction resampled or saved without its
ground truth's header), for the geometry check.

Files are gzip-compressed with a fixed timestamp, so the bytes do not change
between runs. Needs nibabel (``pip install 'segeval-masks[medical]'``).

Usage: python scripts/make_volumes.py OUTPUT_DIR [--shape X Y Z] [--mismatch]
(default shape 48 48 16: a few kilobytes per file).
"""

from __future__ import annotations

import argparse
import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np

SPACING = (0.8, 0.8, 3.0)
DEFAULT_SHAPE = (48, 48, 16)
CASES = ("case_001", "case_002", "case_003")

Shape = tuple[int, int, int]


def affine_for(shape: Shape, spacing: tuple[float, float, float] = SPACING) -> np.ndarray:
    """Voxel index -> RAS mm, centred on the volume (x to the left: an LAS grid)."""
    affine = np.diag([-spacing[0], spacing[1], spacing[2], 1.0])
    affine[:3, 3] = [
        spacing[0] * (shape[0] - 1) / 2,
        -spacing[1] * (shape[1] - 1) / 2,
        -spacing[2] * (shape[2] - 1) / 2,
    ]
    return affine


def coordinates(shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Millimetre offsets of every voxel centre from the volume's centre, per axis."""
    axes = [
        (np.arange(size) - (size - 1) / 2) * step for size, step in zip(shape, SPACING, strict=True)
    ]
    grid = np.meshgrid(*axes, indexing="ij", sparse=True)
    return grid[0], grid[1], grid[2]


def ball(shape: Shape, radius: float, centre: tuple[float, float, float] = (0, 0, 0)) -> np.ndarray:
    """Voxels whose centre lies within ``radius`` mm of ``centre`` (mm from the middle)."""
    x, y, z = coordinates(shape)
    distance2 = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2
    return np.asarray(distance2 <= radius**2)


def box(shape: Shape, lower: tuple[int, int, int], upper: tuple[int, int, int]) -> np.ndarray:
    """Voxels with index lower <= (i, j, k) < upper."""
    mask = np.zeros(shape, dtype=bool)
    mask[lower[0] : upper[0], lower[1] : upper[1], lower[2] : upper[2]] = True
    return mask


def _labels(shape: Shape, *layers: np.ndarray) -> np.ndarray:
    """Label 1, 2, ... painted in order (later layers win)."""
    labels = np.zeros(shape, dtype=np.uint8)
    for value, layer in enumerate(layers, start=1):
        labels[layer] = value
    return labels


def case_pair(name: str, shape: Shape = DEFAULT_SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and prediction of one synthetic case, uint8 labels."""
    builders: dict[str, Callable[[Shape], tuple[np.ndarray, np.ndarray]]] = {
        "case_001": _spheres_and_shells,
        "case_002": _shifted_box,
        "case_003": _missed_structure,
    }
    return builders[name](shape)


def _spheres_and_shells(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    outer = ball(shape, 16.0)
    gt_core, pred_core = ball(shape, 10.0), ball(shape, 12.0)
    return _labels(shape, gt_core, outer & ~gt_core), _labels(shape, pred_core, outer & ~pred_core)


def _shifted_box(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    i, j, k = shape[0] // 4, shape[1] // 4, shape[2] // 4
    lower, upper = (i, j, k), (shape[0] - i, shape[1] - j, shape[2] - k - 2)
    shifted_lower, shifted_upper = (i, j, k + 2), (shape[0] - i, shape[1] - j, shape[2] - k)
    return _labels(shape, box(shape, lower, upper)), _labels(
        shape, box(shape, shifted_lower, shifted_upper)
    )


def _missed_structure(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    organ = ball(shape, 9.0, centre=(-6.0, 0.0, 0.0))
    lesion = ball(shape, 4.0, centre=(10.0, 5.0, 0.0))
    return _labels(shape, organ, lesion), _labels(shape, organ)


def nifti_bytes(labels: np.ndarray, affine: np.ndarray) -> bytes:
    """A NIfTI-1 file's bytes with qform and sform set (scanner space, mm)."""
    import nibabel as nib  # the medical extra

    image = nib.Nifti1Image(labels, affine)
    image.set_data_dtype(labels.dtype)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    return bytes(image.to_bytes())


def write_nifti(path: Path, labels: np.ndarray, affine: np.ndarray) -> Path:
    """Write ``.nii`` or ``.nii.gz`` (gzip with mtime 0: reproducible bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = nifti_bytes(labels, affine)
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    path.write_bytes(payload)
    return path


def write_cases(output: Path, shape: Shape = DEFAULT_SHAPE, *, mismatch: bool = False) -> None:
    """Write ``gt/`` and ``pred/`` (and ``pred_mismatched/``) under ``output``."""
    affine = affine_for(shape)
    for name in CASES:
        gt, pred = case_pair(name, shape)
        write_nifti(output / "gt" / f"{name}.nii.gz", gt, affine)
        write_nifti(output / "pred" / f"{name}.nii.gz", pred, affine)
    if mismatch:
        _, pred = case_pair("case_001", shape)
        wrong = affine_for(shape, (SPACING[0], SPACING[1], 2.5))
        write_nifti(output / "pred_mismatched" / "case_001.nii.gz", pred, wrong)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--shape", type=int, nargs=3, default=DEFAULT_SHAPE)
    parser.add_argument("--mismatch", action="store_true")
    arguments = parser.parse_args()
    write_cases(arguments.output, tuple(arguments.shape), mismatch=arguments.mismatch)


if __name__ == "__main__":
    main()
