"""What is in a folder of masks: formats, sizes, label values or colours, problems.

:func:`inspect_folder` is what ``segeval inspect`` runs first when a score looks
wrong. It reads every mask once, tallies what it finds, and turns recognisable
mistakes into hints: colour masks read without colours, JPEG masks, Cityscapes
labelIds scored as trainIds (or the reverse), 0/255 binary masks whose 255
would be ignored. Volumes (NIfTI, NRRD, MetaImage, 3-D NPY) are listed with
their shape, spacing and orientation; given the ground-truth folder, each
volume's grid is checked against its ground truth's, as ``score`` would.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from segeval.core.labels import DEFAULT_IGNORE, LabelMapping
from segeval.errors import MaskReadError, SegevalError
from segeval.inputs.classes import PRESET_NAMES, ClassDefinition, load_preset
from segeval.inputs.pairing import list_masks
from segeval.io import (
    Geometry,
    ReadOptions,
    Volume,
    decode_mask,
    read_regular_file,
    read_volume,
    sniff_format,
)
from segeval.io.colors import RGB
from segeval.io.image import check_pixel_limit, openers
from segeval.io.volume import (
    DEFAULT_GEOMETRY_TOLERANCE,
    geometry_mismatch,
    is_gzipped_nifti,
    volume_suffix,
)
from segeval.wording import are, counted

__all__ = ["FolderInspection", "VolumeInfo", "inspect_folder"]


@dataclass(frozen=True)
class VolumeInfo:
    """One volume's grid: shape, and spacing and affine when the file has a header."""

    path: Path
    shape: tuple[int, ...]
    geometry: Geometry | None


#: Beyond this many distinct colours a folder is not a set of colour masks.
MAX_COLORS = 4096


@dataclass
class FolderInspection:
    """The tallies of one folder of masks.

    Attributes
    ----------
    root : pathlib.Path
    files : int
        Mask files found (by extension).
    skipped_files : int
        Hidden and non-mask files.
    kinds : Counter
        ``"png L"``, ``"png RGB"``, ``"npy int64"``, ... -> number of files.
    sizes : Counter
        ``(width, height)`` -> number of files.
    values : Counter
        Label value -> pixel count, over the single-channel masks.
    colors : Counter
        ``(r, g, b)`` -> pixel count, over the colour masks.
    too_many_colors : bool
        More than :data:`MAX_COLORS` distinct colours were seen (counting stopped).
    unreadable : list of str
        One error line per file that cannot be read as a mask.
    hints : list of str
        What the findings suggest doing.
    classes : ClassDefinition or None
        The class definition values were checked against.
    class_ids : bool
        Whether the masks were read as class ids rather than label-map values.
    volumes : list of VolumeInfo
        Every volume's shape and geometry, in pairing order.
    against : pathlib.Path or None
        The ground-truth folder volumes were compared with.
    mismatches : list of str
        One line per volume whose shape, spacing or affine differs from its
        ground truth's (or whose ground truth is missing), with ``against``.
    """

    root: Path
    files: int = 0
    skipped_files: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)
    values: Counter[int] = field(default_factory=Counter)
    colors: Counter[RGB] = field(default_factory=Counter)
    too_many_colors: bool = False
    unreadable: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    classes: ClassDefinition | None = None
    class_ids: bool = False
    volumes: list[VolumeInfo] = field(default_factory=list)
    against: Path | None = None
    mismatches: list[str] = field(default_factory=list)


def _volume_kind(path: Path) -> str:
    """The format of a volume file (its library reads it), from its first bytes."""
    try:
        with path.open("rb") as stream:
            head = stream.read(16)
    except OSError:
        return "unreadable"
    file_format = sniff_format(head)
    if file_format == "gzip" and is_gzipped_nifti(head, path):
        return "nifti (gzip)"
    return file_format


def _kind(data: bytes) -> str:
    file_format = sniff_format(data[:16])
    if file_format in openers():
        try:
            with openers()[file_format](io.BytesIO(data)) as image:  # the header only
                return f"{file_format} {image.mode}"
        except Exception:  # a decoder on hostile bytes: the file is unreadable, not us
            return f"{file_format} (unreadable)"
    return file_format


