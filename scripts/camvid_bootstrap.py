"""The CamVid numbers of docs/statistics.md: mIoU intervals, image-level and by sequence.

Per-image counts come straight from numpy (pairs by file name, 11 classes,
ground-truth 11 ignored), independent of segeval's scorer, then go through
segeval.stats. Usage: python scripts/camvid_bootstrap.py [CAMVID_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from segeval.stats import (
    CAMVID_SEQUENCE,
    ImageCountTable,
    bootstrap_ci,
    groups_from_regex,
    paired_bootstrap,
)

CLASSES, IGNORE = 11, 11


def count_table(gt_dir: Path, pred_dir: Path) -> ImageCountTable:
    rows = []
    for gt_path in sorted(gt_dir.glob("*.png")):
        gt = np.asarray(Image.open(gt_path)).astype(np.int64).ravel()
        pred = np.asarray(Image.open(pred_dir / gt_path.name)).astype(np.int64).ravel()
        keep = gt != IGNORE
        matrix = np.bincount(gt[keep] * CLASSES + pred[keep], minlength=CLASSES**2)
        matrix = matrix.reshape(CLASSES, CLASSES)
        tp = np.diag(matrix)
        rows.append((gt_path.stem, tp, matrix.sum(axis=0) - tp, matrix.sum(axis=1) - tp))
    return ImageCountTable.from_rows(rows, num_classes=CLASSES)


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/camvid")
    tables = {
        name: count_table(root / "testannot", root / f"pred_{name}") for name in ("weak", "hgb")
    }
    groups = groups_from_regex(tables["hgb"].keys, CAMVID_SEQUENCE)
    sizes = {group: list(groups.values()).count(group) for group in sorted(set(groups.values()))}
    print(f"{tables['hgb'].num_images} images; sequences {sizes}")
    print(f"table: {tables['hgb'].nbytes} bytes ({tables['hgb'].counts.dtype}), "
          f"JSON {len(json.dumps(tables['hgb'].to_dict()))} bytes")  # fmt: skip
    settings = {"n_resamples": 2000, "seed": 18}
    for name, table in tables.items():
        for label, grouping in (("image", None), ("sequence", groups)):
            for method in ("bca", "percentile"):
                result = bootstrap_ci(table, ["miou", "pixel_accuracy"], groups=grouping,
                                      method=method, **settings)  # fmt: skip
                miou = result.summary["miou"]
                print(f"{name:5} {label:9} {method:10} mIoU {miou.format(4)} "
                      f"width {miou.high - miou.low:.4f}; pixel acc. "
                      f"{result.summary['pixel_accuracy'].format(4)}")  # fmt: skip
    for label, grouping in (("image", None), ("sequence", groups)):
        for method in ("bca", "percentile"):
            paired = paired_bootstrap(tables["weak"], tables["hgb"], ["miou"], groups=grouping,
                                      method=method, **settings)  # fmt: skip
            diff = paired.summary["miou"]
            print(f"hgb - weak {label:9} {method:10} mIoU {diff.estimate:+.4f} "
                  f"[{diff.low:+.4f}, {diff.high:+.4f}] p = {diff.p_value:.4g} "
                  f"(units {paired.num_units})")  # fmt: skip


if __name__ == "__main__":
    main()
