"""Reference numbers for the --convention presets, computed by each tool's own code.

Run in its own venv, never in CI (PyTorch is too large there): ``make
convention-golden`` builds ``.venv-reference`` from
``scripts/reference-requirements.txt`` (the CPU wheel of torch first, alone)
and runs ``python scripts/make_convention_golden.py tests/golden/conventions.json``;
``make convention-golden REF_VENV=/path/to/venv`` reuses a venv that has them.
CamVid cases are included when ``../shared/data/camvid`` exists.

The output holds the tools' versions and, per case, the masks (inline for the
small synthetic cases, a folder name for CamVid), the call made and the values
the tool returned, under the tool's own names. The tests
(``tests/test_convention_references.py``) map those names to segeval's and
score the same masks with numpy only.

References:

* mmsegmentation ``IoUMetric`` (mmseg/evaluation/metrics/iou_metric.py), run
  through its own ``process`` and ``compute_metrics``; ``total_area_to_metrics``
  is called again on the same summed areas for the unrounded per-class values.
  mmcv's compiled ops are not needed by the metric, so ``mmcv-lite`` provides the
  ``mmcv`` package;
* torchmetrics ``MulticlassJaccardIndex`` with a prediction equal to
  ``ignore_index`` (the values, or the exception it raises), with and without
  deterministic algorithms;
* MONAI ``DiceMetric`` and ``MeanIoU`` with their defaults
  (``include_background=True``, ``ignore_empty=True``) and reductions ``mean``,
  ``mean_batch`` and ``none``. MONAI has an ``ignore_index`` (1.6): ignored
  ground-truth pixels go through it, label-encoded for ``DiceMetric`` and as
  all-zero one-hot pixels for ``MeanIoU``;
* the ADE20K benchmark's ``intersectionAndUnion`` and ``pixelAccuracy``
  (CSAILVision/placeschallenge, sceneparsing/evaluationCode/utils_eval.py at
  de354d4) are not a package: the two functions and the aggregation of their
  usage comments are restated below, operation for operation.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import re
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CAMVID = REPO.parent / "shared" / "data" / "camvid"
CAMVID_CLASSES = 11
CAMVID_IGNORE = 11

Images = list[np.ndarray]


def versions() -> dict[str, str]:
    """Installed versions of every package whose code produced a number here."""
    names = ["torch", "torchmetrics", "monai", "mmsegmentation", "mmengine", "mmcv-lite", "numpy"]
    found = {name: importlib.metadata.version(name) for name in names}
    found["ade20k"] = (
        "CSAILVision/placeschallenge de354d4 sceneparsing/evaluationCode/utils_eval.py"
    )
    return found


def _plain(value: Any) -> Any:
    """JSON-ready floats (NaN as null), lists for arrays and tensors."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


# ------------------------------------------------------------------- masks


def camvid(prediction: str) -> tuple[Images, Images]:
    """CamVid predictions and ground truth, sorted by file name."""
    gt_paths = sorted((CAMVID / "testannot").glob("*.png"))
    gts = [np.asarray(Image.open(path), dtype=np.int64) for path in gt_paths]
    preds = [np.asarray(Image.open(CAMVID / prediction / p.name), dtype=np.int64) for p in gt_paths]
    return preds, gts


def seeded_case(
    seed: int, images: int, shape: tuple[int, int], num_classes: int
) -> tuple[Images, Images]:
    """Random masks with the edge cases the conventions disagree on.

    Per image: ground truth in 0..num_classes-2 (the last class never appears in
    the ground truth, and is predicted on a few pixels of one image), about 10 %
    of the ground truth set to 255, predictions right on about 60 % of pixels.
    """
    rng = np.random.default_rng(seed)
    preds, gts = [], []
    for index in range(images):
        gt = rng.integers(0, num_classes - 1, size=shape)
        gt[rng.random(shape) < 0.1] = 255
        pred = np.where(rng.random(shape) < 0.6, gt, rng.integers(0, num_classes - 1, size=shape))
        pred[gt == 255] = rng.integers(0, num_classes - 1, size=int((gt == 255).sum()))
        if index == 1:
            pred[0, :3] = num_classes - 1
        preds.append(pred)
        gts.append(gt)
    return preds, gts


# ------------------------------------------------------------------ mmseg