def _decode_colors(data: bytes, path: Path, file_format: str, options: ReadOptions) -> np.ndarray:
    """Decode a colour (or JPEG) image to RGB, after the pixel limit from its header."""
    try:
        with openers()[file_format](io.BytesIO(data)) as image:
            check_pixel_limit(path, image.width, image.height, options.max_pixels)
            return np.asarray(image.convert("RGB"))
    except MaskReadError:
        raise
    except Exception as err:  # any decoder failure is the file's verdict
        raise MaskReadError(
            f"{path}: cannot decode the image ({type(err).__name__}: {err})."
        ) from err


def _tally_colors(inspection: FolderInspection, rgb: np.ndarray) -> None:
    if inspection.too_many_colors:
        return
    packed = (
        (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    )
    keys, counts = np.unique(packed, return_counts=True)
    for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
        inspection.colors[((key >> 16) & 255, (key >> 8) & 255, key & 255)] += count
    if len(inspection.colors) > MAX_COLORS:
        inspection.too_many_colors = True


def _tally_values(inspection: FolderInspection, labels: np.ndarray) -> None:
    if labels.dtype in (np.uint8, np.uint16):
        counts = np.bincount(labels.ravel())
        values = np.flatnonzero(counts)
        inspection.values.update(dict(zip(values.tolist(), counts[values].tolist(), strict=True)))
        return
    values, counts = np.unique(labels, return_counts=True)
    inspection.values.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))


def inspect_folder(
    root: str | Path,
    *,
    classes: ClassDefinition | None = None,
    class_ids: bool = False,
    npz_key: str | None = None,
    read_options: ReadOptions | None = None,
    against: str | Path | None = None,
    geometry_tolerance: float = DEFAULT_GEOMETRY_TOLERANCE,
) -> FolderInspection:
    """Read every mask under ``root`` and report what it holds.

    A file that cannot be read (not a regular file, over the pixel or byte
    limits, corrupt) is listed as unreadable and the others are still read.

    Parameters
    ----------
    root : str or path-like
        A folder of masks (walked recursively, like ``score``).
    classes : ClassDefinition, optional
        Check values and colours against this definition.
    class_ids : bool, default False
        With ``classes``: the masks hold class ids, not label-map values.
    npz_key : str, optional
        Array to read from NPZ files holding several.
    read_options : ReadOptions, optional
        Pixel, voxel and byte limits (default: those of ``score``).
    against : str or path-like, optional
        The ground-truth folder: each volume's shape, spacing and affine are
        compared with those of the ground truth of the same key.
    geometry_tolerance : float, default DEFAULT_GEOMETRY_TOLERANCE
        As ``score --geometry-tolerance``.

    Returns
    -------
    FolderInspection

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> folder = Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.array([[0, 255], [0, 255]], dtype=np.uint8)).save(folder / "a.png")
    >>> found = inspect_folder(folder)
    >>> found.files, dict(found.values)
    (1, {0: 2, 255: 2})
    >>> found.hints[0][:40]
    'Only values 0 and 255 were found: these '
    """
    root = Path(root)
    by_key, skipped = list_masks(root)
    inspection = FolderInspection(
        root=root, skipped_files=skipped, classes=classes, class_ids=class_ids
    )
    color_table = None if classes is None else classes.color_table(class_ids=class_ids)
    options = replace(read_options or ReadOptions(), npz_key=npz_key)
    volume_keys: dict[str, VolumeInfo] = {}
    for key, paths in by_key.items():
        for path in paths:
            assert isinstance(path, Path)  # a local folder lists local files
            inspection.files += 1
            if volume_suffix(path.name) is not None:
                # Read by its library (memory-mapped when it can be), not as bytes.
                inspection.kinds[_volume_kind(path)] += 1
                try:
                    volume = read_volume(path, options)
                except SegevalError as err:
                    inspection.unreadable.append(str(err))
                    continue
                _tally_volume(inspection, volume, path, key, volume_keys)
                continue
            try:
                data = read_regular_file(path, max_bytes=options.max_bytes)
            except SegevalError as err:
                inspection.kinds["unreadable"] += 1
                inspection.unreadable.append(str(err))
                continue
            kind = _kind(data)
            inspection.kinds[kind] += 1
            try:
                if kind.endswith((" RGB", " RGBA")) or kind.startswith("jpeg"):
                    rgb = _decode_colors(data, path, kind.split()[0], options)  # decoded once
                    inspection.sizes[(rgb.shape[1], rgb.shape[0])] += 1
                    _tally_colors(inspection, rgb)
                    if color_table is not None and not kind.startswith("jpeg"):
                        color_table.apply(rgb, str(path))  # unknown colours: unreadable
                    continue
                volume = Volume(decode_mask(data, path, options))
            except MaskReadError as err:
                inspection.unreadable.append(str(err))
                continue
            except SegevalError as err:
                inspection.unreadable.append(f"{path}: {err}")
                continue
            _tally_volume(inspection, volume, path, key, volume_keys)
    if against is not None:
        inspection.against = Path(against)
        inspection.mismatches = _geometry_mismatches(
            volume_keys, Path(against), options, geometry_tolerance
        )
    inspection.hints = _hints(inspection, classes, class_ids)
    return inspection


