"""Check that segeval's class IoUs equal the official evaluator's on the same pairs.

Usage (from the repo root, after setup.sh):

    python benchmarks/cityscapes_baseline/compare_segeval.py CITY_SET --limit N

Runs run.py (the official evaluator, in its venv) on the first N pairs of CITY_SET, then
``segeval score`` on the Cityscapes-layout copy run.py made (labelIds, ``--preset cityscapes``),
and compares the 19 IoUs and the mean. Exit status 0 when all are identical (``==``; both NaN
counts as equal), 1 otherwise. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_PYTHON = REPO / "benchmarks" / ".cache" / "cityscapes-venv" / "bin" / "python"
SEGEVAL = REPO / ".venv" / "bin" / "segeval"


def same(a: float | None, b: float | None) -> bool:
    a = math.nan if a is None else a
    b = math.nan if b is None else b
    return a == b or (math.isnan(a) and math.isnan(b))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("city_set", type=Path)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--segeval", type=Path, default=SEGEVAL)
    options = parser.parse_args()

    official = json.loads(
        subprocess.run(
            [
                str(VENV_PYTHON),
                str(REPO / "benchmarks" / "cityscapes_baseline" / "run.py"),
                str(options.city_set),
                "--limit",
                str(options.limit),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    layout = Path(official["layout"])
    report = json.loads(
        subprocess.run(
            [
                str(options.segeval),
                "score",
                str(layout / "results"),
                str(layout / "gtFine" / "val"),
                "--preset",
                "cityscapes",
                "--pred-suffix",
                "_leftImg8bit.png",
                "--gt-suffix",
                "_gtFine_labelIds.png",
                "--format",
                "json",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    ours = {entry["name"]: entry["iou"] for entry in report["classes"]}

    print(
        f"{official['pairs']} pairs, {official['pixels']} pixels, official extension: "
        f"{official.get('extension')}; segeval images: {report['num_images']}"
    )
    print(f"{'class':<14} {'official':>20} {'segeval':>20}")
    mismatches = 0
    for name, value in official["iou"].items():
        ok = name in ours and same(value, ours[name])
        mismatches += not ok
        print(f"{name:<14} {value!s:>20} {ours.get(name)!s:>20} {'' if ok else '  <-- differs'}")
    ok = same(official["average"], report["summary"]["miou"])
    mismatches += not ok
    print(
        f"{'mean':<14} {official['average']!s:>20} {report['summary']['miou']!s:>20} "
        f"{'' if ok else '  <-- differs'}"
    )
    print("all identical" if not mismatches else f"{mismatches} value(s) differ")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
