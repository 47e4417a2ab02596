"""What the user asked for, and how the run executes: two separate records.

:class:`ScoreOptions` holds everything that shapes a report's numbers or
contents (classes, metric policy, aggregation, pairing, reading); it validates
itself on construction and derives its fingerprint from its fields.
:class:`Execution` holds how the work runs (workers, block size, executor),
which never changes a number.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from segeval._version import __version__
from segeval.core.confusion import DEFAULT_CHUNK_PIXELS, ConfusionMatrix, OutOfRange, PredIgnore
from segeval.core.labels import (
    DEFAULT_IGNORE,
    DEFAULT_MAX_CLASSES,
    LabelMapping,
    class_limit_problem,
)
from segeval.core.metrics import MetricOptions
from segeval.errors import UsageError
from segeval.inputs.classes import ClassDefinition, default_class_names, resolve_class
from segeval.inputs.pairing import (
    CITYSCAPES_INSTANCE_SUFFIX,
    InstanceSource,
    MissingPolicy,
    PairingOptions,
)
from segeval.io import DEFAULT_MAX_MASK_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_MAX_VOXELS, ReadOptions
from segeval.io.volume import DEFAULT_GEOMETRY_TOLERANCE
from segeval.run.work import InstanceWork, PairReader
from segeval.wording import counted

if TYPE_CHECKING:
    from segeval.core.boundary import BoundaryOptions
    from segeval.core.instances import InstanceRules
    from segeval.run.engine import Executor

__all__ = ["ClassIds", "Execution", "ReportSettings", "ScoreOptions"]

ClassIds = Literal["none", "gt", "pred", "both"]


@dataclass(frozen=True)
class ScoreOptions:
    """Everything that shapes a scoring run.

    Parameters
    ----------
    num_classes : int, optional
        Number of classes. Defaults to the class definition or the number of
        ``class_names``, else it is inferred from the largest label seen.
    class_names : sequence of str, optional
        One name per class (labels are class ids).
    classes : ClassDefinition, optional
        Names, label map, ignore values and colours (``--classes``, ``--preset``).
    class_ids : {"none", "gt", "pred", "both"}, default "none"
        Sides whose masks already hold class ids, so the definition's label map
        is not applied to them (Cityscapes trainIds, ADE20K 0..149).
    ignore_index : sequence of int, optional
        Raw values marking unlabelled pixels; default 255, or the class
        definition's own ignore values.
    metric_options : MetricOptions
        Empty-class policy, zero division, beta (its ``exclude`` is set from
        ``exclude_classes``).
    exclude_classes : sequence of str
        Class names or ids reported but left out of summary means.
    out_of_range : {"error", "miss"}, default "error"
        What a prediction outside the classes is.
    pred_ignore : {"miss", "error"}, default "miss"
        What a prediction equal to an ignore value on a scored pixel is: a miss
        of the ground-truth class, or an error.
    reduce_zero_label : bool, default False
        ADE20K convention, on both sides: 0 is ignored, every other label minus 1.
    per_image : bool, default False
        Also score every image on its own and report means over images.
    image_counts : bool, default False
        Keep every image's per-class TP, FP and FN in the report
        (``Report.image_counts``), what confidence intervals and ``compare
        --ci`` resample; the aggregation does not change.
    convention : str, optional
        Name of the convention preset these options follow. Its settings must
        hold on every field outside ``convention_overrides``: build such options
        with :meth:`for_convention` (or ``apply_convention``), which sets them.
    convention_overrides : frozenset of str
        Fields set explicitly to another value than the convention's.
    pairing : PairingOptions
        How files are found and keyed.
    missing : {"error", "skip", "empty"}, default "error"
        A ground-truth file without prediction: an error, left out, or scored as
        predicting nothing.
    strict : bool, default False
        Predictions without ground truth are an error, not a warning.
    resize_pred : bool, default False
        Resize predictions of another size to the ground truth (nearest neighbour).
    unknown_color : {"error", "ignore"}, default "error"
        A colour missing from the colour table: an error, or unlabelled.
    allow_lossy : bool, default False
        Read JPEG masks (nearest colour).
    npz_key : str, optional
        Array to read from NPZ files holding several.
    max_pixels : int or None, default DEFAULT_MAX_PIXELS
        Refuse masks with more pixels (checked from the header, before
        decoding); None lifts the limit.
    max_mask_bytes : int or None, default DEFAULT_MAX_MASK_BYTES
        Refuse mask files larger than this (checked before reading); None lifts
        the limit.
    max_voxels : int or None, default DEFAULT_MAX_VOXELS
        Refuse volumes with more voxels (checked from the header); None lifts
        the limit.
    max_classes : int, default DEFAULT_MAX_CLASSES
        Refuse more classes than this, given or inferred (a C x C matrix costs
        8 C**2 bytes per worker and per submission).
    binary : bool, default False
        Binary masks: 0 is the background (class 0) and any other value the
        foreground (class 1); no ignore value unless ``ignore_index`` names one.
    boundary : BoundaryOptions, optional
        Also compute boundary metrics (Boundary IoU and BF, surface distances).
    trust_gt_geometry : bool, default False
        Volumes: use the ground truth's spacing and affine and ignore the
        prediction's header (shapes must still agree).
    geometry_tolerance : float, default 1e-3
        Volumes: how far spacing (mm) and affine entries may differ between a
        prediction and its ground truth.
    gt_instances : InstanceSource, optional
        Also compute instance-level IoU (iIoU) from the ground truth's instance
        maps (``--gt-instances``); needs a class definition with average
        instance sizes (``--preset cityscapes``).

    Raises
    ------
    UsageError
        Options that contradict each other, an unknown convention, or a
        convention whose settings these options do not hold (checked on
        construction, so every ``ScoreOptions`` in existence is valid).

    Notes
    -----
    Only what changes a report's numbers or contents lives here; how a run
    executes (workers, block size, scheduler) is :class:`Execution`. The
    :meth:`fingerprint` digests every field, so a new option is part of it.
    """

    num_classes: int | None = None
    class_names: Sequence[str] | None = None
    classes: ClassDefinition | None = None
    class_ids: ClassIds = "none"
    ignore_index: Sequence[int] | None = None
    metric_options: MetricOptions = field(default_factory=MetricOptions)
    exclude_classes: Sequence[str] = ()
    out_of_range: OutOfRange = "error"
    pred_ignore: PredIgnore = "miss"
    reduce_zero_label: bool = False
    per_image: bool = False
    image_counts: bool = False
    convention: str | None = None
    convention_overrides: frozenset[str] = frozenset()
    pairing: PairingOptions = field(default_factory=PairingOptions)
    missing: MissingPolicy = "error"
    strict: bool = False
    resize_pred: bool = False
    unknown_color: Literal["error", "ignore"] = "error"
    allow_lossy: bool = False
    npz_key: str | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_mask_bytes: int | None = DEFAULT_MAX_MASK_BYTES
    max_voxels: int | None = DEFAULT_MAX_VOXELS
    max_classes: int = DEFAULT_MAX_CLASSES
    binary: bool = False
    boundary: BoundaryOptions | None = None
    trust_gt_geometry: bool = False
    geometry_tolerance: float = DEFAULT_GEOMETRY_TOLERANCE
    gt_instances: InstanceSource | None = None

    def __post_init__(self) -> None:
        self._check_convention()
        if self.gt_instances is not None and (
            self.classes is None or not self.classes.average_instance_sizes
        ):
            raise UsageError(
                "--gt-instances weighs each instance by its class's average instance size; "
                "pass --preset cityscapes or a --classes file whose classes give "
                "average_instance_size."
            )
        if not self.geometry_tolerance >= 0:
            raise UsageError(
                f"--geometry-tolerance must be 0 or more, got {self.geometry_tolerance}."
            )
        if self.binary:
            if self.classes is not None or self.reduce_zero_label:
                raise UsageError(
                    "--binary names its two classes itself; drop --classes, --preset or "
                    "--reduce-zero-label."
                )
            if self.resolved_num_classes() not in (None, 2):
                raise UsageError(
                    f"--binary means 2 classes, but {self.resolved_num_classes()} were given."
                )
        if self.classes is not None:
            if self.class_names is not None:
                raise UsageError(
                    "--class-names cannot be combined with --classes or --preset, which "
                    "name the classes themselves."
                )
            if self.num_classes is not None and self.num_classes != self.classes.num_classes:
                raise UsageError(
                    f"--num-classes {self.num_classes} disagrees with the "
                    f"{counted(self.classes.num_classes, 'class')} of {self.classes.source}."
                )
            if self.reduce_zero_label and self.classes.offset != 1:
                raise UsageError(
                    f"--reduce-zero-label cannot be combined with {self.classes.source}, "
                    "whose label map decides the values (the ade20k preset already reduces)."
                )
        elif self.class_ids != "none":
            raise UsageError(
                "--class-ids only applies with --classes or --preset (a label map to skip)."
            )
        elif (
            self.class_names is not None
            and self.num_classes is not None
            and self.num_classes != len(self.class_names)
        ):
            raise UsageError(
                f"--num-classes {self.num_classes} disagrees with the "
                f"{counted(len(self.class_names), 'class name')} given; drop one or fix the other."
            )
        known = self.resolved_num_classes()
        problem = None if known is None else class_limit_problem(known, self.max_classes)
        if problem is not None:
            raise UsageError(
                f"{self._class_source()}: {problem}; pass a larger --max-classes if "
                "that is intended."
            )

    def _class_source(self) -> str:
        if self.classes is not None:
            return self.classes.source
        if self.class_names is not None:
            return "--class-names"
        return f"--num-classes {self.num_classes}"

    @property
    def counts_per_image(self) -> bool:
        """Whether workers return each image's counts (per-image means or the count table)."""
        return self.per_image or self.image_counts

    @classmethod
    def for_convention(cls, name: str, /, **fields: Any) -> ScoreOptions:
        """Options that reproduce a reference tool, with the fields given here winning.

        Parameters
        ----------
        name : str
            A convention name (``segeval conventions`` lists them).
        **fields
            Any ScoreOptions field, or a metric policy by name (``empty``,
            ``zero_division``, ``beta``, ``fscore``, ...). Each one given keeps
            its value over the convention's. A whole ``metric_options=`` counts
            as giving every metric policy.

        Returns
        -------
        ScoreOptions

        Raises
        ------
        UsageError
            An unknown convention or field name.

        Examples
        --------
        >>> options = ScoreOptions.for_convention("torchmetrics", num_classes=4)
        >>> options.metric_options.zero_division, options.per_image, options.num_classes
        ('zero', True, 4)
        >>> ScoreOptions.for_convention("torchmetrics", per_image=False).per_image
        False
        """
        from segeval.run.conventions import METRIC_FIELDS, apply_convention, convention_named

        convention_named(name)
        known = {f.name for f in dataclasses.fields(cls)} - {"convention", "convention_overrides"}
        unknown = sorted(set(fields) - known - METRIC_FIELDS)
        if unknown:
            raise UsageError(
                f"unknown option {unknown[0]!r} for ScoreOptions.for_convention; pass "
                f"ScoreOptions fields or metric policies ({', '.join(sorted(METRIC_FIELDS))})."
            )
        policies = {key: fields.pop(key) for key in list(fields) if key in METRIC_FIELDS}
        explicit = set(fields) | set(policies)
        if "metric_options" in fields:
            if policies:
                raise UsageError(
                    "pass metric policies either inside metric_options or by name, not both."
                )
            explicit |= METRIC_FIELDS
        else:
            fields["metric_options"] = MetricOptions(**policies)
        return apply_convention(cls(**fields), name, explicit=explicit)

    def _check_convention(self) -> None:
        if self.convention is None:
            if self.convention_overrides:
                raise UsageError("convention_overrides needs a convention.")
            return
        from segeval.run.conventions import convention_conflicts, convention_named

        convention = convention_named(self.convention)
        for field_name, wanted, found in convention_conflicts(self, convention):
            if field_name not in self.convention_overrides:
                raise UsageError(
                    f"ScoreOptions(convention={self.convention!r}) has {field_name}={found!r} "
                    f"but the convention sets {wanted!r}; build the options with "
                    f"ScoreOptions.for_convention({self.convention!r}, ...), which applies "
                    "the convention and keeps every field you pass."
                )

    def resolved_num_classes(self) -> int | None:
        """The class count, when known before scoring."""
        if self.classes is not None:
            return self.classes.num_classes
        if self.class_names is not None:
            return len(self.class_names)
        if self.binary:
            return 2
        return self.num_classes

    def class_names_for(self, num_classes: int) -> tuple[str, ...]:
        """The class names (defaults for an inferred count)."""
        if self.classes is not None:
            return self.classes.names
        if self.class_names is not None:
            return tuple(self.class_names)
        if self.binary:
            return ("background", "foreground")
        return default_class_names(num_classes)

    def _holds_class_ids(self, side: str) -> bool:
        return self.class_ids in (side, "both")

    def mapping(self, side: Literal["gt", "pred"]) -> LabelMapping:
        """How raw values of one side become classes."""
        ignore = None if self.ignore_index is None else tuple(self.ignore_index)
        if self.classes is not None:
            return self.classes.mapping(class_ids=self._holds_class_ids(side), ignore=ignore)
        if self.binary:
            return LabelMapping(2, ignore_values=ignore or (), binary=True)
        ignore_values = set((DEFAULT_IGNORE,) if ignore is None else ignore)
        if self.reduce_zero_label:
            ignore_values.add(0)
        return LabelMapping(
            self.resolved_num_classes() or 1,
            ignore_values=ignore_values,
            offset=int(self.reduce_zero_label),
        )

    def new_accumulator(self, chunk_pixels: int = DEFAULT_CHUNK_PIXELS) -> ConfusionMatrix:
        """An empty accumulator configured by these options."""
        return ConfusionMatrix(
            mapping=self.mapping("gt"),
            pred_mapping=self.mapping("pred"),
            infer_num_classes=self.resolved_num_classes() is None,
            out_of_range=self.out_of_range,
            pred_ignore=self.pred_ignore,
            chunk_pixels=chunk_pixels,
            max_classes=self.max_classes,
        )

    def _read_options(self, side: Literal["gt", "pred"]) -> ReadOptions:
        colors = None
        if self.classes is not None:
            colors = self.classes.color_table(class_ids=self._holds_class_ids(side))
        return ReadOptions(
            colors=colors,
            unknown_color=self.unknown_color,
            unknown_value=min(self.mapping(side).ignore_values, default=DEFAULT_IGNORE),
            allow_lossy=self.allow_lossy,
            npz_key=self.npz_key,
            max_pixels=self.max_pixels,
            max_bytes=self.max_mask_bytes,
            max_voxels=self.max_voxels,
        )

    def pair_reader(self) -> PairReader:
        """How each pair is read and aligned."""
        return PairReader(
            gt_read=self._read_options("gt"),
            pred_read=self._read_options("pred"),
            resize_pred=self.resize_pred,
            trust_gt_geometry=self.trust_gt_geometry,
            geometry_tolerance=self.geometry_tolerance,
        )

    def instance_suffix(self) -> str | None:
        """The suffix keying instance maps: given, else Cityscapes' under its preset or convention.

        Examples
        --------
        >>> from segeval.inputs.classes import load_preset
        >>> ScoreOptions(
        ...     classes=load_preset("cityscapes"), gt_instances=InstanceSource("gt")
        ... ).instance_suffix()
        '_gtFine_instanceIds.png'
        """
        if self.gt_instances is None:
            return None
        if self.gt_instances.suffix is not None:
            return self.gt_instances.suffix
        cityscapes = self.convention == "cityscapes" or (
            self.classes is not None and self.classes.name == "cityscapes"
        )
        return CITYSCAPES_INSTANCE_SUFFIX if cityscapes else None

    def instance_work(self) -> InstanceWork | None:
        """What the workers need to compute iIoU rows (None without ``gt_instances``)."""
        if self.gt_instances is None or self.classes is None:
            return None
        definition = self.classes
        sizes = definition.average_instance_sizes
        raw_of = (
            definition.value_to_class
            if definition.value_to_class is not None
            else {index + definition.offset: index for index in range(definition.num_classes)}
        )
        from segeval.core.instances import InstanceRules

        read = self._read_options("gt")
        return InstanceWork(
            rules=InstanceRules(sizes, definition.categories, definition.category_values),
            instance_class={raw: cls for raw, cls in raw_of.items() if sizes[cls] == sizes[cls]},
            read=replace(read, colors=None),
            pred_raw=definition.has_label_map and not self._holds_class_ids("pred"),
        )

    def computed_options(self) -> list[str]:
        """The options that add metrics to this run (``--boundary``, ``--gt-instances``, ...).

        Examples
        --------
        >>> from segeval.core.boundary import BoundaryOptions
        >>> ScoreOptions(boundary=BoundaryOptions(surface=True)).computed_options()
        ['--surface-distances']
        """
        boundary = self.boundary
        flags = {
            "--boundary": boundary is not None and boundary.boundary,
            "--surface-distances": boundary is not None and boundary.surface,
            "--gt-instances": self.gt_instances is not None,
        }
        return [flag for flag, on in flags.items() if on]

    def fingerprint(self) -> str:
        """A digest of every field: equal digests on the same files give the same report.

        Derived from the fields themselves, so an option added later is part of
        it without anyone remembering to add it (batch scoring resumes on it).

        Examples
        --------
        >>> ScoreOptions().fingerprint() == ScoreOptions().fingerprint()
        True
        >>> ScoreOptions().fingerprint() == ScoreOptions(per_image=True).fingerprint()
        False
        """
        settings = {"version": __version__, **_plain(self)}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def final_metric_options(self, class_names: Sequence[str]) -> MetricOptions:
        """Metric options with ``exclude_classes`` resolved against the class names."""
        return self.report_settings().metric_options_for(class_names)

    def report_settings(self) -> ReportSettings:
        """What turns counts into a report (kept in saved shard state)."""
        known = self.resolved_num_classes()
        work = self.instance_work()
        return ReportSettings(
            class_names=None if known is None else self.class_names_for(known),
            exclude_classes=tuple(str(ref) for ref in self.exclude_classes),
            metric_options=self.metric_options,
            reduce_zero_label=self.reduce_zero_label
            or (self.classes is not None and self.classes.offset == 1),
            convention=self.convention,
            classes_source=None if self.classes is None else self.classes.source,
            label_map=self.classes is not None and self.classes.has_label_map,
            categories=() if self.classes is None else tuple(self.classes.categories),
            class_ids=self.class_ids,
            per_image=self.per_image,
            image_counts=self.image_counts,
            missing_policy=self.missing,
            boundary=self.boundary,
            instances=None if work is None else work.rules,
        )


