"""The Python API takes what training and notebook code has, and refuses what it would mis-read."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import segeval
from segeval.core.confusion import ConfusionMatrix
from segeval.errors import CountOverflowError, ShapeMismatchError, UsageError

TARGET = np.array([[0, 0, 1], [1, 2, 2]])
PRED = np.array([[0, 1, 1], [1, 2, 0]])
EXPECTED = [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


class ArrayProtocol:
    """A host tensor exposing only ``__array__`` (as torch and JAX CPU tensors do)."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._values if dtype is None else self._values.astype(dtype)


class DLPackOnly:
    """A tensor exposing only DLPack."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = np.ascontiguousarray(values)

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self._values.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._values.__dlpack_device__()


class CudaTensor:
    """What a CUDA tensor looks like to segeval (never converted)."""

    class device:
        type = "cuda"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise AssertionError("a GPU tensor must not be read")


@pytest.mark.parametrize(
    ("pred", "target"),
    [
        pytest.param(PRED.tolist(), TARGET.tolist(), id="nested-lists"),
        pytest.param(PRED.astype(np.int64), TARGET.astype(np.int64), id="int64"),
        pytest.param(PRED.astype(np.uint16), TARGET.astype(np.uint16), id="uint16"),
        pytest.param(PRED.astype(np.int8), TARGET.astype(np.uint8), id="int8-and-uint8"),
        pytest.param(ArrayProtocol(PRED), ArrayProtocol(TARGET), id="__array__"),
        pytest.param(DLPackOnly(PRED), DLPackOnly(TARGET), id="__dlpack__"),
    ],
)
def test_every_integer_form_counts_the_same(pred: Any, target: Any) -> None:
    cm = ConfusionMatrix(3, ignore_index=255)
    cm.update(pred, target)
    assert cm.counts.tolist() == EXPECTED
    assert cm.num_images == 1


def test_bool_masks_are_binary_labels() -> None:
    cm = ConfusionMatrix(2)
    cm.update(np.array([[True, False]]), np.array([[True, True]]))
    assert cm.counts.tolist() == [[0, 0], [1, 1]]


def test_a_batch_is_n_images() -> None:
    batch = ConfusionMatrix(3)
    batch.update(np.stack([PRED, PRED]), np.stack([TARGET, TARGET]))
    assert batch.num_images == 2
    assert batch.counts.tolist() == (2 * np.array(EXPECTED)).tolist()


def test_a_refused_batch_adds_nothing() -> None:
    cm = ConfusionMatrix(3)
    bad = np.stack([PRED, np.full_like(PRED, 7)])
    with pytest.raises(segeval.SegevalError, match="label 7"):
        cm.update(bad, np.stack([TARGET, TARGET]))
    assert cm.num_images == 0
    assert int(cm.counts.sum()) == 0


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(np.array([[0.9, 1.999]]), id="float-truncation"),
        pytest.param(np.full((2, 2), 0.3), id="probabilities"),
        pytest.param(np.array([[np.nan, 1.0]]), id="nan"),
        pytest.param(np.array([[1 + 0j, 0j]]), id="complex"),
        pytest.param(np.array([[1, "a"]], dtype=object), id="object"),
    ],
)
def test_non_integer_predictions_are_refused_with_what_to_do(values: np.ndarray) -> None:
    with pytest.raises(UsageError, match=r"pred: expected integer class ids.*argmax"):
        ConfusionMatrix(2).update(values, np.zeros(values.shape, np.uint8))


def test_a_gpu_tensor_says_call_cpu() -> None:
    with pytest.raises(UsageError, match=r"tensor\.cpu\(\)"):
        ConfusionMatrix(2).update(CudaTensor(), np.zeros((1, 1), np.uint8))


def test_scores_with_a_class_axis_are_refused() -> None:
    with pytest.raises(UsageError, match="argmax over axis 1"):
        ConfusionMatrix(2).update(np.zeros((1, 2, 3, 3), np.int64), np.zeros((1, 3, 3), np.uint8))


def test_batch_shapes_must_match() -> None:
    with pytest.raises(ShapeMismatchError):
        ConfusionMatrix(2).update(np.zeros((2, 3, 3), np.uint8), np.zeros((1, 3, 3), np.uint8))


def test_counts_never_wrap_around() -> None:
    near_full = np.array([[np.iinfo(np.uint64).max - 1]], dtype=np.uint64)
    full = ConfusionMatrix.from_counts(near_full, ignore_index=())
    with pytest.raises(CountOverflowError, match="wrap around"):
        full += full
    with pytest.raises(CountOverflowError):
        full.update(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    assert full.counts.tolist() == near_full.tolist()  # nothing was added


def test_reset_repr_sum_and_to_dict() -> None:
    parts = [ConfusionMatrix(3) for _ in range(3)]
    for part in parts:
        part.update(PRED, TARGET)
    total = sum(parts)
    assert isinstance(total, ConfusionMatrix)
    assert total.counts.tolist() == (3 * np.array(EXPECTED)).tolist()
    assert repr(total) == ("ConfusionMatrix(3 classes, 3 images, 18 scored pixels, ignore [255])")
    document = total.metrics().to_dict()
    assert document["per_class"]["iou"] == [1 / 3, 2 / 3, 0.5]
    assert document["per_class"]["tp"] == [3, 6, 3]
    assert document["summary"]["miou"] == pytest.approx((1 / 3 + 2 / 3 + 0.5) / 3)
    total.reset()
    assert total.num_images == 0
    assert int(total.counts.sum()) == 0