def _tally_volume(
    inspection: FolderInspection,
    volume: Volume,
    path: Path,
    key: str,
    volume_keys: dict[str, VolumeInfo],
) -> None:
    """Count one decoded mask: a volume's grid, or an image's size; its values."""
    labels = volume.labels
    if volume.geometry is not None or labels.ndim > 2:
        info = VolumeInfo(path, labels.shape, volume.geometry)
        inspection.volumes.append(info)
        volume_keys[key] = info
    else:
        inspection.sizes[(labels.shape[1], labels.shape[0])] += 1
    _tally_values(inspection, labels)


def _geometry_mismatches(
    volumes: Mapping[str, VolumeInfo], gt_dir: Path, options: ReadOptions, tolerance: float
) -> list[str]:
    """One line per volume whose grid differs from its ground truth's (as ``score`` checks)."""
    gt_by_key, _ = list_masks(gt_dir)
    lines = []
    for key, info in volumes.items():
        gt_paths = gt_by_key.get(key)
        if not gt_paths:
            lines.append(f"{info.path}: no ground truth with the key {key!r} in {gt_dir}.")
            continue
        try:
            gt = read_volume(gt_paths[0], options)
        except SegevalError as err:
            lines.append(f"{gt_paths[0]}: {err}")
            continue
        if gt.labels.shape != info.shape:
            lines.append(
                f"{info.path}: shape {info.shape}, but the ground truth {gt_paths[0]} has "
                f"{gt.labels.shape}."
            )
            continue
        if gt.geometry is None or info.geometry is None:
            continue
        mismatch = geometry_mismatch(gt.geometry, info.geometry, tolerance)
        if mismatch is not None:
            lines.append(f"{info.path}: {mismatch} ({gt_paths[0]}).")
    return lines


def _hints(
    inspection: FolderInspection, classes: ClassDefinition | None, class_ids: bool
) -> list[str]:
    hints = []
    colour_files = sum(
        n for kind, n in inspection.kinds.items() if kind.endswith((" RGB", " RGBA"))
    )
    jpeg_files = sum(n for kind, n in inspection.kinds.items() if kind.startswith("jpeg"))
    if jpeg_files:
        hints.append(
            f"JPEG files: {jpeg_files}. Lossy compression changes label values at every edge; "
            "export the masks as PNG (segeval refuses JPEG unless --allow-lossy)."
        )
    if colour_files:
        hints.append(_colour_hint(inspection, colour_files, classes))
    values = set(inspection.values)
    if values and values <= {0, DEFAULT_IGNORE} and DEFAULT_IGNORE in values:
        hints.append(
            "Only values 0 and 255 were found: these look like binary masks saved as 0/255. "
            "255 is the default ignore index, so the foreground would be ignored; score them "
            "with --binary (any non-zero value is the foreground)."
        )
    if classes is not None and values:
        hints.extend(_definition_hints(inspection.values, classes, class_ids))
    elif values and not colour_files:
        hints.extend(_value_hints(values))
    if inspection.mismatches:
        hints.append(
            f"{len(inspection.mismatches)} volume(s) do not match their ground truth's grid: "
            "score would stop at the first; resample them onto the ground truth (or pass "
            "--trust-gt-geometry if only the headers are wrong)."
        )
    spacings = {info.geometry.spacing for info in inspection.volumes if info.geometry}
    if len(spacings) > 1 and inspection.against is None:
        hints.append(
            f"{len(spacings)} different voxel spacings: usual across patients, but each "
            "prediction must share its ground truth's grid; check with --against GT_DIR."
        )
    if len(inspection.sizes) > 1:
        hints.append(
            f"{len(inspection.sizes)} different image sizes: predictions must match their "
            "ground truth's size (or pass --resize-pred nearest)."
        )
    return hints


