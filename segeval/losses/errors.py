"""Errors specific to loss and calibration input.

They subclass the classes in :mod:`segeval.errors`, so the command line's single
``except SegevalError`` handler already turns them into a one-line message and
exit code 2. They live here only while ``segeval/errors.py`` is being refactored;
moving them there later changes no import for callers of :mod:`segeval.losses`.
"""

from __future__ import annotations

from segeval.errors import SegevalError, ShapeMismatchError, UsageError

__all__ = ["ChannelCountError", "LossMemoryError", "ScoreValueError"]


class ScoreValueError(SegevalError):
    """A score array that cannot be logits or probabilities.

    Raised for non-finite values, integer or boolean arrays given as scores, and
    probabilities outside [0, 1] or whose channels do not sum to 1.
    """


class ChannelCountError(ShapeMismatchError):
    """A score array whose channel count differs from the number of classes."""


class LossMemoryError(UsageError):
    """A whole-set computation that would exceed its stated memory budget."""
