"""The one check of label arrays handed to the library: what training code has.

:func:`label_batch` accepts numpy arrays of any integer or bool dtype, nested
lists, and tensors of torch, JAX or CuPy through the array protocols
(``__array__`` or DLPack) without importing any of them, and returns a batch of
2-D integer label maps. Everything that would be silently mis-read (floats,
probabilities, complex or object arrays, NaN) is refused with a message saying
what to do, in the manner of scikit-learn's ``_check_targets``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segeval.errors import UsageError

__all__ = ["label_batch"]


def _on_gpu(value: Any) -> bool:
    if hasattr(value, "__cuda_array_interface__"):
        return True  # CuPy, Numba, torch CUDA tensors
    device = getattr(value, "device", None)
    kind = getattr(device, "type", None)  # torch.device
    if isinstance(kind, str):
        return kind not in ("cpu", "meta")
    platform = getattr(device, "platform", None)  # jax.Device
    return isinstance(platform, str) and platform != "cpu"


def _to_numpy(value: Any, role: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if _on_gpu(value):
        raise UsageError(
            f"{role}: the array lives on a GPU; move it to the host first "
            "(tensor.cpu(), or cupy.asnumpy(array))."
        )
    if hasattr(value, "__array__") or isinstance(value, list | tuple):
        try:
            return np.asarray(value)
        except (TypeError, ValueError, RuntimeError) as err:
            if not hasattr(value, "__dlpack__"):
                raise UsageError(f"{role}: cannot read it as an array ({err}).") from err
    if hasattr(value, "__dlpack__"):
        try:
            return np.from_dlpack(value)
        except (TypeError, ValueError, RuntimeError, BufferError) as err:
            raise UsageError(f"{role}: cannot read it through DLPack ({err}).") from err
    raise UsageError(
        f"{role}: expected an array of class ids (numpy, a nested list, or a tensor), "
        f"got {type(value).__name__}."
    )


def label_batch(value: Any, role: str) -> np.ndarray:
    """Check an array of class ids and return it as ``(N, H, W)`` integers.

    Parameters
    ----------
    value : array-like
        ``(H, W)`` (one image) or ``(N, H, W)`` (N images) of integer or bool
        labels: a numpy array, a nested list, or any tensor exposing
        ``__array__`` or ``__dlpack__`` (torch, JAX, CuPy on the host).
    role : str
        ``"pred"`` or ``"target"``, named in error messages.

    Returns
    -------
    numpy.ndarray
        3-D, the same integer dtype (bool becomes uint8); no copy when possible.

    Raises
    ------
    UsageError
        A float, complex or object array (probabilities, scores), a GPU
        tensor, or a shape other than 2-D or 3-D.

    Examples
    --------
    >>> label_batch([[0, 1], [1, 1]], "target").shape
    (1, 2, 2)
    >>> label_batch(np.array([[0.9, 0.1]]), "pred")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.UsageError: pred: expected integer class ids, got float64 values; ...
    """
    array = _to_numpy(value, role)
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    elif not np.issubdtype(array.dtype, np.integer):
        raise UsageError(
            f"{role}: expected integer class ids, got {array.dtype} values; take the argmax "
            "over the class axis (scores or probabilities), or cast with "
            ".astype(numpy.int64) if they are whole numbers."
        )
    if array.ndim == 2:
        return array[np.newaxis]
    if array.ndim == 3:
        return array
    raise UsageError(
        f"{role}: expected a (H, W) mask or an (N, H, W) batch of masks, got shape "
        f"{array.shape}; for scores of shape (N, C, H, W) take the argmax over axis 1."
    )
