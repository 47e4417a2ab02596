"""Packaging promises: imports, entry points, documented commands, sample data."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from segeval import __version__
from segeval.cli import cli
from tests.helpers import REPO, SAMPLE, SAMPLE_ARGS


def test_library_import_does_not_load_the_cli_stack_or_the_cluster_extras() -> None:
    # Scoring local folders stays light: no fsspec, s3fs or Dask either.
    code = (
        "import sys, segeval, segeval.render, segeval.run.evaluate;"
        "import numpy as np;"
        "mask = np.zeros((2, 2), np.uint8);"
        "segeval.ConfusionMatrix(2).update(mask, mask);"
        f"segeval.evaluate({str(SAMPLE / 'pred')!r}, {str(SAMPLE / 'gt')!r});"
        "heavy = ('click', 'rich', 'tqdm', 'fsspec', 's3fs', 'dask', 'distributed');"
        "loaded = sorted(m for m in heavy if m in sys.modules);"
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_importing_segeval_loads_no_boundary_dependency() -> None:
    # SciPy and OpenCV (the boundary extra) load on the first boundary metric, not before.
    code = (
        "import sys, segeval, segeval.cli, segeval.run.evaluate;"
        "print(','.join(m for m in ('scipy', 'cv2') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_start_up_imports_only_what_a_command_uses() -> None:
    """`--version` needs click alone; a JSON `score` no renderer but its own, no rich.

    Nor what only other options or formats use: boundary and iIoU kernels,
    categories, shards, process workers, the TOML parser, temporary files (the
    per-image spool), gzip, the other formats' renderers.
    """
    code = (
        "import sys\n"
        "from segeval.cli import main\n"
        "def loaded(argv):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    return sorted(m for m in ('numpy', 'rich', 'tabulate', 'segeval.render.html',\n"
        "                              'segeval.run.batch', 'segeval.stats.bootstrap',\n"
        "                              'segeval.compare', 'segeval.core.boundary',\n"
        "                              'segeval.boundary_report', 'segeval.run.shards',\n"
        "                              'segeval.outputs.nnunet_summary', 'segeval.checks',\n"
        "                              'segeval.stats.table', 'multiprocessing', 'tomllib',\n"
        "                              'concurrent.futures', 'tempfile', 'zipfile',\n"
        "                              'segeval.core.instances', 'segeval.core.categories',\n"
        "                              'segeval.render.csv_format',\n"
        "                              'segeval.render.markdown', 'segeval.render.text',\n"
        "                              'segeval.outputs.per_image_file', 'csv', 'difflib',\n"
        "                              'gzip', 'segeval.run.conventions')\n"
        "                   if m in sys.modules)\n"
        "print('loaded:' + ','.join(loaded(['--version'])), file=sys.stderr)\n"
        f"arguments = ['score', *{[str(a) for a in SAMPLE_ARGS]!r}, '--format', 'json']\n"
        "print('loaded:' + ','.join(loaded(arguments)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    version, score = (
        line.removeprefix("loaded:")
        for line in result.stderr.splitlines()
        if line.startswith("loaded:")
    )
    assert version == ""
    assert score == "numpy"


def test_lazy_exports_cover_the_public_names() -> None:
    import segeval

    assert set(segeval.__all__) == {*segeval._EXPORTS, "__version__"}
    for name in segeval.__all__:
        assert getattr(segeval, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = segeval.nope


def test_python_dash_m_segeval() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "segeval", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout == f"segeval {__version__}\n"


def test_console_script_is_installed() -> None:
    script = shutil.which("segeval", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"segeval {__version__}"


@pytest.mark.parametrize("name", list(cli.commands))
def test_every_command_is_documented_with_an_example(name: str) -> None:
    command = cli.commands[name]
    assert command.help
    assert "Example" in command.help
    undocumented = [
        param.opts for param in command.params if isinstance(param, click.Option) and not param.help
    ]
    assert undocumented == []


def test_sample_data_regenerates_byte_for_byte(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_sample_data.py"), str(tmp_path)], check=True
    )
    # sample_data/volumes/ comes from scripts/make_volumes.py (tests/test_volumes.py).
    comparison = filecmp.dircmp(SAMPLE, tmp_path, ignore=["volumes"])
    _assert_same_tree(comparison)


def _assert_same_tree(comparison: filecmp.dircmp[str]) -> None:
    assert not comparison.left_only, comparison.left_only
    assert not comparison.right_only, comparison.right_only
    _, mismatch, errors = filecmp.cmpfiles(
        comparison.left, comparison.right, comparison.common_files, shallow=False
    )
    assert not mismatch, mismatch
    assert not errors, errors
    for sub in comparison.subdirs.values():
        _assert_same_tree(sub)


def test_readme_starts_with_the_two_setup_commands() -> None:
    readme = (REPO / "README.md").read_text()
    head = readme[: readme.index("\n## ")]
    assert "make demo" in head
    assert "make test" in head
    assert (REPO / ".ci" / "run").read_text().count("make test") == 1


def test_readme_shows_what_make_demo_prints() -> None:
    from click.testing import CliRunner

    readme = (REPO / "README.md").read_text()
    start = readme.index("## What `make demo` prints\n\n```text\n") + len(
        "## What `make demo` prints\n\n```text\n"
    )
    shown = readme[start : readme.index("```", start)]
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(SAMPLE / "pred"),
            str(SAMPLE / "gt"),
            "--class-names",
            str(SAMPLE / "class_names.txt"),
        ],
    )
    assert result.stdout == shown


def test_readme_python_examples_run() -> None:
    import doctest
    import os

    readme = (REPO / "README.md").read_text()
    blocks = [part.split("```", 1)[0] for part in readme.split("```pycon\n")[1:]]
    assert blocks, "the README shows no Python example"
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    previous = os.getcwd()
    os.chdir(REPO)
    try:
        for number, block in enumerate(blocks):
            test = parser.get_doctest(block, {}, f"README block {number}", "README.md", 0)
            runner.run(test)
    finally:
        os.chdir(previous)
    assert runner.summarize(verbose=False).failed == 0


@pytest.mark.parametrize(
    "mode",
    [
        "floor",
        "segeval",
        "segeval-per-image",
        "segeval-ci",
        "count",
        "count-pairs",
        "segeval-boundary",
        "segeval-surface",
    ],
)
def test_the_benchmark_worker_runs_against_the_current_api(mode: str) -> None:
    """`make bench` is not part of the suite; its worker must not rot when the API moves."""
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", mode, "sample_data/pred", "sample_data/gt",
         "--jobs", "2", "--classes", "6"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["pairs"] == 12
    assert measured["pixels"] == 73_728


def test_packaging_metadata_is_consistent() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["name"] == "segeval-masks"  # "segeval" is another package
    assert project["project"]["license"] == "MIT"
    assert project["project"]["license-files"] == ["LICENSE"]
    assert "MIT License" in (REPO / "LICENSE").read_text()
    # An SPDX license string needs setuptools 77 to build.
    assert project["build-system"]["requires"] == ["setuptools>=77"]
    assert (REPO / "CHANGELOG.md").read_text().startswith("# Changelog")


def test_readme_documents_every_environment_variable() -> None:
    import re

    used = set()
    for folder in ("segeval", "tests"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            used.update(re.findall(r'environ(?:\.get\(|\[)"(SEGEVAL_[A-Z_]+)"', text))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert {"SEGEVAL_DECODER", "SEGEVAL_SHARED_DATA", "SEGEVAL_REQUIRE_BROWSER"} <= used
    assert sorted(name for name in used if f"`{name}" not in readme) == []
    assert "_SEGEVAL_COMPLETE=bash_source segeval" in readme
