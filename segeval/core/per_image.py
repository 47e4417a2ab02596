"""Per-image aggregation: each image scored on its own, then averaged over images.

Scoring a dataset image by image (the medical convention of nnU-Net and MONAI)
needs each image's TP / FP / FN per class. Those counts are appended to a
:class:`ImageCountSpool`, a temporary file, as the images are scored, so memory
does not grow with the dataset; when the run ends the spool is read back once to
produce the per-image rows (:class:`ImageResult`, streamed to a sink) and the
per-image means (:class:`ImageMeans`). Reading back at the end lets every row use
the final class count even when it was inferred while scoring.
"""

from __future__ import annotations

import itertools
import math
import pickle
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO

import numpy as np

from segeval.core.metrics import EmptyMean, MetricOptions, class_metrics, summary_arrays

__all__ = ["ImageCountSpool", "ImageMeans", "ImageResult", "image_results"]


@dataclass(frozen=True)
class ImageResult:
    """Metrics of one image, scored on its own.

    Attributes
    ----------
    key : str
        The pairing key (relative path without extension).
    iou, dice : numpy.ndarray
        Per-class values for this image (NaN where undefined under the policy).
    pixel_accuracy, miou, mdice : float
        This image's summary (means over included classes, NaN skipped).
    scored_pixels : int
        Ground-truth pixels scored in this image.
    generalized_dice : float
        This image's generalised Dice (MONAI's ``GeneralizedDiceScore``).
    boundary : mapping of str to numpy.ndarray
        With boundary metrics: this image's per-class values by registry name
        (``biou``, ``bf``, ``hd``, ``hd95``, ``assd``, ``nsd``).
    boundary_summary : mapping of str to float
        With boundary metrics: this image's means over included classes
        (``mean_biou``, ``mean_bf``, ``hd``, ...).
    tp, fp, fn : numpy.ndarray, optional
        This image's per-class counts (set by :func:`image_results`; sinks
        that write counts, such as nnU-Net's ``summary.json``, read them).
    iiou : numpy.ndarray, optional
        With instance maps: this image's iIoU per class, the image scored on its
        own (:func:`~segeval.core.instances.image_iiou`; NaN where undefined).
    miiou : float
        With instance maps: the mean of ``iiou`` over its defined classes.
    """

    key: str
    iou: np.ndarray
    dice: np.ndarray
    pixel_accuracy: float
    miou: float
    mdice: float
    scored_pixels: int
    generalized_dice: float = math.nan
    boundary: Mapping[str, np.ndarray] = field(default_factory=dict)
    boundary_summary: Mapping[str, float] = field(default_factory=dict)
    tp: np.ndarray | None = None
    fp: np.ndarray | None = None
    fn: np.ndarray | None = None
    iiou: np.ndarray | None = None
    miiou: float = math.nan


