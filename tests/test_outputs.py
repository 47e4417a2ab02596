"""What writing an output means for each kind of path: files, links, pipes, stdout."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from segeval.cli import cli
from segeval.errors import OutputError
from segeval.outputs.atomic import AtomicWriter, same_file, write_text_atomic
from tests.helpers import SAMPLE_ARGS


def test_a_symbolic_link_is_followed_and_kept(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real.json")
    write_text_atomic(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink()
    assert (tmp_path / "real.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_a_fifo_is_written_in_place_and_a_lonely_one_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match=r"pipe: cannot write .* no process is reading"):
        write_text_atomic(fifo, "report")
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    for _ in range(500):  # the reader must have opened its end before we write
        try:
            write_text_atomic(fifo, "report")
            break
        except OutputError:
            threading.Event().wait(0.01)
    reader.join(timeout=10)
    assert received == ["report"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_failed_write_removes_the_temporary_and_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    target.write_text("previous")
    writer = AtomicWriter(target)

    def full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    writer.write("new")
    with pytest.raises(OutputError, match=r"report\.json: .*No space left on device.*free some"):
        writer.commit()
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_same_file_sees_through_links_dots_and_hard_links(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("x")
    os.link(tmp_path / "a.json", tmp_path / "b.json")
    (tmp_path / "c.json").symlink_to("a.json")
    assert same_file(tmp_path / "b.json", tmp_path / "a.json")
    assert same_file(tmp_path / "c.json", tmp_path / "sub" / ".." / "a.json")
    assert not same_file(tmp_path / "a.json", tmp_path / "new.json")


def test_dash_is_stdout_and_stdout_is_one_file(tmp_path: Path) -> None:
    runner = CliRunner()
    dash = runner.invoke(cli, ["score", *SAMPLE_ARGS, "--format", "csv", "--output", "-"])
    assert dash.exit_code == 0
    assert dash.stdout.startswith("metric,class_id")
    rows = runner.invoke(
        cli,
        ["score", *SAMPLE_ARGS, "--per-image-output", "-", "--output", str(tmp_path / "r.json")],
    )
    assert rows.exit_code == 0, rows.output
    assert rows.stdout.startswith("image,scored_pixels,")
    both = runner.invoke(cli, ["score", *SAMPLE_ARGS, "--per-image-output", "-"])
    assert both.exit_code == 2
    assert "--output and --per-image-output both name stdout" in both.stderr


def test_compare_never_overwrites_a_report_it_reads(tmp_path: Path) -> None:
    runner = CliRunner()
    report = tmp_path / "r.json"
    assert (
        runner.invoke(cli, ["score", *SAMPLE_ARGS, "--format", "json", "--output", str(report)])
    ).exit_code == 0
    result = runner.invoke(cli, ["compare", str(report), str(report), "--output", str(report)])
    assert result.exit_code == 2
    assert "is the input" in result.stderr
