"""Shared test helpers: paths, tiny masks in every format, golden files.

Fixtures live in ``conftest.py``; everything a test imports lives here.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from segeval.core.per_image import ImageResult
from segeval.run.options import ScoreOptions

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
SHARED_DATA = Path(os.environ.get("SEGEVAL_SHARED_DATA", REPO.parent / "shared" / "data"))
CAMVID = SHARED_DATA / "camvid"
#: CamVid as its README says to score it (11 classes, 11 = void), per image too.
CAMVID_OPTIONS = ScoreOptions(num_classes=11, ignore_index=(11,), per_image=True)
GOLDEN = Path(__file__).parent / "golden"
#: score arguments for the sample set with its class names.
SAMPLE_ARGS = [
    str(SAMPLE / "pred"),
    str(SAMPLE / "gt"),
    "--class-names",
    str(SAMPLE / "class_names.txt"),
]


def save_mask(path: Path, labels: np.ndarray, mode: str | None = None) -> Path:
    """Write a label array as PNG (mode L, P, I;16, I or 1) or NPY, by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.asarray(labels)
    if path.suffix == ".npy":
        np.save(path, array)
        return path
    mode = mode or ("I;16" if array.max(initial=0) > 255 else "L")
    if mode == "L":
        image = Image.fromarray(array.astype(np.uint8))
    elif mode == "P":
        image = Image.fromarray(array.astype(np.uint8))
        image.putpalette([value for i in range(256) for value in (i, 255 - i, (i * 7) % 256)])
    elif mode == "I;16":
        image = Image.fromarray(array.astype(np.uint16))
    elif mode == "I":
        image = Image.fromarray(array.astype(np.int32))
    elif mode == "1":
        image = Image.fromarray(array.astype(bool))
    else:
        image = Image.fromarray(array)
    image.save(path)
    return path


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload, CRC."""
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


def png_declaring(
    width: int, height: int, bit_depth: int = 8, color_type: int = 0, data: bytes = b"\x00" * 100
) -> bytes:
    """A PNG whose header declares any size (its pixel data need not match)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(data))
        + png_chunk(b"IEND", b"")
    )


#: Numbers the tests measured (report sizes, browser render times), printed at the end
#: of the run by conftest.py so that they show without ``-s``.
MEASUREMENTS: list[str] = []


def measured(line: str) -> None:
    """Print a measurement now (with ``-s``) and again in pytest's closing summary."""
    print(line)
    MEASUREMENTS.append(line)


MaskWriter = Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], tuple[Path, Path]]


def assert_golden(name: str, text: str) -> None:
    """Compare ``text`` to ``tests/golden/NAME``; ``make golden`` rewrites the file instead.

    Golden files change only through this command, and the diff shows in review.
    """
    path = GOLDEN / name
    if os.environ.get("SEGEVAL_REGENERATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
        return
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; run make golden if intended"


class RowSink:
    """An image sink that keeps every per-image row: (key, IoU per class, mIoU)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, list[float], float]] = []

    def begin(self, class_names: Sequence[str]) -> None:
        """Nothing to do before the rows."""

    def write(self, result: ImageResult) -> None:
        """Keep one row."""
        self.rows.append((result.key, result.iou.tolist(), result.miou))
