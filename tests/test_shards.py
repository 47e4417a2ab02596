"""Shards: N partial runs merge into the single run's report, bit for bit; bad parts are refused."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from segeval.cli import cli
from segeval.core.boundary import BoundaryOptions
from segeval.core.instances import InstanceRow
from segeval.core.per_image import ImageResult
from segeval.inputs.classes import load_preset
from segeval.inputs.pairing import InstanceSource, PairingOptions
from segeval.render import RenderOptions
from segeval.render import score as score_formats
from segeval.render.tables import render_with
from segeval.report import Report
from segeval.run.evaluate import evaluate
from segeval.run.options import ScoreOptions
from segeval.run.shards import Shard, ShardState, StateError, evaluate_shard, merge_states
from tests.helpers import (
    CAMVID,
    CAMVID_OPTIONS,
    GOLDEN,
    SAMPLE,
    SAMPLE_ARGS,
    RowSink,
    save_mask,
)

NAMES = tuple((SAMPLE / "class_names.txt").read_text().split())
VIEW = RenderOptions(confusion_matrix=True, normalize="gt")
VOLUMES = SAMPLE / "volumes"


class BoundaryRowSink:
    """Keeps each per-image row with its boundary values, as JSON text (exact, NaN-safe)."""

    def __init__(self) -> None:
        self.rows: list[str] = []

    def begin(self, class_names: Sequence[str]) -> None:
        """Nothing to do before the rows."""

    def write(self, result: ImageResult) -> None:
        """Keep one row."""
        boundary: dict[str, Any] = {
            name: values.tolist() for name, values in result.boundary.items()
        }
        row = [result.key, result.iou.tolist(), boundary, dict(result.boundary_summary)]
        self.rows.append(json.dumps(row))


def _every_format(report: Report) -> dict[str, str]:
    """Each format of score, with the run time (the one field that differs) zeroed."""
    timeless = replace(report, elapsed_seconds=0.0)
    formats = score_formats.FORMATS
    return {name: render_with(formats, timeless, name, VIEW) for name in formats}


def _parts(pred: Path, gt: Path, options: ScoreOptions, count: int) -> list[tuple[str, ShardState]]:
    parts = []
    for index in range(1, count + 1):
        _, state = evaluate_shard(pred, gt, options, Shard(index, count))
        # Through the file format, as a real merge reads it.
        parts.append((f"part-{index}", ShardState.from_text(state.to_text(), f"part-{index}")))
    return parts


@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize(
    "options",
    [ScoreOptions(class_names=NAMES, per_image=True), ScoreOptions()],
    ids=["named-per-image", "inferred-classes"],
)
def test_merged_shards_equal_the_single_run(count: int, options: ScoreOptions) -> None:
    single = evaluate(SAMPLE / "pred", SAMPLE / "gt", options)
    parts = _parts(SAMPLE / "pred", SAMPLE / "gt", options, count)
    assert sum(len(state.keys) for _, state in parts) == 12
    # Shard order on disk does not matter.
    merged = merge_states(list(reversed(parts)))
    assert _every_format(merged) == _every_format(single)
    assert merged.pairing == single.pairing


def test_camvid_in_three_shards_equals_one_run(camvid_reference: tuple[Report, RowSink]) -> None:
    single, single_rows = camvid_reference
    merged_rows = RowSink()
    parts = _parts(CAMVID / "pred_hgb", CAMVID / "testannot", CAMVID_OPTIONS, 3)
    merged = merge_states(parts, image_sink=merged_rows)
    assert _every_format(merged) == _every_format(single)
    assert json.dumps(merged_rows.rows) == json.dumps(single_rows.rows)  # NaN-safe, exact
    assert merged.num_images == 233


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _save_parts(
    folder: Path, count: int, *extra: str, inputs: Sequence[str] = SAMPLE_ARGS
) -> list[str]:
    paths = []
    for index in range(1, count + 1):
        path = folder / f"part-{index}.segeval"
        code, _, err = _cli(
            "score", *inputs, "--shard", f"{index}/{count}", "--save-state", str(path),
            "--format", "json", *extra,
        )  # fmt: skip
        assert code == 0, err
        paths.append(str(path))
    return paths


def test_cli_merge_prints_the_single_run_and_its_per_image_rows(tmp_path: Path) -> None:
    parts = _save_parts(tmp_path, 3, "--per-image")
    code, merged, _ = _cli(
        "merge", *parts, "--format", "json",
        "--per-image-output", str(tmp_path / "merged.csv"),
    )  # fmt: skip
    assert code == 0
    code, single, _ = _cli(
        "score", *SAMPLE_ARGS, "--format", "json",
        "--per-image-output", str(tmp_path / "single.csv"),
    )  # fmt: skip
    documents = [json.loads(text) for text in (merged, single)]
    for document in documents:
        document["elapsed_seconds"] = 0.0
    assert documents[0] == documents[1]
    assert (tmp_path / "merged.csv").read_text() == (tmp_path / "single.csv").read_text()


def test_a_missing_part_is_named(tmp_path: Path) -> None:
    parts = _save_parts(tmp_path, 3)
    code, _, err = _cli("merge", parts[0], parts[2])
    assert code == 2
    assert err == (
        "segeval: error: shard 2/3 is missing: 2 of 3 parts given; score it with --shard "
        "and --save-state, then merge all parts.\n"
    )


def test_a_duplicated_part_is_named(tmp_path: Path) -> None:
    parts = _save_parts(tmp_path, 2)
    copy = tmp_path / "copy.segeval"
    copy.write_bytes(Path(parts[1]).read_bytes())
    code, _, err = _cli("merge", *parts, str(copy))
    assert code == 2
    assert f"{copy}: shard 2/2 is also {parts[1]}; pass each shard once." in err


def test_a_part_with_other_settings_is_named(tmp_path: Path) -> None:
    parts = _save_parts(tmp_path, 2)
    foreign = tmp_path / "foreign.segeval"
    code, _, err = _cli(
        "score", *SAMPLE_ARGS, "--shard", "2/2", "--save-state", str(foreign), "--empty", "zero"
    )
    assert code == 0, err
    code, _, err = _cli("merge", parts[0], str(foreign))
    assert code == 2
    assert f"{foreign}: made with other settings than {parts[0]}" in err


def test_a_part_of_other_folders_is_named(tmp_path: Path) -> None:
    parts = _save_parts(tmp_path, 2)
    other = tmp_path / "other.segeval"
    args = [str(SAMPLE / "gt"), str(SAMPLE / "gt"), "--class-names", SAMPLE_ARGS[3]]
    code, _, err = _cli("score", *args, "--shard", "2/2", "--save-state", str(other))
    assert code == 0, err
    code, _, err = _cli("merge", parts[0], str(other))
    assert code == 2
    assert f"{other}: made from other folders or images than {parts[0]}" in err


def test_a_damaged_part_is_named(tmp_path: Path) -> None:
    parts = _save_parts(tmp_path, 2)
    document = json.loads(Path(parts[1]).read_text())
    document["state"]["counts"]["matrix"][0][0] += 1
    Path(parts[1]).write_text(json.dumps(document))
    code, _, err = _cli("merge", *parts)
    assert code == 2
    assert f"{parts[1]}: the checksum does not match the content" in err
    with pytest.raises(StateError, match="expected a segeval/state/v3 state file"):
        ShardState.from_text('{"format": "something/else"}', "other.segeval")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "0/3", "--save-state", "p"], "--shard 0/3: I must be between 1 and N"),
        (["--shard", "2", "--save-state", "p"], "--shard '2': expected I/N"),
        (["--shard", "1/2"], "--shard needs --save-state FILE"),
    ],
)
def test_bad_shard_options_are_usage_errors(args: list[str], message: str) -> None:
    code, _, err = _cli("score", *SAMPLE_ARGS, *args)
    assert code == 2
    assert message in err


def _boundary_set(root: Path) -> tuple[Path, Path]:
    """15 generated pairs whose classes come and go, so some distances are infinite."""
    rng = np.random.default_rng(16)
    for index in range(15):
        gt_mask = np.zeros((24, 32), dtype=np.uint8)
        pred_mask = np.zeros_like(gt_mask)
        for label in (1, 2, 3):
            for mask, shift in ((gt_mask, 0), (pred_mask, int(rng.integers(-2, 3)))):
                if rng.random() < 0.75:  # absent from one side now and then: missed or spurious
                    top, left = int(rng.integers(2, 14)), int(rng.integers(2, 20)) + shift
                    mask[top : top + 8, max(left, 0) : left + 9] = label
        save_mask(root / "gt" / f"img_{index:02d}.png", gt_mask)
        save_mask(root / "pred" / f"img_{index:02d}.png", pred_mask)
    return root / "pred", root / "gt"


BOUNDARY_RUNS = {
    "boundary": ScoreOptions(per_image=True, boundary=BoundaryOptions(boundary=True)),
    "surface": ScoreOptions(
        num_classes=4, boundary=BoundaryOptions(surface=True, nsd_tolerance=1.5)
    ),
    "both-replace-inf": ScoreOptions(
        num_classes=4,
        per_image=True,
        boundary=BoundaryOptions(boundary=True, surface=True, replace_inf=True, hd95="medpy"),
    ),
}


@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("name", list(BOUNDARY_RUNS))
def test_merged_boundary_shards_equal_the_single_run(tmp_path: Path, count: int, name: str) -> None:
    pred, gt = _boundary_set(tmp_path)
    options = BOUNDARY_RUNS[name]
    # A state holds per-image rows of runs with per-image scoring only (merge refuses a sink).
    single_rows = BoundaryRowSink() if options.per_image else None
    merged_rows = BoundaryRowSink() if options.per_image else None
    single = evaluate(pred, gt, options, image_sink=single_rows)
    merged = merge_states(_parts(pred, gt, options, count), image_sink=merged_rows)
    assert _every_format(merged) == _every_format(single)
    if single_rows is not None and merged_rows is not None:
        assert len(single_rows.rows) == 15
        assert merged_rows.rows == single_rows.rows
    assert merged.boundary is not None
    assert merged.boundary == single.boundary
    if options.boundary is not None and options.boundary.surface:
        # The set has one-sided cases, so the rows carried infinite distances through JSON.
        assert merged.boundary.missed + merged.boundary.spurious > 0


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_merged_volume_shards_equal_the_single_run_in_json(tmp_path: Path, count: int) -> None:
    """Surface distances in millimetres on the sample volumes, through the CLI (7 > 3 cases)."""
    args = [str(VOLUMES / "pred"), str(VOLUMES / "gt"), "--num-classes", "3",
            "--surface-distances", "--nsd-tolerance", "2", "--per-image", "-q"]  # fmt: skip
    parts = _save_parts(tmp_path, count, *args[2:], inputs=args[:2])
    code, merged, err = _cli(
        "merge", *parts, "--format", "json", "--per-image-output", str(tmp_path / "merged.jsonl")
    )
    assert code == 0, err
    code, single, err = _cli(
        "score", *args, "--format", "json", "--per-image-output", str(tmp_path / "single.jsonl")
    )
    assert code == 0, err
    assert _timeless(merged) == _timeless(single)
    assert json.loads(single)["boundary"]["distance_unit"] == "mm"
    merged_rows = (tmp_path / "merged.jsonl").read_text()
    assert merged_rows == (tmp_path / "single.jsonl").read_text()


def _timeless(document: str) -> str:
    """The JSON text with the one field that differs (the run time) zeroed, bytes otherwise."""
    return re.sub(r'"elapsed_seconds": [^,}]+', '"elapsed_seconds": 0', document)


@pytest.mark.parametrize("count", [2, 7])
def test_merged_shards_carry_the_single_runs_intervals(tmp_path: Path, count: int) -> None:
    ci = ["--ci", "0.9", "--bootstrap", "300", "--seed", "5", "--group-by", r"^(\w)"]
    parts = _save_parts(tmp_path, count, *ci)
    code, merged, err = _cli("merge", *parts, "--format", "json")
    assert code == 0, err
    code, single, err = _cli("score", *SAMPLE_ARGS, *ci, "--format", "json")
    assert code == 0, err
    assert _timeless(merged) == _timeless(single)
    assert json.loads(merged)["intervals"]["summary"]["miou"]["high"] is not None


def test_a_shard_report_leaves_the_intervals_to_merge(tmp_path: Path) -> None:
    code, shard_report, err = _cli(
        "score", *SAMPLE_ARGS, "--ci", "--seed", "1", "--shard", "1/2",
        "--save-state", str(tmp_path / "part-1.segeval"), "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert "intervals" not in json.loads(shard_report)
    code, _, err = _cli(
        "score", *SAMPLE_ARGS, "--ci", "--seed", "2", "--shard", "2/2",
        "--save-state", str(tmp_path / "part-2.segeval"),
    )  # fmt: skip
    assert code == 0, err
    code, _, err = _cli("merge", str(tmp_path / "part-1.segeval"), str(tmp_path / "part-2.segeval"))
    assert code == 2
    assert err == (
        f"segeval: error: {tmp_path / 'part-2.segeval'}: made with other --ci settings than "
        f"{tmp_path / 'part-1.segeval'}; score every shard with the same --ci, --bootstrap, "
        "--seed, --ci-method and grouping.\n"
    )


def test_a_part_with_other_boundary_options_is_named(tmp_path: Path) -> None:
    parts = _save_parts(tmp_path, 2, "--boundary")
    foreign = tmp_path / "foreign.segeval"
    code, _, err = _cli(
        "score", *SAMPLE_ARGS, "--boundary", "--boundary-width", "3", "--shard", "2/2",
        "--save-state", str(foreign),
    )  # fmt: skip
    assert code == 0, err
    code, _, err = _cli("merge", parts[0], str(foreign))
    assert code == 2
    assert err.startswith(f"segeval: error: {foreign}: made with other settings than {parts[0]}")


def test_a_damaged_boundary_row_is_named(tmp_path: Path) -> None:
    parts = _save_parts(tmp_path, 2, "--surface-distances")
    document = json.loads(Path(parts[0]).read_text())
    values = document["state"]["boundary"]["surface"]["values"]
    values[0] = 1.0 if values[0] != 1.0 else 2.0
    Path(parts[0]).write_text(json.dumps(document))
    code, _, err = _cli("merge", *parts)
    assert code == 2
    assert err == (
        f"segeval: error: {parts[0]}: the checksum does not match the content; the file is "
        "damaged or was edited, so score this shard again.\n"
    )


def test_a_state_of_an_older_version_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.segeval"
    old.write_text('{"format": "segeval/state/v1", "checksum": "sha256:0", "state": {}}')
    code, _, err = _cli("merge", str(old))
    assert code == 2
    assert err == (
        f"segeval: error: {old}: a segeval/state/v1 state file, written by another segeval "
        "version; this one reads segeval/state/v3 only, so score this shard again with it.\n"
    )


def test_surface_rows_survive_the_state_file_bit_for_bit(tmp_path: Path) -> None:
    """Floats come back as the same bits: odd fractions, tiny values, -0.0, inf and NaN."""
    from segeval.core.boundary import SurfaceStats
    from segeval.run.work import BoundaryRows

    pred, gt = _boundary_set(tmp_path)
    options = ScoreOptions(num_classes=4, boundary=BoundaryOptions(surface=True))
    _, state = evaluate_shard(pred, gt, options, Shard(1, 5))
    odd = [0.1 + 0.2, 5e-324, -0.0, np.inf, np.nan, 1 / 3, 2.0**0.5, 1e308, np.pi, 7.0]
    values = np.array(odd * 2).reshape(1, 4, 5)
    status = np.array([[0, 2, 3, 1]], np.int8)
    diagonal = np.array([np.e])
    surface = SurfaceStats(4, 1.0, state.keys[:1], values, status, diagonal)
    rows = BoundaryRows(surface=[surface], distance_units={"pixels"})
    crafted = replace(state, keys=state.keys[:1], boundary_rows=rows)
    back = ShardState.from_text(crafted.to_text(), "crafted.segeval").boundary_rows.surface[0]
    assert back.values.tobytes() == values.tobytes()
    assert back.diagonal.tobytes() == diagonal.tobytes()
    assert back.status.tolist() == status.tolist()


CITYSCAPES_GOLDEN = GOLDEN / "cityscapes_instances"
CITYSCAPES_OFFICIAL: dict[str, Any] = json.loads((CITYSCAPES_GOLDEN / "official.json").read_text())
LABEL_SUFFIX, INSTANCE_SUFFIX = "_gtFine_labelIds.png", "_gtFine_instanceIds.png"


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``pred/`` and ``gt/`` (labelIds and instanceIds side by side) of the golden iIoU set."""
    root = tmp_path_factory.mktemp("cityscapes")
    for stem in CITYSCAPES_OFFICIAL["images"]:
        for suffix in (LABEL_SUFFIX, INSTANCE_SUFFIX):
            _copy(CITYSCAPES_GOLDEN / f"{stem}{suffix}", root / "gt" / f"{stem}{suffix}")
        _copy(CITYSCAPES_GOLDEN / f"{stem}_pred.png", root / "pred" / f"{stem}.png")
    return root / "pred", root / "gt"


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())


