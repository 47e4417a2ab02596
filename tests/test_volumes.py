"""3-D medical volumes (issue 19): readers, geometry, counting per case, conventions.

Synthetic cases come from ``scripts/make_volumes.py`` (spheres, shells and boxes
on a 0.8 x 0.8 x 3.0 mm grid); expected values are computed here from the
voxels (hand formulas) and from nnU-Net's and MONAI's formulas as documented in
``shared/docs/conventions.md``.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import pytest
from click.testing import CliRunner

from segeval.cli import cli
from segeval.core.confusion import ConfusionMatrix
from segeval.errors import MaskReadError, MissingDependencyError, ShapeMismatchError
from segeval.inputs.pairing import pair_folders
from segeval.inspection import inspect_folder
from segeval.io import ReadOptions, mask_suffix, read_mask, read_volume
from segeval.io.volume import Geometry, geometry_mismatch
from segeval.run.evaluate import evaluate
from segeval.run.options import ScoreOptions
from segeval.run.work import TaskResult, merge_results
from tests.helpers import REPO, SAMPLE, save_mask


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


volumes: Any = _load_script("make_volumes")
# Partly typed libraries, used here as the oracles' readers and writers.
nib: Any = importlib.import_module("nibabel")
sitk: Any = importlib.import_module("SimpleITK")
SPACING = (0.8, 0.8, 3.0)


def _nifti(path: Path, labels: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(labels, np.diag([*SPACING, 1.0]) if affine is None else affine)
    image.set_data_dtype(labels.dtype)
    nib.save(image, path)
    return path


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("volumes")
    volumes.write_cases(root, mismatch=True)
    return root


def _run(*args: str | Path) -> Any:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


# ------------------------------------------------------------------- reading


def test_nifti_keeps_the_stored_integer_type_and_the_header_geometry(tmp_path: Path) -> None:
    labels = np.zeros((5, 6, 4), dtype=np.uint16)
    labels[1:3, 2:5, 1:3] = 300  # beyond uint8: must not wrap or pass through float
    affine = volumes.affine_for((5, 6, 4))
    for name in ("a.nii", "a.nii.gz"):
        volume = read_volume(volumes.write_nifti(tmp_path / name, labels, affine))
        assert volume.labels.dtype == np.uint16
        np.testing.assert_array_equal(volume.labels, labels)
        assert volume.geometry is not None
        assert volume.geometry.spacing == pytest.approx(SPACING)
        np.testing.assert_allclose(volume.geometry.affine, affine, atol=1e-6)
        assert volume.geometry.orientation == "LAS"


def test_float_and_scaled_nifti_are_refused_with_the_fix(tmp_path: Path) -> None:
    floats = _nifti(tmp_path / "f.nii.gz", np.ones((3, 3, 3), dtype=np.float32))
    with pytest.raises(MaskReadError, match=r"f\.nii\.gz: the NIfTI file stores float32 values"):
        read_volume(floats)
    image = nib.Nifti1Image(np.ones((3, 3, 3), dtype=np.int16), np.eye(4))
    image.header.set_slope_inter(2.0, 1.0)
    nib.save(image, tmp_path / "s.nii")
    with pytest.raises(MaskReadError, match=r"scales the stored int16 values \(scl_slope=2.0"):
        read_volume(tmp_path / "s.nii")


def test_nifti_time_series_refused_and_trailing_unit_axis_dropped(tmp_path: Path) -> None:
    _nifti(tmp_path / "t.nii", np.zeros((3, 3, 3, 2), dtype=np.uint8))
    with pytest.raises(MaskReadError, match="time points or components"):
        read_volume(tmp_path / "t.nii")
    _nifti(tmp_path / "u.nii", np.zeros((3, 3, 3, 1), dtype=np.uint8))
    assert read_volume(tmp_path / "u.nii").labels.shape == (3, 3, 3)


def test_nrrd_and_metaimage_read_in_nifti_voxel_order_with_a_ras_affine(tmp_path: Path) -> None:
    labels = np.arange(4 * 5 * 3, dtype=np.int16).reshape(4, 5, 3) % 7
    image = sitk.GetImageFromArray(np.ascontiguousarray(labels.transpose(2, 1, 0)))
    image.SetSpacing(SPACING)
    image.SetOrigin((10.0, 20.0, -5.0))  # LPS millimetres
    expected = np.diag([-0.8, -0.8, 3.0, 1.0])
    expected[:3, 3] = (-10.0, -20.0, -5.0)
    for name in ("v.nrrd", "v.mha"):
        sitk.WriteImage(image, str(tmp_path / name), True)
        volume = read_volume(tmp_path / name)
        assert volume.labels.dtype == np.int16
        np.testing.assert_array_equal(volume.labels, labels)
        assert volume.geometry is not None
        np.testing.assert_allclose(volume.geometry.affine, expected)
        assert volume.geometry.orientation == "LPS"
    # The same grid written as NIfTI compares equal: an NRRD prediction pairs with NIfTI GT.
    nifti = read_volume(_nifti(tmp_path / "v.nii.gz", labels, expected)).geometry
    mha = read_volume(tmp_path / "v.mha").geometry
    assert nifti is not None
    assert mha is not None
    assert geometry_mismatch(nifti, mha) is None


def test_three_d_npy_is_a_volume_without_geometry(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.ones((4, 5, 6), dtype=np.int32))
    volume = read_volume(tmp_path / "v.npy")
    assert volume.labels.shape == (4, 5, 6)
    assert volume.geometry is None
    assert volume.spacing == (1.0, 1.0, 1.0)


def test_volumes_have_their_own_voxel_limit(tmp_path: Path) -> None:
    # A CT label map easily passes the 100-megapixel image limit: volumes are limited
    # by --max-voxels (default 1e9), read from the header before any data.
    labels = np.zeros((4, 5, 6), dtype=np.uint8)
    tight = ReadOptions(max_pixels=10, max_voxels=100)
    for path in (_nifti(tmp_path / "v.nii.gz", labels), tmp_path / "v.npy"):
        np.save(tmp_path / "v.npy", labels)
        assert read_volume(path, ReadOptions(max_pixels=10)).labels.shape == (4, 5, 6)
        with pytest.raises(MaskReadError, match=r"shape \(4, 5, 6\).*--max-voxels"):
            read_volume(path, tight)


def test_missing_reader_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _nifti(tmp_path / "a.nii.gz", np.zeros((2, 2, 2), dtype=np.uint8))
    monkeypatch.setitem(sys.modules, "nibabel", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'segeval-masks\[medical\]'"):
        read_mask(path)


def test_importing_segeval_loads_no_volume_reader() -> None:
    code = (
        "import sys, segeval, segeval.cli, segeval.run.evaluate, segeval.inspection;"
        "print(','.join(m for m in ('nibabel', 'SimpleITK') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


# ------------------------------------------------------------------- pairing


def test_double_suffix_is_stripped_where_keys_are_derived(tmp_path: Path) -> None:
    assert mask_suffix("case_001.nii.gz") == ".nii.gz"
    assert mask_suffix("case_001.NII.GZ") == ".nii.gz"
    assert mask_suffix("case.tar.gz") is None
    assert mask_suffix(".nii.gz") is None
    labels = np.zeros((2, 2, 2), dtype=np.uint8)
    _nifti(tmp_path / "gt" / "case_001.nii.gz", labels)
    _nifti(tmp_path / "pred" / "case_001.nii.gz", labels)
    _nifti(tmp_path / "pred" / "sub" / "case_002.nii", labels)
    _nifti(tmp_path / "gt" / "sub" / "case_002.nii", labels)
    pairing = pair_folders(tmp_path / "pred", tmp_path / "gt")
    assert [pair.key for pair in pairing.pairs] == ["case_001", "sub/case_002"]
    assert not pairing.missing
    assert not pairing.extra


# ------------------------------------------------------------------ counting


def test_a_volume_is_one_case_while_update_keeps_its_batch_meaning() -> None:
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 3, size=(6, 7, 5), dtype=np.uint8)
    pred = rng.integers(0, 3, size=(6, 7, 5), dtype=np.uint8)
    as_case, as_batch = ConfusionMatrix(3), ConfusionMatrix(3)
    as_case.update_case(pred, gt)
    as_batch.update(pred, gt)
    assert as_case.num_images == 1
    assert as_batch.num_images == 6
    np.testing.assert_array_equal(as_case.counts, as_batch.counts)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("chunk_pixels", [1, 7, 40, 10_000])
def test_slab_size_and_memory_order_do_not_change_the_counts(
    order: Literal["C", "F"], chunk_pixels: int
) -> None:
    rng = np.random.default_rng(1)
    gt = np.asarray(rng.integers(0, 4, size=(5, 6, 7)), dtype=np.uint16, order=order)
    pred = np.asarray(rng.integers(0, 4, size=(5, 6, 7)), dtype=np.uint16, order=order)
    whole = ConfusionMatrix(4, chunk_pixels=10**9)
    whole.update_case(pred, gt)
    sliced = ConfusionMatrix(4, chunk_pixels=chunk_pixels)
    sliced.update_case(np.asarray(pred, dtype=np.uint8, order=order), gt.astype(np.uint8))
    inferred = ConfusionMatrix(chunk_pixels=chunk_pixels)
    inferred.update_case(pred, gt)
    expected = np.zeros((4, 4), dtype=np.uint64)
    np.add.at(expected, (gt.ravel(), pred.ravel()), 1)
    for matrix in (whole, sliced, inferred):
        np.testing.assert_array_equal(matrix.counts, expected)


def test_synthetic_cases_match_hand_counts_and_the_continuous_shapes(cases: Path) -> None:
    report = evaluate(cases / "pred", cases / "gt", ScoreOptions(num_classes=3, per_image=True))
    assert report.num_images == 3
    gt, pred = volumes.case_pair("case_001")
    for label in (1, 2):  # the voxels, counted here
        g, p = gt == label, pred == label
        dice = 2 * (g & p).sum() / (g.sum() + p.sum())
        assert dice == pytest.approx(_per_case_dice(cases, "case_001", label), abs=1e-12)
    # ...and the continuous shapes they approximate (radii in mm).
    assert _per_case_dice(cases, "case_001", 1) == pytest.approx(
        2 * 10**3 / (10**3 + 12**3), abs=0.01
    )
    shells = 2 * (16**3 - 12**3) / ((16**3 - 10**3) + (16**3 - 12**3))
    assert _per_case_dice(cases, "case_001", 2) == pytest.approx(shells, abs=0.01)
    # The box of 6 slices predicted 2 slices higher: 4 shared -> Dice 2 * 4 / (6 + 6).
    assert _per_case_dice(cases, "case_002", 1) == pytest.approx(2 / 3, abs=1e-12)
    assert _per_case_dice(cases, "case_003", 2) == 0.0


def _per_case_dice(cases: Path, key: str, label: int) -> float:
    rows = _case_rows(cases, "--num-classes", "3")
    return float(rows[key]["dice"][f"class_{label}"])


def _case_rows(cases: Path, *options: str, pred: str = "pred") -> dict[str, dict[str, Any]]:
    target = cases / f"rows-{abs(hash((options, pred)))}.jsonl"
    if not target.exists():
        result = _run(
            "score", cases / pred, cases / "gt", "--per-image-output", target, "-q", *options
        )
        assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    return {row["image"]: row for row in rows}


# --------------------------------------------------------------- conventions


def _nnunet_reference(cases: Path, labels: tuple[int, ...]) -> dict[str, Any]:
    """nnU-Net v2's compute_metrics_on_folder, re-derived from its documented rules."""
    per_case = []
    for gt_path in sorted((cases / "gt").glob("*.nii.gz")):
        ref = np.asanyarray(nib.load(gt_path).dataobj)
        pred = np.asanyarray(nib.load(cases / "pred" / gt_path.name).dataobj)
        metrics = {}
        for label in labels:
            r, p = ref == label, pred == label
            tp, fp, fn = int((r & p).sum()), int((~r & p).sum()), int((r & ~p).sum())
            tn = int((~r & ~p).sum())
            empty = tp + fp + fn == 0
            metrics[str(label)] = {
                "Dice": math.nan if empty else 2 * tp / (2 * tp + fp + fn),
                "IoU": math.nan if empty else tp / (tp + fp + fn),
                "FP": fp, "TP": tp, "FN": fn, "TN": tn, "n_pred": fp + tp, "n_ref": fn + tp,
            }  # fmt: skip
        per_case.append(metrics)
    means = {
        str(label): {
            name: float(np.nanmean([case[str(label)][name] for case in per_case]))
            for name in per_case[0][str(label)]
        }
        for label in labels
    }
    foreground = {
        name: float(np.mean([means[key][name] for key in means if key != "0"]))
        for name in means[str(labels[0])]
    }
    return {"per_case": per_case, "mean": means, "foreground_mean": foreground}


