"""Generate the loss fixtures and their reference values (tests/golden/losses/).

Run once, in its own venv, never in CI (PyTorch is too large there):
``make loss-golden`` builds that venv (torch 2.13.0 from PyTorch's CPU index,
segmentation-models-pytorch 0.6.0 and MONAI 1.6.1 without their dependencies,
numpy, scipy) and runs

    python scripts/make_loss_golden.py tests/golden/losses

(``make loss-golden LOSS_GOLDEN_PYTHON=/path/to/venv/bin/python`` reuses a venv
that has them). The output is the same bytes on every run with those versions.

Fixtures are drawn from a seeded numpy generator and saved as ``.npz``
(``scores`` float64 (N, C, H, W), ``target`` int64 (N, H, W)); the reference
values go to ``golden.json`` with the library versions. Each case records the
``LossOptions`` keywords that reproduce it in segeval, the reference call, the
whole-set value and the value on each image alone.

References:

* PyTorch ``F.cross_entropy``, ``F.nll_loss`` (probabilities),
  ``F.binary_cross_entropy_with_logits``;
* segmentation-models-pytorch ``DiceLoss``, ``JaccardLoss``, ``LovaszLoss``
  (its ``_lovasz_grad`` casts to float32, which breaks float64 input; the
  generator swaps in the same function computing in float64). Imported
  without the package's ``__init__`` (which imports the encoders, timm and
  torchvision): only ``segmentation_models_pytorch/losses`` is loaded;
* MONAI ``DiceLoss`` (``jaccard=False/True``);
* torchvision's ``sigmoid_focal_loss``: torchvision's wheel does not install
  beside the pinned CPU torch, so its formula (torchvision/ops/focal_loss.py:
  ``BCE-with-logits * (1 - p_t)^gamma * alpha_t``, mean) is written here with
  torch ops;
* the multi-class softmax focal loss and Kervadec's boundary loss have no
  library reference: torch ops here (``one_hot2dist`` of LIVIAETS/boundary-loss
  rewritten with scipy's exact EDT).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt

IGNORE = 255


def _smp_losses() -> Any:
    """segmentation_models_pytorch.losses without the package's heavy __init__."""
    spec = importlib.util.find_spec("segmentation_models_pytorch")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    package = types.ModuleType("segmentation_models_pytorch")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["segmentation_models_pytorch"] = package
    import segmentation_models_pytorch.losses as losses

    return losses


smp = _smp_losses()


def _lovasz_grad_float64(gt_sorted: torch.Tensor) -> torch.Tensor:
    """smp's ``_lovasz_grad`` with float64 instead of its ``.float()`` (float32) casts.

    smp 0.6.0 casts the cumulative sums to float32, so float64 scores fail in
    ``torch.dot`` (Double and Float). Same statements otherwise.
    """
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.to(torch.float64).cumsum(0)
    union = gts + (1 - gt_sorted).to(torch.float64).cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


smp_lovasz: Any = sys.modules["segmentation_models_pytorch.losses.lovasz"]
smp_lovasz._lovasz_grad = _lovasz_grad_float64
from monai.losses.dice import DiceLoss as MonaiDiceLoss  # noqa: E402

# -- fixtures -------------------------------------------------------------------------


def _regions(rng: np.random.Generator, height: int, width: int, classes: list[int]) -> np.ndarray:
    """A label map of Voronoi regions (structure for the distance maps)."""
    seeds = rng.integers(0, [height, width], size=(2 * len(classes), 2))
    owner = rng.choice(classes, size=len(seeds))
    rows, cols = np.mgrid[0:height, 0:width]
    distance = (rows[None] - seeds[:, 0, None, None]) ** 2 + (
        cols[None] - seeds[:, 1, None, None]
    ) ** 2
    labels: np.ndarray = owner[np.argmin(distance, axis=0)].astype(np.int64)
    return labels


