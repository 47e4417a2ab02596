"""Read label masks stored as images (PNG, TIFF, BMP, JPEG), with Pillow."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from segeval.errors import MaskReadError
from segeval.io.png import (
    check_png_structure,
    fast_decode,
    gray_scale_factor,
    parse_png_header,
)

if TYPE_CHECKING:
    from PIL import Image, ImageFile

    from segeval.io.reader import ReadOptions
    from segeval.io.storage import Location

__all__ = ["check_pixel_limit", "openers", "read_image"]

# Pillow mode -> dtype of the label array it holds.
_LABEL_MODES = {
    "1": np.uint8,
    "L": np.uint8,
    "P": np.uint8,
    "I;16": np.uint16,
    "I;16L": np.uint16,
    "I;16B": np.uint16,
    "I;16N": np.uint16,
    "I": np.int32,
}
_COLOR_MODES = frozenset({"RGB", "RGBA"})


# The plugin classes are opened directly rather than through Image.open, which
# would apply Pillow's global decompression-bomb limit (and refuse the large
# aerial tiles segeval reads in row blocks); segeval applies its own limit,
# max_pixels, from the header before decoding.
@cache
def openers() -> dict[str, Callable[[io.BytesIO], ImageFile.ImageFile]]:
    """Pillow's reader of each image format, by name (Pillow loads on first use:
    the fast PNG decoder reads most label maps without it).

    Examples
    --------
    >>> sorted(openers())
    ['bmp', 'jpeg', 'png', 'tiff']
    """
    from PIL import BmpImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

    return {
        "png": PngImagePlugin.PngImageFile,
        "tiff": TiffImagePlugin.TiffImageFile,
        "bmp": BmpImagePlugin.BmpImageFile,
        "jpeg": JpegImagePlugin.JpegImageFile,
    }


def check_pixel_limit(path: Location, width: int, height: int, max_pixels: int | None) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` pixels.

    Examples
    --------
    >>> from pathlib import Path
    >>> check_pixel_limit(Path("m.png"), 100, 100, 20000)
    >>> check_pixel_limit(Path("m.png"), 50000, 50000, 10**8)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.MaskReadError: m.png: the image declares 50000x50000 pixels (2500.0 ...
    """
    if max_pixels is not None and width * height > max_pixels:
        raise MaskReadError(
            f"{path}: the image declares {width}x{height} pixels "
            f"({width * height / 1e6:.1f} megapixels), more than the limit of "
            f"{max_pixels / 1e6:.1f} megapixels; pass a larger --max-pixels if it is genuine."
        )


def read_image(path: Location, file_format: str, options: ReadOptions, data: bytes) -> np.ndarray:
    """Decode an image mask into raw label values.

    Palette images yield their palette indices (the labels); they are never
    converted to colours. Colour images are mapped through ``options.colors``.
    PNGs go through the fast decoder where it gives identical labels
    (:mod:`segeval.io.png`).

    Parameters
    ----------
    path : pathlib.Path
        Named in messages.
    file_format : {"png", "tiff", "bmp", "jpeg"}
        As sniffed from the content.
    options : ReadOptions
    data : bytes
        The file's content (the file is read once, by the caller).

    Returns
    -------
    numpy.ndarray
        2-D integer array of raw labels.

    Raises
    ------
    MaskReadError
        Unsupported modes, colour images without colours, multi-page TIFFs,
        too many pixels, and anything a decoder fails on: a decoder fed hostile
        bytes may raise any exception, and each one is a verdict on the file.
    """
    scale = 1
    if file_format == "png":
        header = parse_png_header(data[:33])
        if header is not None:
            check_pixel_limit(path, header.width, header.height, options.max_pixels)
            pixels = fast_decode(data, header, has_colors=options.colors is not None)
            # The fast decoder refuses data that ends early; Pillow would fill zero rows.
            problem = check_png_structure(data, header, complete=pixels is None)
            if problem is not None:
                raise MaskReadError(_PNG_PROBLEMS[problem].format(path=path))
            if pixels is not None:
                mode = "RGB" if pixels.ndim == 3 else ("I;16" if pixels.dtype == np.uint16 else "L")
                return _labels(path, pixels, mode, file_format, options)
            scale = gray_scale_factor(header)
    try:
        with openers()[file_format](io.BytesIO(data)) as image:
            check_pixel_limit(path, image.width, image.height, options.max_pixels)
            _check_mode(path, image, options)
            frames = int(getattr(image, "n_frames", 1))
            if frames > 1:
                raise MaskReadError(
                    f"{path}: the TIFF holds {frames} pages; save one mask per file."
                )
            image.load()
            pixels = np.asarray(image)
            mode = image.mode
    except MaskReadError:
        raise
    except Exception as err:  # any decoder failure on any bytes is the file's verdict
        raise MaskReadError(
            f"{path}: cannot decode the image ({type(err).__name__}: {err}); the file may "
            "be truncated or corrupt, so write it again."
        ) from err
    labels = _labels(path, pixels, mode, file_format, options)
    return labels // scale if scale > 1 else labels


_PNG_PROBLEMS = {
    "animated": "{path}: an animated PNG (several frames); save one single-frame mask per file.",
    "truncated": (
        "{path}: the image data ends before the last row (a truncated or corrupt PNG); "
        "write the file again."
    ),
}


def _labels(
    path: Location, pixels: np.ndarray, mode: str, file_format: str, options: ReadOptions
) -> np.ndarray:
    """Turn decoded pixels into raw labels (colours through the colour table)."""
    if mode in _COLOR_MODES:
        assert options.colors is not None  # colour images are refused without a table
        if file_format == "jpeg":
            return options.colors.apply_nearest(pixels)
        return options.colors.apply(
            pixels, str(path), unknown=options.unknown_color, unknown_value=options.unknown_value
        )
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8)
    return pixels.astype(_LABEL_MODES[mode], copy=False)


def _check_mode(path: Location, image: Image.Image, options: ReadOptions) -> None:
    mode = image.mode
    if mode in _LABEL_MODES:
        return
    if mode in _COLOR_MODES:
        if options.colors is not None:
            return
        raise MaskReadError(
            f"{path}: expected a single-channel label mask, got a colour image "
            f"(mode {mode!r}); pass --preset or --classes with class colours to map "
            "colours to classes, or save masks whose pixel values are class ids."
        )
    if mode == "F":
        raise MaskReadError(
            f"{path}: expected integer labels, got floating-point pixels (mode 'F'); "
            "save the mask with integer class ids."
        )
    raise MaskReadError(
        f"{path}: expected a single-channel label mask, got mode {mode!r}; "
        "save masks as 8-bit grayscale (L), palette (P) or 16-bit images."
    )
