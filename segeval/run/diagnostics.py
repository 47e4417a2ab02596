"""Mistakes that give a wrong number without an error, caught from the counts of a run.

Each check reads only what a run accumulates anyway (the confusion matrix and
its pixel counters) plus the options, so it costs nothing and works the same
for ``score`` and every submission of ``batch``. Each finding is a
:class:`~segeval.notices.Notice` with a stable code (listed in
:data:`~segeval.notices.NOTICE_CODES` and in the README).
"""

from __future__ import annotations

import numpy as np

from segeval.core.confusion import ConfusionMatrix
from segeval.core.labels import DEFAULT_IGNORE
from segeval.io.storage import Location, RemotePath
from segeval.notices import Notice
from segeval.run.options import ReportSettings
from segeval.wording import counted

__all__ = ["diagnose_counts", "diagnose_folders"]


def diagnose_folders(pred_dir: Location, gt_dir: Location) -> list[Notice]:
    """Findings about the folders themselves (before any mask is read).

    Examples
    --------
    >>> from pathlib import Path
    >>> [n.code for n in diagnose_folders(Path("masks"), Path("masks/."))]
    ['same-folder']
    """
    if _same(pred_dir, gt_dir):
        return [
            Notice(
                "same-folder",
                f"the prediction folder {pred_dir} is the ground-truth folder: every score "
                "is perfect; pass the folder your model wrote.",
            )
        ]
    return []


def _same(first: Location, second: Location) -> bool:
    if isinstance(first, RemotePath) or isinstance(second, RemotePath):
        return str(first) == str(second)
    return first.resolve() == second.resolve()


def _share(part: int, whole: int) -> str:
    return f"{part:,} of {whole:,} ({100 * part / whole:.0f} %)"


def diagnose_counts(matrix: ConfusionMatrix, settings: ReportSettings) -> list[Notice]:
    """Findings from the accumulated counts of one scored folder.

    Parameters
    ----------
    matrix : ConfusionMatrix
    settings : ReportSettings
        :meth:`ScoreOptions.report_settings` (also kept in shard states, so a
        merge finds what one run finds).

    Examples
    --------
    >>> cm = ConfusionMatrix()
    >>> cm.update(np.array([[0, 255]], np.uint8), np.array([[0, 255]], np.uint8))
    >>> [notice.code for notice in diagnose_counts(cm, ReportSettings())]
    ['binary-255']
    """
    notices: list[Notice] = []
    scored = matrix.scored_pixels
    if scored == 0 and matrix.ignored_pixels == 0:
        notices.append(
            Notice(
                "nothing-scored",
                "no pixel was counted: no image was scored (an empty shard, or every pair "
                "skipped), so every metric is undefined.",
            )
        )
        return notices
    if scored == 0:
        notices.append(
            Notice(
                "nothing-scored",
                f"no pixel was scored: all {matrix.ignored_pixels:,} ground-truth pixels carry "
                f"an ignore value ({sorted(matrix.ignore_values)}), so every metric is "
                "undefined; check --ignore-index and the class definition.",
            )
        )
        return notices
    if (
        matrix.num_classes_inferred
        and matrix.num_classes == 1
        and matrix.ignored_pixels
        and DEFAULT_IGNORE in matrix.ignore_values
    ):
        notices.append(
            Notice(
                "binary-255",
                f"the masks hold only 0 and {DEFAULT_IGNORE}: {matrix.ignored_pixels:,} "
                f"ground-truth pixels of {DEFAULT_IGNORE} were ignored as unlabelled and the "
                f"scores cover class 0 alone; for 0/{DEFAULT_IGNORE} binary masks pass "
                "--binary (any non-zero value is the foreground, class 1).",
            )
        )
    label_map = settings.label_map
    source = settings.classes_source or ""
    pred_ids = settings.class_ids in ("pred", "both")
    if 2 * matrix.pred_ignore_pixels > scored:
        if label_map and not pred_ids:
            notices.append(
                Notice(
                    "label-ids-as-class-ids",
                    f"{_share(matrix.pred_ignore_pixels, scored)} scored pixels were predicted "
                    f"as an ignore value of {source}'s label map "
                    "(predictions in class ids, e.g. Cityscapes trainIds, read as label-map "
                    "values); if the predictions hold class ids, add --class-ids pred.",
                )
            )
        else:
            notices.append(
                Notice(
                    "mostly-ignore-predicted",
                    f"{_share(matrix.pred_ignore_pixels, scored)} scored pixels were predicted "
                    f"as an ignore value {sorted(matrix.pred_mapping.ignore_values)}, each a "
                    "miss; check that the predictions use the ground truth's class ids.",
                )
            )
    if label_map and pred_ids and 2 * matrix.out_of_range_pixels > scored:
        notices.append(
            Notice(
                "label-ids-as-class-ids",
                f"{_share(matrix.out_of_range_pixels, scored)} scored pixels were predicted "
                "outside the class ids; the predictions look like label-map values (e.g. "
                "Cityscapes labelIds): drop --class-ids pred.",
            )
        )
    predicted = matrix.counts.sum(axis=0)
    if matrix.num_images > 1 and not matrix.missed.any() and np.count_nonzero(predicted) == 1:
        only = int(np.flatnonzero(predicted)[0])
        notices.append(
            Notice(
                "constant-prediction",
                f"all {counted(matrix.num_images, 'prediction')} predict class {only} "
                "everywhere; check "
                "that the model's output (not an empty or constant image) was saved.",
            )
        )
    return notices
