"""Class definitions and presets: label maps, colours, class ids, and the Cityscapes rule."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from segeval.cli import cli
from segeval.errors import ClassDefinitionError
from segeval.inputs.classes import (
    PRESET_NAMES,
    load_class_definition,
    load_preset,
    parse_class_definition,
)
from tests.helpers import CAMVID, save_mask

# The official table (cityscapesscripts/helpers/labels.py): labelId -> trainId (255: ignored).
CITYSCAPES_TRAIN_ID = {
    0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255, 7: 0, 8: 1, 9: 255, 10: 255,
    11: 2, 12: 3, 13: 4, 14: 255, 15: 255, 16: 255, 17: 5, 18: 255, 19: 6, 20: 7, 21: 8,
    22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 29: 255, 30: 255, 31: 16,
    32: 17, 33: 18,
}  # fmt: skip
CITYSCAPES_NAMES = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
]  # fmt: skip


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def score_json(*args: str | Path) -> dict[str, Any]:
    result = run("score", *[str(a) for a in args], "--format", "json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_cityscapes_maps_every_label_id_to_its_train_id() -> None:
    preset = load_preset("cityscapes")
    assert list(preset.names) == CITYSCAPES_NAMES
    mapping = preset.mapping()
    codes = mapping.encode(np.arange(34, dtype=np.uint8))
    expected = {
        label_id: mapping.ignore_code if train_id == 255 else train_id
        for label_id, train_id in CITYSCAPES_TRAIN_ID.items()
    }
    assert {label_id: int(codes[label_id]) for label_id in CITYSCAPES_TRAIN_ID} == expected
    assert int(mapping.encode(np.array([34], np.uint8))[0]) == mapping.invalid_code


def _official_cityscapes_iou(gts: list[np.ndarray], preds: list[np.ndarray]) -> list[float]:
    """The official rule, on a 34 x 34 labelId matrix: FP counted on non-ignored GT rows only."""
    matrix = np.zeros((34, 34), dtype=np.int64)
    for gt, pred in zip(gts, preds, strict=True):
        np.add.at(matrix, (gt.ravel(), pred.ravel()), 1)
    ignored = [label for label, train in CITYSCAPES_TRAIN_ID.items() if train == 255]
    evaluated = [
        label
        for label, train in sorted(CITYSCAPES_TRAIN_ID.items(), key=lambda x: x[1])
        if train != 255
    ]
    scores = []
    for label in evaluated:
        tp = matrix[label, label]
        fn = matrix[label].sum() - tp
        fp = sum(matrix[row, label] for row in range(34) if row != label and row not in ignored)
        scores.append(tp / (tp + fp + fn))
    return scores


def test_cityscapes_preset_reproduces_the_official_rule(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    gts, preds = [], []
    for index in range(3):
        gt = rng.integers(0, 34, size=(24, 32)).astype(np.uint8)
        pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, 34, size=gt.shape)).astype(
            np.uint8
        )
        gts.append(gt)
        preds.append(pred)
        save_mask(tmp_path / "gt" / "city" / f"city_{index:06d}_000019_gtFine_labelIds.png", gt)
        save_mask(tmp_path / "pred" / "city" / f"city_{index:06d}_000019_leftImg8bit.png", pred)
    document = score_json(
        tmp_path / "pred",
        tmp_path / "gt",
        "--preset",
        "cityscapes",
        "--pred-suffix",
        "_leftImg8bit.png",
        "--gt-suffix",
        "_gtFine_labelIds.png",
    )
    expected = _official_cityscapes_iou(gts, preds)
    assert [c["iou"] for c in document["classes"]] == pytest.approx(expected, rel=1e-12)
    assert document["summary"]["miou"] == pytest.approx(np.mean(expected), rel=1e-12)
    assert document["config"]["classes"] == "preset cityscapes"
    # The same masks converted to trainIds score identically with --class-ids both.
    lut = np.array([CITYSCAPES_TRAIN_ID[i] for i in range(34)], dtype=np.uint8)
    for side, masks, suffix in (("gt_t", gts, "gtFine_labelIds"), ("pred_t", preds, "leftImg8bit")):
        for index, mask in enumerate(masks):
            save_mask(tmp_path / side / "city" / f"city_{index:06d}_000019_{suffix}.png", lut[mask])
    train = score_json(
        tmp_path / "pred_t",
        tmp_path / "gt_t",
        "--preset",
        "cityscapes",
        "--class-ids",
        "both",
        "--pred-suffix",
        "_leftImg8bit.png",
        "--gt-suffix",
        "_gtFine_labelIds.png",
    )
    assert [c["iou"] for c in train["classes"]] == [c["iou"] for c in document["classes"]]
    # Mixed: ground truth in labelIds, predictions in trainIds.
    mixed = score_json(
        tmp_path / "pred_t",
        tmp_path / "gt",
        "--preset",
        "cityscapes",
        "--class-ids",
        "pred",
        "--pred-suffix",
        "_leftImg8bit.png",
        "--gt-suffix",
        "_gtFine_labelIds.png",
    )
    assert [c["iou"] for c in mixed["classes"]] == [c["iou"] for c in document["classes"]]


def test_cityscapes_label_ids_scored_as_train_ids_are_caught(tmp_path: Path) -> None:
    save_mask(tmp_path / "gt" / "a.png", np.array([[7, 26, 33]]))
    save_mask(tmp_path / "pred" / "a.png", np.array([[7, 26, 33]]))
    result = run(
        "score", tmp_path / "pred", tmp_path / "gt", "--preset", "cityscapes", "--class-ids", "both"
    )
    assert result.exit_code == 2
    assert "ground truth label 26 (1 pixel)" in result.stderr
    hint = run("inspect", tmp_path / "gt", "--preset", "cityscapes", "--class-ids")
    assert "Every value is valid as a label-map value: drop --class-ids." in hint.stdout
    plain = run("inspect", tmp_path / "gt")
    assert "look like Cityscapes labelIds" not in plain.stdout  # too few values to say


def test_ade20k_preset_reduces_zero_and_accepts_class_ids(tmp_path: Path) -> None:
    preset = load_preset("ade20k")
    assert preset.num_classes == 150
    assert preset.names[0] == "wall"
    assert preset.names[7] == "bed"
    save_mask(tmp_path / "gt" / "a.png", np.array([[0, 1, 150, 2]]))
    save_mask(tmp_path / "pred" / "a.png", np.array([[5, 1, 150, 0]]))
    document = score_json(tmp_path / "pred", tmp_path / "gt", "--preset", "ade20k")
    assert document["pixels"]["ignored"] == 1
    assert document["classes"][0]["tp"] == 1
    assert document["classes"][149]["tp"] == 1
    assert document["classes"][1]["fn"] == 1  # predicted 0 ("other"): a miss
    assert document["config"]["reduce_zero_label"] is True
    save_mask(tmp_path / "pred_ids" / "a.png", np.array([[4, 0, 149, 255]]))
    ids = score_json(
        tmp_path / "pred_ids", tmp_path / "gt", "--preset", "ade20k", "--class-ids", "pred"
    )
    assert ids["confusion_matrix"]["counts"] == document["confusion_matrix"]["counts"]
    assert ids["confusion_matrix"]["missed"] == document["confusion_matrix"]["missed"]


def test_pascal_voc_palette_and_colour_masks_agree(tmp_path: Path) -> None:
    preset = load_preset("pascal-voc")
    assert preset.num_classes == 21
    colours = {index: color for color, index in preset.class_colors.items() if index < 21}
    assert colours[1] == (128, 0, 0)
    assert colours[15] == (192, 128, 128)
    labels = np.array([[0, 1, 15], [20, 255, 15]], dtype=np.uint8)
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    for (row, column), value in np.ndenumerate(labels):
        rgb[row, column] = (224, 224, 192) if value == 255 else colours[int(value)]
    save_mask(tmp_path / "gt" / "a.png", labels, "P")
    Image.fromarray(rgb).save(tmp_path / "pred_rgb.png")
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred_rgb.png").rename(tmp_path / "pred" / "a.png")
    document = score_json(tmp_path / "pred", tmp_path / "gt", "--preset", "pascal-voc")
    assert document["summary"]["pixel_accuracy"] == 1.0
    assert document["pixels"]["ignored"] == 1


def test_camvid_colour_masks_score_like_index_masks(tmp_path: Path) -> None:
    if not CAMVID.is_dir():
        pytest.skip("CamVid data not present beside the repo")
    preset = load_preset("camvid")
    palette = np.zeros((256, 3), dtype=np.uint8)
    for color, index in preset.value_colors.items():
        palette[index] = color
    names = sorted(path.name for path in (CAMVID / "testannot").glob("*.png"))[:15]
    for folder in ("testannot", "pred_hgb"):
        (tmp_path / f"{folder}_rgb").mkdir()
        for name in names:
            labels = np.asarray(Image.open(CAMVID / folder / name))
            Image.fromarray(palette[labels]).save(tmp_path / f"{folder}_rgb" / name)
            save_mask(tmp_path / folder / name, labels)
    index_masks = score_json(tmp_path / "pred_hgb", tmp_path / "testannot", "--preset", "camvid")
    colour_masks = score_json(
        tmp_path / "pred_hgb_rgb", tmp_path / "testannot_rgb", "--preset", "camvid"
    )
    assert colour_masks["confusion_matrix"] == index_masks["confusion_matrix"]
    assert colour_masks["summary"] == index_masks["summary"]
    hint = run("inspect", tmp_path / "testannot_rgb")
    assert "Every colour belongs to the camvid preset" in hint.stdout
    assert "--preset camvid" in hint.stdout


def test_unknown_colours_are_an_error_or_ignored(tmp_path: Path) -> None:
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0, 0] = (1, 2, 3)
    for side in ("gt", "pred"):
        (tmp_path / side).mkdir()
        Image.fromarray(rgb).save(tmp_path / side / "a.png")
    result = run("score", tmp_path / "pred", tmp_path / "gt", "--preset", "camvid")
    assert result.exit_code == 2
    assert "1 colour is not in the colour table: [1, 2, 3] (1 px)" in result.stderr
    lenient = score_json(
        tmp_path / "pred", tmp_path / "gt", "--preset", "camvid", "--unknown-color", "ignore"
    )
    assert lenient["pixels"]["ignored"] == 4  # three void pixels and one unknown colour


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_loads_and_round_trips(tmp_path: Path, name: str) -> None:
    preset = load_preset(name)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(preset.to_dict()))
    again = load_class_definition(path)
    assert again.names == preset.names
    assert again.mapping() == preset.mapping()
    assert again.value_colors == preset.value_colors


def test_presets_command_lists_and_shows_them() -> None:
    listing = run("presets")
    assert listing.exit_code == 0
    for name in PRESET_NAMES:
        assert name in listing.stdout
    shown = json.loads(run("presets", "camvid").stdout)
    assert shown["classes"][0] == {"id": 0, "name": "Sky", "color": [128, 128, 128]}


def test_class_definition_toml_with_label_map(tmp_path: Path) -> None:
    (tmp_path / "classes.toml").write_text(
        'name = "roads"\nignore = [0]\nunmapped = "ignore"\n\n'
        '[[classes]]\nid = 0\nname = "road"\nvalues = [10, 11]\ncolor = "#804080"\n\n'
        '[[classes]]\nid = 1\nname = "car"\nvalues = [20]\n'
    )
    definition = load_class_definition(tmp_path / "classes.toml")
    assert definition.names == ("road", "car")
    assert dict(definition.value_to_class or {}) == {10: 0, 11: 0, 20: 1}
    save_mask(tmp_path / "gt" / "a.png", np.array([[10, 11, 20, 0, 99]]))
    save_mask(tmp_path / "pred" / "a.png", np.array([[11, 20, 20, 10, 10]]))
    document = score_json(
        tmp_path / "pred", tmp_path / "gt", "--classes", tmp_path / "classes.toml"
    )
    # 99 is unmapped and the file says unmapped values are ignored.
    assert document["confusion_matrix"]["counts"] == [[1, 1], [0, 1]]
    assert document["pixels"]["ignored"] == 2


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"classes": []}, "'classes' must be a non-empty list"),
        (
            {"classes": [{"id": 0, "name": "a"}, {"id": 2, "name": "b"}]},
            "without gaps; missing [1]",
        ),
        ({"classes": [{"name": "a"}], "colour": 1}, "unknown field 'colour'"),
        ({"classes": [{"name": "a", "color": [0, 0]}]}, "a colour is [r, g, b]"),
        (
            {"classes": [{"name": "a", "color": [1, 2, 3]}, {"name": "b", "color": [1, 2, 3]}]},
            "colour [1, 2, 3] is used by classes 'a' and 'b'",
        ),
        ({"classes": [{"name": "a", "values": [1]}, {"name": "b"}]}, "class 'b' has no raw values"),
        (
            {"classes": [{"name": "a", "values": [255]}]},
            "value 255 is both ignored and a class value",
        ),
        (
            {"classes": [{"name": "a", "values": [1]}, {"name": "b", "values": [1]}]},
            "given to two classes",
        ),
        (
            {"classes": [{"name": "a"}], "unmapped": "drop"},
            "'unmapped' must be 'error' or 'ignore'",
        ),
        ({"classes": [{"name": "3"}]}, "must not be plain numbers"),
    ],
)
def test_class_definition_errors(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ClassDefinitionError, match=re.escape(message)):
        parse_class_definition(document, "classes.json")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--preset", "camvid", "--class-names", "NAMES"], "--class-names cannot be combined"),
        (
            ["--preset", "camvid", "--num-classes", "3"],
            "--num-classes 3 disagrees with the 11 classes",
        ),
        (["--class-ids", "both"], "--class-ids only applies with --classes or --preset"),
        (["--preset", "camvid", "--reduce-zero-label"], "--reduce-zero-label cannot be combined"),
        (["--preset", "camvid", "--classes", "NAMES"], "either --classes or --preset"),
    ],
    ids=[
        "preset+class-names",
        "preset+num-classes",
        "class-ids-alone",
        "preset+reduce-zero",
        "preset+classes",
    ],
)
def test_conflicting_class_options_are_usage_errors(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    save_mask(tmp_path / "gt" / "a.png", np.zeros((2, 2)))
    save_mask(tmp_path / "pred" / "a.png", np.zeros((2, 2)))
    names = tmp_path / "names.txt"
    names.write_text("a\nb\n")
    arguments = [str(names) if argument == "NAMES" else argument for argument in extra]
    result = run("score", tmp_path / "pred", tmp_path / "gt", *arguments)
    assert result.exit_code == 2
    assert message in result.stderr