@dataclass(frozen=True)
class ReportSettings:
    """The part of :class:`ScoreOptions` that turns counts into a report.

    Everything a report needs besides the counts, in a form that is saved with
    a shard's statistics (:mod:`segeval.run.shards`) and read back to merge.
    ``instances`` holds iIoU's class rules (average instance sizes,
    categories) when the run has instance maps.

    Examples
    --------
    >>> settings = ScoreOptions(class_names=["a", "b"], exclude_classes=["b"]).report_settings()
    >>> settings.names_for(2), settings.metric_options_for(["a", "b"]).exclude
    (('a', 'b'), frozenset({1}))
    >>> ReportSettings.from_dict(settings.to_dict()) == settings
    True
    >>> from segeval.core.boundary import BoundaryOptions
    >>> with_boundary = replace(settings, boundary=BoundaryOptions(surface=True, replace_inf=True))
    >>> ReportSettings.from_dict(with_boundary.to_dict()) == with_boundary
    True
    >>> from segeval.core.instances import InstanceRules
    >>> with_instances = replace(settings, instances=InstanceRules((2.5, 4.0), ("a", "a")))
    >>> ReportSettings.from_dict(with_instances.to_dict()) == with_instances
    True
    """

    class_names: tuple[str, ...] | None = None
    exclude_classes: tuple[str, ...] = ()
    metric_options: MetricOptions = field(default_factory=MetricOptions)
    reduce_zero_label: bool = False
    convention: str | None = None
    classes_source: str | None = None
    label_map: bool = False
    categories: tuple[str, ...] = ()
    class_ids: str = "none"
    per_image: bool = False
    image_counts: bool = False
    missing_policy: MissingPolicy = "error"
    boundary: BoundaryOptions | None = None
    instances: InstanceRules | None = None

    def names_for(self, num_classes: int) -> tuple[str, ...]:
        """The class names (defaults for a count inferred from the labels)."""
        if self.class_names is not None:
            return self.class_names
        return default_class_names(num_classes)

    def metric_options_for(self, class_names: Sequence[str]) -> MetricOptions:
        """Metric options with ``exclude_classes`` resolved against the class names."""
        excluded = frozenset(resolve_class(ref, class_names) for ref in self.exclude_classes)
        return replace(self.metric_options, exclude=excluded)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {item.name: _plain(getattr(self, item.name)) for item in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportSettings:
        """Inverse of :meth:`to_dict`."""
        metric = data["metric_options"]
        names = data["class_names"]
        return cls(
            class_names=None if names is None else tuple(str(name) for name in names),
            exclude_classes=tuple(str(ref) for ref in data["exclude_classes"]),
            metric_options=MetricOptions(
                empty=metric["empty"],
                zero_division=metric["zero_division"],
                beta=float(metric["beta"]),
                exclude=frozenset(int(index) for index in metric["exclude"]),
            ),
            reduce_zero_label=bool(data["reduce_zero_label"]),
            convention=data["convention"],
            classes_source=data["classes_source"],
            label_map=bool(data["label_map"]),
            categories=tuple(str(name) for name in data["categories"]),
            class_ids=str(data["class_ids"]),
            per_image=bool(data["per_image"]),
            image_counts=bool(data["image_counts"]),
            missing_policy=data["missing_policy"],
            boundary=_boundary_from_dict(data["boundary"]),
            instances=_instances_from_dict(data["instances"]),
        )


def _instances_from_dict(data: Mapping[str, Any] | None) -> InstanceRules | None:
    """Inverse of the ``instances`` entry of :meth:`ReportSettings.to_dict`."""
    if data is None:
        return None
    from segeval.core.instances import InstanceRules  # loaded by iIoU runs only

    return InstanceRules.from_dict(data)


def _boundary_from_dict(data: Mapping[str, Any] | None) -> BoundaryOptions | None:
    """Inverse of the ``boundary`` entry of :meth:`ReportSettings.to_dict` (its field names)."""
    if data is None:
        return None
    from segeval.core.boundary import BoundaryOptions  # loaded by boundary runs only

    width = data["width"]
    if width is not None and (isinstance(width, bool) or not isinstance(width, int)):
        raise ValueError(f"boundary width must be an integer or null, got {width!r}")
    return BoundaryOptions(
        boundary=bool(data["boundary"]),
        surface=bool(data["surface"]),
        width=width,
        ratio=float(data["ratio"]),
        bf_fraction=float(data["bf_fraction"]),
        nsd_tolerance=float(data["nsd_tolerance"]),
        hd95=data["hd95"],
        replace_inf=bool(data["replace_inf"]),
    )


@dataclass(frozen=True)
class Execution:
    """How a run executes: never changes a number, so never part of a fingerprint.

    Parameters
    ----------
    jobs : int, optional
        Parallel workers (default: every core this process may use; 1 runs in
        the calling thread).
    chunk_pixels : int, default DEFAULT_CHUNK_PIXELS
        Pixels per row block in the accumulator (bounds temporaries).
    executor : Executor, optional
        Runs the tasks; default threads for ``score``, processes for ``batch``
        (see :mod:`segeval.run.engine`); a
        :class:`~segeval.run.dask_executor.DaskExecutor` runs them on a cluster.

    Examples
    --------
    >>> Execution(jobs=2).jobs
    2
    """

    jobs: int | None = None
    chunk_pixels: int = DEFAULT_CHUNK_PIXELS
    executor: Executor | None = None

    def __post_init__(self) -> None:
        if self.jobs is not None and self.jobs < 1:
            raise UsageError(f"jobs must be at least 1, got {self.jobs}.")
        if self.chunk_pixels < 1:
            raise UsageError(f"chunk_pixels must be positive, got {self.chunk_pixels}.")


def _plain(value: Any) -> Any:
    """A JSON-ready image of an option value (for fingerprints)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict):
            return to_dict()
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (frozenset, set)):
        return sorted(_plain(item) for item in value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return value
