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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Imported on first use (PEP 562): a score report refers to these types, and
# only runs with --ci need the bootstrap's code.
_EXPORTS = {
    "DATASET_SUMMARY_METRICS": "segeval.core.metrics",
    "MIN_TRUSTED_UNITS": "segeval.stats.bootstrap",
    "BootstrapResult": "segeval.stats.bootstrap",
    "Decision": "segeval.stats.bootstrap",
    "Difference": "segeval.stats.bootstrap",
    "Interval": "segeval.stats.bootstrap",
    "PairedBootstrapResult": "segeval.stats.bootstrap",
    "bootstrap_ci": "segeval.stats.bootstrap",
    "check_max_drop": "segeval.stats.bootstrap",
    "max_drop_bound": "segeval.stats.bootstrap",
    "p_value": "segeval.stats.bootstrap",
    "paired_bootstrap": "segeval.stats.bootstrap",
    "require_improvement": "segeval.stats.bootstrap",
    "resample_weights": "segeval.stats.bootstrap",
    "CAMVID_SEQUENCE": "segeval.stats.groups",
    "groups_from_csv": "segeval.stats.groups",
    "groups_from_regex": "segeval.stats.groups",
    "ImageCountTable": "segeval.stats.table",
}

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


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'segeval.stats' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
