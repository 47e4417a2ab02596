"""Warnings a run reports: a stable code for scripts, a sentence for people.

A :class:`Notice` is data, not a Python warning: the library returns it in the
report (JSON ``warnings``: ``{"code": ..., "message": ...}``), the CLI prints
it on stderr, and ``--strict`` turns any of them into exit code 2. The codes
are listed in :data:`NOTICE_CODES` and in the README's "Mistakes segeval
catches".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NOTICE_CODES", "Notice"]

#: Every code a report may carry, with what it means.
NOTICE_CODES: Mapping[str, str] = {
    "extra-predictions": "predictions without ground truth were not scored",
    "missing-skipped": "ground-truth files without prediction were left out",
    "missing-empty": "ground-truth files without prediction were scored as predicting nothing",
    "resized": "predictions were resized to their ground truth",
    "binary-255": "masks hold only 0 and 255: the foreground is the ignore value",
    "label-ids-as-class-ids": "predictions look like class ids scored through a label map",
    "nothing-scored": "every ground-truth pixel carries an ignore value",
    "same-folder": "the prediction folder is the ground-truth folder",
    "constant-prediction": "every prediction is one single value",
    "mostly-ignore-predicted": "most scored pixels were predicted as an ignore value",
    "few-resampled-units": "--ci resampled fewer than 10 images or groups",
    "images-not-shared": "compare --ci resampled only the images both reports scored",
    "iiou-without-interval": "--ci gives iIoU (miiou, iiou, category iIoU) no interval",
}


@dataclass(frozen=True)
class Notice:
    """One warning of a run.

    Examples
    --------
    >>> Notice("resized", "predictions resized to their ground truth's size: 2.").to_dict()
    {'code': 'resized', 'message': "predictions resized to their ground truth's size: 2."}
    """

    code: str
    message: str

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: Any) -> Notice:
        """Inverse of :meth:`to_dict` (a bare string, as older reports wrote, is kept)."""
        if isinstance(data, str):
            return cls("unknown", data)
        return cls(str(data["code"]), str(data["message"]))
