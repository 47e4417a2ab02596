"""Object storage through fsspec, against a moto S3 server on the loopback.

The server and the fake credentials come from ``s3_endpoint`` (conftest.py);
every client is given that endpoint explicitly, so nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from segeval.cli import cli
from segeval.inputs.classes import load_preset
from segeval.inputs.pairing import InstanceSource, PairingOptions, pair_folders
from segeval.io.storage import RemotePath, location, parse_storage_options
from segeval.outputs.atomic import AtomicWriter, read_text, write_text_atomic
from segeval.run.evaluate import evaluate
from segeval.run.options import Execution, ScoreOptions
from tests.helpers import GOLDEN, SAMPLE, SAMPLE_ARGS

pytest.importorskip("s3fs")

CLASS_NAMES = ["--class-names", str(SAMPLE / "class_names.txt")]


@pytest.fixture(scope="module")
def sample_bucket(s3_endpoint: str) -> Iterator[tuple[Any, str]]:
    """The sample set in s3://segeval-sample/data/{pred,gt}; tests write under their own prefix."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    bucket = "segeval-sample"
    fs.mkdir(bucket)
    fs.pipe(
        {
            f"{bucket}/data/{side}/{path.relative_to(SAMPLE / side).as_posix()}": path.read_bytes()
            for side in ("pred", "gt")
            for path in sorted((SAMPLE / side).rglob("*"))
            if path.is_file()
        }
    )
    yield fs, bucket
    fs.rm(bucket, recursive=True)


