"""Convention presets: the option settings that reproduce a reference evaluator.

A convention is a named set of :class:`~segeval.run.options.ScoreOptions` values.
Applying one changes only the options the user did not set explicitly, and the
report records the convention's name next to the effective settings. Where a
reference tool has a known defect (false positives that cost nothing, memory
corruption on bad labels) the preset does *not* reproduce it; ``differences``
says what segeval does instead. ``docs/metrics.md`` documents every mapping.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from segeval.core.metrics import MetricOptions
from segeval.errors import UsageError
from segeval.run.options import ScoreOptions

__all__ = ["CONVENTIONS", "Convention", "apply_convention"]


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
        ScoreOptions field -> value (``empty``, ``zero_division`` and ``beta``
        go into ``metric_options``).
    headline : tuple of str
        The registry names of the numbers that tool reports.
    differences : str
        Where segeval deliberately differs from the tool.
    """

    name: str
    tool: str
    settings: Mapping[str, Any]
    headline: tuple[str, ...]
    differences: str


_METRIC_FIELDS = frozenset({"empty", "zero_division", "beta"})

#: Every convention preset, by name.
CONVENTIONS: Mapping[str, Convention] = {
    convention.name: convention
    for convention in (
        Convention(
            name="cityscapes",
            tool="cityscapesScripts evalPixelLevelSemanticLabeling (class IoU)",
            settings={
                "per_image": False,
                "empty": "nan",
                "zero_division": "nan",
                "out_of_range": "error",
                "reduce_zero_label": False,
            },
            headline=("miou", "iou"),
            differences=(
                "A label above 33 crashes the official Python path and corrupts memory in "
                "its C path; segeval stops with an error naming the file. Category IoU and "
                "iIoU are not computed. Masks in labelIds need --preset cityscapes."
            ),
        ),
        Convention(
            name="mmseg",
            tool="mmsegmentation IoUMetric (aAcc, mIoU, mAcc, mDice, mFscore)",
            settings={
                "per_image": False,
                "empty": "nan",
                "zero_division": "nan",
                "out_of_range": "miss",
                "reduce_zero_label": False,
            },
            headline=(
                "pixel_accuracy",
                "miou",
                "mean_accuracy",
                "mdice",
                "macro_precision",
                "macro_recall",
            ),
            differences=(
                "mmsegmentation prints percentages rounded to 2 decimals and sums its totals "
                "in float32; segeval keeps exact counts and full-precision fractions. "
                "mmsegmentation's F-score is undefined (skipped) when precision and recall "
                "are both 0, which inflates mFscore; segeval scores it 0. A ground-truth value "
                "outside the classes is silently dropped there and an error here."
            ),
        ),
        Convention(
            name="ade20k",
            tool="ADE20K scene-parsing benchmark (sceneparsing utils_eval.py)",
            settings={
                "per_image": False,
                "empty": "zero",
                "zero_division": "nan",
                "out_of_range": "miss",
                "reduce_zero_label": True,
            },
            headline=("pixel_accuracy", "miou"),
            differences=(
                "The official code divides by (union + eps), eps added once per image, so an "
                "absent class scores 0 and the mean runs over all classes; segeval's "
                "empty=zero gives the same numbers without the epsilon (differences below "
                "1e-10)."
            ),
        ),
        Convention(
            name="nnunet",
            tool="nnU-Net v2 evaluate_folder (per-case Dice and IoU, foreground mean)",
            settings={
                "per_image": True,
                "empty": "nan",
                "zero_division": "nan",
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
                "out_of_range": "error",
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
                "predictions (an out-of-range label lands in a wrong cell); segeval stops "
                "with an error."
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
        Option fields the user set; the convention leaves them alone.

    Returns
    -------
    ScoreOptions
        With ``convention`` recording the name.

    Examples
    --------
    >>> options = apply_convention(ScoreOptions(), "ade20k")
    >>> options.reduce_zero_label, options.metric_options.empty, options.convention
    (True, 'zero', 'ade20k')
    >>> apply_convention(ScoreOptions(), "ade20k", explicit={"empty"}).metric_options.empty
    'nan'
    """
    try:
        convention = CONVENTIONS[name]
    except KeyError:
        raise UsageError(
            f"unknown convention {name!r}; choose one of {', '.join(CONVENTIONS)}."
        ) from None
    option_changes: dict[str, Any] = {}
    metric_changes: dict[str, Any] = {}
    for field_name, value in convention.settings.items():
        if field_name in explicit:
            continue
        if field_name in _METRIC_FIELDS:
            metric_changes[field_name] = value
        else:
            option_changes[field_name] = value
    metric_options: MetricOptions = replace(options.metric_options, **metric_changes)
    return replace(options, **option_changes, metric_options=metric_options, convention=name)
