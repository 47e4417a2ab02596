"""Mask readers: every supported PNG mode and NPY, and the errors for the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

import segeval.io.image
from segeval.errors import MaskReadError
from segeval.io import read_mask, sniff_format
from tests.conftest import save_mask

LABELS = np.array([[0, 1, 2], [3, 4, 255]], dtype=np.uint8)


@pytest.mark.parametrize("mode", ["L", "P"])
def test_8bit_png_gives_the_stored_labels(tmp_path: Path, mode: str) -> None:
    path = save_mask(tmp_path / "m.png", LABELS, mode)
    with Image.open(path) as image:
        assert image.mode == mode
    labels = read_mask(path)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, LABELS)


def test_palette_png_gives_indices_not_colours(tmp_path: Path) -> None:
    # Index 1 is drawn in a colour whose grey value would be neither 1 nor anything near.
    path = save_mask(tmp_path / "m.png", np.array([[1, 7]]), "P")
    assert read_mask(path).tolist() == [[1, 7]]


def test_16bit_png_keeps_values_above_255(tmp_path: Path) -> None:
    labels = np.array([[0, 300], [1000, 65535]], dtype=np.uint16)
    path = save_mask(tmp_path / "m.png", labels, "I;16")
    with Image.open(path) as image:
        assert image.mode == "I;16"
    result = read_mask(path)
    assert result.dtype == np.uint16
    np.testing.assert_array_equal(result, labels)


def test_32bit_integer_image_mode_i(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow 13 opens 16-bit PNGs as I;16; older releases gave mode I. The reader's
    # handling of mode I is exercised through a TIFF opened by the same code path.
    labels = np.array([[0, 70000], [5, 2]], dtype=np.int32)
    path = tmp_path / "m.tif"
    Image.fromarray(labels).save(path)
    monkeypatch.setattr(
        segeval.io.image.PngImagePlugin, "PngImageFile", TiffImagePlugin.TiffImageFile
    )
    result = segeval.io.image.read_image(path)
    assert result.dtype == np.int32
    np.testing.assert_array_equal(result, labels)


def test_1bit_png_gives_zeros_and_ones(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.png", np.array([[0, 1], [1, 0]]), "1")
    result = read_mask(path)
    assert result.dtype == np.uint8
    assert result.tolist() == [[0, 1], [1, 0]]


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.int64, np.uint16])
def test_npy_integer_arrays(tmp_path: Path, dtype: type) -> None:
    labels = np.array([[0, 1], [2, 3]], dtype=dtype)
    path = save_mask(tmp_path / "m.npy", labels)
    result = read_mask(path)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, labels)


def test_npy_with_trailing_channel_axis_is_squeezed(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.npy", np.zeros((4, 5, 1), dtype=np.uint8))
    assert read_mask(path).shape == (4, 5)


def test_npy_bool_becomes_uint8(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.npy", np.array([[True, False]]))
    result = read_mask(path)
    assert result.dtype == np.uint8
    assert result.tolist() == [[1, 0]]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("RGB", "got a colour image (mode 'RGB')"), ("RGBA", "got a colour image (mode 'RGBA')")],
)
def test_colour_png_is_refused_with_a_hint(tmp_path: Path, mode: str, expected: str) -> None:
    path = tmp_path / "m.png"
    Image.new(mode, (3, 2)).save(path)
    with pytest.raises(MaskReadError, match=r"m\.png: expected a single-channel") as info:
        read_mask(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_float_npy_is_refused(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.npy", np.array([[0.0, 1.5]]))
    with pytest.raises(
        MaskReadError, match=r"m\.npy: expected integer class ids, got dtype float64"
    ):
        read_mask(path)


def test_float_image_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.tif"
    Image.fromarray(np.array([[0.5, 1.0]], dtype=np.float32)).save(path)
    monkeypatch.setattr(
        segeval.io.image.PngImagePlugin, "PngImageFile", TiffImagePlugin.TiffImageFile
    )
    with pytest.raises(MaskReadError, match=r"got floating-point pixels \(mode 'F'\)"):
        segeval.io.image.read_image(path)


def test_3d_npy_is_refused(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.npy", np.zeros((2, 3, 3), dtype=np.uint8))
    with pytest.raises(MaskReadError, match=r"expected a 2-D label array, got shape \(2, 3, 3\)"):
        read_mask(path)


def test_object_npy_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "m.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(MaskReadError, match=r"m\.npy: cannot load the NPY array"):
        read_mask(path)


def test_truncated_png_is_reported(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.png", np.arange(10000).reshape(100, 100) % 7)
    path.write_bytes(path.read_bytes()[:80])
    with pytest.raises(
        MaskReadError, match=r"m\.png: cannot decode the image .* truncated or corrupt"
    ):
        read_mask(path)


def test_empty_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    path.write_bytes(b"")
    with pytest.raises(MaskReadError, match=r"m\.png: the file is empty"):
        read_mask(path)


def test_jpeg_disguised_as_png_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    Image.new("L", (4, 4)).save(path, format="JPEG")
    with pytest.raises(MaskReadError, match=r"m\.png: this is a JPEG file; lossy compression"):
        read_mask(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(MaskReadError, match=r"nope\.png: cannot open the file"):
        read_mask(tmp_path / "nope.png")


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\x93NUMPY\x01\x00", "npy"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"II*\x00", "tiff"),
        (b"", "empty"),
        (b"text", "unknown"),
    ],
)
def test_sniff_format(head: bytes, name: str) -> None:
    assert sniff_format(head) == name
