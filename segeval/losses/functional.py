"""One function per loss term and calibration metric, on in-memory arrays.

Every function runs the same code as :class:`LossAccumulator` (one path, one
set of numbers) and returns the whole-set value: the reference implementation's
result for the whole input given as one batch with its default mean reduction.

Shapes: scores ``(N, C, H, W)`` with targets ``(N, H, W)``, or one image
``(C, H, W)`` with ``(H, W)``; a single channel (``(N, 1, H, W)``,
``(1, H, W)`` or ``(H, W)``) is binary, with targets 0/1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from segeval.loss_report import CalibrationResult
from segeval.losses.accumulator import LossAccumulator
from segeval.losses.options import Convention, InputKind, LossOptions

__all__ = [
    "bce",
    "boundary",
    "brier_score",
    "ce",
    "dice",
    "expected_calibration_error",
    "focal",
    "jaccard",
    "lovasz",
]


def _run(term: str, scores: npt.ArrayLike, target: npt.ArrayLike, options: LossOptions) -> float:
    accumulator = LossAccumulator([term], options=options)
    accumulator.update(np.asarray(scores), np.asarray(target))
    return accumulator.result().values[term]


def _tuple(values: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


def ce(
    scores: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    input: InputKind = "logits",
    class_weights: Sequence[float] | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
) -> float:
    r"""Cross-entropy as PyTorch's ``F.cross_entropy`` with mean reduction.

    .. math::
        \mathrm{CE} = \frac{\sum_i w_{y_i}\,[(1-\varepsilon)(-\log p_{i,y_i})
        + \frac{\varepsilon}{C}\sum_c w_c (-\log p_{i,c}) / w_{y_i}]}{\sum_i w_{y_i}}

    over non-ignored pixels ``i``, ``p = softmax(scores)``; NaN when every pixel
    is ignored.

    Parameters
    ----------
    scores : array_like, shape (N, C, H, W) or (C, H, W), C >= 2
    target : array_like of int, shape (N, H, W) or (H, W)
    input : {"logits", "probs"}, default "logits"
    class_weights : sequence of float or None
        ``w``; None means all 1.
    label_smoothing : float, default 0.0
        ``epsilon``.
    ignore_index : int or None

    Returns
    -------
    float

    Examples
    --------
    >>> scores = np.log(np.array([[[0.5]], [[0.25]], [[0.25]]]))
    >>> round(ce(scores, np.array([[0]])), 6)  # -log 0.5
    0.693147
    """
    options = LossOptions(
        input=input,
        class_weights=_tuple(class_weights),
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
    )
    return _run("ce", scores, target, options)


def bce(
    scores: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    input: InputKind = "logits",
    pos_weight: float | None = None,
    ignore_index: int | None = None,
) -> float:
    r"""Binary cross-entropy as PyTorch's ``binary_cross_entropy_with_logits``, mean reduction.

    .. math::
        -\frac{1}{P}\sum_i \left[\,w_+\, y_i \log\sigma(x_i) + (1-y_i)\log\sigma(-x_i)\right]

    computed with log-sigmoid. With ``input="probs"`` the logs are clamped at
    -100 as PyTorch's ``binary_cross_entropy`` does. Ignored pixels are left out
    (PyTorch has no ignore index: the value equals PyTorch's on the kept pixels).

    Examples
    --------
    >>> round(bce(np.array([[0.0, 0.0]]), np.array([[1, 0]])), 6)  # log 2
    0.693147
    """
    options = LossOptions(input=input, pos_weight=pos_weight, ignore_index=ignore_index)
    return _run("bce", scores, target, options)


def focal(
    scores: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    input: InputKind = "logits",
    gamma: float = 2.0,
    alpha: float | Sequence[float] | None = None,
    ignore_index: int | None = None,
) -> float:
    r"""Focal loss (Lin et al. 2017), mean over non-ignored pixels.

    Several channels (softmax form):
    :math:`-\alpha_{y}\,(1-p_{y})^{\gamma}\log p_{y}` with ``alpha`` one weight
    per class (None: no weighting). One channel: exactly torchvision's
    ``sigmoid_focal_loss(reduction="mean")``,
    :math:`\alpha_t (1-p_t)^\gamma \,\mathrm{BCE}(x, y)` with
    ``alpha_t = alpha y + (1 - alpha)(1 - y)``, alpha 0.25 when None, no
    weighting when negative.

    Examples
    --------
    >>> round(focal(np.zeros((2, 1, 1)), np.array([[1]]), gamma=0.0), 6)  # gamma 0: CE
    0.693147
    >>> round(focal(np.zeros((2, 1, 1)), np.array([[1]])), 6)  # (1 - 1/2)^2 log 2
    0.173287
    """
    alpha_option: float | tuple[float, ...] | None
    if alpha is None or isinstance(alpha, float | int):
        alpha_option = None if alpha is None else float(alpha)
    else:
        alpha_option = _tuple(alpha)
    options = LossOptions(input=input, gamma=gamma, alpha=alpha_option, ignore_index=ignore_index)
    return _run("focal", scores, target, options)


def dice(
    scores: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    input: InputKind = "logits",
    convention: Convention = "smp",
    smooth: float | None = None,
    eps: float = 1e-7,
    ignore_index: int | None = None,
) -> float:
    r"""Soft Dice loss as segmentation-models-pytorch or MONAI compute it.

    With ``I_c = sum p t``, ``P_c = sum p``, ``T_c = sum t``:

    * ``"smp"`` (``DiceLoss(mode, smooth=0, eps=1e-7)``): sums over all images
      and pixels per class, ``1 - (2 I + 2 s) / max(P + T + 2 s, 2 eps)``...
      precisely ``1 - (I + s) / max((P + T) / 2 + s, eps)``; classes absent from
      the ground truth get 0 and stay in the mean over classes.
    * ``"monai"`` (``DiceLoss(softmax=True, to_onehot_y=True)``; ``sigmoid=True``
      for one channel; ``smooth_nr = smooth_dr = 1e-5``): per image and class
      ``1 - (2 I + s) / (P + T + s)``, then the mean over images and classes.

    Ignored pixels are dropped from all three sums (smp's ``ignore_index`` and
    MONAI >= 1.6's ``ignore_index`` both mask them).

    Examples
    --------
    >>> probs = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    >>> dice(probs, np.array([[0, 1]]), input="probs")
    0.0
    """
    options = LossOptions(
        input=input, convention=convention, smooth=smooth, eps=eps, ignore_index=ignore_index
    )
    return _run("dice", scores, target, options)


def jaccard(
    scores: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    input: InputKind = "logits",
    convention: Convention = "smp",
    smooth: float | None = None,
    eps: float = 1e-7,
    ignore_index: int | None = None,
) -> float:
    r"""Soft Jaccard (IoU) loss as segmentation-models-pytorch or MONAI compute it.

    * ``"smp"`` (``JaccardLoss``): ``1 - (I + s) / max(P + T - I + s, eps)`` on
      whole-set sums per class, absent classes 0, mean over classes.
    * ``"monai"`` (``DiceLoss(jaccard=True)``): per image and class
      ``1 - (2 I + s) / (2 (P + T - I) + s)``, mean over images and classes.

    Examples
    --------
    >>> probs = np.array([[[0.5, 0.5]], [[0.5, 0.5]]])
    >>> round(jaccard(probs, np.array([[0, 1]]), input="probs"), 6)
    0.666667
    """
    options = LossOptions(
        input=input, convention=convention, smooth=smooth, eps=eps, ignore_index=ignore_index
    )
    return _run("jaccard", scores, target, options)


def lovasz(
    scores: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    input: InputKind = "logits",
    per_image: bool = False,
    ignore_index: int | None = None,
    budget_bytes: int = 2 * 1024**3,
) -> float:
    r"""Lovasz-softmax loss as segmentation-models-pytorch's ``LovaszLoss``.

    Several channels (``mode="multiclass"``): for each class present in the
    ground truth, errors ``|fg - p_c|`` sorted in decreasing order, dotted with
    the gradient of the Lovasz extension of the Jaccard loss; mean over present
    classes. One channel (``mode="binary"``): the Lovasz hinge on the logits,
    errors ``1 - x (2 y - 1)``, ``max(0, .)`` after sorting.
    ``per_image=False`` sorts the whole input at once (memory: 8 bytes per pixel
    and class plus 2 per pixel, refused beyond ``budget_bytes``);
    ``per_image=True`` is the mean of per-image values. Ignored pixels are
    dropped before sorting; all pixels ignored gives NaN.

    Examples
    --------
    >>> probs = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    >>> lovasz(probs, np.array([[0, 1]]), input="probs")
    0.0
    """
    options = LossOptions(
        input=input,
        lovasz_per_image=per_image,
        ignore_index=ignore_index,
        lovasz_budget_bytes=budget_bytes,
    )
    return _run("lovasz", scores, target, options)


def boundary(
    scores: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    input: InputKind = "logits",
    ignore_index: int | None = None,
) -> float:
    r"""Boundary loss (Kervadec et al. 2019): mean of ``p_c * phi_c``.

    ``phi_c`` is :func:`signed_distance` of class c's ground-truth mask (0 for a
    class absent from the image); the mean runs over images, classes and
    non-ignored pixels. Ignored pixels belong to no class when the distance maps
    are built. One channel: the foreground mask and its sigmoid probability.

    Examples
    --------
    >>> probs = np.array([[[1.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]])
    >>> boundary(probs, np.array([[0, 0, 1]]), input="probs")
    -0.16666666666666666
    """
    options = LossOptions(input=input, ignore_index=ignore_index)
    return _run("boundary", scores, target, options)


def expected_calibration_error(
    scores: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    input: InputKind = "probs",
    n_bins: int = 15,
    ignore_index: int | None = None,
) -> float:
    """Top-label expected calibration error over non-ignored pixels.

    See :mod:`segeval.losses.calibration` for the definition.

    Examples
    --------
    >>> probs = np.array([[[0.9, 0.4]], [[0.1, 0.6]]])
    >>> round(expected_calibration_error(probs, np.array([[0, 0]]), n_bins=2), 6)
    0.25
    """
    return _calibration(scores, target, input, n_bins, ignore_index).ece


def brier_score(
    scores: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    input: InputKind = "probs",
    ignore_index: int | None = None,
) -> float:
    """Brier score: mean over pixels of ``sum_c (p_c - onehot_c)^2``; binary: ``(p - y)^2``.

    Examples
    --------
    >>> probs = np.array([[[0.9, 0.4]], [[0.1, 0.6]]])
    >>> round(brier_score(probs, np.array([[0, 0]])), 6)
    0.37
    """
    return _calibration(scores, target, input, 15, ignore_index).brier


def _calibration(
    scores: npt.ArrayLike,
    target: npt.ArrayLike,
    input: InputKind,
    n_bins: int,
    ignore_index: int | None,
) -> CalibrationResult:
    options = LossOptions(input=input, n_bins=n_bins, ignore_index=ignore_index)
    accumulator = LossAccumulator([], options=options, calibration=True)
    accumulator.update(np.asarray(scores), np.asarray(target))
    calibration = accumulator.result().calibration
    assert calibration is not None  # calibration=True always yields one
    return calibration
