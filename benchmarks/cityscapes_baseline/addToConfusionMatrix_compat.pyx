# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Drop-in build of ``cityscapesscripts.evaluation.addToConfusionMatrix``.

cityscapesScripts' evaluator imports this optional C extension and, when it
loads, calls ``cEvaluatePair(prediction, groundTruth, confMatrix, evalLabels)``
once per image instead of its pure-Python ``np.unique`` path (``CSUPPORT``).
No cityscapesscripts release on PyPI (wheel or sdist) ships the extension's
source, so ``setup.sh`` compiles this file when no official source is given.

Contract kept from the evaluator's side: 8-bit labelId images of equal size,
``confMatrix`` is the evaluator's C-contiguous 34x34 ``np.ulonglong`` matrix
(rows = ground truth, columns = prediction), every pixel adds 1 to
``confMatrix[gt, pred]`` in place, and a copy of the matrix is returned (the
evaluator rebinds a local name to it). ``evalLabels`` is unused. The only
difference: a value outside the matrix raises ValueError instead of writing
out of bounds.
"""

import numpy as np

BUILD_KIND = "compat"


def cEvaluatePair(predictionArr, groundTruthArr, confMatrix, evalLabels):
    pred_a = np.ascontiguousarray(predictionArr, dtype=np.uint8)
    gt_a = np.ascontiguousarray(groundTruthArr, dtype=np.uint8)
    if pred_a.shape != gt_a.shape:
        raise ValueError(f"shape mismatch: prediction {pred_a.shape}, ground truth {gt_a.shape}")
    cdef const unsigned char[::1] pred = pred_a.reshape(-1)
    cdef const unsigned char[::1] gt = gt_a.reshape(-1)
    cdef unsigned long long[:, ::1] matrix = confMatrix
    cdef Py_ssize_t dim = matrix.shape[0]
    cdef Py_ssize_t n = gt.shape[0]
    cdef Py_ssize_t i
    cdef Py_ssize_t bad = -1
    cdef unsigned char g, p
    cdef unsigned long long* cells = &matrix[0, 0]
    if matrix.shape[1] != dim:
        raise ValueError("confusion matrix is not square")
    with nogil:
        for i in range(n):
            g = gt[i]
            p = pred[i]
            if g >= dim or p >= dim:
                bad = i
                break
            cells[g * dim + p] += 1
    if bad >= 0:
        raise ValueError(
            f"label value outside the {dim}x{dim} confusion matrix at flat index {bad}: "
            f"ground truth {gt[bad]}, prediction {pred[bad]}"
        )
    return np.copy(confMatrix)
