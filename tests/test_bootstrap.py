"""Bootstrap intervals: exact against scipy and a hand-written loop, coverage, pairing, groups."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from scipy import stats as scipy_stats

from segeval.core.metrics import class_metrics, compute_metrics, summary_arrays
from segeval.core.per_image import ImageCountSpool
from segeval.errors import IncomparableReportsError, UsageError
from segeval.stats import (
    CAMVID_SEQUENCE,
    DATASET_SUMMARY_METRICS,
    ImageCountTable,
    bootstrap_ci,
    check_max_drop,
    groups_from_csv,
    groups_from_regex,
    max_drop_bound,
    p_value,
    paired_bootstrap,
    require_improvement,
    resample_weights,
)


def random_table(
    seed: int, images: int = 30, classes: int = 4, absent: float = 0.3
) -> ImageCountTable:
    """Counts with classes missing from some images, so NaN paths get exercised."""
    rng = np.random.default_rng(seed)
    present = rng.random((images, 1, classes)) > absent
    counts = rng.integers(0, 400, size=(images, 3, classes)) * present
    counts[:, 0] += rng.integers(0, 2000, size=(images, classes)) * present[:, 0]
    keys = [f"seq{i % 5}_{i:04d}" for i in range(images)]
    return ImageCountTable.from_arrays(keys, counts[:, 0], counts[:, 1], counts[:, 2])


def block_generator(seed: int, block: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


def miou_of_rows(table: ImageCountTable, rows: np.ndarray) -> float:
    tp, fp, fn = (table.counts[rows, side].sum(axis=0) for side in range(3))
    return compute_metrics(tp, fp, fn).summary["miou"]


# ------------------------------------------------------------------ count table


def test_table_round_trip_is_exact_and_compact() -> None:
    table = random_table(0, images=233, classes=11)
    document = table.to_dict()
    assert document["dtype"] == "<u2"
    assert ImageCountTable.from_dict(document) == table
    assert len(document["counts"]) < table.nbytes * 4 / 3 + 8


def test_table_dtype_is_smallest_exact() -> None:
    big = ImageCountTable.from_arrays(["a"], np.array([[480 * 360]]), np.zeros((1, 1), int),
                                      np.zeros((1, 1), int))  # fmt: skip
    assert big.counts.dtype == np.uint32
    assert ImageCountTable.from_dict(big.to_dict()).tp.tolist() == [[480 * 360]]


def test_table_from_spool_rows_matches_arrays() -> None:
    with ImageCountSpool() as spool:
        spool.append("b", np.array([2, 1]), np.array([0, 1]), np.array([1, 0]))
        spool.append("a", np.array([5]), np.array([0]), np.array([0]))
        table = ImageCountTable.from_rows(spool.read(num_classes=3))
    assert table.keys == ("b", "a")
    assert table.tp.tolist() == [[2, 1, 0], [5, 0, 0]]
    assert table.scored_pixels.tolist() == [4, 5]


@pytest.mark.parametrize(
    "change",
    [{"format": "other"}, {"counts": "!!"}, {"shape": [2, 3, 11]}, {"dtype": "<f8"}],
)
def test_table_rejects_corrupt_documents(change: dict[str, object]) -> None:
    document = {**random_table(1).to_dict(), **change}
    with pytest.raises(IncomparableReportsError):
        ImageCountTable.from_dict(document)


def test_table_rejects_duplicate_keys_and_negative_counts() -> None:
    with pytest.raises(UsageError, match="duplicates: a"):
        ImageCountTable.from_rows([("a", [1], [0], [0]), ("a", [1], [0], [0])])
    with pytest.raises(UsageError, match="non-negative"):
        ImageCountTable.from_arrays(["a"], np.array([[-1]]), np.array([[0]]), np.array([[0]]))


# ------------------------------------------------------------------ draws


def test_resample_weights_are_draw_counts_of_the_seeded_block() -> None:
    drawn = block_generator(5, block=2).integers(0, 7, size=(4, 7))
    weights = resample_weights(7, 4, seed=5, block=2)
    assert weights.tolist() == [np.bincount(row, minlength=7).tolist() for row in drawn]


# ------------------------------------------------------------------ against scipy


def scipy_miou_interval(
    table: ImageCountTable, method: str, n_resamples: int, rng: np.random.Generator
) -> tuple[float, float]:
    counts = table.counts[np.argsort(table.keys)].astype(np.float64)

    def miou(rows: np.ndarray, axis: int = -1) -> np.ndarray:
        summed = counts[rows.astype(np.intp)].sum(axis=-3)  # (..., 3, C)
        flat = summed.reshape(-1, 3, table.num_classes)
        values = summary_arrays(class_metrics(flat[:, 0], flat[:, 1], flat[:, 2]))["miou"]
        return values.reshape(summed.shape[:-2])

    result = scipy_stats.bootstrap(
        (np.arange(table.num_images, dtype=np.float64),),
        miou,
        n_resamples=n_resamples,
        confidence_level=0.95,
        method=method,
        rng=rng,
        vectorized=True,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_same_draws_as_scipy_give_the_same_interval(method: Literal["percentile", "bca"]) -> None:
    # One block of ours is scipy's single batch drawn from the same generator state.
    table = random_table(3, images=50)
    ours = bootstrap_ci(table, ["miou"], n_resamples=400, block_size=400, seed=11, method=method)
    low, high = scipy_miou_interval(table, method, 400, block_generator(11))
    assert ours.summary["miou"].low == pytest.approx(low, rel=1e-10)
    assert ours.summary["miou"].high == pytest.approx(high, rel=1e-10)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_independent_draws_agree_with_scipy_within_monte_carlo_error(
    method: Literal["percentile", "bca"],
) -> None:
    # A 2.5 % quantile from B resamples of a roughly normal statistic with spread s has
    # standard error s * sqrt(p (1 - p) / B) / phi(1.96) ~ 0.06 s at B = 2000; two
    # independent runs differ by ~0.085 s; allow 5 of those.
    table = random_table(4, images=80)
    ours = bootstrap_ci(table, ["miou"], n_resamples=2000, seed=21, method=method)
    low, high = scipy_miou_interval(table, method, 2000, np.random.default_rng(99))
    spread = (high - low) / (2 * 1.96)
    tolerance = 5 * math.sqrt(2) * spread * math.sqrt(0.025 * 0.975 / 2000) / 0.0584
    assert abs(ours.summary["miou"].low - low) < tolerance
    assert abs(ours.summary["miou"].high - high) < tolerance


# ------------------------------------------------------------------ against a hand-written loop


def test_matches_a_hand_written_resampling_loop() -> None:
    table = random_table(6, images=25, absent=0.5)
    order = np.argsort(table.keys)
    n_resamples, block_size, seed = 300, 128, 3
    resampled: list[float] = []
    for block, start in enumerate(range(0, n_resamples, block_size)):
        size = min(block_size, n_resamples - start)
        drawn = block_generator(seed, block).integers(0, 25, size=(size, 25))
        resampled.extend(miou_of_rows(table, order[rows]) for rows in drawn)
    theta = np.array(resampled)
    estimate = miou_of_rows(table, order)

    percentile = bootstrap_ci(table, ["miou"], n_resamples=n_resamples, block_size=block_size,
                              seed=seed, method="percentile").summary["miou"]  # fmt: skip
    assert percentile.estimate == pytest.approx(estimate, rel=1e-12)
    assert percentile.low == pytest.approx(np.quantile(theta, 0.025), rel=1e-12)
    assert percentile.high == pytest.approx(np.quantile(theta, 0.975), rel=1e-12)

    # BCa by the textbook (Efron & Tibshirani 14.3), jackknife with scalar compute_metrics.
    jack = np.array([miou_of_rows(table, np.delete(order, i)) for i in range(25)])
    z0 = scipy_stats.norm.ppf((np.sum(theta < estimate) + np.sum(theta <= estimate)) / 600)
    deviation = jack.mean() - jack
    accel = np.sum(deviation**3) / (6 * np.sum(deviation**2) ** 1.5)
    z = scipy_stats.norm.ppf([0.025, 0.975])
    levels = scipy_stats.norm.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z)))
    bca = bootstrap_ci(table, ["miou"], n_resamples=n_resamples, block_size=block_size,
                       seed=seed).summary["miou"]  # fmt: skip
    assert [bca.low, bca.high] == pytest.approx(np.quantile(theta, levels).tolist(), rel=1e-12)


# ------------------------------------------------------------------ determinism


def test_same_answer_for_any_jobs_and_row_order() -> None:
    table = random_table(7, images=60)
    runs = [bootstrap_ci(table, n_resamples=1000, seed=5, jobs=jobs) for jobs in (1, 2, 3)]
    shuffled = np.random.default_rng(0).permutation(60)
    runs.append(bootstrap_ci(table.select([table.keys[i] for i in shuffled]), n_resamples=1000,
                             seed=5, jobs=2))  # fmt: skip
    assert all(run.to_dict() == runs[0].to_dict() for run in runs[1:])
    other_seed = bootstrap_ci(table, n_resamples=1000, seed=6)
    assert other_seed.summary["miou"] != runs[0].summary["miou"]


def test_seed_is_recorded_when_drawn() -> None:
    table = random_table(8)
    first = bootstrap_ci(table, ["miou"], n_resamples=200)
    again = bootstrap_ci(table, ["miou"], n_resamples=200, seed=first.seed)
    assert first.summary == again.summary


# ------------------------------------------------------------------ coverage


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_coverage_of_95_percent_interval_on_200_datasets(
    method: Literal["percentile", "bca"],
) -> None:
    # Pixel accuracy of 100 images whose own accuracy varies (Beta(8, 2), mean 0.8) and
    # whose size varies independently: the dataset pixel accuracy estimates 0.8. With
    # 200 datasets the count of intervals containing 0.8 is Binomial(200, 0.95):
    # mean 190, sd 3.1; accept 190 +- 3 sd.
    rng = np.random.default_rng(2024)
    truth, images, covered = 0.8, 100, 0
    for dataset in range(200):
        pixels = rng.integers(500, 1500, size=images)
        correct = rng.binomial(pixels, rng.beta(8, 2, size=images))
        wrong = pixels - correct
        table = ImageCountTable.from_arrays(
            [str(i) for i in range(images)],
            np.stack([correct, np.zeros(images, int)], axis=1),
            np.stack([np.zeros(images, int), wrong], axis=1),
            np.stack([wrong, np.zeros(images, int)], axis=1),
        )
        interval = bootstrap_ci(table, ["pixel_accuracy"], n_resamples=1000, seed=dataset,
                                method=method).summary["pixel_accuracy"]  # fmt: skip
        covered += interval.low <= truth <= interval.high
    assert 181 <= covered <= 199, covered


# ------------------------------------------------------------------ paired


def test_identical_reports_give_p_one_and_zero_interval() -> None:
    table = random_table(9)
    result = paired_bootstrap(table, table, n_resamples=500, seed=1)
    for difference in [*result.summary.values(), *result.per_class["iou"]]:
        if math.isnan(difference.estimate):
            continue
        assert difference.p_value == 1.0
        assert difference.low <= 0 <= difference.high
    assert not require_improvement(result, "miou").passed
    assert check_max_drop(result, "miou", 0.0).passed


def test_clear_improvement_gives_small_p_and_passes_the_gate() -> None:
    baseline = random_table(10, images=50, absent=0.0)
    better = baseline.counts.copy()
    better[:, 1] //= 3  # a third of the false positives
    candidate = ImageCountTable(baseline.keys, better)
    result = paired_bootstrap(baseline, candidate, ["miou", "iou"], n_resamples=999, seed=2)
    miou = result.summary["miou"]
    assert miou.estimate > 0
    assert miou.low > 0
    assert miou.p_value == pytest.approx(2 / 1000)
    assert require_improvement(result, "miou").passed
    assert require_improvement(result, "iou", class_index=1).passed
    reverse = paired_bootstrap(candidate, baseline, ["miou"], n_resamples=999, seed=2)
    assert reverse.summary["miou"].high < 0
    assert max_drop_bound(reverse, "miou") == pytest.approx(-reverse.summary["miou"].low)
    assert not check_max_drop(reverse, "miou", 0.0).passed


def test_paired_uses_same_draws_for_both_and_only_shared_images() -> None:
    baseline, candidate = random_table(11, images=40), random_table(12, images=40)
    trimmed = candidate.select(list(candidate.keys[:35]))
    result = paired_bootstrap(baseline, trimmed, ["miou"], n_resamples=300, seed=4,
                              method="percentile")  # fmt: skip
    assert result.num_images == 35
    assert len(result.only_baseline) == 5
    shared = sorted(trimmed.keys)
    a, b = baseline.select(shared), trimmed.select(shared)
    drawn = block_generator(4).integers(0, 35, size=(250, 35))
    drawn = np.concatenate([drawn, block_generator(4, 1).integers(0, 35, size=(50, 35))])
    deltas = np.array([miou_of_rows(b, rows) - miou_of_rows(a, rows) for rows in drawn])
    miou = result.summary["miou"]
    assert miou.low == pytest.approx(np.quantile(deltas, 0.025), rel=1e-12)
    assert miou.p_value == pytest.approx(p_value(deltas))


def test_p_value_definition() -> None:
    assert p_value(np.array([1.0, 2.0, -1.0, 3.0])) == pytest.approx(2 * 2 / 5)
    assert math.isnan(p_value(np.array([np.nan])))


def test_paired_rejects_different_classes() -> None:
    with pytest.raises(IncomparableReportsError, match="classes"):
        paired_bootstrap(random_table(1, classes=3), random_table(1, classes=4), seed=0)


# ------------------------------------------------------------------ groups


def test_cluster_bootstrap_equals_image_bootstrap_of_group_sums() -> None:
    table = random_table(13, images=40)
    groups = groups_from_regex(table.keys, r"^(seq\d)_")
    grouped = bootstrap_ci(table, n_resamples=500, seed=8, groups=groups)
    names = sorted(set(groups.values()))
    summed = np.stack([
        table.counts[[groups[key] == name for key in table.keys]].sum(axis=0) for name in names
    ])  # fmt: skip
    collapsed = ImageCountTable(tuple(names), summed)
    assert grouped.unit == "group"
    assert grouped.num_units == 5
    assert grouped.summary == bootstrap_ci(collapsed, n_resamples=500, seed=8).summary


def test_grouped_interval_is_wider_when_groups_are_correlated() -> None:
    rng = np.random.default_rng(14)
    sequences, frames = 12, 20
    quality = np.repeat(rng.beta(6, 3, size=sequences), frames)  # frames share a sequence's
    pixels = np.full(sequences * frames, 1000)
    correct = rng.binomial(pixels, quality)
    keys = [f"s{i // frames:02d}_{i:03d}" for i in range(sequences * frames)]
    zero = np.zeros_like(correct)
    table = ImageCountTable.from_arrays(keys, np.stack([correct, zero], 1),
                                        np.stack([zero, pixels - correct], 1),
                                        np.stack([pixels - correct, zero], 1))  # fmt: skip
    image = bootstrap_ci(table, ["pixel_accuracy"], n_resamples=500, seed=1)
    group = bootstrap_ci(table, ["pixel_accuracy"], n_resamples=500, seed=1,
                         groups=groups_from_regex(keys, CAMVID_SEQUENCE))  # fmt: skip
    width = {run.unit: run.summary["pixel_accuracy"] for run in (image, group)}
    assert (width["group"].high - width["group"].low) > 2 * (
        width["image"].high - width["image"].low
    )


def test_groups_from_regex_whole_match_and_errors() -> None:
    assert groups_from_regex(["p1/s3", "p2/s1"], r"p\d") == {"p1/s3": "p1", "p2/s1": "p2"}
    with pytest.raises(UsageError, match=r"does not match 1 image key \(other\)"):
        groups_from_regex(["0001TP_1", "other"], CAMVID_SEQUENCE)
    with pytest.raises(UsageError, match="not a regular expression"):
        groups_from_regex(["a"], "(")


def test_groups_from_csv_errors(tmp_path: Path) -> None:
    mapping = tmp_path / "groups.csv"
    mapping.write_text("a,p1\nb,p2\n")
    assert groups_from_csv(mapping) == {"a": "p1", "b": "p2"}
    with pytest.raises(UsageError, match="1 image key has no group \\(c\\)"):
        groups_from_csv(mapping, keys=["a", "c"])
    mapping.write_text("key,group\na,p1\na,p2\n")
    with pytest.raises(UsageError, match=r"groups\.csv:3: image 'a' is in group 'p1' and 'p2'"):
        groups_from_csv(mapping)
    mapping.write_text("a\n")
    with pytest.raises(UsageError, match=r"groups\.csv:1: expected"):
        groups_from_csv(mapping)
    with pytest.raises(UsageError, match="have no group"):
        bootstrap_ci(random_table(1), groups={"nope": "g"}, seed=0)


# ------------------------------------------------------------------ settings and JSON


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidence": 1.0}, "between 0 and 1"),
        ({"n_resamples": 1}, "at least 2 resamples"),
        ({"method": "basic"}, "bca or percentile"),
        ({"jobs": 0}, "--jobs"),
        ({"metrics": ["image_miou"]}, "cannot bootstrap image_miou"),
    ],
)
def test_bad_settings_are_usage_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        bootstrap_ci(random_table(1), seed=0, **kwargs)  # type: ignore[arg-type]


def test_result_json_has_every_metric_and_class() -> None:
    document = bootstrap_ci(random_table(15, classes=3), n_resamples=100, seed=0).to_dict()
    assert set(document["summary"]) == set(DATASET_SUMMARY_METRICS)
    assert len(document["classes"]["iou"]) == 3
    assert document["unit"] == "image"
    assert document["seed"] == 0


def test_custom_statistic() -> None:
    def support_share(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
        support = tp + fn
        return {"share0": support[:, 0] / support.sum(axis=1)}

    result = bootstrap_ci(random_table(16, absent=0.0), statistic=support_share,
                          n_resamples=200, seed=0)  # fmt: skip
    share = result.summary["share0"]
    assert 0 < share.low < share.estimate < share.high < 1