def test_nnunet_convention_and_summary_json_reproduce_nnunet(cases: Path) -> None:
    expected = _nnunet_reference(cases, (1, 2))
    target = cases / "summary.json"
    result = _run(
        "score", cases / "pred", cases / "gt", "--convention", "nnunet", "--nnunet-summary", target,
        "--format", "json", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    summary = json.loads(target.read_text())
    assert sorted(summary) == ["foreground_mean", "mean", "metric_per_case"]
    assert [Path(case["reference_file"]).name for case in summary["metric_per_case"]] == [
        "case_001.nii.gz", "case_002.nii.gz", "case_003.nii.gz",
    ]  # fmt: skip
    assert all(
        Path(case["prediction_file"]).parent == cases / "pred"
        for case in summary["metric_per_case"]
    )
    for written, wanted in zip(summary["metric_per_case"], expected["per_case"], strict=True):
        assert sorted(written["metrics"]) == ["1", "2"]
        for label, values in wanted.items():
            assert written["metrics"][label] == pytest.approx(values, nan_ok=True)
    # case_002 has no label 2 on either side: NaN there, left out of the label's mean.
    assert math.isnan(summary["metric_per_case"][1]["metrics"]["2"]["Dice"])
    for label, values in expected["mean"].items():
        assert summary["mean"][label] == pytest.approx(values, nan_ok=True)
    assert summary["foreground_mean"] == pytest.approx(expected["foreground_mean"])
    # The report's per-case means are nnU-Net's numbers.
    assert report["summary"]["image_mdice"] == pytest.approx(expected["foreground_mean"]["Dice"])
    assert report["summary"]["image_miou"] == pytest.approx(expected["foreground_mean"]["IoU"])
    dice = {c["name"]: c["image_dice"] for c in report["classes"]}
    assert dice["class_1"] == pytest.approx(expected["mean"]["1"]["Dice"])
    assert dice["class_2"] == pytest.approx(expected["mean"]["2"]["Dice"])


def _monai_dice(cases: Path, *, include_background: bool, ignore_empty: bool) -> np.ndarray:
    """MONAI DiceMetric's per-case, per-class values (one-hot, as monai/metrics/meandice.py)."""
    rows = []
    for gt_path in sorted((cases / "gt").glob("*.nii.gz")):
        ref = np.asanyarray(nib.load(gt_path).dataobj)
        pred = np.asanyarray(nib.load(cases / "pred" / gt_path.name).dataobj)
        row = []
        for label in range(0 if include_background else 1, 3):
            y, y_pred = (ref == label).astype(float), (pred == label).astype(float)
            intersection, denominator = (y * y_pred).sum(), y.sum() + y_pred.sum()
            if ignore_empty and y.sum() == 0:
                row.append(math.nan)
            elif denominator == 0:
                row.append(1.0)
            else:
                row.append(2 * intersection / denominator)
        rows.append(row)
    return np.array(rows)


def test_per_case_dice_equals_monai_dicemetric(cases: Path) -> None:
    # conventions.md: DiceMetric(ignore_empty=False) is segeval's per-image Dice with --empty one.
    expected = _monai_dice(cases, include_background=False, ignore_empty=False)
    rows = _case_rows(cases, "--num-classes", "3", "--empty", "one")
    got = np.array([[rows[key]["dice"][f"class_{c}"] for c in (1, 2)] for key in volumes.CASES])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # reduction="mean": per case over classes, then over cases.
    assert float(np.mean(np.nanmean(expected, axis=1))) == pytest.approx(
        np.mean([np.mean([rows[k]["dice"][f"class_{c}"] for c in (1, 2)]) for k in volumes.CASES])
    )


def test_monai_convention_reproduces_dicemetric_per_case(cases: Path) -> None:
    # DiceMetric(include_background=True, ignore_empty=True): an empty ground truth is
    # NaN (case_002 has no label 2); reduction="mean" averages each case over its
    # classes, then the cases; "mean_batch" each class over the cases.
    expected = _monai_dice(cases, include_background=True, ignore_empty=True)
    assert np.isnan(expected[1, 2])
    rows = _case_rows(cases, "--convention", "monai")
    got = np.array(
        [[rows[key]["dice"][f"class_{c}"] for c in range(3)] for key in volumes.CASES],
        dtype=float,  # undefined values are null in the rows: NaN here
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    result = _run(
        "score", cases / "pred", cases / "gt", "--convention", "monai", "--format", "json"
    )
    report = json.loads(result.output)
    assert report["summary"]["samplewise_mdice"] == pytest.approx(
        float(np.mean(np.nanmean(expected, axis=1))), rel=1e-12
    )
    mean_batch = np.nanmean(expected, axis=0)
    assert [c["image_dice"] for c in report["classes"]] == pytest.approx(mean_batch, rel=1e-12)


# ----------------------------------------------------------- surface metrics


def _monai_surface(gt: np.ndarray, pred: np.ndarray, tau: float) -> tuple[float, ...]:
    """MONAI's surface metrics of one structure (monai/metrics/utils.py, as documented).

    Edges = mask XOR erosion by the default cross (6-connected in 3-D, the border
    outside); distances by the exact EDT with ``sampling = spacing``.
    """
    ndimage: Any = importlib.import_module("scipy.ndimage")
    edges = [mask ^ ndimage.binary_erosion(mask) for mask in (pred, gt)]
    d_pg = ndimage.distance_transform_edt(~edges[1], sampling=SPACING)[edges[0]]
    d_gp = ndimage.distance_transform_edt(~edges[0], sampling=SPACING)[edges[1]]
    both = np.concatenate([d_pg, d_gp])
    return (
        float(max(d_pg.max(), d_gp.max())),
        float(max(np.percentile(d_pg, 95), np.percentile(d_gp, 95))),
        float(both.mean()),
        float((both <= tau).sum() / both.size),
    )


def test_surface_distances_on_volumes_are_in_millimetres(cases: Path) -> None:
    rows = _case_rows(cases, "--num-classes", "3", "--surface-distances", "--nsd-tolerance", "3")
    # The box predicted two 3 mm slices too high: Hausdorff distance 6.0 mm exactly.
    assert rows["case_002"]["hd"]["class_1"] == 6.0
    for key in volumes.CASES:
        gt, pred = volumes.case_pair(key)
        for label in (1, 2):
            if not (gt == label).any() or not (pred == label).any():
                continue
            expected = _monai_surface(gt == label, pred == label, tau=3.0)
            got = [rows[key][name][f"class_{label}"] for name in ("hd", "hd95", "assd", "nsd")]
            # Agreement to float32 accuracy (the core keeps distances in float32).
            assert got == pytest.approx(expected, rel=1e-6), (key, label)
    # Empty rules as for images: a missed structure is infinitely far, NSD 0; a label
    # on neither side has no value.
    assert rows["case_003"]["hd"]["class_2"] == "inf"
    assert rows["case_003"]["nsd"]["class_2"] == 0.0
    assert rows["case_002"]["hd"]["class_2"] is None
    result = _run(
        "score", cases / "pred", cases / "gt", "--surface-distances", "--format", "json", "-q"
    )
    report = json.loads(result.output)
    assert report["boundary"]["distance_unit"] == "mm"
    text = _run("score", cases / "pred", cases / "gt", "--surface-distances", "-q").output
    assert "Surface distances: in mm (volumes: the voxel spacing of their headers)" in text
    assert "NSD tolerance 1 mm" in text


def test_merged_task_results_keep_the_distance_unit() -> None:
    # Executors that reduce in a tree (Dask) merge task results pairwise.
    first, second = TaskResult(), TaskResult()
    first.distance_units.add("mm")
    second.distance_units.add("pixels")
    assert merge_results(first, second).distance_units == {"mm", "pixels"}


# ------------------------------------------------------------------ geometry


def test_mismatched_spacing_is_one_line_naming_both_values(cases: Path) -> None:
    result = _run("score", cases / "pred_mismatched", cases / "gt", "--missing", "skip", "-q")
    assert result.exit_code == 2
    message = result.output.strip()
    assert "\n" not in message
    assert "pred_mismatched/case_001.nii.gz: prediction has spacing 0.8 x 0.8 x 2.5 mm" in message
    assert "but the ground truth has 0.8 x 0.8 x 3 mm" in message
    assert "--trust-gt-geometry" in message


def test_trust_gt_geometry_scores_the_voxels_as_they_are(cases: Path) -> None:
    trusted = _case_rows(
        cases, "--num-classes", "3", "--missing", "skip", "--trust-gt-geometry",
        pred="pred_mismatched",
    )  # fmt: skip
    proper = _case_rows(cases, "--num-classes", "3")
    assert trusted["case_001"]["dice"] == proper["case_001"]["dice"]


def test_flipped_orientation_and_other_shapes_are_refused(tmp_path: Path) -> None:
    labels = np.zeros((4, 4, 3), dtype=np.uint8)
    labels[:2] = 1
    affine = np.diag([*SPACING, 1.0])
    flipped = affine.copy()
    flipped[0, 0] = -SPACING[0]
    _nifti(tmp_path / "gt" / "a.nii.gz", labels, affine)
    _nifti(tmp_path / "pred" / "a.nii.gz", labels, flipped)
    with pytest.raises(ShapeMismatchError, match="orientation LAS, but the ground truth is RAS"):
        evaluate(tmp_path / "pred", tmp_path / "gt")
    _nifti(tmp_path / "pred" / "a.nii.gz", labels[:, :, :2], affine)
    with pytest.raises(ShapeMismatchError, match=r"has shape \(4, 4, 2\) but its ground truth"):
        evaluate(tmp_path / "pred", tmp_path / "gt")
    # A volume predicted for an image: the shapes are named, not a width and height.
    save_mask(tmp_path / "image" / "pred" / "b.npy", np.zeros((4, 4, 3), dtype=np.uint8))
    save_mask(tmp_path / "image" / "gt" / "b.png", np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ShapeMismatchError, match=r"has shape \(4, 4, 3\) but its ground truth"):
        evaluate(tmp_path / "image" / "pred", tmp_path / "image" / "gt")
    # Within the tolerance (float32 headers, resampling round-off) is a match.
    nudged = affine.copy()
    nudged[:3, 3] += 4e-4
    _nifti(tmp_path / "pred" / "a.nii.gz", labels, nudged)
    assert evaluate(tmp_path / "pred", tmp_path / "gt").summary["miou"] == 1.0


def test_geometry_mismatch_reports_spacing_before_affine() -> None:
    gt = Geometry.from_spacing((1.0, 1.0, 1.0))
    assert geometry_mismatch(gt, Geometry.from_spacing((1.0, 1.0, 1.0005))) is None
    assert geometry_mismatch(gt, Geometry.from_spacing((1.0, 1.0, 1.1))) == (
        "spacing 1 x 1 x 1.1 mm, but the ground truth has 1 x 1 x 1 mm"
    )


# ------------------------------------------------------------------- inspect


def test_inspect_lists_grids_values_and_mismatches(cases: Path) -> None:
    found = inspect_folder(cases / "pred_mismatched", against=cases / "gt")
    assert [info.shape for info in found.volumes] == [(48, 48, 16)]
    assert len(found.mismatches) == 1
    assert (
        "spacing 0.8 x 0.8 x 2.5 mm, but the ground truth has 0.8 x 0.8 x 3 mm"
        in (found.mismatches[0])
    )
    result = _run("inspect", cases / "gt", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["kinds"] == {"nifti (gzip)": 3}
    assert {tuple(v["shape"]) for v in document["volumes"]} == {(48, 48, 16)}
    assert document["volumes"][0]["spacing"] == pytest.approx(SPACING)
    assert document["volumes"][0]["orientation"] == "LAS"
    assert set(document["values"]) == {"0", "1", "2"}
    text = _run("inspect", cases / "pred_mismatched", "--against", cases / "gt").output
    assert "48 x 48 x 16  0.8 x 0.8 x 2.5 mm  LAS" in text
    assert "Grids that differ from the ground truth" in text


# -------------------------------------------------------------- sample data


def test_sample_volumes_regenerate_and_score_as_the_readme_says(tmp_path: Path) -> None:
    volumes.write_cases(tmp_path, mismatch=True)
    committed = sorted(
        p.relative_to(SAMPLE / "volumes") for p in (SAMPLE / "volumes").rglob("*.gz")
    )
    assert committed == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.gz"))
    for relative in committed:  # the content, not the deflate stream (zlib builds differ)
        assert gzip.decompress((SAMPLE / "volumes" / relative).read_bytes()) == gzip.decompress(
            (tmp_path / relative).read_bytes()
        )
    assert sum(p.stat().st_size for p in (SAMPLE / "volumes").rglob("*")) < 50_000
    readme = (REPO / "README.md").read_text()
    command = "segeval score sample_data/volumes/pred sample_data/volumes/gt --convention nnunet"
    assert command in readme
    args = [str(REPO / arg) if arg.startswith("sample_data") else arg for arg in command.split()]
    result = _run(*args[1:], "-q")
    assert result.exit_code == 0, result.output
    assert "case_001" not in result.output  # a summary, not a per-case dump


# -------------------------------------------------------------------- memory

_MEMORY_SCRIPT = """
import resource, sys
from segeval.run.evaluate import evaluate
from segeval.run.options import Execution, ScoreOptions
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = evaluate(sys.argv[1] + "/pred", sys.argv[1] + "/gt",
                  ScoreOptions(num_classes=3, per_image=True), execution=Execution(jobs=1))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before * 1024, after * 1024, report.summary["miou"])
"""


Box = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def _overlap(first: Box, second: Box) -> int:
    return math.prod(
        max(0, min(a[1], b[1]) - max(a[0], b[0])) for a, b in zip(first, second, strict=True)
    )


def test_a_512x512x300_volume_is_scored_within_its_memory_bound(tmp_path: Path) -> None:
    # Two uint8 volumes of 78.6 MB each (uncompressed NIfTI, memory-mapped). Bound:
    # peak RSS grows by at most both volumes (they are read whole) plus 48 MiB of
    # slab temporaries and reader overhead. Counting the volume in one piece (int64
    # codes) would need 630 MB more.
    shape = (512, 512, 300)
    gt_box: Box = ((100, 400), (120, 380), (50, 250))  # label 1, label 2 painted inside
    gt_core: Box = ((200, 300), (200, 300), (100, 200))
    pred_box: Box = ((110, 410), (120, 380), (60, 260))
    pred_core: Box = ((205, 305), (200, 300), (100, 210))
    for side, (box, core) in {"gt": (gt_box, gt_core), "pred": (pred_box, pred_core)}.items():
        labels = np.zeros(shape, dtype=np.uint8, order="F")
        labels[tuple(slice(*extent) for extent in box)] = 1
        labels[tuple(slice(*extent) for extent in core)] = 2
        _nifti(tmp_path / side / "big.nii", labels)
        del labels
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(tmp_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    before, after, miou = result.stdout.split()
    volume_bytes = math.prod(shape)
    growth = int(after) - int(before)
    assert growth < 2 * volume_bytes + 48 * 2**20, f"peak RSS grew by {growth / 2**20:.0f} MiB"
    # The confusion matrix by hand, from box intersections (each core lies in its box).
    both_2 = _overlap(gt_core, pred_core)
    gt_2_pred_1 = _overlap(gt_core, pred_box) - both_2
    gt_1_pred_2 = _overlap(gt_box, pred_core) - both_2
    both_1 = _overlap(gt_box, pred_box) - _overlap(gt_box, pred_core) - gt_2_pred_1
    size = {name: _overlap(box, box) for name, box in [("g", gt_box), ("gc", gt_core),
            ("p", pred_box), ("pc", pred_core)]}  # fmt: skip
    gt_count = [volume_bytes - size["g"], size["g"] - size["gc"], size["gc"]]
    pred_count = [volume_bytes - size["p"], size["p"] - size["pc"], size["pc"]]
    both_0 = volume_bytes - size["g"] - size["p"] + _overlap(gt_box, pred_box)
    tp = [both_0, both_1, both_2]
    ious = [tp[c] / (gt_count[c] + pred_count[c] - tp[c]) for c in range(3)]
    assert gt_1_pred_2 >= 0
    assert float(miou) == pytest.approx(sum(ious) / 3, abs=1e-12)
