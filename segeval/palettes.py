"""Colours of the pictures: scales for numbers, palettes for classes and errors.

* :data:`SEQUENTIAL` is viridis (32 stops, linearly interpolated): perceptually
  uniform, readable in grey and by people with any common colour-vision
  deficiency. Heat maps and bars use it.
* :data:`DIVERGING` is PuOr (11 stops): differences, orange below zero and purple
  above, white at zero; also colour-blind safe.
* :data:`UNDEFINED` is a light grey drawn with a hatch pattern: undefined values
  never look like zero (zero is the darkest viridis colour).
* :func:`class_palette` keeps the colours of a class definition and fills the
  rest from Okabe and Ito's colour-blind-safe set, then from evenly spaced hues.
* :data:`ERROR_COLORS` paints error maps: faded class colours for correct pixels,
  and three colours that stay distinct under deuteranopia and protanopia.

Stops were sampled from matplotlib's colormaps of the same names.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "DIVERGING",
    "ERROR_COLORS",
    "RGB",
    "SEQUENTIAL",
    "UNDEFINED",
    "class_palette",
    "diverging_color",
    "hex_color",
    "interpolate_array",
    "readable_text",
    "sequential_color",
]

RGB = tuple[int, int, int]

_VIRIDIS = (
    "440154 470d60 48186a 482374 472e7c 453882 424186 3e4a89 3a548c 365d8d 32658e 2e6d8e "
    "2b758e 287d8e 25848e 228c8d 1f948c 1e9c89 20a386 25ab82 2eb37c 3aba76 48c16e 58c765 "
    "6ccd5a 7fd34e 93d741 a8db34 c0df25 d5e21a eae51a fde725"
)
_PUOR = "7f3b08 b25706 e08214 fcb761 fee0b6 f6f6f7 d8daeb b1aad1 8073ac 532687 2d004b"


def _parse(stops: str) -> tuple[RGB, ...]:
    return tuple(
        (int(stop[0:2], 16), int(stop[2:4], 16), int(stop[4:6], 16)) for stop in stops.split()
    )


#: Viridis, low to high.
SEQUENTIAL: tuple[RGB, ...] = _parse(_VIRIDIS)
#: PuOr, most negative to most positive.
DIVERGING: tuple[RGB, ...] = _parse(_PUOR)
#: Fill of undefined values (with a hatch in the pictures).
UNDEFINED: RGB = (221, 221, 221)

#: Okabe & Ito's palette, distinct for colour-blind readers (black left out).
_OKABE_ITO: tuple[RGB, ...] = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
)

#: Error-map colours; ``correct`` pixels use their class colour faded instead.
ERROR_COLORS: Mapping[str, RGB] = {
    "wrong": (213, 94, 0),  # vermillion
    "pred_ignore": (0, 114, 178),  # blue
    "ignored": (0, 0, 0),
}


def hex_color(color: Sequence[int]) -> str:
    """``#rrggbb`` of an RGB triple.

    Examples
    --------
    >>> hex_color((68, 1, 84))
    '#440154'
    """
    return "#{:02x}{:02x}{:02x}".format(*(int(channel) for channel in color[:3]))


def _interpolate(stops: Sequence[RGB], position: float) -> RGB:
    position = min(1.0, max(0.0, position)) * (len(stops) - 1)
    low = min(int(position), len(stops) - 2)
    fraction = position - low
    return (
        round(stops[low][0] + (stops[low + 1][0] - stops[low][0]) * fraction),
        round(stops[low][1] + (stops[low + 1][1] - stops[low][1]) * fraction),
        round(stops[low][2] + (stops[low + 1][2] - stops[low][2]) * fraction),
    )


def interpolate_array(stops: Sequence[RGB], positions: np.ndarray) -> np.ndarray:
    """Colours of many positions in [0, 1] at once, as ``(..., 3)`` uint8 (NaN: undefined grey).

    Examples
    --------
    >>> interpolate_array(SEQUENTIAL, np.array([0.0, 1.0, np.nan])).tolist()
    [[68, 1, 84], [253, 231, 37], [221, 221, 221]]
    """
    table = np.array(stops, dtype=np.float64)
    undefined = np.isnan(positions)
    scaled = np.clip(np.nan_to_num(positions), 0.0, 1.0) * (len(stops) - 1)
    low = np.minimum(scaled.astype(np.int64), len(stops) - 2)
    fraction = (scaled - low)[..., None]
    colors = np.rint(table[low] + (table[low + 1] - table[low]) * fraction)
    colors[undefined] = UNDEFINED
    return np.asarray(colors, dtype=np.uint8)


def sequential_color(value: float) -> str:
    """Viridis colour of a value in [0, 1]; the undefined grey for NaN.

    Examples
    --------
    >>> sequential_color(0.0), sequential_color(1.0), sequential_color(float("nan"))
    ('#440154', '#fde725', '#dddddd')
    """
    if math.isnan(value):
        return hex_color(UNDEFINED)
    return hex_color(_interpolate(SEQUENTIAL, value))


def diverging_color(value: float) -> str:
    """PuOr colour of a value in [-1, 1] (white at 0); the undefined grey for NaN.

    Examples
    --------
    >>> diverging_color(0.0), diverging_color(-1.0)
    ('#f6f6f7', '#7f3b08')
    """
    if math.isnan(value):
        return hex_color(UNDEFINED)
    return hex_color(_interpolate(DIVERGING, (value + 1.0) / 2.0))


def readable_text(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (``#rrggbb``).

    Examples
    --------
    >>> readable_text("#440154"), readable_text("#fde725")
    ('#ffffff', '#000000')
    """
    red, green, blue = (int(fill[index : index + 2], 16) / 255 for index in (1, 3, 5))

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    return "#000000" if luminance > 0.179 else "#ffffff"


def class_palette(num_classes: int, known: Mapping[int, RGB] | None = None) -> tuple[RGB, ...]:
    """One colour per class: the known ones, then a generated readable palette.

    Parameters
    ----------
    num_classes : int
    known : mapping of int to RGB, optional
        Colours from a class definition (preset or ``--classes`` file).

    Returns
    -------
    tuple of RGB

    Examples
    --------
    >>> class_palette(3, {1: (128, 64, 128)})
    ((230, 159, 0), (128, 64, 128), (86, 180, 233))
    """
    known = dict(known or {})
    generated = _generated_colors(num_classes)
    taken = set(known.values())
    spare = (color for color in generated if color not in taken)
    return tuple(known[index] if index in known else next(spare) for index in range(num_classes))


def _generated_colors(count: int) -> list[RGB]:
    """Okabe-Ito first, then hues a golden angle apart at alternating lightness."""
    colors = list(_OKABE_ITO)
    index = 0
    while len(colors) < count + len(_OKABE_ITO):
        hue = (index * 0.618033988749895) % 1.0
        lightness = (0.45, 0.62, 0.35)[index % 3]
        red, green, blue = colorsys.hls_to_rgb(hue, lightness, 0.65)
        colors.append((round(red * 255), round(green * 255), round(blue * 255)))
        index += 1
    return colors