def _colour_hint(
    inspection: FolderInspection, colour_files: int, classes: ClassDefinition | None
) -> str:
    masks = f"Colour (RGB) masks: {colour_files}."
    if inspection.too_many_colors:
        return (
            f"Colour images: {colour_files}, with more than {MAX_COLORS} distinct colours: "
            "these look like photographs or lossy masks, not label masks."
        )
    seen = set(inspection.colors)
    if classes is not None:
        unknown = seen - set(classes.value_colors)
        if unknown:
            return (
                f"{masks} {counted(len(unknown), 'colour')} of theirs {are(len(unknown))} not "
                f"in {classes.source}, e.g. {[list(c) for c in sorted(unknown)[:5]]}."
            )
        return f"{masks} Every colour is in {classes.source}."
    matching = [name for name in PRESET_NAMES if seen <= set(load_preset(name).value_colors)]
    if matching:
        return (
            f"{masks} Every colour belongs to the {matching[0]} preset: score them with "
            f"--preset {matching[0]}."
        )
    return (
        f"{masks} segeval needs each colour's class; pass --classes FILE with a 'color' per "
        "class (or --preset NAME for a known dataset)."
    )


def _definition_hints(
    pixels: Mapping[int, int], classes: ClassDefinition, class_ids: bool
) -> list[str]:
    values = set(pixels)
    mapping = classes.mapping(class_ids=class_ids)
    other = classes.mapping(class_ids=not class_ids)

    def code(rule: LabelMapping, value: int) -> int:
        return int(rule.encode(np.array([value]))[0])

    invalid = sorted(v for v in values if code(mapping, v) == mapping.invalid_code)
    if not invalid:
        # Valid everywhere, but mostly unlabelled here and labelled the other way:
        # class ids (Cityscapes trainIds) read through the label map, or the reverse.
        total = sum(pixels.values())
        ignored_here = sum(n for v, n in pixels.items() if code(mapping, v) >= mapping.ignore_code)
        labelled_there = sum(n for v, n in pixels.items() if code(other, v) < other.ignore_code)
        if (
            classes.has_label_map
            and total
            and 2 * ignored_here > total >= labelled_there > (total - ignored_here)
        ):
            return [
                f"{100 * ignored_here / total:.0f} % of the pixels map to an ignore value under "
                f"{classes.source}{' with --class-ids' if class_ids else ''}, but are classes "
                + (
                    "as label-map values: drop --class-ids."
                    if class_ids
                    else "as class ids: these masks hold class ids (for Cityscapes, trainIds "
                    "rather than labelIds); pass --class-ids."
                )
            ]
        return []
    hints = [
        f"Values {invalid[:20]} are not valid under {classes.source}"
        f"{' with --class-ids' if class_ids else ''}: scoring would stop with an error."
    ]
    fits_other = all(int(other.encode(np.array([v]))[0]) != other.invalid_code for v in values)
    if classes.has_label_map and fits_other:
        hints.append(
            "Every value is valid as a label-map value: drop --class-ids."
            if class_ids
            else "Every value is a valid class id: these masks hold class ids (for Cityscapes, "
            "trainIds rather than labelIds); pass --class-ids."
        )
    return hints


def _value_hints(values: set[int]) -> list[str]:
    labelled = values - {DEFAULT_IGNORE}
    if not labelled:
        return []
    largest = max(labelled)
    hints = [
        f"{counted(len(labelled), 'distinct label value')} (largest {largest}, 255 aside); "
        "without a class "
        f"definition segeval would infer {counted(largest + 1, 'class')}."
    ]
    cityscapes_label_ids = {7, 8, 11, 21, 23, 26}
    if labelled <= set(range(34)) and len(labelled & cityscapes_label_ids) >= 4 and largest > 18:
        hints.append(
            "These look like Cityscapes labelIds (0..33): score with --preset cityscapes, which "
            "maps them to the 19 trainIds."
        )
    return hints
