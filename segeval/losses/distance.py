"""Signed distance maps for the boundary loss.

One small function over scipy's exact Euclidean distance transform (float64).
OpenCV's precise transform was measured as a faster replacement and not taken:
it is float32, so beyond 2048 pixels it cannot give back the squared distance,
and with one OpenCV thread its distances are up to 9 ulps off (the loss moved by
4.2e-10 on a Cityscapes-sized map); see docs/losses.md, "Boundary loss".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from segeval.errors import UsageError

__all__ = ["signed_distance"]


def signed_distance(mask: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Kervadec et al.'s signed distance map of one binary mask.

    ``phi = EDT(~M) * ~M - (EDT(M) - 1) * M``: the Euclidean distance to the
    mask outside it, 0 on its inner boundary and negative deeper inside, as
    ``one_hot2dist`` in LIVIAETS/boundary-loss computes it with scipy.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
        The pixels of one class.

    Returns
    -------
    ndarray of float64, shape (H, W)
        ``phi``. All zeros when the mask is empty (the reference's rule for an
        absent class) and when it fills the image (no boundary; the reference's
        distance transform is undefined there).

    Notes
    -----
    scipy is imported here, not at module import, so that ``import segeval``
    stays light; it is needed only for the boundary loss.

    Examples
    --------
    >>> signed_distance(np.array([[0, 0, 0, 0, 1, 1, 1]], dtype=bool))
    array([[ 4.,  3.,  2.,  1.,  0., -1., -2.]])
    """
    # Lazy: scipy is heavy and only the boundary loss needs it.
    try:
        from scipy.ndimage import distance_transform_edt
    except ImportError as err:
        raise UsageError(
            "the boundary loss needs scipy (its exact Euclidean distance transform); "
            "install it with: pip install 'segeval-masks[losses]'."
        ) from err

    positive = np.asarray(mask, dtype=bool)
    if not positive.any() or positive.all():
        return np.zeros(positive.shape, dtype=np.float64)
    negative = ~positive
    outside = np.asarray(distance_transform_edt(negative), dtype=np.float64)
    # Inside distances only need the mask's bounding box grown by one pixel: for a
    # pixel inside, every background pixel beyond that ring has a closer one on it.
    box = tuple(
        slice(max(int(hits.min()) - 1, 0), int(hits.max()) + 2)
        for hits in (np.flatnonzero(positive.any(axis=1 - axis)) for axis in (0, 1))
    )
    inside = np.zeros(positive.shape, dtype=np.float64)
    inside[box] = distance_transform_edt(positive[box])
    phi: npt.NDArray[np.float64] = outside * negative - (inside - 1.0) * positive
    return phi
