"""Reference numbers of the official Cityscapes evaluator on a synthetic set with instances.

Run in its own venv (cityscapesScripts 2.3.0 calls ``np.in1d``, removed in numpy
2.4): ``make cityscapes-golden`` builds ``.venv-cityscapes`` and runs
``python scripts/make_cityscapes_golden.py tests/golden/cityscapes_instances``.

It writes a small Cityscapes-layout set (labelIds, instanceIds, predictions in
labelIds: seeded blobs, instances of every instance class, predictions of the
ignored caravan and trailer labels) into the output folder, runs the official
``evalPixelLevelSemanticLabeling`` on it (CITYSCAPES_DATASET / _RESULTS /
_EXPORT_DIR) and stores its class and category IoU and iIoU, with the version,
in ``official.json`` there. ``tests/test_instances.py`` recomputes them from the
same files with numpy only.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

LABEL_IDS = [
    0,
    1,
    4,
    6,
    7,
    8,
    9,
    11,
    12,
    17,
    19,
    20,
    21,
    23,
    24,
    25,
    26,
    27,
    28,
    29,
    30,
    31,
    32,
    33,
]
INSTANCE_IDS = {24, 25, 26, 27, 28, 29, 30, 31, 32, 33}


def synthetic(seed: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """labelIds, instanceIds and a labelId prediction of one image."""
    rng = np.random.default_rng(seed)
    labels = np.full(shape, 7, dtype=np.uint8)  # road
    instances = np.full(shape, 7, dtype=np.uint16)  # Cityscapes stores them as 16-bit PNGs
    counters: dict[int, int] = {}
    for _ in range(14):
        label = int(rng.choice(LABEL_IDS))
        top, left = rng.integers(0, shape[0] - 8), rng.integers(0, shape[1] - 8)
        height, width = rng.integers(4, shape[0] // 2), rng.integers(4, shape[1] // 3)
        region = (slice(top, top + height), slice(left, left + width))
        labels[region] = label
        if label in INSTANCE_IDS:
            counters[label] = counters.get(label, 0) + 1
            instances[region] = label * 1000 + counters[label]
        else:
            instances[region] = label
    prediction = labels.copy()
    noise = rng.random(shape) < 0.25
    prediction[noise] = rng.choice(LABEL_IDS, size=int(noise.sum()))
    # Whole-blob confusions, caravan and trailer among them.
    prediction[labels == 26] = np.where(rng.random(int((labels == 26).sum())) < 0.3, 29, 26)
    prediction[labels == 24] = np.where(rng.random(int((labels == 24).sum())) < 0.3, 25, 24)
    return labels, instances, prediction.astype(np.uint8)


def main(output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(4):
        labels, instances, prediction = synthetic(index, (48, 96))
        stem = f"synth_000000_{index:06d}"
        Image.fromarray(labels).save(output / f"{stem}_gtFine_labelIds.png")
        Image.fromarray(instances).save(output / f"{stem}_gtFine_instanceIds.png")
        Image.fromarray(prediction).save(output / f"{stem}_pred.png")
        names.append(stem)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        gt = root / "gtFine" / "val" / "synth"
        results = root / "results"
        gt.mkdir(parents=True)
        results.mkdir()
        for stem in names:
            for suffix in ("_gtFine_labelIds.png", "_gtFine_instanceIds.png"):
                (gt / f"{stem}{suffix}").write_bytes((output / f"{stem}{suffix}").read_bytes())
            (results / f"{stem}_pred.png").write_bytes((output / f"{stem}_pred.png").read_bytes())
        os.environ.update(
            CITYSCAPES_DATASET=str(root), CITYSCAPES_RESULTS=str(results),
            CITYSCAPES_EXPORT_DIR=str(root),
        )  # fmt: skip
        from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official

        official.args.quiet = True
        assert official.args.evalInstLevelScore
        sys.argv = sys.argv[:1]  # its main() reads image lists from any arguments
        official.main()
        result = json.loads((root / "resultPixelLevelSemanticLabeling.json").read_text())
    keep = ("classScores", "classInstScores", "categoryScores", "categoryInstScores",
            "averageScoreClasses", "averageScoreInstClasses", "averageScoreCategories",
            "averageScoreInstCategories")  # fmt: skip
    document = {
        "generator": "scripts/make_cityscapes_golden.py",
        "versions": {
            "cityscapesscripts": importlib.metadata.version("cityscapesscripts"),
            "numpy": np.__version__,
        },
        "images": names,
        **{key: result[key] for key in keep},
    }
    text = json.dumps(document, indent=1, allow_nan=True)
    (output / "official.json").write_text(text + "\n", encoding="utf-8")
    print(f"{len(names)} images -> {output / 'official.json'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/cityscapes_instances"))
