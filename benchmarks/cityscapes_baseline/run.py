"""Time the official cityscapesScripts pixel-level evaluator on a segeval benchmark set.

Usage, from the repo root, with PY = benchmarks/.cache/cityscapes-venv/bin/python (setup.sh):

    $PY benchmarks/cityscapes_baseline/run.py CITY_SET --limit N

CITY_SET holds ``gt/*.png`` and ``pred/*.png``: 8-bit label maps in Cityscapes trainIds
(0..18, 255 = void). The first N pairs (sorted by name) are copied once into the layout the
evaluator expects, under ``benchmarks/.cache/cityscapes-layout-N/`` (rebuilt when the source
set or its files change):

    gtFine/val/segeval/segeval_000000_NNNNNN_gtFine_labelIds.png     trainId -> labelId, 255 -> 0
    gtFine/val/segeval/segeval_000000_NNNNNN_gtFine_instanceIds.png  same file (hard link)
    results/segeval/segeval_000000_NNNNNN_leftImg8bit.png            prediction, trainId -> labelId

using the official table in ``cityscapesscripts.helpers.labels``. The evaluator module is then
imported and run in-process in its fastest configuration: C extension (CSUPPORT), instance-level
scores (iIoU) off, pixel accuracy off, no JSON export, quiet. Only the call of its own
``evaluateImgLists`` is timed (time.perf_counter); finding the files and pairing them (its own
``getPrediction``) is done before. The result is the evaluator's own: class IoUs from its
confusion matrix, never recomputed here.

stderr: diagnostics. Last stdout line: JSON {"seconds", "pairs", "pixels", "iou": {trainId
class name: IoU or null}, "average": averageScoreClasses, ...}.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.metadata
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "benchmarks" / ".cache"
CITY, SEQ = "segeval", "000000"
MANIFEST = "layout.json"
LAYOUT_VERSION = 1


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train_to_label_lut() -> tuple[np.ndarray, list[str]]:
    """trainId -> labelId by the official table; 255 -> 0 ('unlabeled'); other values invalid."""
    from cityscapesscripts.helpers.labels import id2label, labels

    lut = np.full(256, -1, dtype=np.int16)
    names: dict[int, str] = {}
    for label in labels:
        if 0 <= label.trainId < 255 and not label.ignoreInEval and label.id >= 0:
            if label.trainId in names:
                raise SystemExit(f"trainId {label.trainId} used twice in the official table")
            lut[label.trainId] = label.id
            names[label.trainId] = label.name
    if sorted(names) != list(range(19)):
        raise SystemExit(f"official table gives trainIds {sorted(names)}, expected 0..18")
    lut[255] = 0
    assert id2label[0].name == "unlabeled"
    return lut, [names[t] for t in range(19)]


def to_label_ids(path: Path, lut: np.ndarray) -> np.ndarray:
    with Image.open(path) as image:
        if image.mode not in ("L", "P"):
            raise SystemExit(f"{path}: expected an 8-bit single-channel PNG, got mode {image.mode}")
        train = np.asarray(image)
    mapped = lut[train]
    if (mapped < 0).any():
        bad = sorted(set(np.unique(train[mapped < 0]).tolist()))
        raise SystemExit(f"{path}: values {bad} are neither trainIds 0..18 nor 255")
    return mapped.astype(np.uint8)


def source_pairs(city_set: Path, limit: int) -> list[tuple[Path, Path]]:
    gts = sorted((city_set / "gt").glob("*.png"))
    if limit < 1 or len(gts) < limit:
        raise SystemExit(f"{city_set}/gt has {len(gts)} PNGs, --limit {limit} asks for {limit}")
    pairs = []
    for gt in gts[:limit]:
        pred = city_set / "pred" / gt.name
        if not pred.is_file():
            raise SystemExit(f"no prediction {pred} for {gt}")
        pairs.append((gt, pred))
    return pairs


def fingerprint(city_set: Path, pairs: list[tuple[Path, Path]]) -> dict:
    def stat(p: Path) -> list:
        s = p.stat()
        return [p.name, s.st_size, s.st_mtime_ns]

    return {
        "version": LAYOUT_VERSION,
        "source": str(city_set.resolve()),
        "cityscapesscripts": importlib.metadata.version("cityscapesscripts"),
        "gt": [stat(g) for g, _ in pairs],
        "pred": [stat(p) for _, p in pairs],
    }


def ensure_layout(city_set: Path, limit: int) -> tuple[Path, dict]:
    """The Cityscapes-layout copy of the first ``limit`` pairs (built once, then reused)."""
    pairs = source_pairs(city_set, limit)
    layout = CACHE / f"cityscapes-layout-{limit}"
    wanted = fingerprint(city_set, pairs)
    try:
        manifest = json.loads((layout / MANIFEST).read_text())
        if manifest["fingerprint"] == wanted:
            log(f"reusing {layout}")
            return layout, manifest
        log(f"{layout} was made from other files: rebuilding")
    except (OSError, ValueError, KeyError):
        pass

    lut, _ = train_to_label_lut()
    tmp = CACHE / f"cityscapes-layout-{limit}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    gt_dir = tmp / "gtFine" / "val" / CITY
    res_dir = tmp / "results" / CITY
    gt_dir.mkdir(parents=True)
    res_dir.mkdir(parents=True)
    started = time.perf_counter()
    pixels = 0
    names = []
    for index, (gt_path, pred_path) in enumerate(pairs):
        stem = f"{CITY}_{SEQ}_{index:06d}"
        gt = to_label_ids(gt_path, lut)
        pred = to_label_ids(pred_path, lut)
        if gt.shape != pred.shape:
            raise SystemExit(f"{gt_path} is {gt.shape}, {pred_path} is {pred.shape}")
        label_file = gt_dir / f"{stem}_gtFine_labelIds.png"
        Image.fromarray(gt).save(label_file)
        # Only read when instance-level scores are on; labelIds values are valid instanceIds.
        os.link(label_file, gt_dir / f"{stem}_gtFine_instanceIds.png")
        Image.fromarray(pred).save(res_dir / f"{stem}_leftImg8bit.png")
        pixels += gt.size
        names.append([stem, gt_path.name])
    manifest = {"fingerprint": wanted, "pairs": len(pairs), "pixels": pixels, "files": names}
    (tmp / MANIFEST).write_text(json.dumps(manifest) + "\n")
    shutil.rmtree(layout, ignore_errors=True)
    tmp.rename(layout)
    log(f"built {layout}: {len(pairs)} pairs in {time.perf_counter() - started:.1f} s")
    return layout, manifest


def build_stamp() -> dict | None:
    import cityscapesscripts.evaluation as evaluation

    try:
        stamp_file = Path(evaluation.__file__).parent / "addToConfusionMatrix.build.json"
        return json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "city_set", type=Path, help="folder with gt/*.png and pred/*.png (trainIds)"
    )
    parser.add_argument("--limit", type=int, required=True, help="first N pairs")
    parser.add_argument(
        "--allow-python",
        action="store_true",
        help="run even without the C extension (pure-Python path)",
    )
    options = parser.parse_args()

    layout, manifest = ensure_layout(options.city_set, options.limit)
    _, train_names = train_to_label_lut()

    # The module reads these at import time.
    os.environ["CITYSCAPES_DATASET"] = str(layout)
    os.environ["CITYSCAPES_RESULTS"] = str(layout / "results")
    os.environ["CITYSCAPES_EXPORT_DIR"] = str(layout)
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as ev

    stamp = build_stamp()
    log(f"CSUPPORT = {ev.CSUPPORT}; extension build: {stamp['kind'] if stamp else 'none'}")
    if not ev.CSUPPORT and not options.allow_python:
        raise SystemExit(
            "the C extension is not built (CSUPPORT is False): run "
            "bash benchmarks/cityscapes_baseline/setup.sh, or pass --allow-python"
        )

    args = ev.args
    args.evalInstLevelScore = False  # no iIoU: instanceIds never opened
    args.evalPixelAccuracy = False
    args.JSONOutput = False
    args.quiet = True
    args.colorized = False
    args.bold = args.nocol = ""

    gt_list = sorted(glob.glob(args.groundTruthSearch))
    if len(gt_list) != manifest["pairs"]:
        raise SystemExit(
            f"{args.groundTruthSearch} finds {len(gt_list)} files, expected {manifest['pairs']}"
        )
    with contextlib.redirect_stdout(sys.stderr):  # its printError writes to stdout
        pred_list = [ev.getPrediction(args, gt) for gt in gt_list]
        started = time.perf_counter()
        result = ev.evaluateImgLists(pred_list, gt_list, args)
        seconds = time.perf_counter() - started

    counted = int(np.asarray(result["confMatrix"], dtype=np.uint64).sum())
    if counted != manifest["pixels"]:
        raise SystemExit(
            f"confusion matrix counts {counted} pixels, the images have {manifest['pixels']}"
        )

    def finite(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    iou = {name: finite(result["classScores"][name]) for name in train_names}
    average = finite(result["averageScoreClasses"])
    pairs = len(gt_list)
    log(
        f"official evaluator: {pairs} pairs in {seconds:.3f} s = "
        f"{1000 * seconds / pairs:.1f} ms/pair; mIoU (averageScoreClasses) {average}"
    )
    for train_id, name in enumerate(train_names):
        log(f"  {train_id:2d} {name:<14} {iou[name]}")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "pairs": pairs,
                "pixels": manifest["pixels"],
                "iou": iou,
                "average": average,
                "csupport": bool(ev.CSUPPORT),
                "extension": stamp["kind"] if (stamp and ev.CSUPPORT) else None,
                "layout": str(layout),
                "cityscapesscripts": importlib.metadata.version("cityscapesscripts"),
                "numpy": np.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
