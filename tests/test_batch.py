"""segeval batch: ranking, isolation, and hostile submissions from strangers."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from segeval.cli import cli
from segeval.errors import UsageError
from segeval.inputs.pairing import MaskPair
from segeval.io import Geometry
from segeval.run.batch import BatchOptions, run_batch
from segeval.run.evaluate import evaluate
from segeval.run.options import Execution, ScoreOptions
from segeval.run.work import PairReader
from tests.helpers import png_declaring, save_mask

RNG = np.random.default_rng(4)
GT = {f"img{i}": RNG.integers(0, 3, size=(24, 32)) for i in range(4)}


def _png_bytes(labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(labels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _prediction(gt: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(gt.shape) < accuracy, gt, rng.integers(0, 3, gt.shape))


def _build_arena(tmp_path: Path) -> Path:
    """A ground truth, three honest submissions and every hostile case of the issue."""
    gt = tmp_path / "gt"
    for name, labels in GT.items():
        save_mask(gt / f"{name}.png", labels)
    subs = tmp_path / "subs"
    subs.mkdir()
    # Honest: good (90 %) as a folder, fair (60 %) as a zip with a top folder, perfect as tar.gz.
    for name, labels in GT.items():
        save_mask(subs / "good" / f"{name}.png", _prediction(labels, 0.9, 1))
    with zipfile.ZipFile(subs / "fair.zip", "w") as archive:
        for name, labels in GT.items():
            archive.writestr(f"fair/{name}.png", _png_bytes(_prediction(labels, 0.6, 2)))
        archive.writestr("fair/README.txt", "notes")
    with tarfile.open(subs / "perfect.tar.gz", "w:gz") as archive:
        for name, labels in GT.items():
            data = _png_bytes(labels)
            info = tarfile.TarInfo(f"{name}.png")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    # Hostile archives.
    with zipfile.ZipFile(subs / "zipslip.zip", "w") as archive:
        for name, labels in GT.items():
            archive.writestr(f"{name}.png", _png_bytes(labels))
        archive.writestr("../../escaped.png", _png_bytes(GT["img0"]))
    with zipfile.ZipFile(subs / "absolute.zip", "w") as archive:
        archive.writestr("/tmp/segeval-absolute.png", _png_bytes(GT["img0"]))
    with tarfile.open(subs / "tarlink.tar", "w") as archive:
        link = tarfile.TarInfo("img0.png")
        link.type = tarfile.SYMTYPE
        link.linkname = str(gt / "img0.png")
        archive.addfile(link)
    with zipfile.ZipFile(subs / "expands.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("img0.png", b"\x00" * (8 << 20))  # 8 MiB of zeros, a few KiB compressed
    # Hostile folders.
    (subs / "linked").mkdir()
    for name in GT:
        (subs / "linked" / f"{name}.png").symlink_to(gt / f"{name}.png")
    (subs / "bomb").mkdir()
    for name, labels in GT.items():
        save_mask(subs / "bomb" / f"{name}.png", labels)
    (subs / "bomb" / "img1.png").write_bytes(png_declaring(50000, 50000, data=b"\x00" * 1000))
    (subs / "truncated").mkdir()
    for name, labels in GT.items():
        save_mask(subs / "truncated" / f"{name}.png", labels)
    data = (subs / "truncated" / "img2.png").read_bytes()
    (subs / "truncated" / "img2.png").write_bytes(data[: len(data) // 2])
    for name in GT:
        save_mask(subs / "wrongsize" / f"{name}.png", np.zeros((12, 16)))
    (subs / "notes.txt").write_text("not a submission")
    return tmp_path


@pytest.fixture
def arena(tmp_path: Path) -> Path:
    """A fresh arena for tests that run their own batch (or change the submissions)."""
    return _build_arena(tmp_path)


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, ["batch", *[str(a) for a in args]])


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.lstat().st_size, path.lstat().st_mtime_ns)
        for path in root.rglob("*")
    }


@dataclass(frozen=True)
class HostileRun:
    """One batch over the arena, and what the inputs looked like before it."""

    arena: Path
    result: Result
    board: dict[str, Any]
    entries: dict[str, dict[str, Any]]
    out: Path
    scratch: Path
    before: dict[str, dict[str, tuple[int, int]]]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    """``segeval batch`` over the arena once; every test below reads its outcome."""
    arena = _build_arena(tmp_path_factory.mktemp("hostile"))
    scratch = arena / "scratch"
    scratch.mkdir()
    before = {side: _snapshot(arena / side) for side in ("gt", "subs")}
    out = arena / "reports"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(scratch))  # where batch extracts archives
        result = run(
            arena / "subs", arena / "gt", "--num-classes", "3", "--format", "json",
            "--output-dir", out, "--max-archive-bytes", str(4 << 20), "--jobs", "2",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    board = json.loads(result.stdout)
    entries = {entry["name"]: entry for entry in board["submissions"]}
    return HostileRun(arena, result, board, entries, out, scratch, before)


#: Each hostile submission: (name, how its reason starts, what its reason says).
HOSTILE = [
    ("zipslip", "", "member '../../escaped.png' has an absolute path or a '..' component"),
    ("absolute", "", "member '/tmp/segeval-absolute.png' has an absolute path"),
    ("tarlink", "", "member 'img0.png' is a symbolic link"),
    ("expands", "", "its members add up to 8 MiB uncompressed, more than the limit of 4 MiB"),
    ("linked", "linked/img", "outside the submission; the submission is rejected"),
    ("bomb", "bomb/img1.png", "declares 50000x50000 pixels"),
    ("truncated", "", "truncated/img2.png: the image data ends before the last row"),
    ("wrongsize", "", "prediction is 16x12 (width x height)"),
]


@pytest.mark.parametrize(
    ("name", "prefix", "message"), HOSTILE, ids=[name for name, _, _ in HOSTILE]
)
def test_hostile_submission_is_invalid_with_its_reason(
    hostile_run: HostileRun, name: str, prefix: str, message: str
) -> None:
    entry = hostile_run.entries[name]
    assert entry["status"] == "invalid"
    assert entry["reason"].startswith(prefix)
    assert message in entry["reason"]
    assert f"segeval: invalid submission {name}: " in hostile_run.result.stderr
    assert (hostile_run.out / "invalid" / f"{name}.json").is_file()


def test_honest_submissions_are_ranked_and_only_hostile_ones_invalid(
    hostile_run: HostileRun,
) -> None:
    board, entries = hostile_run.board, hostile_run.entries
    assert board["schema"] == "segeval/batch/v1"
    assert [e["name"] for e in board["submissions"] if e["status"] == "ok"] == [
        "perfect",
        "good",
        "fair",
    ]
    assert [entries[name]["rank"] for name in ("perfect", "good", "fair")] == [1, 2, 3]
    assert entries["perfect"]["metrics"]["miou"] == 1.0
    invalid = {name for name, entry in entries.items() if entry["status"] == "invalid"}
    assert invalid == {name for name, _, _ in HOSTILE}
    assert entries["wrongsize"]["errors"] == 4  # every image of it, not only the first
    assert board["ignored_children"] == ["notes.txt"]
    assert entries["fair"]["skipped_files"] == 1  # README.txt, counted and not extracted


def test_batch_numbers_equal_score_numbers(hostile_run: HostileRun) -> None:
    arena = hostile_run.arena
    alone = evaluate(arena / "subs" / "good", arena / "gt", ScoreOptions(num_classes=3))
    stored = json.loads((hostile_run.out / "good.json").read_text())
    assert stored["summary"] == json.loads(json.dumps(alone.to_dict()["summary"]))
    assert stored["confusion_matrix"] == alone.to_dict()["confusion_matrix"]


def test_hostile_run_writes_only_its_reports(hostile_run: HostileRun) -> None:
    arena = hostile_run.arena
    assert sorted(p.name for p in hostile_run.out.glob("*.json")) == sorted(
        f"{n}.json" for n in ("perfect", "good", "fair")
    )
    assert sorted(p.name for p in (hostile_run.out / "invalid").iterdir()) == sorted(
        f"{name}.json" for name, _, _ in HOSTILE
    )
    # Nothing written into the inputs or outside the output and temporary folders.
    assert {side: _snapshot(arena / side) for side in ("gt", "subs")} == hostile_run.before
    assert list(hostile_run.scratch.iterdir()) == []
    assert not (arena / "escaped.png").exists()
    assert not Path("/tmp/segeval-absolute.png").exists()


def test_strict_exits_1_when_any_submission_is_invalid(arena: Path) -> None:
    result = run(arena / "subs", arena / "gt", "--num-classes", "3", "--strict", "-q")
    assert result.exit_code == 1
    assert "zipslip" in result.stdout


def test_rank_by_and_formats(arena: Path) -> None:
    csv_rows = run(arena / "subs", arena / "gt", "--num-classes", "3", "--format", "csv").stdout
    assert (
        csv_rows.splitlines()[0] == "rank,submission,status,miou,mdice,pixel_accuracy,reason,errors"
    )
    assert csv_rows.splitlines()[1].startswith("1,perfect,ok,1.0,")
    markdown = run(
        arena / "subs", arena / "gt", "--num-classes", "3", "--format", "markdown"
    ).stdout
    assert markdown.startswith("## segeval batch: 11 submissions (3 scored, 8 invalid)")
    by_kappa = json.loads(
        run(
            arena / "subs",
            arena / "gt",
            "--num-classes",
            "3",
            "--rank-by",
            "kappa",
            "--format",
            "json",
        ).stdout
    )
    assert by_kappa["rank_by"] == "kappa"
    assert by_kappa["metrics"][0] == "kappa"
    bad = run(arena / "subs", arena / "gt", "--num-classes", "3", "--rank-by", "iou")
    assert bad.exit_code == 2
    assert "--rank-by 'iou': use a summary metric" in bad.stderr


def test_resume_reuses_reports_with_the_same_settings(arena: Path) -> None:
    out = arena / "reports"

    def resumed(*extra: str) -> dict[str, bool]:
        args = [arena / "subs", arena / "gt", "--num-classes", "3", "--output-dir", out]
        board = json.loads(run(*args, "--resume", "--format", "json", *extra).stdout)
        return {entry["name"]: entry["resumed"] for entry in board["submissions"]}

    assert (
        run(arena / "subs", arena / "gt", "--num-classes", "3", "--output-dir", out).exit_code == 0
    )
    assert all(resumed().values())
    assert not any(resumed("--empty", "zero").values())  # other settings: scored again
    save_mask(arena / "subs" / "good" / "img0.png", GT["img0"])  # new content for one submission
    again = resumed("--empty", "zero")
    assert again["good"] is False
    assert again["perfect"] is True
    assert run(arena / "subs", arena / "gt", "--resume").exit_code == 2


def test_a_crashing_worker_only_invalidates_its_submission(
    arena: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_read = PairReader.read_prediction

    def crash_on(
        reader: PairReader, pair: MaskPair, gt_mask: np.ndarray, gt_geometry: Geometry | None
    ) -> tuple[np.ndarray | None, bool]:
        if isinstance(pair.pred_path, Path) and "good" in pair.pred_path.parts:
            os._exit(3)  # a decoder crashing the whole process, as a hostile file might
        return real_read(reader, pair, gt_mask, gt_geometry)

    # Workers are forked, so they inherit the patched class.
    monkeypatch.setattr(PairReader, "read_prediction", crash_on)
    board = run_batch(
        arena / "subs", arena / "gt",
        BatchOptions(score=ScoreOptions(num_classes=3), execution=Execution(jobs=2)),
    )  # fmt: skip
    entries = {entry.name: entry for entry in board.entries}
    assert entries["good"].status == "invalid"
    assert "the worker process crashed" in entries["good"].reason
    assert entries["perfect"].status == "ok"
    assert entries["fair"].status == "ok"
    assert entries["perfect"].rank == 1


def test_two_submissions_with_one_stem_are_both_scored(tmp_path: Path) -> None:
    save_mask(tmp_path / "gt" / "a.png", np.zeros((2, 2)))
    save_mask(tmp_path / "subs" / "team" / "a.png", np.zeros((2, 2)))
    with zipfile.ZipFile(tmp_path / "subs" / "team.zip", "w") as archive:
        archive.writestr("a.png", _png_bytes(np.zeros((2, 2))))
    result = run(tmp_path / "subs", tmp_path / "gt", "--num-classes", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    board = json.loads(result.stdout)
    assert sorted((e["name"], e["source"], e["status"]) for e in board["submissions"]) == [
        ("team", "team", "ok"),
        ("team.zip", "team.zip", "ok"),
    ]


def test_extraction_stops_at_the_declared_size_even_if_it_lies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import segeval.inputs.submissions as submissions
    from segeval.errors import UnsafeInputError
    from segeval.inputs.pairing import PairingOptions

    with zipfile.ZipFile(tmp_path / "lies.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.png", b"\x00" * (3 << 20))
    # No public seam: Python's zipfile never yields more than a member declares, so
    # an archive that lies cannot be written; shrinking the sizes it declares instead
    # lets the extraction reach the byte limit it is meant to back up.
    real_members = submissions._zip_members

    def lying(archive: Path, opened: zipfile.ZipFile, max_bytes: int) -> list[Any]:
        members = real_members(archive, opened, max_bytes)
        return [replace(member, size=1024) for member in members]  # every member claims 1 KiB

    monkeypatch.setattr(submissions, "_zip_members", lying)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    submission = submissions.Submission("lies", tmp_path / "lies.zip", "zip")
    limits = submissions.ExtractionLimits(1 << 30, 1 << 30, extract_bytes=1 << 30)
    with pytest.raises(UnsafeInputError, match="expands beyond its declared size"):
        submissions.prepare_submission(
            submission, scratch, gt_keys=frozenset({"a"}), pairing=PairingOptions(), limits=limits
        )
    assert not scratch.exists()


def test_archives_are_extracted_as_scored_within_the_extraction_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary folder never holds more than --max-extract-bytes, whatever the order.

    Groups are made small (a low share per archive) so that archives are also
    deferred and extracted again alone; a hook in the (forked) workers records
    how much the temporary folder holds after every member written.
    """
    import segeval.inputs.submissions as submissions
    import segeval.run.batch as batch

    gt = {f"img{i}": RNG.integers(0, 3, size=(64, 64)) for i in range(3)}
    for name, labels in gt.items():
        save_mask(tmp_path / "gt" / f"{name}.png", labels)
    (tmp_path / "subs").mkdir()
    for team in range(4):
        with zipfile.ZipFile(tmp_path / "subs" / f"team{team}.zip", "w") as archive:
            for name, labels in gt.items():
                archive.writestr(f"{name}.png", _png_bytes(_prediction(labels, 0.5, team)))
            archive.writestr("unpaired.png", _png_bytes(labels))  # never extracted
    members = [len(_png_bytes(_prediction(v, 0.5, 0))) for v in gt.values()]
    limit = 3 * max(members) + 64
    log = tmp_path / "sizes.log"
    real_write = submissions._write_member

    def measured(
        source: IO[bytes], target: Path, limit: int, budget: list[int], archive: Path, name: str
    ) -> None:
        real_write(source, target, limit, budget, archive, name)
        root = target.parents[len(target.relative_to(tempfile.gettempdir()).parts) - 2]
        held = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
        with log.open("a") as stream:
            stream.write(f"{held}\n")

    monkeypatch.setattr(submissions, "_write_member", measured)
    monkeypatch.setattr(batch, "GROUP_SHARE_BYTES", limit // 3)  # 3 archives, a third each
    options = BatchOptions(
        score=ScoreOptions(num_classes=3),
        max_extract_bytes=limit,
        execution=Execution(jobs=2),
    )
    board = run_batch(tmp_path / "subs", tmp_path / "gt", options)
    assert [entry.status for entry in board.entries] == ["ok"] * 4
    held = [int(line) for line in log.read_text().split()]
    assert len(held) == 4 * 3  # every paired member once, never the unpaired one
    assert max(held) <= limit
    for entry in board.entries:  # the same numbers as scoring the archive on its own
        alone = tmp_path / "alone" / entry.name
        with zipfile.ZipFile(tmp_path / "subs" / entry.source) as archive:
            for name in gt:
                alone.mkdir(parents=True, exist_ok=True)
                (alone / f"{name}.png").write_bytes(archive.read(f"{name}.png"))
        expected = evaluate(alone, tmp_path / "gt", ScoreOptions(num_classes=3))
        assert entry.report is not None
        assert entry.report.summary == pytest.approx(expected.summary, nan_ok=True)


def test_only_members_that_pair_are_extracted(tmp_path: Path) -> None:
    from segeval.inputs.pairing import PairingOptions
    from segeval.inputs.submissions import ExtractionLimits, Submission, prepare_submission

    with zipfile.ZipFile(tmp_path / "team.zip", "w") as archive:
        archive.writestr("team/a.png", _png_bytes(np.zeros((2, 2))))
        archive.writestr("team/z.png", _png_bytes(np.zeros((2, 2))))
        archive.writestr("team/notes.txt", "hello")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    prepared = prepare_submission(
        Submission("team", tmp_path / "team.zip", "zip"),
        scratch,
        gt_keys=frozenset({"a"}),
        pairing=PairingOptions(),
        limits=ExtractionLimits(1 << 20, 1 << 20, extract_bytes=1 << 20),
    )
    assert sorted(p.name for p in scratch.rglob("*")) == ["a.png"]
    assert prepared.extra == (scratch / "z.png",)
    assert prepared.skipped == 1


def test_overlapping_folders_are_refused_before_anything_is_created(tmp_path: Path) -> None:
    save_mask(tmp_path / "subs" / "gt" / "a.png", np.zeros((2, 2)))
    save_mask(tmp_path / "subs" / "team" / "a.png", np.zeros((2, 2)))
    inside = run(tmp_path / "subs", tmp_path / "subs" / "gt", "--num-classes", "2")
    assert inside.exit_code == 2
    assert "overlap: the ground truth would be scored as a submission" in inside.stderr
    reports = tmp_path / "subs" / "team" / "reports"
    save_mask(tmp_path / "gt2" / "a.png", np.zeros((2, 2)))
    with pytest.raises(UsageError, match="inside the input folder"):
        run_batch(
            tmp_path / "subs",
            tmp_path / "gt2",
            BatchOptions(score=ScoreOptions(num_classes=2), output_dir=reports),
        )
    assert not reports.exists()


def test_n_submissions_cost_n_plus_one_decodes_per_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ground-truth mask is decoded once for all submissions (the batch's whole point)."""
    import segeval.io
    import segeval.run.work
    from segeval.io import Volume

    gt, subs = tmp_path / "gt", tmp_path / "subs"
    for name, labels in GT.items():
        save_mask(gt / f"{name}.png", labels)
        for team in range(3):
            save_mask(subs / f"team{team}" / f"{name}.png", _prediction(labels, 0.8, team))
    log = tmp_path / "decoded.txt"
    real_read_volume = segeval.io.read_volume

    def counted(path: Path, *args: Any, **kwargs: Any) -> Volume:
        with log.open("a") as stream:  # worker processes are forked: count in a file
            stream.write(f"{Path(path).parent.name}\n")
        return real_read_volume(path, *args, **kwargs)

    monkeypatch.setattr(segeval.run.work, "read_volume", counted)
    board = run_batch(subs, gt, BatchOptions(score=ScoreOptions(num_classes=3)))
    assert [entry.name for entry in board.invalid] == []
    decoded = log.read_text().splitlines()
    assert decoded.count("gt") == len(GT)  # not once per submission
    assert len(decoded) == (3 + 1) * len(GT)
