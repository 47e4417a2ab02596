"""The result of a loss run: every term over the whole set, per image, and calibration.

These are result types, like :class:`~segeval.report.Report`: renderers read
them; :class:`~segeval.losses.LossAccumulator` produces the values and
:func:`~segeval.run.losses.evaluate_losses` adds where the images came from
(:class:`LossRun`). The JSON document has the schema ``segeval/loss/v1``
(:meth:`LossReport.to_dict`); undefined values (every pixel ignored) are
``null``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segeval._version import __version__
from segeval.notices import Notice
from segeval.report import PairingSummary

if TYPE_CHECKING:
    from segeval.losses.options import LossOptions

__all__ = ["LOSS_SCHEMA", "CalibrationResult", "ImageLosses", "LossReport", "LossRun"]

#: Schema name carried by every loss report.
LOSS_SCHEMA = "segeval/loss/v1"


def _json_float(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


@dataclass(frozen=True)
class CalibrationResult:
    """Expected calibration error, Brier score and the histogram behind them.

    Attributes
    ----------
    ece : float
        Top-label expected calibration error (NaN without pixels).
    brier : float
        Brier score (NaN without pixels).
    pixels : int
        Pixels counted (not ignored).
    bin_counts, bin_confidence, bin_accuracy : tuple
        Per equal-width confidence bin: pixels, mean confidence and accuracy
        (NaN for an empty bin).
    """

    ece: float
    brier: float
    pixels: int
    bin_counts: tuple[int, ...]
    bin_confidence: tuple[float, ...]
    bin_accuracy: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN as None)."""
        return {
            "ece": _json_float(self.ece),
            "brier": _json_float(self.brier),
            "pixels": self.pixels,
            "bins": len(self.bin_counts),
            "bin_counts": list(self.bin_counts),
            "bin_confidence": [_json_float(value) for value in self.bin_confidence],
            "bin_accuracy": [_json_float(value) for value in self.bin_accuracy],
        }


