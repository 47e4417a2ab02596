"""segeval: score semantic-segmentation predictions against ground truth.

The library under the ``segeval`` command. Typical use::

    import segeval

    report = segeval.evaluate("preds/", "gt/")          # folders of masks
    report.summary["miou"]

    cm = segeval.ConfusionMatrix(num_classes=19)        # numpy arrays
    cm.update(gt_mask, pred_mask)
    cm.metrics().summary["miou"]

Importing segeval never imports click, rich or tqdm; those belong to the CLI.
"""

from segeval._version import __version__
from segeval.confusion import ConfusionMatrix
from segeval.errors import SegevalError
from segeval.evaluate import ScoreOptions, evaluate
from segeval.io import read_mask
from segeval.labels import LabelMapping
from segeval.metrics import REGISTRY, MetricOptions
from segeval.pairing import PairingOptions, pair_folders
from segeval.report import Report, build_report

__all__ = [
    "REGISTRY",
    "ConfusionMatrix",
    "LabelMapping",
    "MetricOptions",
    "PairingOptions",
    "Report",
    "ScoreOptions",
    "SegevalError",
    "__version__",
    "build_report",
    "evaluate",
    "pair_folders",
    "read_mask",
]
