"""Options shared by every loss term, checked once when they are built.

Names follow the command line (``--class-weights``, ``--label-smoothing``,
``--gamma``, ``--alpha``, ``--smooth``, ``--loss-convention``,
``--ignore-index``, ``--lovasz-per-image``) so that the CLI maps options one to
one onto :class:`LossOptions`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from segeval.errors import UsageError

__all__ = ["TERMS", "Convention", "InputKind", "LossOptions", "parse_floats", "parse_terms"]

InputKind = Literal["logits", "probs"]
Convention = Literal["smp", "monai"]

#: The loss term names, stable for scripts (``segeval loss --loss NAME``).
TERMS: tuple[str, ...] = ("ce", "bce", "focal", "dice", "jaccard", "lovasz", "boundary")

#: Default smoothing of Dice and Jaccard per convention (smp ``smooth``; MONAI
#: ``smooth_nr`` = ``smooth_dr``).
DEFAULT_SMOOTH: dict[str, float] = {"smp": 0.0, "monai": 1e-5}


@dataclass(frozen=True)
class LossOptions:
    """Every choice that changes a loss or calibration value.

    Parameters
    ----------
    input : {"logits", "probs"}, default "logits"
        ``"logits"``: softmax over channels (sigmoid for one channel) is applied.
        ``"probs"``: the scores already are probabilities; each pixel's channels
        must sum to 1 within ``probs_atol`` (one channel: a value in [0, 1]).
    ignore_index : int or None, default None
        Target value whose pixels count in no term.
    class_weights : sequence of float or None
        Cross-entropy weight per class (PyTorch ``weight``).
    label_smoothing : float, default 0.0
        Cross-entropy label smoothing in [0, 1] (PyTorch ``label_smoothing``).
    pos_weight : float or None
        Binary cross-entropy weight of positive pixels (PyTorch ``pos_weight``).
    gamma : float, default 2.0
        Focal exponent.
    alpha : float, sequence of float or None
        Focal weighting. One channel: torchvision's ``alpha`` (None means its
        default 0.25; a negative value disables it). Several channels: one weight
        per class, or None for no weighting.
    convention : {"smp", "monai"}, default "smp"
        Dice and Jaccard reduction and smoothing (see ``docs/losses.md``).
    smooth : float or None
        Dice/Jaccard smoothing; None takes the convention's default (smp 0,
        MONAI 1e-5).
    eps : float, default 1e-7
        smp's clamp of the Dice/Jaccard denominator (unused by MONAI).
    lovasz_per_image : bool, default False
        Lovasz over the whole set as one batch (smp ``per_image=False``) or the
        mean of per-image values (``per_image=True``).
    lovasz_budget_bytes : int, default 2 GiB
        Memory the whole-set Lovasz may hold (8 bytes per pixel and class plus 2
        per pixel); beyond it :class:`~segeval.errors.LossMemoryError`.
    n_bins : int, default 15
        Equal-width confidence bins of the expected calibration error.
    probs_atol : float, default 1e-3
        Tolerance of the sum-to-one check for ``input="probs"``.
    block_bytes : int, default 8 MiB
        Size of one float64 row block of scores; peak memory is a small multiple.

    Examples
    --------
    >>> LossOptions(convention="monai").smooth_value
    1e-05
    >>> LossOptions(label_smoothing=2.0)
    Traceback (most recent call last):
    ...
    segeval.errors.UsageError: --label-smoothing: expected a value in [0, 1], got 2.0.
    """

    input: InputKind = "logits"
    ignore_index: int | None = None
    class_weights: tuple[float, ...] | None = None
    label_smoothing: float = 0.0
    pos_weight: float | None = None
    gamma: float = 2.0
    alpha: float | tuple[float, ...] | None = None
    convention: Convention = "smp"
    smooth: float | None = None
    eps: float = 1e-7
    lovasz_per_image: bool = False
    lovasz_budget_bytes: int = 2 * 1024**3
    n_bins: int = 15
    probs_atol: float = 1e-3
    block_bytes: int = 8 * 1024**2

    def __post_init__(self) -> None:
        if self.input not in ("logits", "probs"):
            raise UsageError(f"--input: expected 'logits' or 'probs', got {self.input!r}.")
        if self.convention not in ("smp", "monai"):
            raise UsageError(
                f"--loss-convention: expected 'smp' or 'monai', got {self.convention!r}."
            )
        if not 0.0 <= self.label_smoothing <= 1.0:
            raise UsageError(
                f"--label-smoothing: expected a value in [0, 1], got {self.label_smoothing}."
            )
        if not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise UsageError(f"--gamma: expected a finite value >= 0, got {self.gamma}.")
        if self.smooth is not None and not (math.isfinite(self.smooth) and self.smooth >= 0):
            raise UsageError(f"--smooth: expected a finite value >= 0, got {self.smooth}.")
        if self.n_bins < 1:
            raise UsageError(f"--bins: expected at least 1 bin, got {self.n_bins}.")
        if self.block_bytes < 1 or self.lovasz_budget_bytes < 0:
            raise UsageError("block_bytes must be positive and lovasz_budget_bytes >= 0.")
        if self.class_weights is not None:
            _check_weights("--class-weights", self.class_weights)
        if isinstance(self.alpha, Sequence):
            _check_weights("--alpha", self.alpha)

    @property
    def smooth_value(self) -> float:
        """The Dice/Jaccard smoothing in effect (explicit or the convention's default)."""
        return DEFAULT_SMOOTH[self.convention] if self.smooth is None else self.smooth


def _check_weights(option: str, weights: Sequence[float]) -> None:
    if not all(math.isfinite(w) and w >= 0 for w in weights):
        raise UsageError(f"{option}: expected finite weights >= 0, got {list(weights)}.")


def parse_terms(specs: Sequence[str]) -> dict[str, float]:
    """Loss terms and weights from ``NAME`` or ``NAME=WEIGHT`` strings (``--loss``).

    Examples
    --------
    >>> parse_terms(["ce", "dice=0.5", "boundary=1e-2"])
    {'ce': 1.0, 'dice': 0.5, 'boundary': 0.01}
    >>> parse_terms(["mse"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.UsageError: --loss 'mse': unknown term; expected NAME or NAME=WEIGHT with ...
    """
    terms: dict[str, float] = {}
    for spec in specs:
        name, _, weight_text = spec.partition("=")
        name = name.strip()
        if name not in TERMS:
            raise UsageError(
                f"--loss {spec!r}: unknown term; expected NAME or NAME=WEIGHT with NAME one of "
                f"{', '.join(TERMS)}."
            )
        if name in terms:
            raise UsageError(f"--loss {spec!r}: {name} is given twice; give each term once.")
        weight = 1.0
        if weight_text:
            weight = _float(weight_text, f"--loss {spec!r}")
            if not (math.isfinite(weight) and weight >= 0):
                raise UsageError(
                    f"--loss {spec!r}: expected a finite weight >= 0, got {weight_text}."
                )
        terms[name] = weight
    return terms


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    """Comma-separated numbers (``--class-weights 1,2.5,0.3``).

    Examples
    --------
    >>> parse_floats("1, 2.5,0.3", "--class-weights")
    (1.0, 2.5, 0.3)
    """
    return tuple(_float(part, f"{option} {text!r}") for part in text.split(","))


def _float(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{where}: {text.strip()!r} is not a number.") from None
