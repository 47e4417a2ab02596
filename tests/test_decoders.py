"""The fast PNG decoder and Pillow give bit-identical labels, or the fast one steps aside."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import segeval.io.png
from segeval.errors import MaskReadError
from segeval.io import ColorTable, ReadOptions, read_mask
from segeval.io.png import active_decoder
from tests.helpers import png_chunk, save_mask

imagecodecs = pytest.importorskip("imagecodecs")


def packed_gray_png(labels: np.ndarray, bit_depth: int) -> bytes:
    """A grayscale PNG with 1, 2 or 4 bits per pixel holding the raw labels."""
    height, width = labels.shape
    per_byte = 8 // bit_depth
    rows = []
    for row in labels:
        padded = np.zeros(-(-width // per_byte) * per_byte, dtype=np.uint8)
        padded[:width] = row
        groups = padded.reshape(-1, per_byte)
        shifts = np.arange(per_byte - 1, -1, -1) * bit_depth
        rows.append(b"\x00" + (groups << shifts).sum(axis=1).astype(np.uint8).tobytes())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + png_chunk(b"IEND", b"")
    )


def _both(
    path: Path, monkeypatch: pytest.MonkeyPatch, options: ReadOptions | None = None
) -> np.ndarray:
    fast = read_mask(path, options)
    # SEGEVAL_DECODER=pillow is the public switch, but it is read once and cached per
    # process, so the tests replace the cached lookup (a private function) instead.
    with monkeypatch.context() as patch:
        patch.setattr(segeval.io.png, "_imagecodecs", lambda: None)
        slow = read_mask(path, options)
    assert fast.dtype == slow.dtype, path.name
    np.testing.assert_array_equal(fast, slow)
    return fast


RNG = np.random.default_rng(11)
LABELS = RNG.integers(0, 19, size=(37, 53)).astype(np.uint8)
LABELS[:5] = 255


@pytest.mark.parametrize("mode", ["L", "P", "I;16", "1"])
def test_pillow_written_modes_are_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    by_mode: dict[str, np.ndarray] = {
        "L": LABELS,
        "P": LABELS,
        "I;16": LABELS.astype(np.uint16) * 257,
        "1": LABELS % 2,
    }
    labels = by_mode[mode]
    path = save_mask(tmp_path / "m.png", labels, mode)
    result = _both(path, monkeypatch)
    np.testing.assert_array_equal(result, labels)


@pytest.mark.parametrize("bit_depth", [1, 2, 4])
def test_low_bit_depth_gray_keeps_raw_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bit_depth: int
) -> None:
    labels = RNG.integers(0, 1 << bit_depth, size=(9, 13)).astype(np.uint8)
    (tmp_path / "m.png").write_bytes(packed_gray_png(labels, bit_depth))
    np.testing.assert_array_equal(_both(tmp_path / "m.png", monkeypatch), labels)


def test_gray_with_transparency_and_interlaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.fromarray(LABELS).save(tmp_path / "t.png", transparency=3)
    np.testing.assert_array_equal(_both(tmp_path / "t.png", monkeypatch), LABELS)
    Image.fromarray(LABELS).save(tmp_path / "i.png", interlace=1)
    np.testing.assert_array_equal(_both(tmp_path / "i.png", monkeypatch), LABELS)


def test_colour_masks_are_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    palette = {(i * 13 % 256, i * 7 % 256, 255 - i): i for i in range(19)}
    palette[(0, 0, 0)] = 255
    colours = np.zeros((256, 3), np.uint8)
    for color, value in palette.items():
        colours[value] = color
    Image.fromarray(colours[LABELS]).save(tmp_path / "rgb.png")
    options = ReadOptions(colors=ColorTable(palette))
    np.testing.assert_array_equal(_both(tmp_path / "rgb.png", monkeypatch, options), LABELS)


def test_corrupt_png_falls_back_and_is_reported(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.png", LABELS)
    data = bytearray(path.read_bytes())
    data[60:80] = b"\x00" * 20  # damage the compressed data
    path.write_bytes(bytes(data))
    with pytest.raises(MaskReadError, match=r"m\.png: .*(truncated or corrupt|cannot decode)"):
        read_mask(path)


def _png(width: int, height: int, rows: bytes, extra: bytes = b"") -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + extra
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def _rows(width: int, height: int) -> bytes:
    return b"".join(b"\x00" + bytes(range(row, row + width)) for row in range(height))


@pytest.mark.parametrize("decoder", ["imagecodecs", "pillow"])
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        pytest.param(
            "short.png", _png(8, 6, _rows(8, 3)), "ends before the last row", id="short-stream"
        ),
        pytest.param(
            "animated.png",
            _png(8, 6, _rows(8, 6), extra=png_chunk(b"acTL", struct.pack(">II", 2, 0))),
            "animated PNG",
            id="apng",
        ),
    ],
)
def test_a_png_refused_by_one_decoder_is_refused_by_both(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    decoder: str,
    name: str,
    data: bytes,
    message: str,
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    if decoder == "pillow":
        monkeypatch.setattr(segeval.io.png, "_imagecodecs", lambda: None)
    with pytest.raises(MaskReadError, match=message):
        read_mask(path)


def test_a_complete_png_passes_the_structure_check(tmp_path: Path) -> None:
    path = tmp_path / "whole.png"
    path.write_bytes(_png(8, 6, _rows(8, 6)))
    assert read_mask(path).tolist()[5] == list(range(5, 13))


def test_active_decoder_names_imagecodecs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert active_decoder().startswith("imagecodecs ")
    monkeypatch.setattr(segeval.io.png, "_imagecodecs", lambda: None)
    assert active_decoder().startswith("pillow ")