def mmseg_iou_metric(
    preds: Images, gts: Images, num_classes: int, ignore_index: int
) -> dict[str, Any]:
    """mmsegmentation IoUMetric(iou_metrics=['mIoU', 'mDice', 'mFscore'])."""
    from mmseg.evaluation.metrics.iou_metric import IoUMetric

    metric = IoUMetric(iou_metrics=["mIoU", "mDice", "mFscore"], ignore_index=ignore_index)
    metric.dataset_meta = {"classes": [f"class_{c}" for c in range(num_classes)]}
    for pred, gt in zip(preds, gts, strict=True):
        sample = {
            "pred_sem_seg": {"data": torch.from_numpy(pred)[None]},
            "gt_sem_seg": {"data": torch.from_numpy(gt)[None]},
        }
        metric.process({}, [sample])
    # compute_metrics prints its table through mmengine's logger.
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        summary = metric.compute_metrics(metric.results)
    areas = [sum(column) for column in zip(*metric.results, strict=True)]
    per_class = IoUMetric.total_area_to_metrics(*areas, ["mIoU", "mDice", "mFscore"], None, 1)
    return {
        # float32 values of np.round(nanmean * 100, 2): stored as the numbers it prints.
        "summary": {key: round(float(value), 2) for key, value in summary.items()},
        "per_class": {key: _plain(value) for key, value in per_class.items() if key != "aAcc"},
    }


# ------------------------------------------------------------ torchmetrics


def torchmetrics_jaccard(
    preds: Images, gts: Images, num_classes: int, ignore_index: int
) -> dict[str, Any]:
    """MulticlassJaccardIndex(average=None and 'macro'), or the exception it raises.

    Run twice: torchmetrics' ``_bincount`` takes another path under
    ``torch.use_deterministic_algorithms(True)``, which drops codes beyond C * C
    instead of failing, so the same call gives values in one mode and an error in
    the other.
    """
    from torchmetrics.classification import MulticlassJaccardIndex

    result: dict[str, Any] = {}
    for mode, deterministic in (("default", False), ("deterministic", True)):
        torch.use_deterministic_algorithms(deterministic)
        entry: dict[str, Any] = {}
        for average in ("none", "macro"):
            metric = MulticlassJaccardIndex(num_classes, average=average, ignore_index=ignore_index)
            try:
                for pred, gt in zip(preds, gts, strict=True):
                    metric.update(torch.from_numpy(pred), torch.from_numpy(gt))
                entry[average] = _plain(metric.compute())
            except Exception as err:  # the finding: what the user meets
                entry[average] = {"raises": type(err).__name__, "message": str(err).splitlines()[0]}
        result[mode] = entry
    torch.use_deterministic_algorithms(False)
    return result


# ------------------------------------------------------------------- MONAI


def _one_hot(mask: np.ndarray, num_classes: int) -> torch.Tensor:
    """(1, C, H, W) float32; a value outside 0..C-1 (ignore) is an all-zero pixel."""
    planes = np.stack([mask == c for c in range(num_classes)]).astype(np.float32)
    return torch.from_numpy(planes)[None]


def monai_metrics(
    preds: Images, gts: Images, num_classes: int, ignore_index: int | None
) -> dict[str, Any]:
    """DiceMetric and MeanIoU with their defaults, every image one batch item.

    Each metric runs once; its (image, class) buffer is reduced by MONAI's own
    ``do_metric_reduction`` (what ``aggregate`` calls) for each reduction, on a
    copy because that function zeroes NaN in place.
    """
    from monai.metrics import DiceMetric, MeanIoU
    from monai.metrics.utils import do_metric_reduction

    result: dict[str, Any] = {}
    metrics = {
        # DiceMetric takes label maps (B, 1, H, W) with num_classes; MeanIoU one-hot.
        "DiceMetric": DiceMetric(num_classes=num_classes, ignore_index=ignore_index),
        "MeanIoU": MeanIoU(ignore_index=ignore_index),
    }
    for name, metric in metrics.items():
        for pred, gt in zip(preds, gts, strict=True):
            if name == "MeanIoU":
                metric(y_pred=_one_hot(pred, num_classes), y=_one_hot(gt, num_classes))
            else:
                metric(
                    y_pred=torch.from_numpy(pred)[None, None], y=torch.from_numpy(gt)[None, None]
                )
        assert metric.reduction == "mean"
        assert metric.ignore_empty
        assert metric.include_background
        buffer = metric.get_buffer().clone()
        entry: dict[str, Any] = {}
        for reduction in ("mean", "mean_batch", "none"):
            value, not_nans = do_metric_reduction(buffer.clone(), reduction)
            entry[reduction] = _plain(value)
            entry[f"{reduction}_not_nans"] = _plain(not_nans)
        # The public call gives the same number as the "mean" reduction above.
        entry["aggregate"] = _plain(metric.aggregate())
        result[name] = entry
    return result


