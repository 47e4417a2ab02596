"""Statistics on scored datasets: bootstrap confidence intervals and paired significance.

The package owns three things, one module each:

* :mod:`segeval.stats.table`: :class:`ImageCountTable`, the per-image TP / FP /
  FN counts (the only data a bootstrap needs) and its compact JSON form;
* :mod:`segeval.stats.groups`: which images belong together (a sequence, a
  patient), from a regular expression or a CSV file;
* :mod:`segeval.stats.bootstrap`: :func:`bootstrap_ci` and
  :func:`paired_bootstrap`, and the gate decisions built on their intervals.

Every metric of a resample is computed by :mod:`segeval.core.metrics`, the
functions the report uses, over one row per resample. Nothing here prints; numpy
is the only dependency.
"""

from __future__ import annotations

from segeval.core.metrics import DATASET_SUMMARY_METRICS
from segeval.stats.bootstrap import (
    MIN_TRUSTED_UNITS,
    BootstrapResult,
    Decision,
    Difference,
    Interval,
    PairedBootstrapResult,
    bootstrap_ci,
    check_max_drop,
    max_drop_bound,
    p_value,
    paired_bootstrap,
    require_improvement,
    resample_weights,
)
from segeval.stats.groups import CAMVID_SEQUENCE, groups_from_csv, groups_from_regex
from segeval.stats.table import ImageCountTable

__all__ = [
    "CAMVID_SEQUENCE",
    "DATASET_SUMMARY_METRICS",
    "MIN_TRUSTED_UNITS",
    "BootstrapResult",
    "Decision",
    "Difference",
    "ImageCountTable",
    "Interval",
    "PairedBootstrapResult",
    "bootstrap_ci",
    "check_max_drop",
    "groups_from_csv",
    "groups_from_regex",
    "max_drop_bound",
    "p_value",
    "paired_bootstrap",
    "require_improvement",
    "resample_weights",
]
