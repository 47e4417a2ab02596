"""Pairing two folders: keys, order, skipped files, and the errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from segeval.errors import PairingError
from segeval.inputs.pairing import (
    CheckedPairing,
    MissingPolicy,
    PairingOptions,
    check_pairing,
    list_masks,
    pair_folders,
)
from tests.helpers import save_mask


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_pairs_by_relative_path_without_extension(tmp_path: Path) -> None:
    _touch(tmp_path / "gt", "a/b.png", "c.png", "z/y/x.png")
    _touch(tmp_path / "pred", "a/b.npy", "c.png", "z/y/x.png")
    pairing = pair_folders(tmp_path / "pred", tmp_path / "gt")
    assert [pair.key for pair in pairing.pairs] == ["a/b", "c", "z/y/x"]
    assert pairing.pairs[0].pred_path == tmp_path / "pred" / "a" / "b.npy"
    assert pairing.pairs[0].gt_path == tmp_path / "gt" / "a" / "b.png"
    checked = check_pairing(pairing, gt_dir=tmp_path / "gt", pred_dir=tmp_path / "pred")
    assert checked.pairs == pairing.pairs
    assert checked.warnings == ()


def test_same_name_in_different_subfolders_does_not_pair(tmp_path: Path) -> None:
    _touch(tmp_path / "gt", "a/x.png")
    _touch(tmp_path / "pred", "b/x.png")
    pairing = pair_folders(tmp_path / "pred", tmp_path / "gt")
    assert [p.name for p in pairing.missing] == ["x.png"]
    assert [p.parent.name for p in pairing.extra] == ["b"]


def test_order_is_sorted_and_deterministic(tmp_path: Path) -> None:
    names = [f"{name}.png" for name in ("b", "a", "c/d", "B", "a0")]
    _touch(tmp_path / "gt", *names)
    _touch(tmp_path / "pred", *reversed(names))
    keys = [pair.key for pair in pair_folders(tmp_path / "pred", tmp_path / "gt").pairs]
    assert keys == sorted(keys) == ["B", "a", "a0", "b", "c/d"]


def test_hidden_and_non_mask_files_are_skipped_and_counted(tmp_path: Path) -> None:
    _touch(tmp_path, "x.png", ".y.png", ".cache/z.png", "notes.txt", "meta.json", "X.PNG")
    by_key, skipped = list_masks(tmp_path)
    assert sorted(by_key) == ["X", "x"]
    assert skipped == 3  # .y.png, notes.txt, meta.json (hidden folders are not walked)


def test_missing_prediction_is_an_error_listing_the_files(tmp_path: Path) -> None:
    _touch(tmp_path / "gt", *[f"m{index:02d}.png" for index in range(13)])
    _touch(tmp_path / "pred", "m00.png")
    pairing = pair_folders(tmp_path / "pred", tmp_path / "gt")
    with pytest.raises(PairingError) as info:
        check_pairing(pairing, gt_dir=tmp_path / "gt", pred_dir=tmp_path / "pred")
    message = str(info.value)
    assert message.startswith("12 ground-truth files have no prediction in ")
    assert "m01.png" in message
    assert "m10.png" in message
    assert "m11.png" not in message
    assert "and 2 more" in message
    assert "\n" not in message


def _check(
    tmp_path: Path, missing: MissingPolicy = "error", strict: bool = False
) -> CheckedPairing:
    return check_pairing(
        pair_folders(tmp_path / "pred", tmp_path / "gt"),
        gt_dir=tmp_path / "gt",
        pred_dir=tmp_path / "pred",
        missing=missing,
        strict=strict,
    )


def test_extra_prediction_is_a_warning_or_with_strict_an_error(tmp_path: Path) -> None:
    _touch(tmp_path / "gt", "a.png")
    _touch(tmp_path / "pred", "a.png", "b.png")
    checked = _check(tmp_path)
    assert [pair.key for pair in checked.pairs] == ["a"]
    assert [path.name for path in checked.extra] == ["b.png"]
    assert checked.warnings[0].message.startswith(
        "1 prediction has no ground truth and was not scored"
    )
    with pytest.raises(PairingError, match=r"1 prediction has no ground truth in .*b\.png"):
        _check(tmp_path, strict=True)


def test_missing_policies(tmp_path: Path) -> None:
    _touch(tmp_path / "gt", "a.png", "b.png", "c.png")
    _touch(tmp_path / "pred", "b.png")
    with pytest.raises(PairingError, match="--missing skip or --missing empty"):
        _check(tmp_path)
    skipped = _check(tmp_path, missing="skip")
    assert [pair.key for pair in skipped.pairs] == ["b"]
    assert "2 ground-truth files have no prediction and were skipped" in skipped.warnings[0].message
    empty = _check(tmp_path, missing="empty")
    assert [(pair.key, pair.pred_path is None) for pair in empty.pairs] == [
        ("a", True),
        ("b", False),
        ("c", True),
    ]
    assert "scored as predicting nothing" in empty.warnings[0].message


def test_skip_with_no_prediction_at_all_is_an_error(tmp_path: Path) -> None:
    _touch(tmp_path / "gt", "a.png")
    (tmp_path / "pred").mkdir()
    with pytest.raises(PairingError, match="no prediction matches any ground-truth file"):
        _check(tmp_path, missing="skip")


def test_two_files_with_one_key_are_an_error(tmp_path: Path) -> None:
    _touch(tmp_path / "gt", "x.png")
    _touch(tmp_path / "pred", "x.png", "x.npy")
    with pytest.raises(PairingError, match=r"shared by more than one file.*x\.npy, .*x\.png"):
        _check(tmp_path)


def test_suffixes_pair_cityscapes_names(tmp_path: Path) -> None:
    _touch(
        tmp_path / "gt",
        "aachen/aachen_000000_000019_gtFine_labelIds.png",
        "aachen/aachen_000000_000019_gtFine_color.png",
        "aachen/aachen_000000_000019_gtFine_instanceIds.png",
        "aachen/aachen_000000_000019_gtFine_polygons.json",
    )
    _touch(tmp_path / "pred", "aachen/aachen_000000_000019_leftImg8bit.png")
    options = PairingOptions(pred_suffix="_leftImg8bit.png", gt_suffix="_gtFine_labelIds.png")
    pairing = pair_folders(tmp_path / "pred", tmp_path / "gt", options)
    assert [pair.key for pair in pairing.pairs] == ["aachen/aachen_000000_000019"]
    assert pairing.pairs[0].gt_path.name.endswith("_gtFine_labelIds.png")
    assert pairing.skipped_files == 3
    assert not pairing.missing
    assert not pairing.extra


def test_globs_restrict_files(tmp_path: Path) -> None:
    _touch(tmp_path / "gt", "val/a.png", "train/b.png")
    _touch(tmp_path / "pred", "val/a.png", "val/a_vis.png")
    options = PairingOptions(gt_glob="val/*", pred_glob="*/?.png")
    pairing = pair_folders(tmp_path / "pred", tmp_path / "gt", options)
    assert [pair.key for pair in pairing.pairs] == ["val/a"]
    assert not pairing.extra


def test_flat_pairs_by_name_and_refuses_duplicate_names(tmp_path: Path) -> None:
    _touch(tmp_path / "gt", "city1/a.png", "city2/b.png")
    _touch(tmp_path / "pred", "a.png", "b.png")
    pairing = pair_folders(tmp_path / "pred", tmp_path / "gt", PairingOptions(flat=True))
    assert [pair.key for pair in pairing.pairs] == ["a", "b"]
    _touch(tmp_path / "gt", "city3/a.png")
    pairing = pair_folders(tmp_path / "pred", tmp_path / "gt", PairingOptions(flat=True))
    with pytest.raises(PairingError, match=r"with --flat, same name.*city1/a\.png, .*city3/a\.png"):
        check_pairing(pairing, gt_dir=tmp_path / "gt", pred_dir=tmp_path / "pred")


def test_empty_ground_truth_folder_is_an_error(tmp_path: Path) -> None:
    _touch(tmp_path / "gt", "readme.txt")
    (tmp_path / "pred").mkdir()
    with pytest.raises(PairingError, match="no ground-truth mask files found"):
        _check(tmp_path)


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PairingError, match=r"nope: does not exist"):
        pair_folders(tmp_path / "nope", tmp_path)
    _touch(tmp_path, "file.png")
    with pytest.raises(PairingError, match=r"file\.png: is not a folder"):
        pair_folders(tmp_path, tmp_path / "file.png")


def test_an_unreadable_subfolder_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_mask(tmp_path / "gt" / "a.png", np.zeros((2, 2)))
    save_mask(tmp_path / "gt" / "locked" / "b.png", np.zeros((2, 2)))
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path).name == "locked":  # what a folder without read permission does
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(PairingError, match=r"locked: cannot list the folder \(Permission denied"):
        pair_folders(tmp_path / "gt", tmp_path / "gt")
