"""The Lovasz extension of the Jaccard loss on sorted errors (Berman et al. 2018).

Pure functions on flat arrays; the accumulator decides which errors go in (one
image, or the whole set as smp's ``per_image=False`` does).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["lovasz_from_errors", "lovasz_grad"]


def lovasz_grad(fg_sorted: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Gradient of the Lovasz extension for ground truth sorted by decreasing error.

    Parameters
    ----------
    fg_sorted : ndarray of float64, shape (P,)
        1 where the pixel belongs to the class, 0 elsewhere, in error order.

    Returns
    -------
    ndarray of float64, shape (P,)
        ``J[i] - J[i-1]`` with ``J[i] = 1 - (G - cumsum(fg)[i]) / (G + cumsum(1 - fg)[i])``.

    Examples
    --------
    >>> lovasz_grad(np.array([1.0, 0.0, 1.0]))
    array([0.5       , 0.16666667, 0.33333333])
    """
    total = fg_sorted.sum()
    intersection = total - np.cumsum(fg_sorted)
    union = total + np.cumsum(1.0 - fg_sorted)
    jaccard: npt.NDArray[np.float64] = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def lovasz_from_errors(
    errors: npt.NDArray[np.float64], fg: npt.NDArray[np.float64], *, hinge: bool = False
) -> float:
    """Lovasz loss of one class: ``dot(sorted errors, lovasz_grad(sorted fg))``.

    Parameters
    ----------
    errors : ndarray of float64, shape (P,)
        ``|fg - p|`` (softmax form) or ``1 - logit * (2 fg - 1)`` (hinge form).
    fg : ndarray of float64, shape (P,)
        Ground truth of the class, 0 or 1.
    hinge : bool, default False
        Apply ``max(0, .)`` to the sorted errors (smp's binary Lovasz hinge).

    Returns
    -------
    float

    Notes
    -----
    Instead of an argsort of all errors (what smp does with ``torch.sort``), the
    foreground and background errors are sorted apart, as plain values, and
    merged: a foreground error goes after every larger background error. Value
    sorts are several times faster than an argsort, and the Lovasz extension
    does not depend on how ties are ordered.

    Examples
    --------
    >>> round(lovasz_from_errors(np.array([0.2, 0.9, 0.1]), np.array([1.0, 0.0, 1.0])), 6)
    0.4
    """
    is_fg = fg > 0
    fg_desc = np.sort(errors[is_fg])[::-1]
    bg_asc = np.sort(errors[~is_fg])
    larger_bg = bg_asc.shape[0] - np.searchsorted(bg_asc, fg_desc, side="right")
    fg_positions = np.arange(fg_desc.shape[0]) + larger_bg
    fg_sorted = np.zeros(errors.shape[0])
    fg_sorted[fg_positions] = 1.0
    errors_sorted = np.empty(errors.shape[0])
    errors_sorted[fg_positions] = fg_desc
    errors_sorted[fg_sorted == 0.0] = bg_asc[::-1]
    if hinge:
        errors_sorted = np.maximum(errors_sorted, 0.0)
    return float(np.dot(errors_sorted, lovasz_grad(fg_sorted)))
