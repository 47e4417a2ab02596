"""Fixtures shared by the tests (helpers to import are in ``tests/helpers.py``)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from segeval.report import Report
from segeval.run.evaluate import evaluate
from tests.helpers import CAMVID, CAMVID_OPTIONS, MEASUREMENTS, MaskWriter, RowSink, save_mask


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show what the tests measured (HTML report sizes, render times in Chromium)."""
    if MEASUREMENTS:
        terminalreporter.section("measurements")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)


@pytest.fixture
def make_dataset(tmp_path: Path) -> MaskWriter:
    """Write {relative name: array} dicts as pred/ and gt/ folders of masks."""

    def write(preds: Mapping[str, np.ndarray], gts: Mapping[str, np.ndarray]) -> tuple[Path, Path]:
        for folder, masks in (("pred", preds), ("gt", gts)):
            for name, labels in masks.items():
                target = tmp_path / folder / name
                if not target.suffix:
                    target = target.with_suffix(".png")
                save_mask(target, labels)
        (tmp_path / "pred").mkdir(exist_ok=True)
        (tmp_path / "gt").mkdir(exist_ok=True)
        return tmp_path / "pred", tmp_path / "gt"

    return write


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Any]:
    """One local Dask cluster for the session: 2 worker processes, everything on 127.0.0.1.

    Worker processes (not threads), so that a test can kill one mid-run.
    """
    distributed = pytest.importorskip("distributed")
    size = {"n_workers": 2, "threads_per_worker": 1, "processes": True}
    cluster = distributed.LocalCluster(host="127.0.0.1", dashboard_address="127.0.0.1:0", **size)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 and a free port, with fake credentials in the environment.

    Every client is given this endpoint explicitly, and the environment points
    the AWS SDK at no profile and no instance metadata, so nothing leaves the
    loopback.
    """
    pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "segeval-test")
        env.setenv("AWS_SECRET_ACCESS_KEY", "segeval-test-secret")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("AWS_CONFIG_FILE", os.devnull)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """A fresh bucket for one test: (s3fs filesystem, bucket name); removed afterwards."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    name = "segeval-" + "".join(c for c in request.node.name.lower() if c.isalnum())[:40]
    fs.mkdir(name)
    yield fs, name
    fs.rm(name, recursive=True)


@pytest.fixture(scope="session")
def camvid_reference() -> tuple[Report, RowSink]:
    """CamVid pred_hgb scored once by the local engine: the reference of other engines."""
    if not CAMVID.is_dir():
        pytest.skip("CamVid data not present beside the repo")
    rows = RowSink()
    report = evaluate(CAMVID / "pred_hgb", CAMVID / "testannot", CAMVID_OPTIONS, image_sink=rows)
    return report, rows
