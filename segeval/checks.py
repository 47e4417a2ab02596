"""The outcome of a quality gate: result types, shared by reports and renderers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from segeval.numbers import json_value, value_from_json

__all__ = ["Check", "GateResult"]


@dataclass(frozen=True)
class Check:
    """One gate check and its outcome.

    Attributes
    ----------
    name : str
        What was checked (``miou``, ``iou[road]``, ``max-drop miou``).
    value : float
        The measured value (for regressions, the drop from the baseline).
    threshold : float
    comparison : str
        ``">="`` or ``"<="``: how ``value`` must relate to ``threshold`` to pass.
    passed : bool
    note : str
        Why an undefined value failed, or the baseline and candidate values.
    """

    name: str
    value: float
    threshold: float
    comparison: str
    passed: bool
    note: str = ""

    def describe(self) -> str:
        """One line: name, value, threshold, pass/fail.

        Examples
        --------
        >>> Check("miou", 0.81, 0.72, ">=", True).describe()
        'PASS miou = 0.8100 (required >= 0.7200)'
        """
        value = "undefined" if math.isnan(self.value) else f"{self.value:.4f}"
        text = f"{'PASS' if self.passed else 'FAIL'} {self.name} = {value} "
        text += f"(required {self.comparison} {self.threshold:.4f})"
        return f"{text}; {self.note}" if self.note else text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (undefined values are null, infinite ones ``"inf"``)."""
        return {
            "name": self.name,
            "value": json_value(self.value),
            "threshold": self.threshold,
            "comparison": self.comparison,
            "passed": self.passed,
            "note": self.note,
        }


@dataclass(frozen=True)
class GateResult:
    """Every check of a gate, failed ones first."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when no check failed (and also when there were no checks)."""
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        """The checks that failed."""
        return tuple(check for check in self.checks if not check.passed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the ``gate`` section of a report."""
        return {"passed": self.passed, "checks": [check.to_dict() for check in self.checks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        """Inverse of :meth:`to_dict`.

        Examples
        --------
        >>> gate = GateResult((Check("miou", 0.8, 0.7, ">=", True),))
        >>> GateResult.from_dict(gate.to_dict()) == gate
        True
        """
        return cls(
            tuple(
                Check(
                    name=str(check["name"]),
                    value=value_from_json(check["value"]),
                    threshold=float(check["threshold"]),
                    comparison=str(check["comparison"]),
                    passed=bool(check["passed"]),
                    note=str(check.get("note", "")),
                )
                for check in data["checks"]
            )
        )
