"""segeval inspect: tallies, unreadable files and hints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result
from PIL import Image

from segeval.cli import cli
from segeval.inspection import inspect_folder
from tests.helpers import save_mask


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, ["inspect", *[str(a) for a in args]])


def test_counts_formats_sizes_and_values(tmp_path: Path) -> None:
    save_mask(tmp_path / "a.png", np.array([[0, 1], [1, 255]]), "L")
    save_mask(tmp_path / "sub" / "b.png", np.array([[2, 2, 2]]), "P")
    save_mask(tmp_path / "c.npy", np.array([[300, 1]], dtype=np.int32))
    (tmp_path / "notes.txt").write_text("x")
    found = inspect_folder(tmp_path)
    assert found.files == 3
    assert found.skipped_files == 1
    assert dict(found.kinds) == {"png L": 1, "png P": 1, "npy": 1}
    assert dict(found.sizes) == {(2, 2): 1, (3, 1): 1, (2, 1): 1}
    assert dict(found.values) == {0: 1, 1: 3, 2: 3, 255: 1, 300: 1}
    document = json.loads(run(tmp_path, "--format", "json").stdout)
    assert document["values"] == {"0": 1, "1": 3, "2": 3, "255": 1, "300": 1}
    assert "3 different image sizes" in " ".join(document["hints"])


def test_unreadable_files_are_listed(tmp_path: Path) -> None:
    save_mask(tmp_path / "good.png", np.zeros((2, 2)))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    np.save(tmp_path / "float.npy", np.zeros((2, 2)))
    result = run(tmp_path)
    assert result.exit_code == 0
    assert "Files that cannot be read (2):" in result.stdout
    assert "float.npy: expected integer class ids" in result.stdout


def test_colour_masks_without_a_known_palette(tmp_path: Path) -> None:
    Image.fromarray(np.full((2, 2, 3), 7, dtype=np.uint8)).save(tmp_path / "a.png")
    result = run(tmp_path)
    assert "Colours" in result.stdout
    assert "[7, 7, 7]" in result.stdout
    assert "Colour (RGB) masks: 1. segeval needs each colour's class" in result.stdout


def test_jpeg_and_binary_255_hints(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    save_mask(tmp_path / "b.png", np.array([[0, 255]]))
    result = run(tmp_path)
    assert "JPEG files: 1. Lossy compression changes label values" in result.stdout
    assert "Only values 0 and 255 were found" in result.stdout


def test_cityscapes_label_ids_hint(tmp_path: Path) -> None:
    save_mask(tmp_path / "a.png", np.array([[0, 7, 8, 11, 21, 23, 26, 33]]))
    result = run(tmp_path)
    assert (
        "These look like Cityscapes labelIds (0..33): score with --preset cityscapes"
        in result.stdout
    )
    with_preset = run(tmp_path, "--preset", "cityscapes")
    assert "road" in with_preset.stdout
    assert "(ignored)" in with_preset.stdout


def test_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = run(tmp_path / "nope")
    assert result.exit_code == 2
    assert "not a folder" in result.stderr
