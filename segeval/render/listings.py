"""Listings of what segeval knows: metric names and convention presets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from segeval.core.metrics import REGISTRY
from segeval.inputs.classes import ClassDefinition
from segeval.render.layout import RenderOptions, Section
from segeval.render.markdown import markdown_table
from segeval.render.tables import Renderer, render_with, text_table
from segeval.run.conventions import Convention

__all__ = [
    "FORMATS",
    "Listing",
    "convention_listing",
    "metric_listing",
    "preset_listing",
    "render_listing",
]


@dataclass(frozen=True)
class Listing:
    """A listing: its table, its JSON document, and a plain-text form when it differs."""

    section: Section
    document: Any
    text: str | None = None


def _json(listing: Listing, options: RenderOptions) -> str:
    return json.dumps(listing.document, indent=2) + "\n"


def _markdown(listing: Listing, options: RenderOptions) -> str:
    return f"## {listing.section.title}\n\n{markdown_table(listing.section)}\n"


def _table(listing: Listing, options: RenderOptions) -> str:
    return listing.text if listing.text is not None else text_table(listing.section) + "\n"


#: Output format name -> renderer of a listing.
FORMATS: Mapping[str, Renderer[Listing]] = {"table": _table, "json": _json, "markdown": _markdown}


def render_listing(listing: Listing, output_format: str = "table") -> str:
    """A listing in one of :data:`FORMATS`.

    Examples
    --------
    >>> "miou" in render_listing(metric_listing(), "json")
    True
    """
    return render_with(FORMATS, listing, output_format)


def _metric_section() -> Section:
    rows = [
        [
            ", ".join(spec.forms()),
            "per class" if spec.per_class else "summary, per class" if spec.by_class else "summary",
            ("image" if spec.per_image else "dataset")
            + (f" ({spec.option})" if spec.option else ""),
            "higher" if spec.higher_is_better else "lower",
            spec.formula,
        ]
        for name, spec in REGISTRY.items()
    ]
    return Section("Metrics", ["Name", "Scope", "Level", "Better", "Formula"], rows, [False] * 5)


def _convention_section(conventions: Mapping[str, Convention]) -> Section:
    rows = [
        [
            convention.name,
            convention.tool,
            ", ".join(f"{key}={_show(value)}" for key, value in _settings(convention).items()),
        ]
        for convention in conventions.values()
    ]
    return Section("Conventions", ["Name", "Reproduces", "Settings"], rows, [False] * 3)


def _settings(convention: Convention) -> dict[str, Any]:
    settings = dict(convention.settings)
    if convention.boundary_ratio is not None:
        settings["boundary_ratio"] = convention.boundary_ratio  # applies with --boundary
    return settings


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def metric_listing() -> Listing:
    """Every registry metric: name, scope, level, direction, formula."""
    document = {
        name: {
            "title": spec.title,
            "formula": spec.formula,
            "per_class": spec.per_class,
            "class_values": spec.by_class,
            "option": spec.option,
            "per_image": spec.per_image,
            "higher_is_better": spec.higher_is_better,
        }
        for name, spec in REGISTRY.items()
    }
    return Listing(_metric_section(), document)


def convention_listing(conventions: Mapping[str, Convention]) -> Listing:
    """Every convention preset: the tool it reproduces and its settings."""
    document = {
        convention.name: {
            "tool": convention.tool,
            "settings": _settings(convention),
            "headline": list(convention.headline),
            "differences": convention.differences,
        }
        for convention in conventions.values()
    }
    return Listing(_convention_section(conventions), document)


def preset_listing(definitions: Mapping[str, ClassDefinition]) -> Listing:
    """Every built-in class definition: name, classes, ignore values, description."""
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
    # Descriptions are long: the plain table lists them below instead of in a column.
    short = Section(section.title, section.headers[:4], [row[:4] for row in rows], [False] * 4)
    notes = "\n".join(f"{row[0]}: {row[4]}" for row in rows)
    return Listing(section, document, text=f"{text_table(short)}\n\n{notes}\n")
