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
"""

from segeval._version import __version__
from segeval.compare import compare_reports, load_report
from segeval.core.confusion import ConfusionMatrix
from segeval.core.labels import LabelMapping
from segeval.core.metrics import REGISTRY, MetricOptions
from segeval.errors import SegevalError
from segeval.gate import GateResult, Threshold, check_regressions, check_thresholds
from segeval.inputs.classes import ClassDefinition, load_class_definition, load_preset
from segeval.inputs.pairing import PairingOptions, pair_folders
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

__all__ = [
    "CONVENTIONS",
    "REGISTRY",
    "BatchOptions",
    "ClassDefinition",
    "ConfusionMatrix",
    "Execution",
    "GateResult",
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
