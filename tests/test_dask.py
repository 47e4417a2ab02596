"""The Dask executor: the local engine's numbers on a cluster, even when a worker dies.

Every test runs on the session's LocalCluster (``dask_client`` in conftest.py:
two worker processes on 127.0.0.1). Functions that run on the workers live at
module level so the workers can import them.
"""

from __future__ import annotations

import json
import operator
import os
import shutil
import signal
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from segeval.cli import cli
from segeval.core.boundary import BoundaryOptions
from segeval.errors import SegevalError
from segeval.inputs.classes import load_preset
from segeval.inputs.pairing import InstanceSource, PairingOptions
from segeval.report import Report
from segeval.run.batch import BatchOptions, run_batch
from segeval.run.engine import TaskDone
from segeval.run.evaluate import evaluate
from segeval.run.losses import evaluate_losses
from segeval.run.options import Execution, ScoreOptions
from tests.helpers import CAMVID, CAMVID_OPTIONS, SAMPLE, SAMPLE_ARGS, RowSink, save_mask

pytest.importorskip("distributed")

from segeval.run.dask_executor import DaskExecutor

SAMPLE_NAMES = tuple((SAMPLE / "class_names.txt").read_text().split())


def _document(report: Report) -> dict[str, Any]:
    document = report.to_dict()
    document["elapsed_seconds"] = 0.0
    return document


def _same(first: list[Any], second: list[Any]) -> bool:
    return json.dumps(first) == json.dumps(second)  # NaN-safe, exact floats


def _score_both(
    pred: Path, gt: Path, options: ScoreOptions, executor: Any
) -> tuple[dict[str, Any], dict[str, Any], RowSink, RowSink]:
    local_rows, dask_rows = RowSink(), RowSink()
    local = evaluate(pred, gt, options, execution=Execution(jobs=2), image_sink=local_rows)
    on_dask = evaluate(
        pred, gt, options, execution=Execution(executor=executor), image_sink=dask_rows
    )
    return _document(local), _document(on_dask), local_rows, dask_rows


def test_sample_on_dask_gives_the_local_report_and_rows(dask_client: Any) -> None:
    options = ScoreOptions(class_names=SAMPLE_NAMES, per_image=True)
    # Tasks of 3 images: several tasks per worker, so completion order varies.
    executor = DaskExecutor(dask_client, max_chunk=3)
    local, on_dask, local_rows, dask_rows = _score_both(
        SAMPLE / "pred", SAMPLE / "gt", options, executor
    )
    assert on_dask == local
    assert local["num_images"] == 12
    assert [row[0] for row in dask_rows.rows] == [row[0] for row in local_rows.rows]
    assert _same(dask_rows.rows, local_rows.rows)


def test_boundary_metrics_on_dask_give_the_local_report(dask_client: Any) -> None:
    pytest.importorskip("scipy")
    boundary = BoundaryOptions(boundary=True, surface=True)
    options = ScoreOptions(class_names=SAMPLE_NAMES, per_image=True, boundary=boundary)
    local, on_dask, local_rows, dask_rows = _score_both(
        SAMPLE / "pred", SAMPLE / "gt", options, DaskExecutor(dask_client, max_chunk=3)
    )
    assert "boundary" in json.dumps(local)
    assert on_dask == local
    assert _same(dask_rows.rows, local_rows.rows)


def test_iiou_on_dask_gives_the_local_report(dask_client: Any) -> None:
    golden = Path(__file__).parent / "golden" / "cityscapes_instances"
    options = ScoreOptions(
        classes=load_preset("cityscapes"),
        pairing=PairingOptions(pred_suffix="_pred.png", gt_suffix="_gtFine_labelIds.png"),
        gt_instances=InstanceSource(),
        per_image=True,
    )
    local, on_dask, local_rows, dask_rows = _score_both(
        golden, golden, options, DaskExecutor(dask_client, max_chunk=1)
    )
    official = json.loads((golden / "official.json").read_text())
    miiou = official["averageScoreInstClasses"]
    assert local["summary"]["miiou"] == pytest.approx(miiou, abs=1e-12)
    assert on_dask == local
    assert _same(dask_rows.rows, local_rows.rows)


def test_camvid_on_dask_gives_the_local_report(
    dask_client: Any, camvid_reference: tuple[Report, RowSink]
) -> None:
    local, local_rows = camvid_reference
    dask_rows = RowSink()
    on_dask = evaluate(
        CAMVID / "pred_hgb", CAMVID / "testannot", CAMVID_OPTIONS,
        execution=Execution(executor=DaskExecutor(dask_client)), image_sink=dask_rows,
    )  # fmt: skip
    assert _document(on_dask) == _document(local)
    assert local.num_images == 233
    assert _same(dask_rows.rows, local_rows.rows)


def _die_once(marker: str, function: Callable[[Any], Any], items: Any) -> Any:
    """Kill this worker process the first time any task starts; run normally after."""
    try:
        handle = os.open(marker, os.O_CREAT | os.O_EXCL)  # exactly one task wins
    except FileExistsError:
        return function(items)
    os.close(handle)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


class _DyingExecutor(DaskExecutor):
    """The Dask executor, whose first task kills its worker."""

    def __init__(self, client: Any, marker: Path) -> None:
        super().__init__(client, max_chunk=4)
        self.marker = str(marker)

    def run(
        self, function: Callable[[Any], Any], items: Sequence[Any], on_done: TaskDone | None = None
    ) -> Iterator[Any]:
        return super().run(partial(_die_once, self.marker, function), items, on_done)


