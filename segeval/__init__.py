"""segeval: score semantic-segmentation predictions against ground truth.

The library under the ``segeval`` command. Typical use::

    import segeval

    report = segeval.evaluate("preds/", "gt/")          # folders of masks
    report.summary["miou"]

    cm = segeval.ConfusionMatrix(num_classes=19)        # numpy arrays
    cm.update(pred_mask, gt_mask)                      # prediction first
    cm.metrics().summary["miou"]

    options = segeval.ScoreOptions(image_counts=True)       # confidence intervals
    report = segeval.with_intervals(segeval.evaluate("preds/", "gt/", options),
                                    segeval.IntervalOptions(confidence=0.95, seed=1))
    report.intervals.summary["miou"].format()           # '0.712 [0.698, 0.727]'

    report = segeval.evaluate_losses("logits/", "gt/", {"ce": 1.0, "dice": 0.5})
    report.values, report.total                          # losses on stored scores
                                                         # (segeval.losses: on arrays)

Importing segeval never imports click, rich or tqdm; those belong to the CLI.
The names below are imported on first use (``segeval.evaluate``, ``from segeval
import evaluate``), so ``import segeval`` and the command's start-up load only
what is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from segeval._version import __version__

if TYPE_CHECKING:
    from segeval.compare import compare_reports, load_report
    from segeval.core.confusion import ConfusionMatrix
    from segeval.core.labels import LabelMapping
    from segeval.core.metrics import REGISTRY, MetricOptions
    from segeval.errors import SegevalError
    from segeval.gate import GateResult, Threshold, check_regressions, check_thresholds
    from segeval.inputs.classes import ClassDefinition, load_class_definition, load_preset
    from segeval.inputs.pairing import InstanceSource, PairingOptions, pair_folders
    from segeval.inspection import inspect_folder
    from segeval.intervals import IntervalOptions, with_intervals
    from segeval.io import ReadOptions, read_mask
    from segeval.leaderboard import Leaderboard
    from segeval.loss_report import LossReport
    from segeval.report import Report, build_report
    from segeval.run.batch import BatchOptions, run_batch
    from segeval.run.conventions import CONVENTIONS, apply_convention
    from segeval.run.evaluate import evaluate
    from segeval.run.losses import evaluate_losses
    from segeval.run.options import Execution, ScoreOptions

#: Public name -> the module that defines it.
_EXPORTS = {
    "CONVENTIONS": "segeval.run.conventions",
    "REGISTRY": "segeval.core.metrics",
    "BatchOptions": "segeval.run.batch",
    "ClassDefinition": "segeval.inputs.classes",
    "ConfusionMatrix": "segeval.core.confusion",
    "Execution": "segeval.run.options",
    "GateResult": "segeval.gate",
    "InstanceSource": "segeval.inputs.pairing",
    "IntervalOptions": "segeval.intervals",
    "LabelMapping": "segeval.core.labels",
    "Leaderboard": "segeval.leaderboard",
    "LossReport": "segeval.loss_report",
    "MetricOptions": "segeval.core.metrics",
    "PairingOptions": "segeval.inputs.pairing",
    "ReadOptions": "segeval.io",
    "Report": "segeval.report",
    "ScoreOptions": "segeval.run.options",
    "SegevalError": "segeval.errors",
    "Threshold": "segeval.gate",
    "apply_convention": "segeval.run.conventions",
    "build_report": "segeval.report",
    "check_regressions": "segeval.gate",
    "check_thresholds": "segeval.gate",
    "compare_reports": "segeval.compare",
    "evaluate": "segeval.run.evaluate",
    "evaluate_losses": "segeval.run.losses",
    "inspect_folder": "segeval.inspection",
    "load_class_definition": "segeval.inputs.classes",
    "load_preset": "segeval.inputs.classes",
    "load_report": "segeval.compare",
    "pair_folders": "segeval.inputs.pairing",
    "read_mask": "segeval.io",
    "run_batch": "segeval.run.batch",
    "with_intervals": "segeval.intervals",
}

__all__ = [
    "CONVENTIONS",
    "REGISTRY",
    "BatchOptions",
    "ClassDefinition",
    "ConfusionMatrix",
    "Execution",
    "GateResult",
    "InstanceSource",
    "IntervalOptions",
    "LabelMapping",
    "Leaderboard",
    "LossReport",
    "MetricOptions",
    "PairingOptions",
    "ReadOptions",
    "Report",
    "ScoreOptions",
    "SegevalError",
    "Threshold",
    "__version__",
    "apply_convention",
    "build_report",
    "check_regressions",
    "check_thresholds",
    "compare_reports",
    "evaluate",
    "evaluate_losses",
    "inspect_folder",
    "load_class_definition",
    "load_preset",
    "load_report",
    "pair_folders",
    "read_mask",
    "run_batch",
    "with_intervals",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'segeval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