def monai_generalized_dice(preds: Images, gts: Images, num_classes: int) -> dict[str, Any]:
    """GeneralizedDiceScore with its defaults, per image and on all pixels pooled.

    Ignored ground-truth pixels (255) are all-zero one-hot pixels on both sides,
    so they count nowhere; a prediction of 255 is an all-zero prediction (a miss).
    The pooled value runs the same metric once on the images side by side.
    """
    from monai.metrics import GeneralizedDiceScore

    def one_hot_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        valid = gt != 255
        return _one_hot(np.where(valid, pred, 255), num_classes), _one_hot(gt, num_classes)

    metric = GeneralizedDiceScore()
    assert metric.include_background
    assert metric.weight_type == "square"
    for pred, gt in zip(preds, gts, strict=True):
        metric(*one_hot_pair(pred, gt))
    per_image = metric.get_buffer().clone()
    pooled_metric = GeneralizedDiceScore()
    pooled_metric(*one_hot_pair(np.concatenate(preds, axis=1), np.concatenate(gts, axis=1)))
    return {
        "per_image": _plain(per_image.flatten()),
        "aggregate": _plain(metric.aggregate()),
        "pooled": _plain(pooled_metric.aggregate()),
    }


# ------------------------------------------------------------------ ADE20K


def _intersection_and_union(
    im_pred: np.ndarray, im_lab: np.ndarray, num_class: int
) -> tuple[np.ndarray, np.ndarray]:
    # utils_eval.intersectionAndUnion: raw labels, 0 = unlabelled, classes 1..num_class.
    im_pred = im_pred * (im_lab > 0)
    intersection = im_pred * (im_pred == im_lab)
    (area_intersection, _) = np.histogram(intersection, bins=num_class, range=(1, num_class))
    (area_pred, _) = np.histogram(im_pred, bins=num_class, range=(1, num_class))
    (area_lab, _) = np.histogram(im_lab, bins=num_class, range=(1, num_class))
    return area_intersection, area_pred + area_lab - area_intersection


def _pixel_accuracy(im_pred: np.ndarray, im_lab: np.ndarray) -> tuple[float, int, int]:
    # utils_eval.pixelAccuracy
    pixel_labeled = np.sum(im_lab > 0)
    pixel_correct = np.sum((im_pred == im_lab) * (im_lab > 0))
    return 1.0 * pixel_correct / pixel_labeled, pixel_correct, pixel_labeled


def ade20k_official(preds: Images, gts: Images, num_class: int) -> dict[str, Any]:
    """IoU and pixel accuracy aggregated as utils_eval.py's usage comments say."""
    areas = [_intersection_and_union(p, g, num_class) for p, g in zip(preds, gts, strict=True)]
    area_intersection = np.stack([a[0] for a in areas], axis=1)
    area_union = np.stack([a[1] for a in areas], axis=1)
    iou = 1.0 * np.sum(area_intersection, axis=1) / np.sum(np.spacing(1) + area_union, axis=1)
    accuracy = [_pixel_accuracy(p, g) for p, g in zip(preds, gts, strict=True)]
    correct = np.sum([a[1] for a in accuracy])
    labeled = np.sum([a[2] for a in accuracy])
    return {
        "IoU": _plain(iou),
        "mIoU": float(iou.mean()),
        "pixel_accuracy": float(1.0 * correct / (np.spacing(1) + labeled)),
        "eps": float(np.spacing(1)),
    }


# ------------------------------------------------------------------- cases

MMSEG_CALL = "IoUMetric(iou_metrics=['mIoU', 'mDice', 'mFscore'], ignore_index={ignore})"


def inline(preds: Images, gts: Images) -> dict[str, Any]:
    """Masks stored in the golden file itself (small cases)."""
    return {"pred": [p.tolist() for p in preds], "gt": [g.tolist() for g in gts]}


def case(
    name: str,
    tool: str,
    call: str,
    masks: dict[str, Any],
    values: Any,
    *,
    num_classes: int,
    ignore_index: Sequence[int],
) -> dict[str, Any]:
    """One reference case: which masks, scored how, gave which values."""
    return {
        "id": name,
        "tool": tool,
        "call": call,
        "num_classes": num_classes,
        "ignore_index": list(ignore_index),
        "masks": masks,
        "values": values,
    }


def mmseg_cases() -> list[dict[str, Any]]:
    """Issue 11 item 8: mmsegmentation's mFscore drops classes without true positives."""
    found = []
    minimal = ([np.array([[0, 0]])], [np.array([[0, 1]])])
    mixed = seeded_case(seed=8, images=3, shape=(6, 7), num_classes=5)
    mixed[0][0][0, 0] = 9  # outside the classes: torch.histc drops it
    for name, data, num_classes in (("minimal", minimal, 2), ("mixed", mixed, 5)):
        found.append(
            case(
                f"mmseg-fscore-{name}" if name == "minimal" else f"mmseg-{name}",
                "mmsegmentation",
                MMSEG_CALL.format(ignore=255),
                inline(*data),
                mmseg_iou_metric(*data, num_classes, 255),
                num_classes=num_classes,
                ignore_index=[255],
            )
        )
    if CAMVID.is_dir():
        found.extend(
            case(
                f"mmseg-camvid-{prediction}",
                "mmsegmentation",
                MMSEG_CALL.format(ignore=CAMVID_IGNORE),
                {"camvid": prediction},
                mmseg_iou_metric(*camvid(prediction), CAMVID_CLASSES, CAMVID_IGNORE),
                num_classes=CAMVID_CLASSES,
                ignore_index=[CAMVID_IGNORE],
            )
            for prediction in ("pred_weak", "pred_hgb")
        )
    return found


