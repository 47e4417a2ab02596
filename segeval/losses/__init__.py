"""Training losses and calibration, computed exactly on stored scores.

Public API:

* one function per loss term: :func:`ce`, :func:`bce`, :func:`focal`,
  :func:`dice`, :func:`jaccard`, :func:`lovasz`, :func:`boundary`; and the
  calibration metrics :func:`expected_calibration_error`, :func:`brier_score`.
  Each takes scores ``(N, C, H, W)`` or ``(C, H, W)`` (``(H, W)`` or one
  channel: binary) and integer targets ``(N, H, W)`` / ``(H, W)``, computes in
  float64 and returns the value the reference implementation gives with its
  default mean reduction;
* :class:`LossAccumulator`, which a loop or the command line feeds image by
  image (memory-mapped arrays are read in row blocks) and which reports every
  term over the whole set, per image, and their weighted total;
* :class:`LossOptions`, the options shared by all terms, and :data:`TERMS`.

Conventions and formulas: ``docs/losses.md``. Term names are the command
line's (``segeval loss --loss NAME``).
"""

from __future__ import annotations

from segeval.errors import ChannelCountError, LossMemoryError, ScoreValueError
from segeval.loss_report import CalibrationResult, ImageLosses, LossReport
from segeval.losses.accumulator import LossAccumulator
from segeval.losses.calibration import CalibrationHistogram
from segeval.losses.distance import signed_distance
from segeval.losses.functional import (
    bce,
    boundary,
    brier_score,
    ce,
    dice,
    expected_calibration_error,
    focal,
    jaccard,
    lovasz,
)
from segeval.losses.options import TERMS, Convention, InputKind, LossOptions

__all__ = [
    "TERMS",
    "CalibrationHistogram",
    "CalibrationResult",
    "ChannelCountError",
    "Convention",
    "ImageLosses",
    "InputKind",
    "LossAccumulator",
    "LossMemoryError",
    "LossOptions",
    "LossReport",
    "ScoreValueError",
    "bce",
    "boundary",
    "brier_score",
    "ce",
    "dice",
    "expected_calibration_error",
    "focal",
    "jaccard",
    "lovasz",
    "signed_distance",
]
