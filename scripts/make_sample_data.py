"""Regenerate sample_data/ byte for byte.

A small street-scene set: 12 ground-truth masks (8-bit grayscale PNG, two of
them in the subfolder ``night/``) with some ignore pixels (255), and 12
predictions (palette PNGs and one NPY array) with boundary errors and wrong
blobs. Six named classes; ``water`` appears on neither side.

``logits/`` holds the same predictions as the scores a model would have written
for ``segeval loss``: one float16 ``(6, 64, 96)`` NPY per image, whose argmax is
the predicted mask, confident inside regions and hesitant within 3 pixels of a
predicted boundary (values on a 0.5 grid, so that they compress well in git).

PNGs are written by the small encoder below with stored (uncompressed) deflate
blocks, so the bytes do not depend on the zlib build of the machine.

Usage: python scripts/make_sample_data.py [OUTPUT_DIR]   (default: sample_data)
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np

CLASS_NAMES = ["background", "road", "building", "vegetation", "vehicle", "water"]
PALETTE = [(0, 0, 0), (128, 64, 128), (70, 70, 70), (107, 142, 35), (0, 0, 142), (0, 120, 255)]
IGNORE = 255
HEIGHT, WIDTH = 64, 96
NAMES = [f"street_{index:02d}" for index in range(1, 11)] + ["night/street_11", "night/street_12"]


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def _stored_zlib(raw: bytes) -> bytes:
    """A zlib stream of stored deflate blocks (deterministic on every zlib)."""
    blocks = []
    for start in range(0, len(raw), 65535):
        block = raw[start : start + 65535]
        final = 1 if start + 65535 >= len(raw) else 0
        blocks.append(struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF) + block)
    return b"\x78\x01" + b"".join(blocks) + struct.pack(">I", zlib.adler32(raw))


def encode_png(labels: np.ndarray, palette: list[tuple[int, int, int]] | None = None) -> bytes:
    """8-bit grayscale PNG, or palette PNG when a palette is given."""
    height, width = labels.shape
    colour_type = 3 if palette else 0
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    rows = b"".join(b"\x00" + labels[row].astype(np.uint8).tobytes() for row in range(height))
    chunks = [_chunk(b"IHDR", header)]
    if palette:
        full = palette + [(255, 255, 255)] * (256 - len(palette))
        chunks.append(_chunk(b"PLTE", bytes(value for colour in full for value in colour)))
    chunks.append(_chunk(b"IDAT", _stored_zlib(rows)))
    chunks.append(_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def make_scene(rng: np.random.Generator) -> np.ndarray:
    """A street scene: background sky, buildings, vegetation, road and vehicles."""
    gt = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    horizon = int(rng.integers(22, 34))
    for _ in range(int(rng.integers(2, 5))):
        left = int(rng.integers(0, WIDTH - 20))
        width = int(rng.integers(12, 30))
        top = int(rng.integers(4, horizon - 6))
        gt[top:horizon, left : left + width] = 2
    for _ in range(int(rng.integers(1, 4))):
        centre_y, centre_x = (
            int(rng.integers(horizon - 10, horizon + 4)),
            int(rng.integers(0, WIDTH)),
        )
        radius = int(rng.integers(5, 11))
        yy, xx = np.ogrid[:HEIGHT, :WIDTH]
        gt[(yy - centre_y) ** 2 + (xx - centre_x) ** 2 <= radius**2] = 3
    gt[horizon + 6 :, :] = 1
    for _ in range(int(rng.integers(0, 3))):
        top, left = int(rng.integers(horizon + 4, HEIGHT - 10)), int(rng.integers(0, WIDTH - 18))
        gt[top : top + int(rng.integers(6, 10)), left : left + int(rng.integers(10, 18))] = 4
    # Unlabelled pixels: a strip along one region boundary and a few specks.
    gt[horizon + 5 : horizon + 7, :] = IGNORE
    specks = rng.random((HEIGHT, WIDTH)) < 0.01
    gt[specks] = IGNORE
    return gt


def make_prediction(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The ground truth with shifted boundaries, a wrong blob and no ignore pixels."""
    shift = int(rng.integers(-2, 3))
    pred = np.roll(gt, shift, axis=1).copy()
    pred[pred == IGNORE] = 1
    top, left = int(rng.integers(0, HEIGHT - 12)), int(rng.integers(0, WIDTH - 12))
    pred[top : top + int(rng.integers(4, 12)), left : left + int(rng.integers(4, 12))] = int(
        rng.integers(0, 5)
    )
    noise = rng.random(gt.shape) < 0.02
    pred[noise] = rng.integers(0, 5, size=int(noise.sum()))
    return pred.astype(np.uint8)


def _edge_distance(pred: np.ndarray, limit: int) -> np.ndarray:
    """Chessboard distance of each pixel to the nearest predicted boundary, capped at ``limit``."""
    edge = np.zeros(pred.shape, dtype=bool)
    edge[1:] |= pred[1:] != pred[:-1]
    edge[:-1] |= pred[1:] != pred[:-1]
    edge[:, 1:] |= pred[:, 1:] != pred[:, :-1]
    edge[:, :-1] |= pred[:, 1:] != pred[:, :-1]
    distance = np.full(pred.shape, limit, dtype=np.int64)
    reached = edge
    for step in range(limit):
        distance[reached & (distance == limit)] = step
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        reached = grown
    return distance


def make_logits(pred: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scores whose argmax is ``pred``: a margin of 1 on a boundary up to 4 inside a region.

    The runner-up classes get a little noise (0 or 0.5), ``water`` stays at -1.
    """
    margin = 1.0 + _edge_distance(pred, 3)
    logits = np.zeros((len(CLASS_NAMES), *pred.shape))
    logits += 0.5 * (rng.random(logits.shape) < 0.3)
    logits[len(CLASS_NAMES) - 1] = -1.0
    np.put_along_axis(logits, pred[None].astype(np.intp), margin[None] + 0.5, axis=0)
    return logits.astype(np.float16)


def write_sample(root: Path) -> None:
    """Write gt/, pred/, logits/ and class_names.txt under ``root``."""
    rng = np.random.default_rng(20261125)
    # A generator of its own, so that the masks above stay byte for byte what they were.
    logits_rng = np.random.default_rng(20261128)
    for name in NAMES:
        gt = make_scene(rng)
        pred = make_prediction(gt, rng)
        logits_path = root / "logits" / f"{name}.npy"
        logits_path.parent.mkdir(parents=True, exist_ok=True)
        with open(logits_path, "wb") as stream:
            np.save(stream, make_logits(pred, logits_rng), allow_pickle=False)
        gt_path = root / "gt" / f"{name}.png"
        gt_path.parent.mkdir(parents=True, exist_ok=True)
        gt_path.write_bytes(encode_png(gt))
        pred_path = root / "pred" / name
        pred_path.parent.mkdir(parents=True, exist_ok=True)
        if name == "street_05":
            # One prediction stored as an array: pairing ignores the extension.
            with open(pred_path.with_suffix(".npy"), "wb") as stream:
                np.save(stream, pred.astype(np.int64), allow_pickle=False)
        else:
            pred_path.with_suffix(".png").write_bytes(encode_png(pred, PALETTE))
    (root / "class_names.txt").write_text("\n".join(CLASS_NAMES) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_sample(Path(sys.argv[1] if len(sys.argv) > 1 else "sample_data"))
