"""Render a folder inspection (``segeval inspect``) as text, Markdown or JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from segeval.inputs.classes import ClassDefinition
from segeval.inspection import FolderInspection
from segeval.render.layout import RenderOptions, Section, format_count
from segeval.render.markdown import markdown_table
from segeval.render.tables import Renderer, printable, render_with, text_table
from segeval.wording import counted

__all__ = ["FORMATS", "INSPECT_SCHEMA", "render_inspection"]

#: Schema name of the inspection JSON (``segeval/schemas/inspect-v1.json``).
INSPECT_SCHEMA = "segeval/inspect/v1"

#: Values or colours listed before the rest is summarised.
MAX_ROWS = 40


def _class_of_value(value: int, classes: ClassDefinition | None, class_ids: bool) -> str:
    if classes is None:
        return ""
    mapping = classes.mapping(class_ids=class_ids)
    import numpy as np

    code = int(mapping.encode(np.array([value]))[0])
    if code == mapping.ignore_code:
        return "(ignored)"
    if code == mapping.invalid_code:
        return "(not in the definition)"
    return classes.names[code]


def _sections(
    found: FolderInspection, classes: ClassDefinition | None, class_ids: bool
) -> list[Section]:
    total_values = sum(found.values.values()) or 1
    total_colors = sum(found.colors.values()) or 1
    sections = [
        Section(
            "Files",
            ["Format and mode", "Files"],
            [[kind, format_count(n)] for kind, n in found.kinds.most_common()],
            [False, True],
        ),
    ]
    if found.sizes or not found.volumes:
        sections.append(
            Section(
                "Sizes (width x height)",
                ["Size", "Files"],
                [[f"{w}x{h}", format_count(n)] for (w, h), n in found.sizes.most_common(10)],
                [False, True],
            )
        )
    if found.volumes:
        sections.append(_volume_section(found))
    if found.values:
        rows = [
            [
                str(value),
                format_count(count),
                f"{100 * count / total_values:.2f}%",
                _class_of_value(value, classes, class_ids),
            ]
            for value, count in sorted(found.values.items())[:MAX_ROWS]
        ]
        sections.append(
            Section(
                "Label values",
                ["Value", "Pixels", "Share", "Class"],
                rows,
                [True, True, True, False],
            )
        )
    if found.colors:
        names = {} if classes is None else classes.value_colors
        rows = [
            [
                str(list(color)),
                format_count(count),
                f"{100 * count / total_colors:.2f}%",
                "" if classes is None else _color_class(color, names, classes, class_ids),
            ]
            for color, count in found.colors.most_common(MAX_ROWS)
        ]
        sections.append(
            Section(
                "Colours", ["RGB", "Pixels", "Share", "Class"], rows, [False, True, True, False]
            )
        )
    return sections


def _volume_section(found: FolderInspection) -> Section:
    grids: Counter[tuple[str, str, str]] = Counter()
    for info in found.volumes:
        shape = " x ".join(str(size) for size in info.shape)
        if info.geometry is None:
            grids[(shape, "(no header)", "")] += 1
        else:
            grids[(shape, info.geometry.describe_spacing(), info.geometry.orientation)] += 1
    return Section(
        "Volumes",
        ["Shape", "Spacing", "Orientation", "Files"],
        [[*grid, format_count(n)] for grid, n in grids.most_common(MAX_ROWS)],
        [False, False, False, True],
    )


def _color_class(
    color: tuple[int, int, int], value_colors: Any, classes: ClassDefinition, class_ids: bool
) -> str:
    if color not in value_colors:
        return "(unknown colour)"
    return _class_of_value(int(value_colors[color]), classes, False)


def _document(found: FolderInspection) -> dict[str, Any]:
    return {
        "schema": INSPECT_SCHEMA,
        "folder": str(found.root),
        "files": found.files,
        "skipped_files": found.skipped_files,
        "kinds": dict(found.kinds),
        "sizes": [{"width": w, "height": h, "files": n} for (w, h), n in found.sizes.most_common()],
        "volumes": [
            {
                "file": str(info.path),
                "shape": list(info.shape),
                **({} if info.geometry is None else info.geometry.to_dict()),
            }
            for info in found.volumes
        ],
        "against": None if found.against is None else str(found.against),
        "mismatches": found.mismatches,
        "values": {str(v): n for v, n in sorted(found.values.items())},
        "colors": [{"rgb": list(c), "pixels": n} for c, n in found.colors.most_common()],
        "too_many_colors": found.too_many_colors,
        "unreadable": found.unreadable,
        "hints": found.hints,
    }


def _json(found: FolderInspection, options: RenderOptions) -> str:
    return json.dumps(_document(found), indent=2) + "\n"


def _text(found: FolderInspection, markdown: bool) -> str:
    header = printable(f"{found.root}: {counted(found.files, 'mask file')}") + (
        f", {counted(found.skipped_files, 'other file')} skipped" if found.skipped_files else ""
    )
    parts = [f"## {header}" if markdown else header]
    for section in _sections(found, found.classes, found.class_ids):
        if markdown:
            parts.append(f"### {section.title}\n\n{markdown_table(section)}")
        else:
            parts.append(f"{section.title}\n{text_table(section)}")
    if len(found.values) > MAX_ROWS:
        parts.append(
            f"... and {counted(len(found.values) - MAX_ROWS, 'more label value')} (see "
            "--format json)."
        )
    if found.unreadable:
        listed = "\n".join(f"  {printable(line)}" for line in found.unreadable[:10])
        more = (
            f"\n  ... and {len(found.unreadable) - 10} more" if len(found.unreadable) > 10 else ""
        )
        parts.append(f"Files that cannot be read ({len(found.unreadable)}):\n{listed}{more}")
    if found.mismatches:
        listed = "\n".join(f"  {line}" for line in found.mismatches[:20])
        more = (
            f"\n  ... and {len(found.mismatches) - 20} more" if len(found.mismatches) > 20 else ""
        )
        parts.append(
            f"Grids that differ from the ground truth in {found.against} "
            f"({len(found.mismatches)}):\n{listed}{more}"
        )
    if found.hints:
        parts.append("Hints:\n" + "\n".join(f"- {printable(hint)}" for hint in found.hints))
    return "\n\n".join(parts) + "\n"


#: Output format name -> renderer of a folder inspection.
FORMATS: Mapping[str, Renderer[FolderInspection]] = {
    "table": lambda found, options: _text(found, markdown=False),
    "markdown": lambda found, options: _text(found, markdown=True),
    "json": _json,
}


def render_inspection(found: FolderInspection, output_format: str = "table") -> str:
    """The inspection in one of :data:`FORMATS`."""
    return render_with(FORMATS, found, output_format)