def test_a_worker_killed_mid_run_changes_nothing(dask_client: Any, tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    options = ScoreOptions(class_names=SAMPLE_NAMES, per_image=True)
    try:
        local, on_dask, local_rows, dask_rows = _score_both(
            SAMPLE / "pred", SAMPLE / "gt", options, _DyingExecutor(dask_client, marker)
        )
    finally:
        dask_client.wait_for_workers(2, timeout=60)  # the nanny restarts it
    assert marker.exists()  # a worker did die
    assert on_dask == local
    assert _same(dask_rows.rows, local_rows.rows)


def _squares(items: Sequence[int]) -> list[int]:
    return [item * item for item in items]


def _fails(items: Sequence[int]) -> list[int]:
    raise SegevalError(f"item {items[0]}: cannot read")


def test_run_yields_in_input_order_and_reports_every_task(dask_client: Any) -> None:
    executor = DaskExecutor(dask_client)
    chunks = executor.chunk(list(range(40)))
    done: list[int] = []
    results = list(executor.run(_squares, chunks, on_done=done.append))
    values = [value for chunk in results if isinstance(chunk, list) for value in chunk]
    assert len(results) == len(chunks)
    assert values == [i * i for i in range(40)]
    assert sorted(done) == list(range(len(chunks)))


def test_reduce_combines_neighbours_in_order_on_the_cluster(dask_client: Any) -> None:
    executor = DaskExecutor(dask_client)
    items = [[i] for i in range(21)]  # three levels of FAN_IN = 8
    done: list[int] = []
    total, crashed = executor.reduce(_squares, items, operator.add, on_done=done.append)
    assert total == [i * i for i in range(21)]
    assert crashed == []
    assert sorted(done) == list(range(21))


def test_the_first_error_in_input_order_reaches_the_caller(dask_client: Any) -> None:
    executor = DaskExecutor(dask_client, retries=0)
    with pytest.raises(SegevalError, match="item 3: cannot read"):
        list(executor.run(_fails, [[3], [4], [5]]))


def test_batch_on_dask_ranks_as_the_process_engine(dask_client: Any, tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    shutil.copytree(SAMPLE / "pred", subs / "model")
    shutil.copytree(SAMPLE / "gt", subs / "oracle")
    score = ScoreOptions(class_names=SAMPLE_NAMES, per_image=True)
    boards = [
        run_batch(subs, SAMPLE / "gt", BatchOptions(score=score, execution=execution))
        for execution in (Execution(jobs=2), Execution(executor=DaskExecutor(dask_client)))
    ]
    local, on_dask = ([_document(e.report) for e in b.entries if e.report] for b in boards)
    assert len(local) == 2
    assert on_dask == local
    assert [e.name for e in boards[1].entries] == ["oracle", "model"]


def _cli_json(*extra: str) -> dict[str, Any]:
    """segeval score on the sample set as JSON, its run time zeroed."""
    result = CliRunner().invoke(cli, ["score", *SAMPLE_ARGS, "--format", "json", *extra])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    document["elapsed_seconds"] = 0.0
    return document


def test_cli_runs_on_a_scheduler_address(dask_client: Any) -> None:
    address = dask_client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    assert _cli_json("--scheduler", address) == _cli_json()


def test_workers_without_a_local_cluster_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["score", *SAMPLE_ARGS, "--workers", "2"])
    assert result.exit_code == 2
    assert "--workers applies to --scheduler local" in result.stderr


def test_losses_plug_into_the_dask_executor(dask_client: Any, tmp_path: Path) -> None:
    """Any picklable work over chunks runs on the cluster: here segeval loss's."""
    rng = np.random.default_rng(0)
    (tmp_path / "logits").mkdir()
    for index in range(6):
        save_mask(tmp_path / "gt" / f"img{index}.png", rng.integers(0, 3, size=(6, 8)))
        scores = rng.normal(scale=2.0, size=(3, 6, 8)).astype(np.float32)
        np.save(tmp_path / "logits" / f"img{index}.npy", scores)
    terms = ["ce", "dice", "lovasz"]
    local = evaluate_losses(tmp_path / "logits", tmp_path / "gt", terms)
    on_dask = evaluate_losses(
        tmp_path / "logits", tmp_path / "gt", terms,
        execution=Execution(executor=DaskExecutor(dask_client, max_chunk=2)),
    )  # fmt: skip
    assert on_dask.values == local.values
    assert [image.to_dict() for image in on_dask.per_image] == [
        image.to_dict() for image in local.per_image
    ]


def test_cli_starts_and_stops_a_local_cluster_for_the_run() -> None:
    assert _cli_json("--scheduler", "local", "--workers", "1") == _cli_json()


def _loss_json(*args: str) -> dict[str, Any]:
    """segeval loss on the sample logits as JSON, its run time zeroed."""
    sample = [str(SAMPLE / "logits"), str(SAMPLE / "gt")]
    names = ["--class-names", str(SAMPLE / "class_names.txt")]
    terms = ["--loss", "ce", "--loss", "dice=0.5", "--loss", "lovasz", "--calibration"]
    result = CliRunner().invoke(
        cli, ["loss", *sample, *names, *terms, "--per-image", *args, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    document["elapsed_seconds"] = 0.0
    return document


def test_loss_cli_on_a_scheduler_address_gives_the_thread_engine_json(dask_client: Any) -> None:
    assert _loss_json("--scheduler", dask_client.scheduler.address) == _loss_json("--jobs", "2")


def test_loss_cli_starts_a_local_cluster_of_two_workers() -> None:
    assert _loss_json("--scheduler", "local", "--workers", "2") == _loss_json()


def test_loss_workers_without_a_local_cluster_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["loss", "x", "y", "--loss", "ce", "--workers", "2"])
    assert result.exit_code == 2
    assert "--workers applies to --scheduler local" in result.stderr