def make_fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(20261127)
    fixtures: dict[str, dict[str, np.ndarray]] = {}

    # 5 classes, class 4 absent from the whole set, class 3 absent from image 0,
    # about 10 % ignored pixels, one very confident pixel per image.
    n, c, h, w = 3, 5, 12, 10
    target = np.stack(
        [_regions(rng, h, w, [0, 1, 2] if i == 0 else [0, 1, 2, 3]) for i in range(n)]
    )
    target[rng.random(target.shape) < 0.1] = IGNORE
    scores = rng.normal(scale=2.0, size=(n, c, h, w))
    scores[:, :, 0, 0] = 0.0
    scores[:, 1, 0, 0] = 60.0
    fixtures["multiclass"] = {"scores": scores, "target": target}

    # Same layout without ignored pixels (MONAI's classic setting).
    n, c, h, w = 2, 3, 9, 11
    target = np.stack([_regions(rng, h, w, [0, 1, 2]) for _ in range(n)])
    fixtures["multiclass_full"] = {
        "scores": rng.normal(scale=1.5, size=(n, c, h, w)),
        "target": target,
    }

    # Probabilities (input="probs"): softmax of random logits, float64.
    logits = rng.normal(scale=2.0, size=(2, 4, 8, 7))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    target = np.stack([_regions(rng, 8, 7, [0, 1, 3]) for _ in range(2)])
    target[rng.random(target.shape) < 0.1] = IGNORE
    fixtures["multiclass_probs"] = {"scores": probs, "target": target}

    # Binary: one channel; image 1 has no foreground; ignored pixels.
    n, h, w = 3, 10, 12
    target = np.stack([_regions(rng, h, w, [0, 1]) for _ in range(n)])
    target[1] = 0
    target[rng.random(target.shape) < 0.1] = IGNORE
    fixtures["binary"] = {"scores": rng.normal(scale=3.0, size=(n, 1, h, w)), "target": target}
    return fixtures


# -- references -------------------------------------------------------------------------


