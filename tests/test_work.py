"""The unit of work: the chunk-summed and the pair-by-pair paths give the same results."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segeval.run.work
from segeval.core.confusion import ConfusionMatrix
from segeval.errors import LabelRangeError, MaskReadError
from segeval.run.work import ImageTask, PairReader, TaskResult, Work, count_tasks
from tests.helpers import save_mask

CLASSES = 5


def _write_pairs(root: Path, count: int, seed: int = 0) -> list[ImageTask]:
    rng = np.random.default_rng(seed)
    tasks = []
    for index in range(count):
        coarse = rng.integers(0, CLASSES, size=(6, 9))
        gt = np.repeat(np.repeat(coarse, 5, 0), 7, 1).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.05] = 255
        pred = np.where(rng.random(gt.shape) < 0.8, gt, rng.integers(0, CLASSES, gt.shape))
        pred[pred == 255] = 0
        gt_path = save_mask(root / "gt" / f"{index:02d}.png", gt)
        if index % 4 == 3:  # some pairs are not uint8 PNGs: counted pair by pair
            pred_path = save_mask(root / "pred" / f"{index:02d}.npy", pred.astype(np.int64))
        else:
            pred_path = save_mask(root / "pred" / f"{index:02d}.png", pred)
        tasks.append(ImageTask(f"{index:02d}", gt_path, ((0, pred_path),)))
    return tasks


@pytest.fixture(scope="module")
def pair_tasks(tmp_path_factory: pytest.TempPathFactory) -> list[ImageTask]:
    return _write_pairs(tmp_path_factory.mktemp("pairs"), 9)


def _work(per_image: bool = False, record_errors: bool = False) -> Work:
    return Work(PairReader(), ConfusionMatrix(CLASSES), per_image, record_errors)


@pytest.fixture(autouse=True, scope="module")
def _sum_any_class_count() -> Iterator[None]:
    """Five classes are summed too (score sums only many classes), so the tests reach it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segeval.run.work, "SUMMED_MIN_CODES", 0)
        yield


def _same(left: ConfusionMatrix, right: ConfusionMatrix) -> None:
    np.testing.assert_array_equal(left.counts, right.counts)
    np.testing.assert_array_equal(left.missed, right.missed)
    assert left.ignored_pixels == right.ignored_pixels
    assert left.num_images == right.num_images


def _merged(results: list[TaskResult], index: int = 0) -> ConfusionMatrix:
    total = ConfusionMatrix(CLASSES)
    for result in results:
        total += result.counts[index]
    return total


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 9), st.randoms(use_true_random=False))
def test_summed_chunks_equal_pair_by_pair_for_any_chunking_and_order(
    pair_tasks: list[ImageTask], size: int, shuffle: random.Random
) -> None:
    tasks = list(pair_tasks)
    shuffle.shuffle(tasks)
    chunks = [tasks[start : start + size] for start in range(0, len(tasks), size)]
    summed = [count_tasks(_work(), chunk) for chunk in chunks]
    shuffle.shuffle(summed)
    one_by_one = count_tasks(_work(per_image=True), pair_tasks)
    _same(_merged(summed), one_by_one.counts[0])
    assert sum(result.pairs for result in summed) == len(pair_tasks)


def test_missing_predictions_join_the_summed_ones(pair_tasks: list[ImageTask]) -> None:
    tasks = [*pair_tasks[:3], ImageTask("gone", pair_tasks[0].gt_path, ((0, None),))]
    _same(count_tasks(_work(), tasks).counts[0], count_tasks(_work(True), tasks).counts[0])


def _with_bad_prediction(root: Path, tasks: list[ImageTask], at: int) -> list[ImageTask]:
    bad = save_mask(root / "bad" / "bad.png", np.full((30, 63), 9, np.uint8))
    changed = list(tasks)
    changed[at] = ImageTask(tasks[at].key, tasks[at].gt_path, ((0, bad),))
    return changed


def test_an_invalid_value_in_a_summed_chunk_names_its_file(
    tmp_path: Path, pair_tasks: list[ImageTask]
) -> None:
    tasks = _with_bad_prediction(tmp_path, pair_tasks[:6], at=2)
    with pytest.raises(LabelRangeError) as summed:
        count_tasks(_work(), tasks)
    with pytest.raises(LabelRangeError) as one_by_one:
        count_tasks(_work(per_image=True), tasks)
    assert str(summed.value) == str(one_by_one.value)
    assert str(summed.value).startswith(f"{tmp_path / 'bad' / 'bad.png'}: prediction label 9")


def test_the_first_error_in_order_is_raised(tmp_path: Path, pair_tasks: list[ImageTask]) -> None:
    unreadable = tmp_path / "broken.png"
    unreadable.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    tasks = _with_bad_prediction(tmp_path, pair_tasks[:6], at=1)
    tasks[4] = ImageTask(tasks[4].key, tasks[4].gt_path, ((0, unreadable),))
    with pytest.raises(LabelRangeError, match=r"bad\.png"):
        count_tasks(_work(), tasks)  # the invalid value (pair 1) before the broken file (4)
    tasks[1] = pair_tasks[1]
    with pytest.raises(MaskReadError, match=r"broken\.png"):
        count_tasks(_work(), tasks)


def test_batch_leaves_out_exactly_the_refused_pairs(
    tmp_path: Path, pair_tasks: list[ImageTask]
) -> None:
    bad = save_mask(tmp_path / "bad.png", np.full((30, 63), 9, np.uint8))
    tasks = [
        ImageTask(
            task.key,
            task.gt_path,
            ((0, task.predictions[0][1]), (1, bad if i == 2 else task.predictions[0][1])),
        )
        for i, task in enumerate(pair_tasks)
    ]
    summed = count_tasks(_work(record_errors=True), tasks)
    one_by_one = count_tasks(_work(per_image=True, record_errors=True), tasks)
    for index in (0, 1):
        _same(summed.counts[index], one_by_one.counts[index])
    assert summed.errors == one_by_one.errors
    assert len(summed.errors[1]) == 1
    assert "bad.png" in summed.errors[1][0]
    assert summed.counts[1].num_images == len(tasks) - 1


def test_few_classes_are_counted_pair_by_pair_and_give_the_same_counts(
    pair_tasks: list[ImageTask],
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segeval.run.work, "SUMMED_MIN_CODES", 64)
        by_pair = count_tasks(_work(), pair_tasks)
    _same(by_pair.counts[0], count_tasks(_work(), pair_tasks).counts[0])
