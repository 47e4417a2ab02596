"""Fixtures shared by the tests (helpers to import are in ``tests/helpers.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import MEASUREMENTS, MaskWriter, save_mask


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
