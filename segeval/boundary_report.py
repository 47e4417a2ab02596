"""The boundary metrics of a score report, from per-image boundary statistics.

:func:`boundary_results` turns the statistics a run gathered
(:class:`~segeval.core.boundary.BoundaryStats`,
:class:`~segeval.core.boundary.SurfaceStats`) into what a :class:`Report`
carries: a :class:`BoundarySummary` (settings, means over classes, empty-case
counts), each class's values and counts by registry name, and, for per-image
output, each image's values.

Values may be infinite (a surface distance where exactly one side of an
(image, class) is empty) or undefined (NaN). In JSON an infinite value is the
string ``"inf"`` and an undefined one ``null`` (:mod:`segeval.numbers`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from segeval.core.boundary import BoundaryOptions, BoundaryStats, SurfaceStats
from segeval.core.metrics import MetricOptions, empty_value, included_classes
from segeval.numbers import json_value, value_from_json

__all__ = [
    "BOUNDARY_CLASS_COUNTS",
    "BoundaryImage",
    "BoundaryResults",
    "BoundarySummary",
    "boundary_results",
    "class_boundary_from_dict",
    "class_boundary_to_dict",
    "summary_name",
]

# Column of each reported surface metric in SurfaceStats.values (HD95 by variant).
_SURFACE_COLUMNS = {"hd": 0, "assd": 3, "nsd": 4}
_HD95_COLUMN = {"monai": 1, "medpy": 2}

#: Per-class counts that come with the boundary values, by the option computing them.
BOUNDARY_CLASS_COUNTS = {
    "boundary": ("band_intersection", "band_union", "bf_images"),
    "surface": ("surface_images", "missed", "spurious"),
}


def _options_to_dict(options: BoundaryOptions) -> dict[str, Any]:
    return {
        "boundary": options.boundary,
        "surface_distances": options.surface,
        "band_width": options.width,
        "band_ratio": options.ratio,
        "bf_tolerance": options.bf_fraction,
        "nsd_tolerance": options.nsd_tolerance,
        "hd95": options.hd95,
        "replace_inf": "diagonal" if options.replace_inf else None,
    }


def _options_from_dict(data: Mapping[str, Any]) -> BoundaryOptions:
    width = data["band_width"]
    if width is not None and (isinstance(width, bool) or not isinstance(width, int)):
        raise ValueError(f"band_width must be an integer or null, got {width!r}")
    if data["replace_inf"] not in (None, "diagonal"):
        raise ValueError(f"replace_inf must be null or 'diagonal', got {data['replace_inf']!r}")
    return BoundaryOptions(
        boundary=bool(data["boundary"]),
        surface=bool(data["surface_distances"]),
        width=width,
        ratio=float(data["band_ratio"]),
        bf_fraction=float(data["bf_tolerance"]),
        nsd_tolerance=float(data["nsd_tolerance"]),
        hd95=data["hd95"],
        replace_inf=data["replace_inf"] == "diagonal",
    )


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a count (a non-negative integer), got {str(value)[:40]!r}")
    return value


@dataclass(frozen=True)
class BoundarySummary:
    """The report-level part of the boundary metrics.

    Attributes
    ----------
    options : BoundaryOptions
        What was computed, and with which parameters.
    band_widths : tuple of int
        The Boundary IoU band widths d used (one per image size), in pixels.
    values : mapping of str to float
        Summary metrics by registry name (``mean_biou``, ``mean_bf``, ``hd``,
        ``hd95``, ``assd``, ``nsd``): NaN when undefined, inf when some class
        has an infinite mean distance.
    images : int
        Images scored.
    missed, spurious : int
        (image, class) cases where only the ground truth, or only the
        prediction, has the class: their HD, HD95 and ASSD are infinite (or
        the image diagonal with ``replace_inf``) and their NSD is 0.
    distance_unit : str
        Unit of the surface distances and the NSD tolerance: ``"pixels"``
        (images), ``"mm"`` (volumes measured with their header's spacing) or
        ``"mm and pixels"`` (a run mixing both).
    """

    options: BoundaryOptions
    band_widths: tuple[int, ...]
    values: Mapping[str, float]
    images: int
    missed: int = 0
    spurious: int = 0
    distance_unit: str = "pixels"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the report's ``boundary`` section)."""
        return {
            "settings": _options_to_dict(self.options),
            "band_widths": list(self.band_widths),
            "images": self.images,
            "summary": {name: json_value(value) for name, value in self.values.items()},
            "empty_cases": {"missed": self.missed, "spurious": self.spurious},
            # Written for volumes only, so image reports keep their layout.
            **({} if self.distance_unit == "pixels" else {"distance_unit": self.distance_unit}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BoundarySummary:
        """Inverse of :meth:`to_dict`; values must be finite numbers, ``"inf"`` or null.

        Examples
        --------
        >>> summary = BoundarySummary(BoundaryOptions(surface=True), (), {"hd95": math.inf}, 3, 1)
        >>> BoundarySummary.from_dict(summary.to_dict()) == summary
        True
        """
        empty_cases = data["empty_cases"]
        return cls(
            options=_options_from_dict(data["settings"]),
            band_widths=tuple(_count(width) for width in data["band_widths"]),
            values={str(name): value_from_json(v) for name, v in data["summary"].items()},
            images=_count(data["images"]),
            missed=_count(empty_cases["missed"]),
            spurious=_count(empty_cases["spurious"]),
            distance_unit=_unit(data.get("distance_unit", "pixels")),
        )


def _unit(value: Any) -> str:
    if value not in _DISTANCE_UNITS:
        raise ValueError(
            f"distance_unit must be one of {', '.join(_DISTANCE_UNITS)}, got {value!r}"
        )
    return str(value)


#: Units of surface distances: images, volumes with a header, a run with both.
_DISTANCE_UNITS = ("pixels", "mm", "mm and pixels")


def class_boundary_to_dict(values: Mapping[str, float], counts: Mapping[str, int]) -> Any:
    """One class's ``boundary`` entry in JSON: values (``"inf"``, null) and counts."""
    return {**{name: json_value(v) for name, v in values.items()}, **counts}


def class_boundary_from_dict(data: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, int]]:
    """Inverse of :func:`class_boundary_to_dict`."""
    count_names = {name for names in BOUNDARY_CLASS_COUNTS.values() for name in names}
    values = {str(k): value_from_json(v) for k, v in data.items() if k not in count_names}
    counts = {str(k): _count(v) for k, v in data.items() if k in count_names}
    return values, counts


@dataclass(frozen=True)
class BoundaryImage:
    """One image's boundary values.

    Attributes
    ----------
    key : str
    per_class : mapping of str to numpy.ndarray
        ``(C,)`` values by registry name (``biou``, ``bf``, ``hd``, ...),
        NaN where undefined in this image.
    summary : mapping of str to float
        The image's means over included classes (``mean_biou``, ``mean_bf``,
        ``hd``, ...), undefined classes skipped.
    """

    key: str
    per_class: Mapping[str, np.ndarray]
    summary: Mapping[str, float]


@dataclass(frozen=True)
class BoundaryResults:
    """Everything the boundary statistics of a run give a report."""

    summary: BoundarySummary
    per_class: tuple[dict[str, float], ...]
    class_counts: tuple[dict[str, int], ...]
    boundary_stats: BoundaryStats | None
    surface_stats: SurfaceStats | None
    metric_options: MetricOptions

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The per-class boundary metrics computed, by registry name."""
        options = self.summary.options
        return ("biou", "bf") * options.boundary + ("hd", "hd95", "assd", "nsd") * options.surface

    def images(self) -> Iterator[BoundaryImage]:
        """Each image's values, in scoring order (for per-image output)."""
        options = self.summary.options
        included = included_classes(len(self.per_class), self.metric_options)
        fill = empty_value(self.metric_options.empty)
        columns: dict[str, np.ndarray] = {}
        if self.boundary_stats is not None:
            for name, values in (
                ("biou", self.boundary_stats.image_biou()),
                ("bf", self.boundary_stats.image_bf()),
            ):
                columns[name] = np.where(np.isnan(values), fill, values)
        if self.surface_stats is not None:
            values = self.surface_stats.image_values(options.replace_inf)
            for name in ("hd", "hd95", "assd", "nsd"):
                columns[name] = values[:, :, _surface_column(name, options)]
        stats = self.boundary_stats or self.surface_stats
        keys = stats.keys if stats is not None else ()
        for row, key in enumerate(keys):
            per_class = {name: column[row] for name, column in columns.items()}
            yield BoundaryImage(
                key,
                per_class,
                {summary_name(name): _mean(values[included]) for name, values in per_class.items()},
            )


def _surface_column(name: str, options: BoundaryOptions) -> int:
    return _HD95_COLUMN[options.hd95] if name == "hd95" else _SURFACE_COLUMNS[name]


def summary_name(name: str) -> str:
    """The summary name of a per-class boundary metric (``biou`` -> ``mean_biou``).

    Examples
    --------
    >>> summary_name("bf"), summary_name("hd95")
    ('mean_bf', 'hd95')
    """
    return f"mean_{name}" if name in ("biou", "bf") else name


def _mean(values: np.ndarray) -> float:
    defined = values[~np.isnan(values)]
    return math.fsum(defined.tolist()) / defined.size if defined.size else math.nan


def boundary_results(
    options: BoundaryOptions,
    num_classes: int,
    metric_options: MetricOptions,
    *,
    boundary: Sequence[BoundaryStats] = (),
    surface: Sequence[SurfaceStats] = (),
    band_widths: Sequence[int] = (),
    distance_units: Collection[str] = (),
) -> BoundaryResults:
    """The boundary values of a run from its per-image statistics.

    Parameters
    ----------
    options : BoundaryOptions
        What was computed.
    num_classes : int
        The final class count (statistics counted earlier are padded).
    metric_options : MetricOptions
        ``empty`` (Boundary IoU, BF of a class undefined everywhere) and
        ``exclude`` (classes left out of the means).
    boundary, surface : sequence of BoundaryStats, SurfaceStats
        Per-image rows in scoring order.
    band_widths : sequence of int
        The band widths used.
    distance_units : collection of str
        ``"pixels"`` and / or ``"mm"``: how the surface rows were measured.

    Returns
    -------
    BoundaryResults

    Examples
    --------
    >>> from segeval.core.boundary import boundary_stats
    >>> gt = np.zeros((8, 8), dtype=np.uint8); gt[2:6, 2:6] = 1
    >>> rows = [boundary_stats(gt, gt, num_classes=2, width=1)]
    >>> results = boundary_results(BoundaryOptions(boundary=True), 2, MetricOptions(),
    ...                            boundary=rows, band_widths=[1])
    >>> results.summary.values["mean_biou"], results.per_class[1]["bf"]
    (1.0, 1.0)
    """
    exclude = sorted(metric_options.exclude)
    values: dict[str, float] = {}
    per_class: list[dict[str, float]] = [{} for _ in range(num_classes)]
    counts: list[dict[str, int]] = [{} for _ in range(num_classes)]
    boundary_all = surface_all = None
    images = 0
    missed = spurious = 0
    if options.boundary:
        boundary_all = BoundaryStats.concatenate(boundary, num_classes)
        result = boundary_all.compute(metric_options.empty, exclude)
        values["mean_biou"] = result.mean_biou
        values["mean_bf"] = result.mean_bf
        intersection = boundary_all.intersection.sum(axis=0)
        union = boundary_all.union.sum(axis=0)
        for c in range(num_classes):
            per_class[c].update(biou=float(result.biou[c]), bf=float(result.bf[c]))
            counts[c].update(
                band_intersection=int(intersection[c]),
                band_union=int(union[c]),
                bf_images=int(result.bf_defined_images[c]),
            )
        images = boundary_all.num_images
    if options.surface:
        surface_all = SurfaceStats.concatenate(surface, num_classes)
        distances = surface_all.compute(options.replace_inf, exclude)
        hd95 = "hd95" if options.hd95 == "monai" else "hd95_pooled"
        for name, field_name in (("hd", "hd"), ("hd95", hd95), ("assd", "assd"), ("nsd", "nsd")):
            values[name] = float(getattr(distances, f"mean_{field_name}"))
            column = getattr(distances, field_name)
            for c in range(num_classes):
                per_class[c][name] = float(column[c])
        for c in range(num_classes):
            counts[c].update(
                surface_images=int(distances.defined_images[c]),
                missed=int(distances.missed[c]),
                spurious=int(distances.spurious[c]),
            )
        missed, spurious = int(distances.missed.sum()), int(distances.spurious.sum())
        images = surface_all.num_images
    summary = BoundarySummary(
        options=options,
        band_widths=tuple(sorted(set(band_widths))) if options.boundary else (),
        values=values,
        images=images,
        missed=missed,
        spurious=spurious,
        distance_unit=" and ".join(sorted(set(distance_units), key=("mm", "pixels").index))
        or "pixels",
    )
    return BoundaryResults(
        summary, tuple(per_class), tuple(counts), boundary_all, surface_all, metric_options
    )
