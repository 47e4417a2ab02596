"""segeval plot: figures from saved JSON reports (matplotlib, the optional [plot] extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from segeval.cli import cli
from tests.helpers import SAMPLE_ARGS


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("plot") / "report.json"
    result = CliRunner().invoke(
        cli, ["score", *SAMPLE_ARGS, "--format", "json", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    return target


def _plot(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["plot", *args])
    return result.exit_code, result.stderr


def test_confusion_png_and_svg(report_file: Path, tmp_path: Path) -> None:
    png, svg = tmp_path / "cm.png", tmp_path / "cm.svg"
    assert _plot("confusion", str(report_file), "-o", str(png)) == (0, "")
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size[0] > 800
    assert _plot("confusion", str(report_file), "-o", str(svg), "--normalize", "counts")[0] == 0
    text = svg.read_text()
    assert text.startswith("<?xml")
    for name in ("background", "road", "water", "ground truth", "prediction"):
        assert f">{name}<" in text  # text stays editable text in the SVG


def test_per_class_pdf_and_metric_choice(report_file: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "classes.pdf"
    assert _plot("per-class", str(report_file), "-o", str(pdf), "--metric", "recall")[0] == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    code, message = _plot("per-class", str(report_file), "-o", str(pdf), "--metric", "nope")
    assert code == 2
    assert "unknown per-class metric nope" in message


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_figures_are_reproducible(report_file: Path, tmp_path: Path, suffix: str) -> None:
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    for target in (first, second):
        assert _plot("per-class", str(report_file), "-o", str(target))[0] == 0
    assert first.read_bytes() == second.read_bytes()


def test_unknown_suffix_is_a_usage_error(report_file: Path, tmp_path: Path) -> None:
    code, message = _plot("confusion", str(report_file), "-o", str(tmp_path / "cm.gif"))
    assert code == 2
    assert ".png, .svg, .pdf" in message


def test_missing_matplotlib_names_the_extra(
    report_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, message = _plot("confusion", str(report_file), "-o", str(tmp_path / "cm.png"))
    assert code == 2
    assert message == (
        "segeval: error: segeval plot needs matplotlib, an optional extra: "
        "pip install 'segeval-masks[plot]'.\n"
    )
    assert not (tmp_path / "cm.png").exists()


def test_plot_of_a_non_report_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text("[]")
    code, message = _plot("confusion", str(bogus), "-o", str(tmp_path / "cm.png"))
    assert code == 2
    assert "x.json" in message