@dataclass(frozen=True)
class ImageLosses:
    """One image's term values, weighted total and calibration."""

    name: str
    values: dict[str, float]
    total: float
    pixels: int
    calibration: CalibrationResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN as None; calibration as ECE and Brier only)."""
        document: dict[str, Any] = {
            "name": self.name,
            "pixels": self.pixels,
            "values": {term: _json_float(value) for term, value in self.values.items()},
            "total": _json_float(self.total),
        }
        if self.calibration is not None:
            document["ece"] = _json_float(self.calibration.ece)
            document["brier"] = _json_float(self.calibration.brier)
        return document


@dataclass(frozen=True)
class LossRun:
    """Where a report's images came from: set by ``segeval loss``, absent for arrays.

    Attributes
    ----------
    pred_dir, gt_dir : str
        The two folders.
    class_names : tuple of str
        One per class (``("foreground",)`` for one binary channel).
    ignore_values : tuple of int
        Raw ground-truth values treated as unlabelled.
    classes_source : str or None
        Where the class definition came from (a preset, a file), if any.
    pairing : PairingSummary
        What pairing set aside.
    warnings : tuple of Notice
        What the run reports on stderr (and in JSON).
    elapsed_seconds : float
        Wall time of the run.
    """

    pred_dir: str
    gt_dir: str
    class_names: tuple[str, ...]
    ignore_values: tuple[int, ...]
    classes_source: str | None = None
    pairing: PairingSummary = field(default_factory=PairingSummary)
    warnings: tuple[Notice, ...] = ()
    elapsed_seconds: float = 0.0


@dataclass(frozen=True)
class LossReport:
    """Whole-set values, weighted total, per-image values and calibration.

    Attributes
    ----------
    values : dict of str to float
        Each term over the whole set (as one batch given to the reference).
    weights : dict of str to float
        Each term's weight in the total.
    total : float
        ``sum(weights[t] * values[t])``.
    per_image : tuple of ImageLosses
        Every image, in pairing order.
    num_classes : int
        Channels of the scores (1: binary).
    options : LossOptions
        The options the values were computed with.
    calibration : CalibrationResult or None
        With calibration requested.
    run : LossRun or None
        Folders, classes, pairing and warnings of a ``segeval loss`` run.
    """

    values: dict[str, float]
    weights: dict[str, float]
    total: float
    per_image: tuple[ImageLosses, ...]
    num_classes: int
    options: LossOptions
    calibration: CalibrationResult | None = None
    run: LossRun | None = None

    @property
    def pixels(self) -> int:
        """Pixels that counted (not ignored), over every image."""
        return sum(image.pixels for image in self.per_image)

    @property
    def warnings(self) -> tuple[Notice, ...]:
        """The run's warnings (none for a report computed on arrays)."""
        return () if self.run is None else self.run.warnings

    def worst(self, count: int) -> list[ImageLosses]:
        """The ``count`` images with the highest weighted total (NaN last, ties in order).

        Examples
        --------
        >>> from segeval.losses import LossOptions
        >>> images = tuple(ImageLosses(n, {"ce": t}, t, 1) for n, t in [("a", 1.0), ("b", 3.0)])
        >>> report = LossReport({"ce": 2.0}, {"ce": 1.0}, 2.0, images, 3, LossOptions())
        >>> [image.name for image in report.worst(1)]
        ['b']
        """
        ranked = sorted(self.per_image, key=lambda image: (math.isnan(image.total), -image.total))
        return ranked[:count]

    def config_dict(self) -> dict[str, Any]:
        """The settings that shaped the values (the JSON ``config``)."""
        options = self.options
        config: dict[str, Any] = {
            "num_classes": self.num_classes,
            "input": options.input,
            "convention": options.convention,
            "smooth": options.smooth_value,
            "eps": options.eps,
            "class_weights": None if options.class_weights is None else list(options.class_weights),
            "label_smoothing": options.label_smoothing,
            "pos_weight": options.pos_weight,
            "gamma": options.gamma,
            "alpha": list(options.alpha) if isinstance(options.alpha, tuple) else options.alpha,
            "lovasz_per_image": options.lovasz_per_image,
            "ece_bins": options.n_bins if self.calibration is not None else None,
        }
        if self.run is None:
            config["ignore_index"] = options.ignore_index
        else:
            config["class_names"] = list(self.run.class_names)
            config["ignore_values"] = list(self.run.ignore_values)
            config["classes"] = self.run.classes_source
        return config

    def to_dict(self, *, per_image: bool = True, worst: int = 0) -> dict[str, Any]:
        """The JSON document (schema ``segeval/loss/v1``; NaN as None).

        Parameters
        ----------
        per_image : bool, default True
            Include every image's values (``per_image``).
        worst : int, default 0
            Include the ``worst`` images with the highest total (``worst``, ranked).

        Examples
        --------
        >>> from segeval.losses import LossOptions
        >>> report = LossReport({"ce": 0.5}, {"ce": 1.0}, 0.5, (), 3, LossOptions())
        >>> document = report.to_dict()
        >>> document["schema"], document["terms"]
        ('segeval/loss/v1', {'ce': {'weight': 1.0, 'value': 0.5}})
        """
        document: dict[str, Any] = {
            "schema": LOSS_SCHEMA,
            "segeval_version": __version__,
            "config": self.config_dict(),
            "num_images": len(self.per_image),
            "pixels": self.pixels,
        }
        if self.run is not None:
            document["pred_dir"] = self.run.pred_dir
            document["gt_dir"] = self.run.gt_dir
            document["pairing"] = self.run.pairing.to_dict()
            document["warnings"] = [warning.to_dict() for warning in self.run.warnings]
        document["terms"] = {
            term: {"weight": weight, "value": _json_float(self.values[term])}
            for term, weight in self.weights.items()
        }
        document["total"] = _json_float(self.total)
        document["calibration"] = None if self.calibration is None else self.calibration.to_dict()
        if per_image:
            document["per_image"] = [image.to_dict() for image in self.per_image]
        if worst:
            document["worst"] = [
                {"rank": rank, **image.to_dict()}
                for rank, image in enumerate(self.worst(worst), start=1)
            ]
        if self.run is not None:
            document["elapsed_seconds"] = self.run.elapsed_seconds
        return document


def weighted_total(values: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """``sum(weights[t] * values[t])`` over the weighted terms.

    Examples
    --------
    >>> weighted_total({"ce": 0.5, "dice": 0.2}, {"ce": 1.0, "dice": 2.0})
    0.9
    """
    return float(sum(weights[term] * values[term] for term in weights))
