"""Convention presets: the option settings that reproduce a reference evaluator.

A convention is a named set of :class:`~segeval.run.options.ScoreOptions` values.
Applying one changes only the options the user did not set explicitly, and the
report records the convention's name next to the effective settings. Where a
reference tool has a known defect (memory corruption on bad labels, a label
landing in the wrong cell) the preset does *not* reproduce it and refuses that
input instead; ``differences`` says what segeval does. ``docs/metrics.md``
documents every mapping.

A :class:`~segeval.run.options.ScoreOptions` naming a convention always holds
that convention's settings, except on the fields listed in its
``convention_overrides`` (checked on construction); :func:`apply_convention` and
``ScoreOptions.for_convention`` build such options.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from segeval.core.metrics import MetricOptions
from segeval.defaults import CITYSCAPES_BOUNDARY_RATIO
from segeval.errors import UsageError

if TYPE_CHECKING:
    from segeval.run.options import ScoreOptions

__all__ = [
    "CONVENTIONS",
    "METRIC_FIELDS",
    "Convention",
    "apply_convention",
    "convention_conflicts",
    "convention_named",
]


@dataclass(frozen=True)
class Convention:
    """One reference evaluator's way of computing its numbers.

    Attributes
    ----------
    name : str
        ``--convention`` value.
    tool : str
        The reference implementation reproduced.
    settings : mapping
        ScoreOptions field -> value (the fields of
        :class:`~segeval.core.metrics.MetricOptions`, :data:`METRIC_FIELDS`, go
        into ``metric_options``).
    headline : tuple of str
        The registry names of the numbers that tool reports.
    differences : str
        Where segeval deliberately differs from the tool.
    boundary_ratio : float, optional
        The Boundary IoU band ratio the Boundary IoU authors use for this data
        set; applied with ``--boundary`` unless the band is given
        (``--boundary-width``, ``--boundary-ratio``).
    """

    name: str
    tool: str
    settings: Mapping[str, Any]
    headline: tuple[str, ...]
    differences: str
    boundary_ratio: float | None = None


#: The metric policies a convention or the user may set by name (``exclude`` comes
#: from ``exclude_classes``).
METRIC_FIELDS = frozenset(f.name for f in fields(MetricOptions)) - {"exclude"}

#: Every convention preset, by name.
CONVENTIONS: Mapping[str, Convention] = {
    convention.name: convention
    for convention in (
        Convention(
            name="cityscapes",
            tool=(
                "cityscapesScripts evalPixelLevelSemanticLabeling (IoU and iIoU of classes and "
                "categories)"
            ),
            settings={
                "per_image": False,
                "empty": "nan",
                "zero_division": "nan",
                "gt_empty": "score",
                "out_of_range": "error",
                "pred_ignore": "miss",
                "reduce_zero_label": False,
            },
            headline=("miou", "miiou", "category_miou", "category_miiou", "iou", "iiou"),
            differences=(
                "A label above 33 crashes the official Python path and corrupts memory in "
                "its C path; segeval stops with an error naming the file. Masks in labelIds "
                "need --preset cityscapes (which also gives the category IoU). iIoU needs the "
                "instance maps: pass --gt-instances DIR (the *_gtFine_instanceIds.png files; "
                "with --gt-suffix _gtFine_labelIds.png when they share the ground-truth folder)."
            ),
            boundary_ratio=CITYSCAPES_BOUNDARY_RATIO,
        ),
        Convention(
            name="mmseg",
            tool="mmsegmentation IoUMetric (aAcc, mIoU, mAcc, mDice, mFscore)",
            settings={
                "per_image": False,
                "empty": "nan",
                "zero_division": "nan",
                "fscore": "precision_recall",
                "gt_empty": "score",
                "out_of_range": "miss",
                "pred_ignore": "miss",
                "reduce_zero_label": False,
            },
            headline=(
                "pixel_accuracy",
                "miou",
                "mean_accuracy",
                "mdice",
                "macro_fbeta",
                "macro_precision",
                "macro_recall",
            ),
            differences=(
                "mmsegmentation prints percentages rounded to 2 decimals and sums its totals "
                "in float32; segeval keeps exact counts and full-precision fractions. "
                "A ground-truth value outside the classes is silently dropped there and an "
                "error here."
            ),
        ),
        Convention(
            name="ade20k",
            tool="ADE20K scene-parsing benchmark (sceneparsing utils_eval.py)",
            settings={
                "per_image": False,
                "empty": "zero",
                "zero_division": "nan",
                "gt_empty": "score",
                "out_of_range": "miss",
                "pred_ignore": "miss",
                "reduce_zero_label": True,
            },
            headline=("pixel_accuracy", "miou"),
            differences=(
                "The official code divides by the union plus eps = np.spacing(1) (2.2e-16) "
                "added once per image, so an absent class scores 0 and the mean runs over all "
                "classes; segeval's empty=zero gives the same numbers without the epsilon "
                "(they agree to float rounding)."
            ),
        ),
        Convention(
            name="nnunet",
            tool="nnU-Net v2 evaluate_folder (per-case Dice and IoU, foreground mean)",
            settings={
                "per_image": True,
                "empty": "nan",
                "zero_division": "nan",
                "gt_empty": "score",
                "empty_mean": "nan",
                "out_of_range": "error",
                "reduce_zero_label": False,
                "exclude_classes": ("0",),
            },
            headline=("image_mdice", "image_miou", "image_dice", "image_iou"),
            differences=(
                "nnU-Net's foreground_mean becomes NaN when one label is absent from every "
                "case; segeval leaves that label out of the mean. Region-based evaluation "
                "(overlapping label groups) is not reproduced."
            ),
        ),
        Convention(
            name="torchmetrics",
            tool=(
                "torchmetrics MulticlassJaccardIndex / Precision / Recall / F1Score "
                "(average='macro'), segmentation.DiceScore and MeanIoU"
            ),
            settings={
                "per_image": True,
                "empty": "nan",
                "zero_division": "zero",
                "fscore": "counts",
                "gt_empty": "score",
                "out_of_range": "error",
                "pred_ignore": "error",
                "reduce_zero_label": False,
            },
            headline=(
                "miou",
                "macro_f1",
                "macro_precision",
                "macro_recall",
                "samplewise_mdice",
                "pooled_miou",
            ),
            differences=(
                "With average=None torchmetrics reports 0 for a class absent from both "
                "sides; segeval reports it as undefined (-) and, like torchmetrics' macro "
                "average, leaves it out of the mean. torchmetrics does not range-check "
                "predictions: an out-of-range label, or one equal to ignore_index on a scored "
                "pixel, lands in a wrong cell of its matrix (or fails); segeval stops with an "
                "error naming the file."
            ),
        ),
        Convention(
            name="monai",
            tool=(
                "MONAI DiceMetric and MeanIoU (include_background=True, ignore_empty=True; "
                "reduction mean and mean_batch)"
            ),
            settings={
                "per_image": True,
                "empty": "nan",
                "zero_division": "nan",
                "gt_empty": "nan",
                "empty_mean": "zero",
                "out_of_range": "error",
                "pred_ignore": "miss",
                "reduce_zero_label": False,
            },
            headline=("samplewise_mdice", "samplewise_miou", "image_dice", "image_iou"),
            differences=(
                "MONAI computes in float32 (segeval in float64: differences near 1e-7). "
                "Ignored ground-truth pixels are dropped, as MONAI's ignore_index does. A "
                "prediction outside the classes is an error here; DiceMetric with num_classes "
                "counts it as a miss and one-hot encoding it fails."
            ),
        ),
    )
}


def apply_convention(
    options: ScoreOptions, name: str, explicit: Collection[str] = ()
) -> ScoreOptions:
    """Set the convention's values on every option not set explicitly.

    Parameters
    ----------
    options : ScoreOptions
        The options as given.
    name : str
        A key of :data:`CONVENTIONS`.
    explicit : collection of str
        Option fields the user set (ScoreOptions fields or metric policies such
        as ``empty``); the convention leaves them alone.

    Returns
    -------
    ScoreOptions
        With ``convention`` recording the name and ``convention_overrides`` the
        explicit fields whose value differs from the convention's.

    Raises
    ------
    UsageError
        An unknown convention name.

    Examples
    --------
    >>> from segeval.run.options import ScoreOptions
    >>> options = apply_convention(ScoreOptions(), "ade20k")
    >>> options.reduce_zero_label, options.metric_options.empty, options.convention
    (True, 'zero', 'ade20k')
    >>> apply_convention(ScoreOptions(), "ade20k", explicit={"empty"}).metric_options.empty
    'nan'
    """
    convention = convention_named(name)
    option_changes: dict[str, Any] = {}
    metric_changes: dict[str, Any] = {}
    for field_name, value in convention.settings.items():
        if field_name in explicit:
            continue
        if field_name in METRIC_FIELDS:
            metric_changes[field_name] = value
        else:
            option_changes[field_name] = value
    band_given = {"boundary_ratio", "boundary_width"} & set(explicit)
    if convention.boundary_ratio is not None and options.boundary is not None and not band_given:
        option_changes["boundary"] = replace(options.boundary, ratio=convention.boundary_ratio)
    metric_options: MetricOptions = replace(options.metric_options, **metric_changes)
    try:
        changed = replace(
            options,
            **option_changes,
            metric_options=metric_options,
            convention=None,
            convention_overrides=frozenset(),
        )
    except UsageError as err:
        raise _conflict(options, name, option_changes, err) from None
    overrides = frozenset(field for field, _, _ in convention_conflicts(changed, convention))
    return replace(changed, convention=name, convention_overrides=overrides)


def convention_named(name: str) -> Convention:
    """The convention of that name.

    Raises
    ------
    UsageError
        An unknown name; the message lists the choices.

    Examples
    --------
    >>> convention_named("mmseg").tool.split()[0]
    'mmsegmentation'
    """
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise UsageError(
            f"unknown convention {name!r}; choose one of {', '.join(CONVENTIONS)}."
        ) from None


def convention_conflicts(
    options: ScoreOptions, convention: Convention
) -> list[tuple[str, Any, Any]]:
    """The convention's settings these options do not hold: ``(field, wanted, found)``.

    Examples
    --------
    >>> from segeval.run.options import ScoreOptions
    >>> convention_conflicts(ScoreOptions(), CONVENTIONS["ade20k"])[0]
    ('empty', 'zero', 'nan')
    """
    found: list[tuple[str, Any, Any]] = []
    for field_name, wanted in convention.settings.items():
        source = options.metric_options if field_name in METRIC_FIELDS else options
        value = getattr(source, field_name)
        if _comparable(value) != _comparable(wanted):
            found.append((field_name, wanted, value))
    band, ratio = options.boundary, convention.boundary_ratio
    if ratio is not None and band is not None and band.width is None and band.ratio != ratio:
        found.append(("boundary_ratio", ratio, band.ratio))
    return found


def _comparable(value: Any) -> Any:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(value)
    return value


def _flag(field_name: str) -> str:
    """The command-line option that sets a ScoreOptions field.

    Examples
    --------
    >>> _flag("reduce_zero_label"), _flag("exclude_classes")
    ('--reduce-zero-label', '--exclude-class')
    """
    return "--" + ("exclude_class" if field_name == "exclude_classes" else field_name).replace(
        "_", "-"
    )


def _conflict(
    options: ScoreOptions, name: str, changes: Mapping[str, Any], err: UsageError
) -> UsageError:
    """The options' own complaint, reworded to name the convention that set the culprit.

    The user gave ``--convention ade20k``, not ``--reduce-zero-label``: a message
    naming only the latter would send them looking for an option they never typed.
    """
    culprits = []
    for field_name, value in changes.items():
        try:
            replace(options, **{field_name: value})
        except UsageError:
            culprits.append(field_name)
    message = str(err)
    for field_name in culprits:
        flag = _flag(field_name)
        message = message.replace(flag, f"--convention {name} (which sets {flag})", 1)
    if not any(_flag(field_name) in str(err) for field_name in culprits):
        message = f"--convention {name}: {message}"
    return UsageError(message)
