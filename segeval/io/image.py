"""Read label masks stored as images, with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from segeval.errors import MaskReadError

__all__ = ["read_image"]

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


def read_image(path: Path) -> np.ndarray:
    """Decode a PNG label mask with Pillow.

    Palette images yield their palette indices (the labels); they are never
    converted to colours.

    Parameters
    ----------
    path : pathlib.Path
        A PNG file.

    Returns
    -------
    numpy.ndarray
        2-D ``uint8``, ``uint16`` or ``int32`` array of raw labels.

    Raises
    ------
    MaskReadError
        Colour or floating-point images, and files Pillow cannot decode.
    """
    try:
        # The plugin class is opened directly rather than through Image.open, which
        # would apply Pillow's global decompression-bomb limit and refuse the large
        # aerial tiles that segeval is meant to read in row blocks.
        with PngImagePlugin.PngImageFile(path) as image:
            _check_label_mode(path, image)
            image.load()
            labels = np.asarray(image)
    except MaskReadError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise MaskReadError(
            f"{path}: cannot decode the image ({err}); the file may be truncated or "
            "corrupt, so write it again."
        ) from err
    if labels.dtype == np.bool_:
        return labels.astype(np.uint8)
    return labels.astype(_LABEL_MODES[image.mode], copy=False)


def _check_label_mode(path: Path, image: Image.Image) -> None:
    mode = image.mode
    if mode in _LABEL_MODES:
        return
    if mode in {"RGB", "RGBA"}:
        raise MaskReadError(
            f"{path}: expected a single-channel label mask, got a colour image "
            f"(mode {mode!r}); save masks as 8-bit grayscale or palette PNGs "
            "whose pixel values are class ids."
        )
    if mode == "F":
        raise MaskReadError(
            f"{path}: expected integer labels, got floating-point pixels (mode 'F'); "
            "save the mask with integer class ids."
        )
    raise MaskReadError(
        f"{path}: expected a single-channel label mask, got mode {mode!r}; "
        "save masks as 8-bit grayscale (L), palette (P) or 16-bit PNGs."
    )