def _tensors(fixture: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(fixture["scores"]), torch.from_numpy(fixture["target"])


def ref_ce(x: torch.Tensor, y: torch.Tensor, o: dict[str, Any]) -> float:
    weight = (
        None
        if o.get("class_weights") is None
        else torch.tensor(o["class_weights"], dtype=torch.float64)
    )
    ignore = IGNORE if o.get("ignore_index") is not None else -100
    if o.get("input") == "probs":
        return F.nll_loss(torch.log(x), y, weight=weight, ignore_index=ignore).item()
    return F.cross_entropy(
        x, y, weight=weight, ignore_index=ignore, label_smoothing=o.get("label_smoothing", 0.0)
    ).item()


def ref_focal_softmax(x: torch.Tensor, y: torch.Tensor, o: dict[str, Any]) -> float:
    valid = y != IGNORE
    safe = torch.where(valid, y, torch.zeros_like(y))
    log_pt = F.log_softmax(x, dim=1).gather(1, safe[:, None])[:, 0]
    loss = -((1 - log_pt.exp()) ** o.get("gamma", 2.0)) * log_pt
    if o.get("alpha") is not None:
        loss = torch.tensor(o["alpha"], dtype=torch.float64)[safe] * loss
    return float(loss[valid].mean().item())


def ref_focal_sigmoid(x: torch.Tensor, y: torch.Tensor, o: dict[str, Any]) -> float:
    # torchvision.ops.sigmoid_focal_loss(reduction="mean") on the non-ignored pixels.
    valid = y != IGNORE
    inputs, targets = x[:, 0][valid], y[valid].to(torch.float64)
    gamma, alpha = o.get("gamma", 2.0), o.get("alpha", 0.25)
    prob = torch.sigmoid(inputs)
    bce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    prob_true = prob * targets + (1 - prob) * (1 - targets)
    loss = bce * ((1 - prob_true) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return float(loss.mean().item())


def ref_bce(x: torch.Tensor, y: torch.Tensor, o: dict[str, Any]) -> float:
    valid = y != IGNORE
    pos_weight = (
        None if o.get("pos_weight") is None else torch.tensor(o["pos_weight"], dtype=torch.float64)
    )
    return F.binary_cross_entropy_with_logits(
        x[:, 0][valid], y[valid].to(torch.float64), pos_weight=pos_weight
    ).item()


def _mode(x: torch.Tensor) -> str:
    return "binary" if x.shape[1] == 1 else "multiclass"


def ref_smp_overlap(x: torch.Tensor, y: torch.Tensor, o: dict[str, Any], jaccard: bool) -> float:
    cls = smp.JaccardLoss if jaccard else smp.DiceLoss
    loss = cls(
        _mode(x),
        from_logits=o.get("input", "logits") == "logits",
        smooth=o.get("smooth") or 0.0,
        ignore_index=o.get("ignore_index"),
    )
    target = y[:, None] if x.shape[1] == 1 else y
    return float(loss(x, target).item())


def ref_monai_overlap(x: torch.Tensor, y: torch.Tensor, o: dict[str, Any], jaccard: bool) -> float:
    smooth = 1e-5 if o.get("smooth") is None else o["smooth"]
    binary = x.shape[1] == 1
    loss = MonaiDiceLoss(
        sigmoid=binary,
        softmax=not binary,
        to_onehot_y=not binary,
        jaccard=jaccard,
        smooth_nr=smooth,
        smooth_dr=smooth,
        ignore_index=o.get("ignore_index"),
    )
    return float(loss(x, y[:, None]).item())


def ref_lovasz(x: torch.Tensor, y: torch.Tensor, o: dict[str, Any]) -> float:
    loss = smp.LovaszLoss(
        _mode(x), per_image=o.get("lovasz_per_image", False), ignore_index=o.get("ignore_index")
    )
    return float(loss(x, y))


def one_hot2dist(seg: np.ndarray) -> np.ndarray:
    """LIVIAETS/boundary-loss one_hot2dist (scipy exact EDT), per class of (K, H, W)."""
    dist = np.zeros(seg.shape, dtype=np.float64)
    for k in range(seg.shape[0]):
        positive = seg[k].astype(bool)
        if positive.any():
            negative = ~positive
            dist[k] = (
                distance_transform_edt(negative) * negative
                - (distance_transform_edt(positive) - 1) * positive
            )
    return dist


def ref_boundary(x: torch.Tensor, y: torch.Tensor, o: dict[str, Any]) -> float:
    # Ignored pixels belong to no class in the one-hot map and are left out of the mean.
    classes = x.shape[1]
    target = y.numpy()
    if classes == 1:
        onehot = (target == 1)[:, None]
        probs = torch.sigmoid(x)
    else:
        onehot = np.stack([target == k for k in range(classes)], axis=1)
        probs = torch.softmax(x, dim=1)
    dist = torch.from_numpy(np.stack([one_hot2dist(image) for image in onehot]))
    product = (probs * dist).sum(dim=1)
    valid = y != IGNORE
    return (product[valid].sum() / (valid.sum() * classes)).item()


REFERENCES: dict[str, tuple[str, Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], float]]] = {
    "ce": ("torch.nn.functional.cross_entropy / nll_loss(log p)", ref_ce),
    "bce": ("torch.nn.functional.binary_cross_entropy_with_logits on non-ignored pixels", ref_bce),
    "focal_softmax": (
        "torch ops: -(1 - p_t)^gamma log p_t (alpha[y]), mean over non-ignored",
        ref_focal_softmax,
    ),
    "focal_sigmoid": ("torchvision sigmoid_focal_loss formula, reduction mean", ref_focal_sigmoid),
    "dice_smp": ("smp DiceLoss", lambda x, y, o: ref_smp_overlap(x, y, o, jaccard=False)),
    "jaccard_smp": ("smp JaccardLoss", lambda x, y, o: ref_smp_overlap(x, y, o, jaccard=True)),
    "dice_monai": ("monai DiceLoss", lambda x, y, o: ref_monai_overlap(x, y, o, jaccard=False)),
    "jaccard_monai": (
        "monai DiceLoss(jaccard=True)",
        lambda x, y, o: ref_monai_overlap(x, y, o, jaccard=True),
    ),
    "lovasz": ("smp LovaszLoss", ref_lovasz),
    "boundary": ("torch ops + LIVIAETS one_hot2dist (scipy EDT)", ref_boundary),
}

