"""Shards: N partial runs merge into the single run's report, bit for bit; bad parts are refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from segeval.cli import cli
from segeval.render import RenderOptions
from segeval.render import score as score_formats
from segeval.render.tables import render_with
from segeval.report import Report
from segeval.run.evaluate import evaluate
from segeval.run.options import ScoreOptions
from segeval.run.shards import Shard, ShardState, StateError, evaluate_shard, merge_states
from tests.helpers import CAMVID, CAMVID_OPTIONS, SAMPLE, SAMPLE_ARGS, RowSink

NAMES = tuple((SAMPLE / "class_names.txt").read_text().split())
VIEW = RenderOptions(confusion_matrix=True, normalize="gt")


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


def _save_parts(folder: Path, count: int, *extra: str) -> list[str]:
    paths = []
    for index in range(1, count + 1):
        path = folder / f"part-{index}.segeval"
        code, _, err = _cli(
            "score", *SAMPLE_ARGS, "--shard", f"{index}/{count}", "--save-state", str(path),
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
    with pytest.raises(StateError, match="expected a segeval/state/v1 state file"):
        ShardState.from_text('{"format": "segeval/state/v0"}', "old.segeval")


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


def test_boundary_metrics_are_refused_with_a_state(tmp_path: Path) -> None:
    code, _, err = _cli(
        "score", *SAMPLE_ARGS, "--boundary", "--shard", "1/2",
        "--save-state", str(tmp_path / "part-1.segeval"),
    )  # fmt: skip
    assert code == 2
    assert "--save-state keeps counts, not boundary statistics" in err
    assert not (tmp_path / "part-1.segeval").exists()