def _instance_args(gt: Path, *extra: str) -> list[str]:
    return ["--preset", "cityscapes", "--gt-suffix", LABEL_SUFFIX, "--gt-instances", str(gt),
            "--per-image", "-q", *extra]  # fmt: skip


class InstanceRowSink:
    """Keeps each per-image row with its own iIoU, as JSON text (exact, NaN-safe)."""

    def __init__(self) -> None:
        self.rows: list[str] = []

    def begin(self, class_names: Sequence[str]) -> None:
        """Nothing to do before the rows."""

    def write(self, result: ImageResult) -> None:
        """Keep one row."""
        assert result.iiou is not None
        row = [result.key, result.iou.tolist(), result.iiou.tolist(), result.miiou]
        self.rows.append(json.dumps(row))


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_merged_iiou_shards_equal_the_single_run(
    cityscapes: tuple[Path, Path], tmp_path: Path, count: int
) -> None:
    """Every format, the per-image rows and the official miIoU, through the state files."""
    pred, gt = cityscapes
    options = ScoreOptions(
        classes=load_preset("cityscapes"),
        pairing=PairingOptions(gt_suffix=LABEL_SUFFIX),
        gt_instances=InstanceSource(str(gt)),
        per_image=True,
    )
    single_rows, merged_rows = InstanceRowSink(), InstanceRowSink()
    single = evaluate(pred, gt, options, image_sink=single_rows)
    parts = _parts(pred, gt, options, count)
    assert sorted(len(state.keys) for _, state in parts)[0] == (4 // count)  # 7: empty shards
    merged = merge_states(list(reversed(parts)), image_sink=merged_rows)
    assert _every_format(merged) == _every_format(single)
    assert len(single_rows.rows) == 4
    assert merged_rows.rows == single_rows.rows
    official = CITYSCAPES_OFFICIAL["averageScoreInstClasses"]
    assert merged.summary["miiou"] == pytest.approx(official, abs=1e-12)

    # The same through the command line, per-image rows written to a file.
    args = _instance_args(gt)
    files = _save_parts(tmp_path, count, *args, inputs=[str(pred), str(gt)])
    code, merged_json, err = _cli(
        "merge", *files, "--format", "json", "--per-image-output", str(tmp_path / "merged.csv")
    )
    assert code == 0, err
    code, single_json, err = _cli(
        "score", str(pred), str(gt), *args, "--format", "json",
        "--per-image-output", str(tmp_path / "single.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert _timeless(merged_json) == _timeless(single_json)
    assert json.loads(merged_json)["summary"]["miiou"] == pytest.approx(official, abs=1e-12)
    merged_csv = (tmp_path / "merged.csv").read_text()
    assert "iiou[car]" in merged_csv.splitlines()[0]
    assert merged_csv == (tmp_path / "single.csv").read_text()


@pytest.mark.parametrize("foreign_run", ["without-instances", "other-suffix"])
def test_a_part_with_other_instance_maps_is_named(
    cityscapes: tuple[Path, Path], tmp_path: Path, foreign_run: str
) -> None:
    pred, gt = cityscapes
    inputs = [str(pred), str(gt)]
    parts = _save_parts(tmp_path, 2, *_instance_args(gt), inputs=inputs)
    if foreign_run == "without-instances":
        extra = ["--preset", "cityscapes", "--gt-suffix", LABEL_SUFFIX, "--per-image", "-q"]
        described = "without instance maps (no --gt-instances)"
    else:  # the same maps under other names, in their own folder
        for stem in CITYSCAPES_OFFICIAL["images"]:
            _copy(gt / f"{stem}{INSTANCE_SUFFIX}", tmp_path / "ids" / f"{stem}.ids.png")
        extra = _instance_args(tmp_path / "ids", "--gt-instance-suffix", ".ids.png")
        described = f"with the instance maps of {tmp_path / 'ids'} keyed by '.ids.png'"
    foreign = tmp_path / "foreign.segeval"
    code, _, err = _cli("score", *inputs, *extra, "--shard", "2/2", "--save-state", str(foreign))
    assert code == 0, err
    code, out, err = _cli("merge", parts[0], str(foreign))
    assert (code, out) == (2, "")
    assert err == (
        f"segeval: error: {foreign}: scored {described}, but {parts[0]} with the instance maps "
        f"of {gt} keyed by '{INSTANCE_SUFFIX}'; score every shard with the same --gt-instances "
        "and --gt-instance-suffix.\n"
    )


def test_iiou_rows_survive_the_state_file_bit_for_bit(cityscapes: tuple[Path, Path]) -> None:
    """Weighted sums come back as the same float bits; a row for another image is malformed."""

    pred, gt = cityscapes
    options = ScoreOptions(
        classes=load_preset("cityscapes"),
        pairing=PairingOptions(gt_suffix=LABEL_SUFFIX),
        gt_instances=InstanceSource(),
    )
    _, state = evaluate_shard(pred, gt, options, Shard(1, 4))
    (row,) = state.boundary_rows.instances
    odd = np.array([0.1 + 0.2, 5e-324, 1 / 3, 2.0**0.5, 1e308, np.pi, 7.0])
    class_tp = np.resize(odd, row.class_tp.shape)
    crafted_row = replace(row, class_tp=class_tp, category_fn=np.resize(odd[::-1], 2))
    crafted = replace(state, boundary_rows=replace(state.boundary_rows, instances=[crafted_row]))
    back = ShardState.from_text(crafted.to_text(), "crafted.segeval").boundary_rows.instances
    assert back[0].class_tp.tobytes() == class_tp.tobytes()
    assert back[0].category_fn.tobytes() == crafted_row.category_fn.tobytes()
    assert back[0].key == state.keys[0]
    wrong: InstanceRow = replace(crafted_row, key="another image")
    shifted = replace(state, boundary_rows=replace(state.boundary_rows, instances=[wrong]))
    with pytest.raises(StateError, match=r"malformed state.*not one per image of the shard"):
        ShardState.from_text(shifted.to_text(), "shifted.segeval")