def _endpoint(fs: Any) -> list[str]:
    return ["--storage-option", f"endpoint_url={fs.storage_options['endpoint_url']}"]


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _local_json(*extra: str) -> dict[str, Any]:
    result = _invoke("score", *SAMPLE_ARGS, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return _timeless(result.stdout)


def _timeless(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(text)
    document["elapsed_seconds"] = 0.0
    return document


def test_location_keeps_local_paths_and_file_urls_local() -> None:
    assert location("sample_data/gt") == Path("sample_data/gt")
    assert location(f"file://{SAMPLE}/gt") == SAMPLE / "gt"
    remote = location("s3://bucket/a/", {"anon": True})
    assert isinstance(remote, RemotePath)
    assert (remote.url, remote.storage_options) == ("s3://bucket/a", {"anon": True})


def test_storage_options_parse_json_values_and_dotted_keys() -> None:
    assert parse_storage_options(["endpoint_url=http://127.0.0.1:9", "use_ssl=false"]) == {
        "endpoint_url": "http://127.0.0.1:9",
        "use_ssl": False,
    }
    assert parse_storage_options(["client_kwargs.region_name=eu-west-1"]) == {
        "client_kwargs": {"region_name": "eu-west-1"}
    }
    result = _invoke("score", *SAMPLE_ARGS, "--storage-option", "novalue")
    assert result.exit_code == 2
    assert "expected KEY=VALUE" in result.stderr


def test_pairing_a_bucket_matches_pairing_the_folders(sample_bucket: tuple[Any, str]) -> None:
    fs, bucket = sample_bucket
    options = {"endpoint_url": fs.storage_options["endpoint_url"]}
    remote = pair_folders(
        location(f"s3://{bucket}/data/pred", options), location(f"s3://{bucket}/data/gt", options)
    )
    local = pair_folders(SAMPLE / "pred", SAMPLE / "gt")
    assert [pair.key for pair in remote.pairs] == [pair.key for pair in local.pairs]
    assert "night/street_11" in [pair.key for pair in remote.pairs]
    assert [str(pair.pred_path) for pair in remote.pairs][:1] == [
        f"s3://{bucket}/data/pred/night/street_11.png"
    ]
    assert remote.skipped_files == local.skipped_files


def test_score_a_bucket_and_write_the_outputs_to_it(
    sample_bucket: tuple[Any, str], tmp_path: Path
) -> None:
    fs, bucket = sample_bucket
    url = f"s3://{bucket}"
    result = _invoke(
        "score", f"{url}/data/pred", f"{url}/data/gt", *CLASS_NAMES, *_endpoint(fs),
        "--format", "json", "--output", f"{url}/out/report.json",
        "--per-image-output", f"{url}/out/images.csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    local_rows = tmp_path / "images.csv"
    expected = _local_json("--per-image-output", str(local_rows))
    assert _timeless(fs.cat_file(f"{bucket}/out/report.json").decode()) == expected
    assert fs.cat_file(f"{bucket}/out/images.csv").decode() == local_rows.read_text()
    assert sorted(fs.ls(f"{bucket}/out")) == [
        f"{bucket}/out/images.csv",
        f"{bucket}/out/report.json",
    ]


def test_shards_saved_to_a_bucket_merge_to_the_single_run(sample_bucket: tuple[Any, str]) -> None:
    fs, bucket = sample_bucket
    url = f"s3://{bucket}"
    for index in (1, 2, 3):
        result = _invoke(
            "score", f"{url}/data/pred", f"{url}/data/gt", *CLASS_NAMES, *_endpoint(fs),
            "--shard", f"{index}/3", "--save-state", f"{url}/run/part-{index}.segeval", "-q",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    merged = _invoke("merge", f"{url}/run/part-*.segeval", *_endpoint(fs), "--format", "json")
    assert merged.exit_code == 0, merged.output
    assert _timeless(merged.stdout) == _local_json()


def test_workers_of_a_dask_cluster_read_the_bucket_themselves(
    sample_bucket: tuple[Any, str], dask_client: Any
) -> None:
    from segeval.run.dask_executor import DaskExecutor

    fs, bucket = sample_bucket
    # The workers started before this test's environment: the options travel with the URLs.
    options = {
        "endpoint_url": fs.storage_options["endpoint_url"],
        "key": "segeval-test",
        "secret": "segeval-test-secret",
    }
    score = ScoreOptions(class_names=tuple((SAMPLE / "class_names.txt").read_text().split()))
    on_dask = evaluate(
        f"s3://{bucket}/data/pred", f"s3://{bucket}/data/gt", score,
        execution=Execution(executor=DaskExecutor(dask_client)), storage_options=options,
    ).to_dict()  # fmt: skip
    on_dask["elapsed_seconds"] = 0.0
    assert on_dask == _local_json()


def test_a_missing_bucket_is_one_line_and_exit_2(s3_endpoint: str) -> None:
    result = _invoke(
        "score", "s3://no-such-bucket/pred", "s3://no-such-bucket/gt", *CLASS_NAMES,
        "--storage-option", f"endpoint_url={s3_endpoint}",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("segeval: error: s3://no-such-bucket/gt: cannot list: ")
    assert "the bucket does not exist" in result.stderr


def test_an_empty_prefix_is_named(s3_bucket: tuple[Any, str]) -> None:
    fs, bucket = s3_bucket
    result = _invoke("score", f"s3://{bucket}/p", f"s3://{bucket}/g", *_endpoint(fs))
    assert result.exit_code == 2
    assert f"s3://{bucket}/g: no objects under this prefix" in result.stderr


def _enforce_iam(monkeypatch: pytest.MonkeyPatch, endpoint: str, actions: list[str]) -> Any:
    """A user allowed only ``actions`` on S3; from now on moto checks every request."""
    import boto3
    import moto.settings

    iam = boto3.client("iam", endpoint_url=endpoint)
    name = "user-" + "-".join(action.split(":")[1].lower() for action in actions)
    iam.create_user(UserName=name)
    statement = {"Effect": "Allow", "Action": actions, "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    return key


def _fresh_s3_clients() -> None:
    """Forget cached filesystems, so the next one reads the credentials again."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


def test_credentials_come_from_the_environment(
    sample_bucket: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fs, bucket = sample_bucket
    key = _enforce_iam(monkeypatch, fs.storage_options["endpoint_url"], ["s3:*"])
    args = ["score", f"s3://{bucket}/data/pred", f"s3://{bucket}/data/gt", *CLASS_NAMES]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    _fresh_s3_clients()
    allowed = _invoke(*args, *_endpoint(fs), "--format", "json")
    assert allowed.exit_code == 0, allowed.output
    assert _timeless(allowed.stdout) == _local_json()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
    _fresh_s3_clients()
    refused = _invoke(*args, *_endpoint(fs))
    _fresh_s3_clients()
    assert refused.exit_code == 2
    assert "access denied" in refused.stderr
    assert "AWS_ACCESS_KEY_ID" in refused.stderr


def test_a_denied_read_names_the_object(
    sample_bucket: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fs, bucket = sample_bucket
    key = _enforce_iam(monkeypatch, fs.storage_options["endpoint_url"], ["s3:ListBucket"])
    _fresh_s3_clients()
    result = _invoke(
        "score", f"s3://{bucket}/data/pred", f"s3://{bucket}/data/gt", *CLASS_NAMES,
        *_endpoint(fs), "--storage-option", f"key={key['AccessKeyId']}",
        "--storage-option", f"secret={key['SecretAccessKey']}", "--jobs", "1",
    )  # fmt: skip
    _fresh_s3_clients()
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert f"s3://{bucket}/data/gt/night/street_11.png: cannot read: access denied" in (
        result.stderr
    )


def test_a_failed_upload_leaves_the_earlier_object(s3_bucket: tuple[Any, str]) -> None:
    fs, bucket = s3_bucket
    target = location(
        f"s3://{bucket}/report.json", {"endpoint_url": fs.storage_options["endpoint_url"]}
    )
    write_text_atomic(target, "old\n")
    writer = AtomicWriter(target)
    writer.stream.write("half of the new")
    writer.abort()  # what an exception before commit does
    assert read_text(target) == "old\n"


def _loss_args(*sides: str) -> list[str]:
    terms = ["--loss", "ce", "--loss", "dice=0.5", "--loss", "lovasz", "--calibration"]
    return ["loss", *sides, *CLASS_NAMES, *terms, "--per-image", "--format", "json"]


def test_loss_reads_scores_and_masks_from_a_bucket(
    sample_bucket: tuple[Any, str], tmp_path: Path
) -> None:
    fs, bucket = sample_bucket
    logits = sorted((SAMPLE / "logits").rglob("*.np[yz]"))
    fs.pipe({f"{bucket}/scores/{p.relative_to(SAMPLE / 'logits')}": p.read_bytes() for p in logits})
    # One score map stored uncompressed in an .npz, as numpy.savez writes it.
    first = logits[0].relative_to(SAMPLE / "logits").with_suffix(".npz")
    np.savez(tmp_path / "first.npz", logits=np.load(logits[0]))
    fs.rm(f"{bucket}/scores/{first.with_suffix('.npy')}")
    fs.put_file(str(tmp_path / "first.npz"), f"{bucket}/scores/{first}")
    shutil.copytree(SAMPLE / "logits", tmp_path / "logits")
    (tmp_path / "logits" / first.with_suffix(".npy")).unlink()
    shutil.copy(tmp_path / "first.npz", tmp_path / "logits" / first)
    local = _invoke(*_loss_args(str(tmp_path / "logits"), str(SAMPLE / "gt")))
    remote = _invoke(*_loss_args(f"s3://{bucket}/scores", f"s3://{bucket}/data/gt"), *_endpoint(fs))
    assert local.exit_code == remote.exit_code == 0, remote.output
    expected, found = json.loads(local.stdout), json.loads(remote.stdout)
    for document in (expected, found):
        document["elapsed_seconds"] = 0.0
        document["pred_dir"] = document["gt_dir"] = ""
    assert found == expected


def test_a_score_map_declaring_more_than_its_object_holds_is_refused(
    s3_bucket: tuple[Any, str],
) -> None:
    fs, bucket = s3_bucket
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 4, 4), np.float32))
    header_end = buffer.getvalue().index(b"\n") + 1
    forged = buffer.getvalue()[:header_end].replace(b"(2, 4, 4)", b"(2, 999, 999)")
    fs.pipe({f"{bucket}/scores/a.npy": forged + b"\x00" * 128})
    save = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(save, format="PNG")
    fs.pipe({f"{bucket}/gt/a.png": save.getvalue()})
    result = _invoke(
        "loss", f"s3://{bucket}/scores", f"s3://{bucket}/gt", "--loss", "ce", *_endpoint(fs)
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert f"s3://{bucket}/scores/a.npy: the array declares" in result.stderr


def test_loss_on_a_dask_cluster_reads_the_bucket_in_the_workers(
    sample_bucket: tuple[Any, str], dask_client: Any
) -> None:
    fs, bucket = sample_bucket
    logits = sorted((SAMPLE / "logits").rglob("*.npy"))
    fs.pipe(
        {f"{bucket}/dask-scores/{p.relative_to(SAMPLE / 'logits')}": p.read_bytes() for p in logits}
    )
    # The workers started before this test's environment: the options travel with the URLs.
    credentials = ["--storage-option", "key=segeval-test"]
    credentials += ["--storage-option", "secret=segeval-test-secret"]
    remote = _invoke(
        *_loss_args(f"s3://{bucket}/dask-scores", f"s3://{bucket}/data/gt"), *_endpoint(fs),
        *credentials, "--scheduler", dask_client.scheduler.address,
    )  # fmt: skip
    local = _invoke(*_loss_args(str(SAMPLE / "logits"), str(SAMPLE / "gt")))
    assert local.exit_code == remote.exit_code == 0, remote.output
    expected, found = json.loads(local.stdout), json.loads(remote.stdout)
    for document in (expected, found):
        document["elapsed_seconds"] = 0.0
        document["pred_dir"] = document["gt_dir"] = ""
    assert found == expected


def test_instance_maps_in_a_bucket_are_read_with_the_storage_options(
    s3_bucket: tuple[Any, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs, bucket = s3_bucket
    golden = GOLDEN / "cityscapes_instances"
    official = json.loads((golden / "official.json").read_text())
    label, instance = "_gtFine_labelIds.png", "_gtFine_instanceIds.png"
    for side in ("gt", "subs/model"):
        (tmp_path / side).mkdir(parents=True)
    for stem in official["images"]:
        shutil.copy(golden / f"{stem}{label}", tmp_path / "gt" / f"{stem}{label}")
        shutil.copy(golden / f"{stem}_pred.png", tmp_path / "subs" / "model" / f"{stem}.png")
        fs.pipe(f"{bucket}/inst/{stem}{instance}", (golden / f"{stem}{instance}").read_bytes())
    # A client opened without the --storage-option endpoint meets a closed port on the
    # loopback (never the real S3), so reading the bucket proves the options were used.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    _fresh_s3_clients()
    cityscapes = ["--convention", "cityscapes", "--preset", "cityscapes", "--gt-suffix", label]
    instances = ["--gt-instances", f"s3://{bucket}/inst", *_endpoint(fs)]
    scored = _invoke(
        "score", str(tmp_path / "subs" / "model"), str(tmp_path / "gt"), *cityscapes,
        *instances, "--format", "json", "--jobs", "1",
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    expected = official["averageScoreInstClasses"]
    assert json.loads(scored.stdout)["summary"]["miiou"] == pytest.approx(expected, abs=1e-12)
    batch = _invoke(
        "batch", str(tmp_path / "subs"), str(tmp_path / "gt"), *cityscapes, *instances,
        "--rank-by", "miiou", "--format", "json", "-q", "--jobs", "1",
    )  # fmt: skip
    assert batch.exit_code == 0, batch.output
    (entry,) = json.loads(batch.stdout)["submissions"]
    assert entry["metrics"]["miiou"] == pytest.approx(expected, abs=1e-12)
    options = ScoreOptions(
        classes=load_preset("cityscapes"),
        pairing=PairingOptions(gt_suffix=label),
        gt_instances=InstanceSource(f"s3://{bucket}/inst"),
    )
    report = evaluate(
        tmp_path / "subs" / "model", tmp_path / "gt", options,
        storage_options={"endpoint_url": fs.storage_options["endpoint_url"]},
    )  # fmt: skip
    assert report.summary["miiou"] == pytest.approx(expected, abs=1e-12)
