"""segeval batch on object storage: submissions, ground truth and reports in a moto bucket.

The server and the fake credentials come from ``s3_endpoint`` (conftest.py);
every client is given that endpoint explicitly, so nothing leaves 127.0.0.1.
The arena is test_batch's: honest and hostile submissions, minus the folder of
symbolic links (a store has no links: uploading one uploads its target).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from segeval.cli import cli
from segeval.io.storage import RemotePath
from segeval.run.batch import BatchOptions, run_batch
from segeval.run.options import Execution, ScoreOptions
from tests.test_batch import _build_arena

pytest.importorskip("s3fs")

BATCH_ARGS = ["--num-classes", "3", "--max-pixels", "100000", "--jobs", "2"]


def _arena(tmp_path: Path) -> Path:
    root = _build_arena(tmp_path)
    shutil.rmtree(root / "subs" / "linked")
    (root / "subs" / ".hidden").mkdir()
    (root / "subs" / ".hidden" / "img0.png").write_bytes(b"never listed as a submission")
    return root


def _upload(fs: Any, root: Path, bucket: str) -> None:
    fs.pipe(
        {
            f"{bucket}/{path.relative_to(root).as_posix()}": path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file() and not path.is_symlink()
        }
    )


def _endpoint(fs: Any) -> list[str]:
    return ["--storage-option", f"endpoint_url={fs.storage_options['endpoint_url']}"]


def _run(*args: object) -> Result:
    return CliRunner().invoke(cli, ["batch", *[str(arg) for arg in args]])


def _timeless(document: Any) -> Any:
    """The document with every run time zeroed (the only field that may differ)."""
    if isinstance(document, dict):
        return {
            key: 0.0 if key == "elapsed_seconds" else _timeless(value)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [_timeless(value) for value in document]
    return document


def _board(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return _timeless(json.loads(result.stdout))


def _objects(fs: Any, prefix: str) -> dict[str, str]:
    fs.invalidate_cache()
    return {name: info["ETag"] for name, info in fs.find(prefix, detail=True).items()}


def test_a_bucket_batch_equals_the_folder_batch(s3_bucket: tuple[Any, str], tmp_path: Path) -> None:
    fs, bucket = s3_bucket
    root = _arena(tmp_path)
    _upload(fs, root, bucket)
    before = _objects(fs, bucket)
    local = _run(root / "subs", root / "gt", *BATCH_ARGS, "--format", "json")
    remote = _run(
        f"s3://{bucket}/subs", f"s3://{bucket}/gt", *BATCH_ARGS, *_endpoint(fs), "--format", "json"
    )
    assert _board(remote) == _board(local)
    assert remote.stderr == local.stderr  # the same invalid submissions, for the same reasons
    board = _board(remote)
    statuses = {entry["name"]: entry["status"] for entry in board["submissions"]}
    assert statuses["perfect"] == statuses["good"] == statuses["fair"] == "ok"
    for hostile in ("zipslip", "absolute", "tarlink", "expands", "bomb", "truncated"):
        assert statuses[hostile] == "invalid"
    assert sorted(board["ignored_children"]) == [".hidden", "notes.txt"]
    assert _objects(fs, bucket) == before  # nothing written into the inputs


def test_reports_go_to_a_prefix_as_to_a_folder_and_resume_from_it(
    s3_bucket: tuple[Any, str], tmp_path: Path
) -> None:
    fs, bucket = s3_bucket
    root = _arena(tmp_path)
    _upload(fs, root, bucket)
    reports = tmp_path / "reports"
    url = f"s3://{bucket}"
    local = _run(root / "subs", root / "gt", *BATCH_ARGS, "--output-dir", reports)
    remote_args = [f"{url}/subs", f"{url}/gt", *BATCH_ARGS, *_endpoint(fs)]
    remote = _run(*remote_args, "--output-dir", f"{url}/reports")
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout.replace(str(reports), f"{url}/reports")
    stored = sorted(
        name.removeprefix(f"{bucket}/reports/") for name in _objects(fs, f"{bucket}/reports")
    )
    assert stored == sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*.json"))
    for name in stored:
        here = json.loads((reports / name).read_text())
        there = json.loads(fs.cat_file(f"{bucket}/reports/{name}"))
        for document in (here, there):  # the contents' digests: file bytes here, ETags there
            document["batch"]["settings_digest"] = document["batch"]["submission_digest"] = ""
        assert _timeless(there) == _timeless(here)
    resumed = _run(*remote_args, "--output-dir", f"{url}/reports", "--resume", "--format", "json")
    entries = _board(resumed)["submissions"]
    assert all(entry["resumed"] for entry in entries), entries


def test_html_pages_in_a_bucket_link_relatively(s3_bucket: tuple[Any, str], tmp_path: Path) -> None:
    fs, bucket = s3_bucket
    root = _arena(tmp_path)
    _upload(fs, root, bucket)
    url = f"s3://{bucket}"
    result = _run(
        f"{url}/subs", f"{url}/gt", *BATCH_ARGS, *_endpoint(fs), "--format", "html",
        "--output-dir", f"{url}/out/reports", "--output", f"{url}/out/board.html",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = fs.cat_file(f"{bucket}/out/board.html").decode()
    assert 'href="reports/good.html"' in page
    assert fs.isfile(f"{bucket}/out/reports/good.html")


def _deny(monkeypatch: pytest.MonkeyPatch, endpoint: str, resources: list[str]) -> list[str]:
    """A user allowed everything but reading ``resources``; moto checks every request from now.

    Returns the --storage-option arguments that carry the user's key.
    """
    import boto3
    import moto.settings

    iam = boto3.client("iam", endpoint_url=endpoint)
    name = f"batch-deny-{len(resources)}-{abs(hash(tuple(resources))) % 10**8}"
    iam.create_user(UserName=name)
    statements = [
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"},
        {"Effect": "Deny", "Action": ["s3:GetObject"], "Resource": resources},
    ]
    policy = {"Version": "2012-10-17", "Statement": statements}
    iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    return [
        *("--storage-option", f"key={key['AccessKeyId']}"),
        *("--storage-option", f"secret={key['SecretAccessKey']}"),
    ]


def test_a_denied_submission_is_invalid_with_the_stores_reason(
    s3_bucket: tuple[Any, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs, bucket = s3_bucket
    root = _arena(tmp_path)
    _upload(fs, root, bucket)
    denied = [f"arn:aws:s3:::{bucket}/subs/good/*", f"arn:aws:s3:::{bucket}/subs/fair.zip"]
    user = _deny(monkeypatch, fs.storage_options["endpoint_url"], denied)
    result = _run(
        f"s3://{bucket}/subs", f"s3://{bucket}/gt", *BATCH_ARGS, *_endpoint(fs), *user,
        "--format", "json",
    )  # fmt: skip
    entries = {entry["name"]: entry for entry in _board(result)["submissions"]}
    assert entries["perfect"]["status"] == "ok"
    for name, shown in (("good", "good/img0.png"), ("fair", "fair")):
        assert entries[name]["status"] == "invalid"
        reason = entries[name]["reason"]
        assert reason.startswith(f"{shown}: cannot read: access denied"), reason
        assert bucket not in reason  # named relative to the submission, as on disk


def test_a_denied_ground_truth_stops_the_batch_in_one_line(
    s3_bucket: tuple[Any, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs, bucket = s3_bucket
    root = _arena(tmp_path)
    _upload(fs, root, bucket)
    user = _deny(monkeypatch, fs.storage_options["endpoint_url"], [f"arn:aws:s3:::{bucket}/gt/*"])
    result = _run(f"s3://{bucket}/subs", f"s3://{bucket}/gt", *BATCH_ARGS, *_endpoint(fs), *user)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"s3://{bucket}/gt/img0.png: cannot read: access denied" in result.stderr


def test_a_missing_bucket_is_one_line_and_exit_2(s3_endpoint: str, tmp_path: Path) -> None:
    root = _arena(tmp_path)
    endpoint = ["--storage-option", f"endpoint_url={s3_endpoint}"]
    for submissions, gt, named in (
        (root / "subs", "s3://no-such-bucket/gt", "s3://no-such-bucket/gt"),
        ("s3://no-such-bucket/subs", root / "gt", "s3://no-such-bucket/subs"),
    ):
        result = _run(submissions, gt, *BATCH_ARGS, *endpoint)
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith(f"segeval: error: {named}: cannot list: ")
        assert "the bucket does not exist" in result.stderr


def test_batch_from_a_bucket_on_dask_equals_the_folder_batch(
    s3_bucket: tuple[Any, str], tmp_path: Path, dask_client: Any
) -> None:
    from segeval.run.dask_executor import DaskExecutor

    fs, bucket = s3_bucket
    root = _arena(tmp_path)
    _upload(fs, root, bucket)
    # The workers started before this test's environment: the options travel with the URLs.
    storage = {
        "endpoint_url": fs.storage_options["endpoint_url"],
        "key": "segeval-test",
        "secret": "segeval-test-secret",
    }
    score = ScoreOptions(num_classes=3, max_pixels=100000, per_image=True)
    local = run_batch(root / "subs", root / "gt", BatchOptions(score, execution=Execution(jobs=2)))
    on_dask = run_batch(
        RemotePath(f"s3://{bucket}/subs", storage), RemotePath(f"s3://{bucket}/gt", storage),
        BatchOptions(score, execution=Execution(jobs=2, executor=DaskExecutor(dask_client))),
    )  # fmt: skip
    assert _timeless(on_dask.to_dict()) == _timeless(local.to_dict())
    reports = [
        [_timeless(entry.report.to_dict()) for entry in board.entries if entry.report]
        for board in (local, on_dask)
    ]
    assert reports[1] == reports[0]
    assert len(reports[0]) == 3


def test_reports_inside_an_input_prefix_are_refused(s3_bucket: tuple[Any, str]) -> None:
    fs, bucket = s3_bucket
    url = f"s3://{bucket}"
    result = _run(
        f"{url}/subs", f"{url}/gt", *BATCH_ARGS, *_endpoint(fs), "--output-dir", f"{url}/gt/out"
    )
    assert result.exit_code == 2
    assert f"--output-dir {url}/gt/out is inside the input folder {url}/gt" in result.stderr


def test_batch_cli_from_a_bucket_on_a_scheduler_equals_the_folder_batch(
    s3_bucket: tuple[Any, str], tmp_path: Path, dask_client: Any
) -> None:
    fs, bucket = s3_bucket
    root = _arena(tmp_path)
    _upload(fs, root, bucket)
    local = _run(root / "subs", root / "gt", *BATCH_ARGS, "--format", "json")
    credentials = ["--storage-option", "key=segeval-test"]
    credentials += ["--storage-option", "secret=segeval-test-secret"]
    on_dask = _run(
        f"s3://{bucket}/subs", f"s3://{bucket}/gt", *BATCH_ARGS, *_endpoint(fs), *credentials,
        "--scheduler", dask_client.scheduler.address, "--format", "json",
    )  # fmt: skip
    assert _board(on_dask) == _board(local)
    assert on_dask.stderr == local.stderr
