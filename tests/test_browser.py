"""The HTML reports opened in a real browser: headless Chromium, offline.

One browser for the whole session (Debian's ``chromium`` driven by Playwright
with the system executable; no browser is ever downloaded). The Makefile
installs chromium when it is missing; these tests skip only when it cannot be
found, and fail instead when ``SEGEVAL_REQUIRE_BROWSER=1`` (set by .ci/run), so
CI always runs them.

``SEGEVAL_UPDATE_SCREENSHOTS=1`` also copies the screenshots to ``docs/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from segeval.cli import cli
from tests.helpers import CAMVID, REPO, SAMPLE_ARGS, measured

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("SEGEVAL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and SEGEVAL_REQUIRE_BROWSER=1 requires the browser tests")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the session, with a fresh profile and no network."""
    executable = _chromium()
    if executable is None:
        _unavailable("chromium is not installed (make test installs it with apt-get)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            offline=True,  # the reports must render with the network cut off
        )
        try:
            yield context
        finally:
            context.close()


class Opened:
    """A report open in a tab, with everything the page said and asked for."""

    def __init__(self, context: Any, path: Path) -> None:
        self.page = context.new_page()
        self.console: list[str] = []
        self.requests: list[str] = []
        self.page.on(
            "console", lambda message: self.console.append(f"{message.type}: {message.text}")
        )
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        self.page.on("request", lambda request: self.requests.append(request.url))
        started = time.perf_counter()
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("html[data-ready='1']")
        self.page.wait_for_load_state("load")
        self.render_seconds = time.perf_counter() - started
        self.size = path.stat().st_size

    def assert_clean(self) -> None:
        errors = [line for line in self.console if line.startswith(("error", "pageerror"))]
        assert errors == []
        outside = [url for url in self.requests if not url.startswith(("file:", "data:"))]
        assert outside == []

    def screenshot(self, target: Path, docs_name: str, height: int = 3000) -> None:
        full = self.page.evaluate("document.documentElement.scrollHeight")
        clip = {"x": 0, "y": 0, "width": 1280, "height": min(height, full)}
        self.page.screenshot(path=str(target), full_page=True, clip=clip)
        with Image.open(target) as shot:
            assert shot.size == (1280, min(height, full))
            if os.environ.get("SEGEVAL_UPDATE_SCREENSHOTS") == "1":
                # 256 colours keep the docs small; the report's colours survive.
                shot.convert("RGB").quantize(256).save(REPO / "docs" / docs_name, optimize=True)

    def close(self) -> None:
        self.page.close()


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def camvid_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The acceptance report: CamVid scored with its preset, as HTML, and as JSON."""
    folder = tmp_path_factory.mktemp("camvid-html")
    if CAMVID.is_dir():
        args = [str(CAMVID / "pred_hgb"), str(CAMVID / "testannot"), "--preset", "camvid"]
    else:  # the repository's own sample when the shared data is absent
        args = list(SAMPLE_ARGS)
    target = folder / "camvid.html"
    _cli("score", *args, "--format", "html", "--output", str(target), "--quiet")
    return target, json.loads(_cli("score", *args, "--format", "json", "--quiet"))


def test_score_report_in_chromium(
    browser_context: Any, camvid_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, reference = camvid_report
    opened = Opened(browser_context, path)
    page = opened.page
    source = "CamVid, 233 images" if CAMVID.is_dir() else "sample data"
    measured(
        f"score report ({source}): {opened.size / 1e6:.2f} MB, rendered offline in headless "
        f"Chromium in {opened.render_seconds:.2f} s"
    )
    opened.assert_clean()
    names = reference["config"]["class_names"]
    size = len(names)
    counts = reference["confusion_matrix"]["counts"]
    missed = reference["confusion_matrix"]["missed"]

    # The heat map: C x C cells, each with its count, its tooltip and its label.
    cells = page.locator("#confusion rect.cm-cell")
    assert cells.count() == size * size
    found = page.eval_on_selector_all(
        "#confusion rect.cm-cell",
        "cells => cells.map(c => [+c.dataset.row, +c.dataset.col, +c.dataset.count,"
        " c.querySelector('title').textContent])",
    )
    for row, column, count, tooltip in found:
        assert count == counts[row][column]
        assert f"{count:,} px" in tooltip
        assert f"ground truth {names[row]} → predicted {names[column]}" in tooltip
    labels = {
        (row, column): text
        for row, column, text in page.eval_on_selector_all(
            "#confusion text.cm-label",
            "ls => ls.map(l => [+l.dataset.row, +l.dataset.col, l.textContent])",
        )
    }
    for row in range(size):
        total = sum(counts[row]) + missed[row]
        for column in range(size):
            share = counts[row][column] / total if total else float("nan")
            assert labels[row, column] == ("n/a" if total == 0 else f"{share:.2f}")
    # The switch: pixel counts, then shares of each predicted column.
    page.check("input[name=cm-mode][value=counts]")
    assert page.get_attribute("#confusion", "data-mode") == "counts"
    first = page.text_content('#confusion text.cm-label[data-row="0"][data-col="0"]')
    assert first == _compact(counts[0][0])
    page.check("input[name=cm-mode][value=cols]")
    column_total = sum(counts[row][0] for row in range(size))
    assert (
        page.text_content('#confusion text.cm-label[data-row="0"][data-col="0"]')
        == f"{counts[0][0] / column_total:.2f}"
    )
    page.check("input[name=cm-mode][value=rows]")

    # Worst images: every thumbnail decoded by the browser.
    panels = page.locator("article.panel")
    assert panels.count() == min(12, reference["num_images"])
    widths = page.eval_on_selector_all("article.panel img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 3 * panels.count()
    assert all(width > 0 for width in widths)

    # Sorting the per-class table by IoU: descending first, then ascending; undefined last.
    header = page.locator("#classes-table th", has_text=re.compile(r"^IoU$"))
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    ious = [entry["iou"] for entry in reference["classes"]]
    order = page.eval_on_selector_all(
        "#classes-table tbody tr", "rows => rows.map(r => +r.cells[0].textContent)"
    )
    defined = sorted((i for i in range(size) if ious[i] is not None), key=lambda i: -ious[i])
    assert order == defined + [i for i in range(size) if ious[i] is None]
    header.locator("button").click()
    order = page.eval_on_selector_all(
        "#classes-table tbody tr", "rows => rows.map(r => +r.cells[0].textContent)"
    )
    assert order[: len(defined)] == defined[::-1]

    # The score distribution has every bin.
    assert page.locator("#distribution rect.hist-bar").count() == 20
    opened.screenshot(tmp_path / "score.png", "report-score.png")
    opened.assert_clean()
    opened.close()


def _compact(count: int) -> str:
    if count >= 1e9:
        return f"{count / 1e9:.1f}G"
    if count >= 1e6:
        return f"{count / 1e6:.1f}M"
    if count >= 1e4:
        return f"{count / 1e3:.0f}k"
    return str(count)


def test_compare_and_batch_reports_in_chromium(
    browser_context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # short relative folder names in the pages
    if CAMVID.is_dir():
        # A slice of CamVid (24 images) keeps the browser tests quick on two cores.
        keys = sorted(path.name for path in (CAMVID / "testannot").glob("*.png"))[::10]
        runs = {"weak": Path("camvid_weak"), "hgb": Path("camvid_hgb")}
        gt, classes = Path("camvid_gt"), ["--preset", "camvid"]
        for source, target in (
            ("testannot", gt),
            ("pred_weak", runs["weak"]),
            ("pred_hgb", runs["hgb"]),
        ):
            target.mkdir()
            for key in keys:
                shutil.copyfile(CAMVID / source / key, target / key)
    else:
        gt, classes = Path(SAMPLE_ARGS[1]), SAMPLE_ARGS[2:]
        runs = {
            "weak": _degraded(Path(SAMPLE_ARGS[0]), tmp_path / "weak"),
            "hgb": Path(SAMPLE_ARGS[0]),
        }
    for name, folder in runs.items():
        _cli(
            "score",
            str(folder),
            str(gt),
            *classes,
            "--format",
            "json",
            "--output",
            str(tmp_path / f"{name}.json"),
            "--quiet",
        )
    compare = tmp_path / "compare.html"
    _cli(
        "compare",
        str(tmp_path / "weak.json"),
        str(tmp_path / "hgb.json"),
        "--format",
        "html",
        "--output",
        str(compare),
        "--gt",
        str(gt),
        "--baseline-pred",
        str(runs["weak"]),
        "--candidate-pred",
        str(runs["hgb"]),
        "--worst",
        "4",
    )
    opened = Opened(browser_context, compare)
    measured(
        f"compare report: {opened.size / 1e6:.2f} MB, rendered in {opened.render_seconds:.2f} s"
    )
    opened.assert_clean()
    size = len(json.loads((tmp_path / "hgb.json").read_text())["config"]["class_names"])
    for figure in ("cm-baseline", "cm-candidate", "cm-difference"):
        assert opened.page.locator(f"#{figure} rect.cm-cell").count() == size * size
    assert opened.page.locator("article.panel").count() == 4
    widths = opened.page.eval_on_selector_all(
        "article.panel img", "imgs => imgs.map(i => i.naturalWidth)"
    )
    assert widths
    assert all(width > 0 for width in widths)
    opened.screenshot(tmp_path / "compare.png", "report-compare.png", height=2400)
    opened.page.check("input[name=cm-mode][value=counts]")
    assert opened.page.get_attribute("#cm-difference", "data-mode") == "counts"
    opened.assert_clean()
    opened.close()

    submissions = tmp_path / "submissions"
    for name, folder in runs.items():
        shutil.copytree(folder, submissions / name)
    board = tmp_path / "board.html"
    _cli(
        "batch",
        str(submissions),
        str(gt),
        *classes,
        "--format",
        "html",
        "--output",
        str(board),
        "--output-dir",
        str(tmp_path / "reports"),
        "--quiet",
        "--jobs",
        "2",
    )
    opened = Opened(browser_context, board)
    measured(f"batch report: {opened.size / 1e6:.2f} MB, rendered in {opened.render_seconds:.2f} s")
    opened.assert_clean()
    assert opened.page.locator("#leaderboard svg.class-bars").count() == 2
    links = opened.page.eval_on_selector_all("#leaderboard a", "as => as.map(a => a.href)")
    assert len(links) == 2
    opened.screenshot(tmp_path / "board.png", "report-batch.png", height=900)
    # Following a link opens that submission's own report, which renders cleanly too.
    opened.page.click("#leaderboard a >> nth=0")
    opened.page.wait_for_selector("html[data-ready='1']")
    assert opened.page.locator("#confusion rect.cm-cell").count() == size * size
    opened.assert_clean()
    opened.close()


def _degraded(source: Path, target: Path) -> Path:
    """A worse copy of the sample predictions (every fifth row set to class 0)."""
    for path in source.rglob("*.png"):
        with Image.open(path) as image:
            labels = np.array(image)
        labels[::5] = 0
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels).save(destination)
    return target