IGN = {"ignore_index": IGNORE}
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    # (fixture, segeval term, reference key, LossOptions keywords)
    ("multiclass", "ce", "ce", IGN),
    ("multiclass", "ce", "ce", {**IGN, "class_weights": [0.5, 2.0, 1.0, 3.0, 0.7]}),
    ("multiclass", "ce", "ce", {**IGN, "label_smoothing": 0.1}),
    (
        "multiclass",
        "ce",
        "ce",
        {**IGN, "label_smoothing": 0.2, "class_weights": [0.5, 2.0, 1.0, 3.0, 0.7]},
    ),
    ("multiclass_full", "ce", "ce", {}),
    ("multiclass_probs", "ce", "ce", {**IGN, "input": "probs"}),
    ("multiclass", "focal", "focal_softmax", IGN),
    (
        "multiclass",
        "focal",
        "focal_softmax",
        {**IGN, "gamma": 0.5, "alpha": [0.25, 0.5, 1.0, 2.0, 1.0]},
    ),
    ("multiclass", "dice", "dice_smp", IGN),
    ("multiclass", "dice", "dice_smp", {**IGN, "smooth": 1.0}),
    ("multiclass_full", "dice", "dice_smp", {}),
    ("multiclass_probs", "dice", "dice_smp", {**IGN, "input": "probs"}),
    ("multiclass", "jaccard", "jaccard_smp", IGN),
    ("multiclass", "jaccard", "jaccard_smp", {**IGN, "smooth": 1.0}),
    ("multiclass", "dice", "dice_monai", {**IGN, "convention": "monai"}),
    ("multiclass_full", "dice", "dice_monai", {"convention": "monai"}),
    ("multiclass", "jaccard", "jaccard_monai", {**IGN, "convention": "monai"}),
    ("multiclass_full", "jaccard", "jaccard_monai", {"convention": "monai", "smooth": 0.5}),
    ("multiclass", "lovasz", "lovasz", IGN),
    ("multiclass", "lovasz", "lovasz", {**IGN, "lovasz_per_image": True}),
    ("multiclass_full", "lovasz", "lovasz", {}),
    ("multiclass", "boundary", "boundary", IGN),
    ("multiclass_full", "boundary", "boundary", {}),
    ("binary", "bce", "bce", IGN),
    ("binary", "bce", "bce", {**IGN, "pos_weight": 2.5}),
    ("binary", "focal", "focal_sigmoid", IGN),
    ("binary", "focal", "focal_sigmoid", {**IGN, "gamma": 1.5, "alpha": 0.6}),
    ("binary", "focal", "focal_sigmoid", {**IGN, "alpha": -1.0}),
    ("binary", "dice", "dice_smp", IGN),
    ("binary", "jaccard", "jaccard_smp", IGN),
    ("binary", "dice", "dice_monai", {**IGN, "convention": "monai"}),
    ("binary", "jaccard", "jaccard_monai", {**IGN, "convention": "monai"}),
    ("binary", "lovasz", "lovasz", IGN),
    ("binary", "lovasz", "lovasz", {**IGN, "lovasz_per_image": True}),
    ("binary", "boundary", "boundary", IGN),
]


def versions() -> dict[str, str]:
    import monai

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "segmentation-models-pytorch": importlib.metadata.version("segmentation-models-pytorch"),
        "monai": monai.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torchvision": "not installed (formula of torchvision/ops/focal_loss.py rewritten)",
    }


def main(out_dir: Path) -> None:
    torch.use_deterministic_algorithms(True)
    out_dir.mkdir(parents=True, exist_ok=True)
    fixtures = make_fixtures()
    for name, arrays in fixtures.items():
        np.savez_compressed(
            out_dir / f"{name}.npz", scores=arrays["scores"], target=arrays["target"]
        )
    cases: list[dict[str, Any]] = []
    for fixture, term, key, options in CASES:
        reference, function = REFERENCES[key]
        x, y = _tensors(fixtures[fixture])
        cases.append(
            {
                "id": f"{fixture}-{key}-{len(cases)}",
                "fixture": fixture,
                "term": term,
                "options": options,
                "reference": reference,
                "value": function(x, y, options),
                "per_image": [function(x[i : i + 1], y[i : i + 1], options) for i in range(len(x))],
            }
        )
    golden = {"generator": "scripts/make_loss_golden.py", "versions": versions(), "cases": cases}
    (out_dir / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(f"{len(cases)} cases, fixtures {sorted(fixtures)} -> {out_dir}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/losses"))
