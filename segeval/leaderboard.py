"""The result of a batch: each submission's line and the ranked leaderboard.

These are result types, like :class:`~segeval.report.Report`: renderers read
them, and only :mod:`segeval.run.batch` produces them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from segeval.core.metrics import REGISTRY
from segeval.numbers import json_value
from segeval.report import Report

__all__ = ["BATCH_SCHEMA", "TIE_BREAKERS", "Leaderboard", "SubmissionResult", "rank"]

#: Schema name of the leaderboard JSON.
BATCH_SCHEMA = "segeval/batch/v1"

#: Summary metrics that break ties, in order, after the ranking metric.
TIE_BREAKERS = ("miou", "mdice", "pixel_accuracy", "mean_accuracy", "fwiou")


@dataclass
class SubmissionResult:
    """One submission's line of the leaderboard."""

    name: str
    source: str
    status: Literal["ok", "invalid"] = "ok"
    report: Report | None = None
    reason: str = ""
    errors: int = 0
    skipped_files: int = 0
    resumed: bool = False
    rank: int | None = None

    def to_dict(self, metrics: Sequence[str]) -> dict[str, Any]:
        """JSON-ready form (headline metrics, null when invalid or undefined)."""
        values: dict[str, float | str | None] = {}
        for name in metrics:
            value = math.nan if self.report is None else self.report.summary_value(name)
            values[name] = json_value(value)
        return {
            "rank": self.rank,
            "name": self.name,
            "source": self.source,
            "status": self.status,
            "metrics": values,
            "reason": self.reason or None,
            "errors": self.errors,
            "skipped_files": self.skipped_files,
            "resumed": self.resumed,
            "warnings": [] if self.report is None else [w.to_dict() for w in self.report.warnings],
        }


@dataclass(frozen=True)
class Leaderboard:
    """The ranked result of a batch."""

    entries: tuple[SubmissionResult, ...]
    rank_by: str
    gt_dir: str
    images: int
    ignored_children: tuple[str, ...]
    settings_digest: str
    elapsed_seconds: float

    @property
    def metrics(self) -> tuple[str, ...]:
        """The headline metrics shown for every submission."""
        return tuple(dict.fromkeys((self.rank_by, *TIE_BREAKERS[:3])))

    @property
    def invalid(self) -> tuple[SubmissionResult, ...]:
        """Submissions that could not be scored."""
        return tuple(entry for entry in self.entries if entry.status == "invalid")

    def to_dict(self) -> dict[str, Any]:
        """The leaderboard JSON document (schema ``segeval/batch/v1``)."""
        from segeval._version import __version__

        return {
            "schema": BATCH_SCHEMA,
            "segeval_version": __version__,
            "gt_dir": self.gt_dir,
            "images": self.images,
            "rank_by": self.rank_by,
            "metrics": list(self.metrics),
            "settings_digest": self.settings_digest,
            "submissions": [entry.to_dict(self.metrics) for entry in self.entries],
            "ignored_children": list(self.ignored_children),
            "elapsed_seconds": self.elapsed_seconds,
        }


def rank(entries: list[SubmissionResult], rank_by: str) -> list[SubmissionResult]:
    """Rank valid submissions by ``rank_by`` then :data:`TIE_BREAKERS` and name; invalid last."""
    order = (rank_by, *(name for name in TIE_BREAKERS if name != rank_by))

    def key(entry: SubmissionResult) -> tuple[Any, ...]:
        assert entry.report is not None
        values = []
        for name in order:
            value = entry.report.summary_value(name)
            values.append(math.inf if math.isnan(value) else REGISTRY[name].badness(value))
        return (*values, entry.name)

    valid = sorted((e for e in entries if e.status == "ok"), key=key)
    for rank, entry in enumerate(valid, start=1):
        entry.rank = rank
    invalid = sorted((e for e in entries if e.status == "invalid"), key=lambda e: e.name)
    return valid + invalid
