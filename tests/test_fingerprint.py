"""ScoreOptions' fingerprint is derived from every field: no option can be forgotten by --resume."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from segeval.core.boundary import BoundaryOptions
from segeval.core.metrics import MetricOptions
from segeval.inputs.classes import load_preset
from segeval.inputs.pairing import InstanceSource, PairingOptions
from segeval.run.options import ScoreOptions

#: One changed value per field. A field added to ScoreOptions without an entry here
#: fails test_every_field_has_a_changed_value, so its effect on the digest is tested.
CHANGED: dict[str, Any] = {
    "num_classes": 7,
    "class_names": ("a", "b"),
    "classes": load_preset("camvid"),
    "ignore_index": (0,),
    "metric_options": MetricOptions(empty="zero"),
    "exclude_classes": ("0",),
    "out_of_range": "miss",
    "pred_ignore": "error",
    "reduce_zero_label": True,
    "per_image": True,
    "image_counts": True,
    "pairing": PairingOptions(flat=True),
    "missing": "skip",
    "strict": True,
    "resize_pred": True,
    "unknown_color": "ignore",
    "allow_lossy": True,
    "npz_key": "labels",
    "max_pixels": 1000,
    "max_mask_bytes": 1000,
    "max_voxels": 1000,
    "max_classes": 64,
    "binary": True,
    "boundary": BoundaryOptions(boundary=True),
    "trust_gt_geometry": True,
    "geometry_tolerance": 0.5,
}
#: Fields that only make sense together with another one.
WITH: dict[str, dict[str, Any]] = {
    "class_ids": {"classes": load_preset("camvid"), "class_ids": "pred"},
    "gt_instances": {"classes": load_preset("cityscapes"), "gt_instances": InstanceSource()},
}
#: A convention is applied through its factory, never set alone.
VIA_FACTORY = {"convention", "convention_overrides"}


def test_every_field_has_a_changed_value() -> None:
    names = {field.name for field in dataclasses.fields(ScoreOptions)}
    assert names == set(CHANGED) | set(WITH) | VIA_FACTORY


@pytest.mark.parametrize("name", sorted(CHANGED) + sorted(WITH))
def test_changing_any_field_changes_the_fingerprint(name: str) -> None:
    base = ScoreOptions()
    if name in WITH:
        base = ScoreOptions(classes=WITH[name]["classes"])
        changed = ScoreOptions(**WITH[name])
    else:
        changed = ScoreOptions(**{name: CHANGED[name]})
    assert changed.fingerprint() != base.fingerprint()
    assert changed.fingerprint() == dataclasses.replace(changed).fingerprint()


def test_a_convention_changes_the_fingerprint() -> None:
    assert ScoreOptions.for_convention("mmseg").fingerprint() != ScoreOptions().fingerprint()
