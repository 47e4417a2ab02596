"""Mask readers: every supported PNG mode and NPY, and the errors for the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from segeval.errors import MaskReadError
from segeval.io import ColorTable, ReadOptions, read_mask, sniff_format
from tests.helpers import png_declaring, save_mask

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


@pytest.mark.parametrize(("dtype", "mode"), [(np.uint8, "L"), (np.uint16, "I;16"), (np.int32, "I")])
def test_tiff_integer_masks(tmp_path: Path, dtype: type[np.integer[Any]], mode: str) -> None:
    labels = np.array([[0, 1], [2, 200 if dtype == np.uint8 else 70000 % 65536]], dtype=dtype)
    if dtype == np.int32:
        labels[1, 1] = 70000  # beyond 16 bits: Pillow's mode I
    path = tmp_path / "m.tif"
    Image.fromarray(labels).save(path)
    with Image.open(path) as image:
        assert image.mode == mode
    result = read_mask(path)
    np.testing.assert_array_equal(result, labels)


def test_multi_page_tiff_is_refused(tmp_path: Path) -> None:
    pages = [Image.fromarray(np.zeros((2, 2), np.uint8)) for _ in range(3)]
    pages[0].save(tmp_path / "m.tif", save_all=True, append_images=pages[1:])
    with pytest.raises(MaskReadError, match=r"m\.tif: the TIFF holds 3 pages"):
        read_mask(tmp_path / "m.tif")


def test_bmp_mask(tmp_path: Path) -> None:
    Image.fromarray(LABELS).save(tmp_path / "m.bmp")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.bmp"), LABELS)


def test_npz_single_array_and_key(tmp_path: Path) -> None:
    np.savez(tmp_path / "one.npz", mask=LABELS)
    np.testing.assert_array_equal(read_mask(tmp_path / "one.npz"), LABELS)
    np.savez_compressed(tmp_path / "two.npz", pred=LABELS, prob=np.zeros((2, 3)))
    with pytest.raises(MaskReadError, match=r"holds 2 arrays \(pred, prob\); pass --npz-key"):
        read_mask(tmp_path / "two.npz")
    np.testing.assert_array_equal(
        read_mask(tmp_path / "two.npz", ReadOptions(npz_key="pred")), LABELS
    )
    with pytest.raises(MaskReadError, match=r"no array named 'label'"):
        read_mask(tmp_path / "two.npz", ReadOptions(npz_key="label"))
    with pytest.raises(MaskReadError, match=r"two\.npz\[prob\]: expected integer class ids"):
        read_mask(tmp_path / "two.npz", ReadOptions(npz_key="prob"))


TABLE = ColorTable({(0, 0, 0): 255, (128, 64, 128): 0, (70, 70, 70): 1, (0, 0, 142): 2})


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_colour_mask_maps_exactly(tmp_path: Path, mode: str) -> None:
    rgb = np.array([[[128, 64, 128], [70, 70, 70]], [[0, 0, 142], [0, 0, 0]]], dtype=np.uint8)
    pixels = rgb if mode == "RGB" else np.concatenate([rgb, np.full((2, 2, 1), 255, np.uint8)], -1)
    Image.fromarray(pixels).save(tmp_path / "m.png")
    result = read_mask(tmp_path / "m.png", ReadOptions(colors=TABLE))
    assert result.tolist() == [[0, 1], [2, 255]]
    assert result.dtype == np.uint8


def test_unknown_colours_are_listed_with_pixel_counts(tmp_path: Path) -> None:
    rgb = np.zeros((3, 4, 3), dtype=np.uint8)
    rgb[0, :] = (1, 2, 3)
    rgb[1, :3] = (9, 9, 9)
    Image.fromarray(rgb).save(tmp_path / "m.png")
    with pytest.raises(MaskReadError) as info:
        read_mask(tmp_path / "m.png", ReadOptions(colors=TABLE))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'm.png'}: 2 colours are not in the colour table: ")
    assert "[1, 2, 3] (4 px), [9, 9, 9] (3 px)" in message
    assert "--unknown-color ignore" in message
    ignored = read_mask(tmp_path / "m.png", ReadOptions(colors=TABLE, unknown_color="ignore"))
    assert ignored.tolist() == [[255] * 4, [255] * 4, [255] * 4]


def test_more_than_ten_unknown_colours_are_counted(tmp_path: Path) -> None:
    rgb = np.zeros((1, 12, 3), dtype=np.uint8)
    rgb[0, :, 0] = np.arange(1, 13)
    Image.fromarray(rgb).save(tmp_path / "m.png")
    with pytest.raises(
        MaskReadError, match=r"12 colours are not in the colour table: .* and 2 more"
    ):
        read_mask(tmp_path / "m.png", ReadOptions(colors=TABLE))


def test_jpeg_is_refused_unless_lossy_is_allowed(tmp_path: Path) -> None:
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    rgb[:, :8] = (128, 64, 128)
    rgb[:, 8:] = (70, 70, 70)
    Image.fromarray(rgb).save(tmp_path / "m.jpg", quality=70)
    with pytest.raises(MaskReadError, match=r"this is a JPEG file; lossy compression corrupts"):
        read_mask(tmp_path / "m.jpg", ReadOptions(colors=TABLE))
    result = read_mask(tmp_path / "m.jpg", ReadOptions(colors=TABLE, allow_lossy=True))
    assert (result[:, :6] == 0).all()
    assert (result[:, 10:] == 1).all()


def test_pixel_limit_is_checked_from_the_header(tmp_path: Path) -> None:
    png = png_declaring(50000, 50000)
    (tmp_path / "bomb.png").write_bytes(png)
    with pytest.raises(MaskReadError, match=r"declares 50000x50000 pixels \(2500.0 megapixels\)"):
        read_mask(tmp_path / "bomb.png", ReadOptions(max_pixels=100_000_000))
    np.save(tmp_path / "big.npy", np.zeros((300, 400), np.uint8))
    with pytest.raises(MaskReadError, match=r"declares shape \(300, 400\)"):
        read_mask(tmp_path / "big.npy", ReadOptions(max_pixels=100_000))
    assert read_mask(tmp_path / "big.npy", ReadOptions(max_pixels=120_000)).shape == (300, 400)


def test_gif_is_unsupported(tmp_path: Path) -> None:
    Image.fromarray(LABELS).save(tmp_path / "m.png", format="GIF")
    with pytest.raises(MaskReadError, match=r"m\.png: unsupported mask format \(gif\)"):
        read_mask(tmp_path / "m.png")


def test_1bit_png_gives_zeros_and_ones(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.png", np.array([[0, 1], [1, 0]]), "1")
    result = read_mask(path)
    assert result.dtype == np.uint8
    assert result.tolist() == [[0, 1], [1, 0]]


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.int64, np.uint16])
def test_npy_integer_arrays(tmp_path: Path, dtype: type[np.integer[Any]]) -> None:
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


def test_float_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.tif"
    Image.fromarray(np.array([[0.5, 1.0]], dtype=np.float32)).save(path)
    with pytest.raises(MaskReadError, match=r"got floating-point pixels \(mode 'F'\)"):
        read_mask(path)


def test_3d_npy_is_a_volume_and_4d_is_refused(tmp_path: Path) -> None:
    # A 3-D array without an axis of length 1 is a volume (issue 19), read as it is.
    path = save_mask(tmp_path / "m.npy", np.arange(18, dtype=np.uint8).reshape(2, 3, 3))
    assert read_mask(path).shape == (2, 3, 3)
    path = save_mask(tmp_path / "m4.npy", np.zeros((2, 3, 3, 2), dtype=np.uint8))
    with pytest.raises(MaskReadError, match=r"expected a 2-D or 3-D label array, got shape"):
        read_mask(path)


def test_object_npy_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "m.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(MaskReadError, match=r"m\.npy: the array holds Python objects"):
        read_mask(path)


def test_truncated_png_is_reported(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.png", np.arange(10000).reshape(100, 100) % 7)
    path.write_bytes(path.read_bytes()[:80])
    with pytest.raises(
        MaskReadError, match=r"m\.png: the image data ends before the last row \(a truncated"
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
