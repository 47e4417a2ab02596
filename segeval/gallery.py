"""Pictures of individual images for the HTML reports: result types only.

A :class:`Gallery` is what :mod:`segeval.run.gallery` produces after a run and
what the HTML renderers draw: a few chosen images (the worst of a score run, the
most changed between two runs), each as small PNG thumbnails with its numbers,
and the distribution of the per-image scores. It never holds full-size masks:
thumbnails are already downscaled and encoded, so a gallery's size is bounded
by the number of panels, not by the dataset.

Error categories of a pixel (:data:`ERROR_CATEGORIES`), in the order the legend
shows them:

* ``correct``: the prediction is the ground-truth class,
* ``wrong``: the prediction is another class,
* ``pred_ignore``: the prediction is an ignore value, outside the classes or
  missing (a miss of the ground-truth class),
* ``ignored``: the ground truth is unlabelled (not scored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "ERROR_CATEGORIES",
    "ERROR_TITLES",
    "Gallery",
    "ImagePanel",
    "ScoreDistribution",
    "Thumbnail",
]

#: Pixel categories of an error map, in legend order.
ERROR_CATEGORIES = ("correct", "wrong", "pred_ignore", "ignored")

#: Legend text of each error category.
ERROR_TITLES = {
    "correct": "correct",
    "wrong": "wrong class",
    "pred_ignore": "predicted ignore / no class",
    "ignored": "ignored (unlabelled ground truth)",
}


@dataclass(frozen=True)
class Thumbnail:
    """One small picture of an image.

    Attributes
    ----------
    title : str
        Caption (``Ground truth``, ``Prediction``, ``Errors``...).
    png : bytes
        The encoded image (PNG, or JPEG for photos: see ``mime``).
    description : str
        Alternative text: what the picture shows, for screen readers.
    mime : str
        ``image/png`` or ``image/jpeg``.
    """

    title: str
    png: bytes
    description: str
    mime: str = "image/png"


@dataclass(frozen=True)
class ImagePanel:
    """One image of a gallery: its pictures and the numbers beside them.

    Attributes
    ----------
    key : str
        The pairing key (relative path without extension).
    scores : mapping of str to float
        Labelled numbers shown with the panel (``mIoU``, ``pixel accuracy``,
        or before/after values); NaN when undefined.
    thumbnails : tuple of Thumbnail
        Pictures in display order.
    pixels : mapping of str to int
        Full-resolution pixel count of each error category
        (:data:`ERROR_CATEGORIES`), per prediction when several are shown
        (keys ``"baseline correct"``...).
    confusions : tuple of (str, str, int)
        The largest (ground-truth class, predicted class, pixels) mix-ups.
    size : tuple of int
        Width and height of the full-resolution mask.
    """

    key: str
    scores: Mapping[str, float]
    thumbnails: tuple[Thumbnail, ...]
    pixels: Mapping[str, int] = field(default_factory=dict)
    confusions: tuple[tuple[str, str, int], ...] = ()
    size: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class ScoreDistribution:
    """A histogram of per-image scores (fixed bins, so bounded whatever the dataset).

    Attributes
    ----------
    metric : str
        What was counted (``per-image mIoU``).
    edges : tuple of float
        Bin edges, ``len(counts) + 1`` of them; the last bin is closed.
    counts : tuple of int
        Images per bin.
    undefined : int
        Images whose score was undefined (nothing scored in them).
    """

    metric: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    undefined: int = 0

    @property
    def total(self) -> int:
        """Images counted, undefined ones included."""
        return sum(self.counts) + self.undefined


@dataclass(frozen=True)
class Gallery:
    """Chosen images with thumbnails, and the per-image score distribution.

    Attributes
    ----------
    title : str
        Section title (``The 12 worst images``).
    description : str
        How the images were chosen, stated plainly.
    panels : tuple of ImagePanel
    distribution : ScoreDistribution or None
    sources : mapping of str to str
        Where the data came from (``Predictions``: folder...), for the header.
    class_colors : tuple of (int, int, int)
        One colour per class, as used in the thumbnails.
    colors_source : str
        Where the colours came from (a preset, a file, or generated).
    notes : tuple of str
        Caveats to show (photos not found, thumbnails downscaled...).
    """

    title: str
    description: str
    panels: tuple[ImagePanel, ...] = ()
    distribution: ScoreDistribution | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    class_colors: tuple[tuple[int, int, int], ...] = ()
    colors_source: str = ""
    notes: tuple[str, ...] = ()
