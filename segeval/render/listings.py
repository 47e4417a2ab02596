"""Listings of what segeval knows: metric names and convention presets."""

from __future__ import annotations

import json
from typing import Any

from tabulate import tabulate

from segeval.classes import PRESET_NAMES, load_preset
from segeval.conventions import CONVENTIONS
from segeval.errors import UsageError
from segeval.metrics import REGISTRY
from segeval.render.layout import Section
from segeval.render.markdown import markdown_table

__all__ = ["render_convention_list", "render_metric_list", "render_preset_list"]


def _metric_section() -> Section:
    rows = [
        [
            f"{name}[CLASS]" if spec.per_class else name,
            "per class" if spec.per_class else "summary",
            "image" if spec.per_image else "dataset",
            "higher" if spec.higher_is_better else "lower",
            spec.formula,
        ]
        for name, spec in REGISTRY.items()
    ]
    return Section("Metrics", ["Name", "Scope", "Level", "Better", "Formula"], rows, [False] * 5)


def _convention_section() -> Section:
    rows = [
        [
            convention.name,
            convention.tool,
            ", ".join(f"{key}={_show(value)}" for key, value in convention.settings.items()),
        ]
        for convention in CONVENTIONS.values()
    ]
    return Section("Conventions", ["Name", "Reproduces", "Settings"], rows, [False] * 3)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _render(section: Section, document: Any, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(document, indent=2) + "\n"
    if output_format == "markdown":
        return f"## {section.title}\n\n{markdown_table(section)}\n"
    if output_format == "table":
        return tabulate(section.rows, headers=section.headers, disable_numparse=True) + "\n"
    raise UsageError(f"unknown format {output_format!r}; choose table, json or markdown.")


def render_metric_list(output_format: str = "table") -> str:
    """Every registry metric: name, scope, level, direction, formula.

    Examples
    --------
    >>> "miou" in render_metric_list("json")
    True
    """
    document = {
        name: {
            "title": spec.title,
            "formula": spec.formula,
            "per_class": spec.per_class,
            "per_image": spec.per_image,
            "higher_is_better": spec.higher_is_better,
        }
        for name, spec in REGISTRY.items()
    }
    return _render(_metric_section(), document, output_format)


def render_convention_list(output_format: str = "table") -> str:
    """Every convention preset: the tool it reproduces and its settings.

    Examples
    --------
    >>> "nnunet" in render_convention_list("table")
    True
    """
    document = {
        convention.name: {
            "tool": convention.tool,
            "settings": dict(convention.settings),
            "headline": list(convention.headline),
            "differences": convention.differences,
        }
        for convention in CONVENTIONS.values()
    }
    return _render(_convention_section(), document, output_format)


def render_preset_list(output_format: str = "table") -> str:
    """Every built-in class definition: name, classes, ignore values, description.

    Examples
    --------
    >>> "pascal-voc" in render_preset_list("table")
    True
    """
    definitions = {name: load_preset(name) for name in PRESET_NAMES}
    rows = [
        [
            name,
            str(definition.num_classes),
            ", ".join(str(v) for v in sorted(definition.ignore_values)),
            "yes" if definition.value_colors else "no",
            definition.description,
        ]
        for name, definition in definitions.items()
    ]
    section = Section(
        "Presets",
        ["Name", "Classes", "Ignored values", "Colours", "Description"],
        rows,
        [False] * 5,
    )
    document = {
        name: {
            "classes": list(definition.names),
            "ignore": sorted(definition.ignore_values),
            "colors": bool(definition.value_colors),
            "description": definition.description,
            "source": definition.source,
        }
        for name, definition in definitions.items()
    }
    if output_format == "table":
        # Descriptions are long: list them below the table instead of in a column.
        short = Section(section.title, section.headers[:4], [row[:4] for row in rows], [False] * 4)
        notes = "\n".join(f"{row[0]}: {row[4]}" for row in rows)
        return (
            tabulate(short.rows, headers=short.headers, disable_numparse=True)
            + "\n\n"
            + notes
            + "\n"
        )
    return _render(section, document, output_format)