def torchmetrics_cases() -> list[dict[str, Any]]:
    """Item 9: a prediction equal to ignore_index lands in another cell, or fails."""
    gt = [np.array([[0, 0], [1, 1]])]
    found = []
    for name, pred_rows, ignore in (
        ("pred-equals-ignore-2", [[2, 0], [1, 1]], 2),
        ("pred-equals-ignore-255", [[255, 0], [1, 1]], 255),
        ("no-pred-ignore", [[0, 0], [0, 1]], 2),  # nothing predicted as ignore_index
    ):
        pred = [np.array(pred_rows)]
        found.append(
            case(
                f"torchmetrics-{name}",
                "torchmetrics",
                f"MulticlassJaccardIndex(2, average='none' / 'macro', ignore_index={ignore})",
                inline(pred, gt),
                torchmetrics_jaccard(pred, gt, 2, ignore),
                num_classes=2,
                ignore_index=[ignore],
            )
        )
    return found


def monai_cases() -> list[dict[str, Any]]:
    """Item 10: DiceMetric and MeanIoU with their defaults."""
    plain = ([np.array([[0, 1, 1], [2, 2, 0]])], [np.array([[0, 1, 0], [0, 0, 0]])])
    mixed = seeded_case(seed=10, images=4, shape=(5, 6), num_classes=4)
    mixed[1][2][:] = 255  # one image entirely ignored: every class NaN there
    mixed[0][3][0, 0] = 255  # a prediction equal to the ignore value: a miss
    # Class 2 predicted but absent from one image's ground truth: NaN there, so the
    # images define different numbers of classes (the sample-wise and pooled means differ).
    mixed[1][3][mixed[1][3] == 2] = 1
    found = [
        case(
            "monai-defaults",
            "monai",
            "DiceMetric(num_classes=3), MeanIoU()",
            inline(*plain),
            monai_metrics(*plain, 3, None),
            num_classes=3,
            ignore_index=[],
        ),
        case(
            "monai-mixed",
            "monai",
            "DiceMetric(num_classes=4, ignore_index=255), MeanIoU(ignore_index=255)",
            inline(*mixed),
            monai_metrics(*mixed, 4, 255),
            num_classes=4,
            ignore_index=[255],
        ),
    ]
    found.append(
        case(
            "monai-generalized-dice",
            "monai",
            "GeneralizedDiceScore() per image, then aggregate(); and on the images pooled",
            inline(*mixed),
            monai_generalized_dice(*mixed, 4),
            num_classes=4,
            ignore_index=[255],
        )
    )
    if CAMVID.is_dir():
        found.append(
            case(
                "monai-camvid-pred_weak",
                "monai",
                "DiceMetric(num_classes=11, ignore_index=11), MeanIoU(ignore_index=11)",
                {"camvid": "pred_weak"},
                monai_metrics(*camvid("pred_weak"), CAMVID_CLASSES, CAMVID_IGNORE),
                num_classes=CAMVID_CLASSES,
                ignore_index=[CAMVID_IGNORE],
            )
        )
    return found


def ade20k_cases() -> list[dict[str, Any]]:
    """Item 11: the official epsilon is np.spacing(1), added once per image."""
    preds, gts = seeded_case(seed=11, images=3, shape=(5, 5), num_classes=5)
    # Official raw labels: 0 = other (unlabelled), classes 1..5.
    preds = [np.where(p == 255, 0, p + 1) for p in preds]
    gts = [np.where(g == 255, 0, g + 1) for g in gts]
    return [
        case(
            "ade20k-official",
            "ade20k",
            "intersectionAndUnion(numClass=5), pixelAccuracy",
            inline(preds, gts),
            ade20k_official(preds, gts, 5),
            num_classes=5,
            ignore_index=[],
        )
    ]


def main(output: Path) -> None:
    cases = mmseg_cases() + torchmetrics_cases() + monai_cases() + ade20k_cases()
    golden = {
        "generator": "scripts/make_convention_golden.py",
        "versions": versions(),
        "cases": cases,
    }
    text = json.dumps(golden, indent=1)
    # One line per innermost list of numbers (a mask row, a per-class vector).
    text = re.sub(r"\[\s+([^\[\]{}\"]*?)\s+\]", lambda m: "[" + " ".join(m[1].split()) + "]", text)
    output.write_text(text + "\n", encoding="utf-8")
    print(f"{len(cases)} cases -> {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/conventions.json"))
