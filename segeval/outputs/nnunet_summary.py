"""nnU-Net v2's ``summary.json``, written from segeval's per-case counts.

People whose tooling reads nnU-Net's evaluation output (``nnUNetv2_evaluate_folder``,
``compute_metrics_on_folder`` in ``nnunetv2/evaluation/evaluate_predictions.py``)
get the same file from segeval: the same layout, keys and numbers.

Layout (keys sorted, 4-space indent, as nnU-Net's ``save_json``)::

    {"foreground_mean": {METRIC: value},
     "mean": {"1": {METRIC: value}, ...},
     "metric_per_case": [{"metrics": {"1": {METRIC: value}, ...},
                          "prediction_file": "...", "reference_file": "..."}, ...]}

with METRIC in ``Dice, FN, FP, IoU, TN, TP, n_pred, n_ref``. nnU-Net's rules,
reproduced: per case and label Dice = 2TP / (2TP + FP + FN) and IoU = TP /
(TP + FP + FN), both NaN when TP + FP + FN = 0 (the label in neither mask); TN
counts the scored voxels in neither mask; ``mean`` is the NaN-skipping mean over
cases of every metric (NaN when a label is in no case at all); ``foreground_mean``
the plain mean of those means over the labels, so one NaN label makes it NaN.
NaN is written as the bare token ``NaN``, as Python's ``json`` (and nnU-Net) do.

The labels are the foreground classes 1 .. C-1 (nnU-Net evaluates the labels of
its ``dataset.json`` except the background), keyed by class id; nnU-Net's
region-based evaluation (overlapping label groups) is not reproduced.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from segeval.core.per_image import ImageResult
from segeval.errors import UsageError
from segeval.io.storage import Location
from segeval.outputs.atomic import write_text_atomic

__all__ = ["NNUNET_METRICS", "NnunetSummaryWriter", "nnunet_case_metrics"]

#: The metrics nnU-Net writes per case and label, in its (sorted) order.
NNUNET_METRICS = ("Dice", "FN", "FP", "IoU", "TN", "TP", "n_pred", "n_ref")


def nnunet_case_metrics(tp: int, fp: int, fn: int, tn: int) -> dict[str, float | int]:
    """One case's metrics for one label, as nnU-Net's ``compute_metrics`` gives them.

    Examples
    --------
    >>> nnunet_case_metrics(3, 1, 2, 10)["Dice"]
    0.6666666666666666
    >>> math.isnan(nnunet_case_metrics(0, 0, 0, 16)["IoU"])
    True
    """
    union = tp + fp + fn
    return {
        "Dice": 2 * tp / (2 * tp + fp + fn) if union else math.nan,
        "IoU": tp / union if union else math.nan,
        "FP": fp,
        "TP": tp,
        "FN": fn,
        "TN": tn,
        "n_pred": fp + tp,
        "n_ref": fn + tp,
    }


def _nanmean(values: Sequence[float]) -> float:
    """``numpy.nanmean`` without its all-NaN warning (the same summation order)."""
    array = np.asarray(values, dtype=np.float64)
    missing = np.isnan(array)
    count = int((~missing).sum())
    if count == 0:
        return math.nan
    return float(np.sum(np.where(missing, 0.0, array)) / count)


class NnunetSummaryWriter:
    """An image sink that writes nnU-Net's ``summary.json`` when the run succeeds.

    Parameters
    ----------
    path : pathlib.Path
        Destination (``.json``); its folder must exist.
    files : mapping
        Pairing key -> (reference file, prediction file or None), for the
        ``reference_file`` / ``prediction_file`` entries.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "summary.json"
    >>> files = {"c1": (pathlib.Path("gt/c1.nii.gz"), pathlib.Path("pred/c1.nii.gz"))}
    >>> with NnunetSummaryWriter(target, files) as writer:
    ...     writer.begin(["background", "liver"])
    ...     writer.write(ImageResult("c1", np.ones(2), np.ones(2), 1.0, 1.0, 1.0, 10,
    ...                              tp=np.array([7, 3]), fp=np.array([0, 0]),
    ...                              fn=np.array([0, 0])))
    >>> summary = json.loads(target.read_text())
    >>> summary["foreground_mean"]["Dice"], summary["metric_per_case"][0]["metrics"]["1"]["TN"]
    (1.0, 7)
    """

    def __init__(self, path: Path, files: Mapping[str, tuple[Location, Location | None]]) -> None:
        if path.suffix.lower() != ".json":
            raise UsageError(f"--nnunet-summary {path}: the file name must end with .json.")
        if not path.parent.is_dir():
            raise UsageError(f"--nnunet-summary {path}: the folder {path.parent} does not exist.")
        self.path = path
        self._files = files
        self._labels: list[int] = []
        self._cases: list[dict[str, Any]] = []

    def begin(self, class_names: Sequence[str]) -> None:
        """The foreground labels: every class but 0."""
        self._labels = list(range(1, len(class_names)))

    def write(self, result: ImageResult) -> None:
        """Add one case (its counts, never voxels)."""
        if result.tp is None or result.fp is None or result.fn is None:
            raise UsageError("the nnU-Net summary needs per-case counts (ImageResult.tp).")
        metrics = {}
        for label in self._labels:
            tp, fp, fn = int(result.tp[label]), int(result.fp[label]), int(result.fn[label])
            metrics[str(label)] = nnunet_case_metrics(
                tp, fp, fn, result.scored_pixels - tp - fp - fn
            )
        reference, prediction = self._files.get(result.key, (None, None))
        self._cases.append(
            {
                "metrics": metrics,
                "prediction_file": None if prediction is None else str(prediction),
                "reference_file": None if reference is None else str(reference),
            }
        )

    def summary(self) -> dict[str, Any]:
        """The whole document (also what :meth:`commit` writes)."""
        means = {
            str(label): {
                name: _nanmean([case["metrics"][str(label)][name] for case in self._cases])
                for name in NNUNET_METRICS
            }
            for label in self._labels
        }
        foreground = [key for key in means if key != "0"]
        foreground_mean = {
            name: float(np.mean([means[key][name] for key in foreground]))
            if foreground
            else math.nan
            for name in NNUNET_METRICS
        }
        return {"foreground_mean": foreground_mean, "mean": means, "metric_per_case": self._cases}

    def commit(self) -> None:
        """Write the file (atomically)."""
        write_text_atomic(self.path, json.dumps(self.summary(), indent=4, sort_keys=True) + "\n")

    def __enter__(self) -> NnunetSummaryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