class ImageCountSpool:
    """Per-image TP / FP / FN counts written to a temporary file, read back once.

    Examples
    --------
    >>> with ImageCountSpool() as spool:
    ...     spool.append("a", np.array([2, 0]), np.array([1, 0]), np.array([0, 0]))
    ...     [(key, tp.tolist()) for key, tp, fp, fn in spool.read(num_classes=3)]
    [('a', [2, 0, 0])]
    """

    def __init__(self) -> None:
        # Opened by the first append (a run without per-image rows never writes one)
        # and kept until close(): written during the run, read after it.
        self._stream: IO[bytes] | None = None
        self.count = 0

    def append(self, key: str, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> None:
        """Add one image's counts."""
        if self._stream is None:
            import tempfile  # with shutil and the archive modules: only runs that spool

            self._stream = tempfile.TemporaryFile(prefix="segeval-per-image-")  # noqa: SIM115
        pickle.dump((key, tp, fp, fn), self._stream, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def read(self, num_classes: int) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(key, tp, fp, fn)`` per image, padded to ``num_classes``."""
        if self._stream is None:
            return
        self._stream.flush()
        self._stream.seek(0)
        for _ in range(self.count):
            key, *counts = pickle.load(self._stream)
            padded = []
            for values in counts:
                full = np.zeros(num_classes, dtype=np.uint64)
                full[: values.shape[0]] = values
                padded.append(full)
            yield key, padded[0], padded[1], padded[2]

    def close(self) -> None:
        """Delete the temporary file."""
        if self._stream is not None:
            self._stream.close()

    def __enter__(self) -> ImageCountSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ImageMeans:
    """Running means over images (NaN skipped), in the three ways tools average them.

    * per class: the mean over images of each class's IoU and Dice, with the
      number of images that counted (``image_iou``; nnU-Net's per-label mean,
      MONAI's ``reduction="mean_batch"``),
    * ``samplewise``: the mean over images of each image's mean over classes
      (torchmetrics ``DiceScore``, MONAI's ``reduction="mean"``),
    * ``pooled``: the mean over every defined (image, class) value
      (torchmetrics ``segmentation.MeanIoU``).

    Parameters
    ----------
    included : numpy.ndarray of bool
        Classes that enter means (excluded classes still get per-class means).
    empty_mean : {"nan", "zero"}, default "nan"
        Value of a mean that no image defines: NaN, or 0 as MONAI reports it.

    Examples
    --------
    >>> means = ImageMeans(np.array([True, True]))
    >>> nan = np.nan
    >>> means.add(ImageResult("a", np.array([1.0, nan]), np.array([1.0, nan]), 1.0, 1.0, 1.0, 4))
    >>> means.add(ImageResult("b", np.array([0.5, 0.0]), np.array([0.6, 0.0]), 0.5, 0.25, 0.3, 4))
    >>> means.iou.tolist(), means.iou_images.tolist()
    ([0.75, 0.0], [2, 1])
    >>> round(means.summary()["image_miou"], 4), round(means.summary()["pooled_miou"], 4)
    (0.375, 0.5)
    """

    def __init__(self, included: np.ndarray, empty_mean: EmptyMean = "nan") -> None:
        self._included = included
        self._undefined = 0.0 if empty_mean == "zero" else math.nan
        num_classes = included.shape[0]
        self._sums = {name: np.zeros(num_classes) for name in ("iou", "dice")}
        self._images = {name: np.zeros(num_classes, dtype=np.int64) for name in ("iou", "dice")}
        self._scalar_sums = dict.fromkeys(
            ("pixel_accuracy", "miou", "mdice", "generalized_dice"), 0.0
        )
        self._scalar_images = dict.fromkeys(self._scalar_sums, 0)

    def add(self, result: ImageResult) -> None:
        """Add one image's scores."""
        for name, values in (("iou", result.iou), ("dice", result.dice)):
            defined = ~np.isnan(values)
            self._sums[name][defined] += values[defined]
            self._images[name][defined] += 1
        for name in self._scalar_sums:
            value = float(getattr(result, name))
            if not math.isnan(value):
                self._scalar_sums[name] += value
                self._scalar_images[name] += 1

    @property
    def iou(self) -> np.ndarray:
        """Mean over images of each class's IoU (``empty_mean`` for a class no image scored)."""
        return _mean(self._sums["iou"], self._images["iou"], self._undefined)

    @property
    def dice(self) -> np.ndarray:
        """Mean over images of each class's Dice."""
        return _mean(self._sums["dice"], self._images["dice"], self._undefined)

    @property
    def iou_images(self) -> np.ndarray:
        """Images whose IoU of each class was defined (and so counted)."""
        return self._images["iou"]

    @property
    def dice_images(self) -> np.ndarray:
        """Images whose Dice of each class was defined."""
        return self._images["dice"]

    def _scalar_mean(self, name: str) -> float:
        images = self._scalar_images[name]
        return self._scalar_sums[name] / images if images else self._undefined

    def _pooled(self, name: str) -> float:
        images = self._images[name][self._included].sum()
        return float(self._sums[name][self._included].sum() / images) if images else self._undefined

    def summary(self) -> dict[str, float]:
        """Image-level summary metrics, by registry name."""
        return {
            "image_pixel_accuracy": self._scalar_mean("pixel_accuracy"),
            "image_miou": _nanmean(self.iou[self._included], self._undefined),
            "image_mdice": _nanmean(self.dice[self._included], self._undefined),
            "samplewise_miou": self._scalar_mean("miou"),
            "samplewise_mdice": self._scalar_mean("mdice"),
            "image_generalized_dice": self._scalar_mean("generalized_dice"),
            "pooled_miou": self._pooled("iou"),
            "pooled_mdice": self._pooled("dice"),
        }


def _mean(total: np.ndarray, images: np.ndarray, undefined: float) -> np.ndarray:
    out = np.full(total.shape, undefined)
    np.divide(total, images, out=out, where=images > 0)
    return out


def _nanmean(values: np.ndarray, undefined: float) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else undefined


def image_results(
    spool: ImageCountSpool, num_classes: int, options: MetricOptions, *, batch: int = 512
) -> Iterator[ImageResult]:
    """Score every spooled image on its own, in the order they were added.

    Parameters
    ----------
    spool : ImageCountSpool
    num_classes : int
        The final class count (counts of earlier images are zero-padded).
    options : MetricOptions
        The empty-class policy applies per image: a class absent from both the
        ground truth and the prediction of one image takes the policy value there
        (and, with ``gt_empty="nan"``, a class absent from that image's ground truth
        is undefined there).
    batch : int, default 512
        Images scored per call of the metric functions (one row each, the same
        values as scoring each alone; batching only saves per-call overhead).

    Yields
    ------
    ImageResult
    """
    rows = spool.read(num_classes)
    while chunk := list(itertools.islice(rows, batch)):
        keys = [key for key, *_ in chunk]
        tp, fp, fn = (np.stack([row[side] for row in chunk]) for side in (1, 2, 3))
        per_class = class_metrics(tp, fp, fn, options)
        summary = summary_arrays(per_class, options)
        scored = (tp + fn).sum(axis=1)
        for index, key in enumerate(keys):
            yield ImageResult(
                key=key,
                iou=per_class.iou[index],
                dice=per_class.dice[index],
                pixel_accuracy=float(summary["pixel_accuracy"][index]),
                miou=float(summary["miou"][index]),
                mdice=float(summary["mdice"][index]),
                scored_pixels=int(scored[index]),
                generalized_dice=float(summary["generalized_dice"][index]),
                tp=tp[index],
                fp=fp[index],
                fn=fn[index],
            )
