"""Exceptions raised by segeval.

Every error segeval raises on bad input is a :class:`SegevalError`. Its message
is one line that names the file (or option), says what was expected, what was
found and what to do. The command line prints that line and exits with code 2;
the library never prints or exits.

Errors cross process boundaries (workers of a parallel run raise them), so every
class pickles with its message and attributes intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ChannelCountError",
    "ClassCountError",
    "ClassDefinitionError",
    "IncomparableReportsError",
    "LabelRangeError",
    "LossMemoryError",
    "MaskReadError",
    "MissingDependencyError",
    "OutputError",
    "PairingError",
    "PredictedIgnoreError",
    "ScoreValueError",
    "SegevalError",
    "ShapeMismatchError",
    "ThresholdError",
    "UnsafeInputError",
    "UsageError",
    "format_bytes",
    "format_path_list",
]


class SegevalError(Exception):
    """Base class of every error segeval raises on bad input or bad options.

    Parameters
    ----------
    message : str
        One line: the file or option, what was expected, what was found, what to do.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the message and restore attributes, so subclasses with extra
        # fields survive pickling between worker processes.
        return (self.__class__, (self.message,), self.__dict__)

    def __str__(self) -> str:
        return self.message


class UsageError(SegevalError):
    """An option or combination of options that cannot work."""


class ClassDefinitionError(SegevalError):
    """A class names file, class definition file or preset that is malformed."""


class MaskReadError(SegevalError):
    """A mask file that cannot be read as a label mask."""


class PairingError(SegevalError):
    """Prediction and ground-truth folders that do not pair up."""


class ShapeMismatchError(SegevalError):
    """A prediction whose size differs from its ground truth."""


class ChannelCountError(ShapeMismatchError):
    """A score array whose channel count differs from the number of classes."""


class ScoreValueError(SegevalError):
    """A score array that cannot be logits or probabilities.

    Raised for non-finite values, integer or boolean arrays given as scores, and
    probabilities outside [0, 1] or whose channels do not sum to 1.
    """


class LabelRangeError(SegevalError):
    """A label value outside the classes being scored.

    Attributes
    ----------
    side : str
        ``"gt"`` or ``"pred"``.
    label : int
        The first offending raw value.
    pixel_count : int
        How many pixels carry that value.
    """

    side: str = ""
    label: int = -1
    pixel_count: int = 0


class LossMemoryError(UsageError):
    """A whole-set computation that would exceed its stated memory budget."""


class PredictedIgnoreError(LabelRangeError):
    """A prediction equal to an ignore value where the ground truth is a class.

    Raised only under ``pred_ignore="error"`` (``--convention torchmetrics``),
    whose tool cannot score such a pixel as segeval does.
    """


class ClassCountError(LabelRangeError):
    """Label values implying more classes than the limit (``--max-classes``)."""


class ThresholdError(SegevalError):
    """A quality-gate threshold that names an unknown metric or cannot be parsed."""


class CountOverflowError(SegevalError):
    """A count would exceed 2**64 - 1 and wrap around."""


class IncomparableReportsError(SegevalError):
    """Two reports that cannot be compared (different classes, ignore ids, ...)."""


class MissingDependencyError(SegevalError):
    """An optional dependency that a feature needs is not installed (names the extra)."""


class UnsafeInputError(SegevalError):
    """Input refused for safety: a hostile archive member, an escaping symlink, a bomb."""


class OutputError(SegevalError):
    """An output file that cannot be written (a full disk, a closed pipe); names the file."""


def format_bytes(size: int) -> str:
    """A byte count for messages, in the largest binary unit that keeps it above 1.

    Examples
    --------
    >>> format_bytes(512), format_bytes(3 << 20), format_bytes(int(1.5 * 2**30))
    ('512 bytes', '3.0 MiB', '1.5 GiB')
    """
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def format_path_list(paths: Sequence[object], limit: int = 10) -> str:
    """Join the first ``limit`` paths and say how many more there are.

    Parameters
    ----------
    paths : sequence of paths or URLs
        The offending paths, in a stable order.
    limit : int, default 10
        How many to name.

    Returns
    -------
    str
        ``"a, b, c"`` or ``"a, b, ... and 7 more"``.

    Examples
    --------
    >>> format_path_list(["a.png", "b.png", "c.png"], limit=2)
    'a.png, b.png and 1 more'
    """
    shown = ", ".join(str(path) for path in paths[:limit])
    hidden = len(paths) - limit
    return f"{shown} and {hidden} more" if hidden > 0 else shown
