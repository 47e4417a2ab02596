"""Classes: names, class definition files and the built-in presets.

Two kinds of file describe classes:

* a *class names* file (``--class-names``): plain text, one name per line (line
  ``i`` names class ``i``; blank lines and ``#`` comments skipped), or a JSON list;
* a *class definition* (``--classes``, JSON or TOML, and every ``--preset``):
  names, ids, optional colours, ignore values and a label map from raw mask
  values to class ids, as described in :func:`parse_class_definition`.

A :class:`ClassDefinition` turns into the :class:`~segeval.core.labels.LabelMapping`
the accumulator uses and the :class:`~segeval.io.colors.ColorTable` the readers
use for colour masks.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segeval.core.labels import DEFAULT_IGNORE, LabelMapping, Unmapped
from segeval.errors import ClassDefinitionError, UsageError
from segeval.inputs.documents import parse_document, read_document, read_text
from segeval.io.colors import RGB, ColorTable

__all__ = [
    "PRESET_NAMES",
    "ClassDefinition",
    "default_class_names",
    "did_you_mean",
    "load_class_definition",
    "load_class_names",
    "load_definition",
    "load_preset",
    "parse_class_definition",
    "resolve_class",
    "validate_class_names",
]

#: Names of the class definitions shipped with segeval (``--preset``).
PRESET_NAMES = ("cityscapes", "ade20k", "pascal-voc", "camvid")


def default_class_names(num_classes: int) -> tuple[str, ...]:
    """Names used when none are given: ``class_0``, ``class_1``, ...

    Examples
    --------
    >>> default_class_names(3)
    ('class_0', 'class_1', 'class_2')
    """
    return tuple(f"class_{index}" for index in range(num_classes))


def load_class_names(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Read class names from a text file (one per line) or a JSON list.

    Parameters
    ----------
    path : str or path-like
        The names file.

    Returns
    -------
    tuple of str
        Names in class-index order.

    Raises
    ------
    ClassDefinitionError
        Unreadable file, malformed JSON, empty or duplicate names.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> names = pathlib.Path(tempfile.mkdtemp()) / "names.txt"
    >>> _ = names.write_text("road\\n# comment\\ncar\\n")
    >>> load_class_names(names)
    ('road', 'car')
    """
    path = Path(path)
    what = "the class names file"
    text = read_text(path, error=ClassDefinitionError, what=what)
    if text.lstrip().startswith("["):
        loaded = parse_document(text, path=path, error=ClassDefinitionError, what=what, toml=False)
        if not isinstance(loaded, list) or not all(isinstance(name, str) for name in loaded):
            raise ClassDefinitionError(
                f"{path}: expected a JSON list of strings; write one name per class."
            )
        names = tuple(name.strip() for name in loaded)
    else:
        names = tuple(
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")
        )
    return validate_class_names(names, source=str(path))


def validate_class_names(names: Sequence[str], source: str) -> tuple[str, ...]:
    """Check that names are non-empty, unique and not purely numeric.

    Numeric names would be ambiguous where a class may be given by id or name
    (``iou[3]``), so they are refused.

    Examples
    --------
    >>> validate_class_names(["road", "car"], "names.txt")
    ('road', 'car')
    """
    if not names:
        raise ClassDefinitionError(f"{source}: no class names found; write one name per class.")
    seen: set[str] = set()
    for index, name in enumerate(names):
        if not name:
            raise ClassDefinitionError(f"{source}: class {index} has an empty name.")
        if name.isdigit():
            raise ClassDefinitionError(
                f"{source}: class {index} is named {name!r}; names must not be plain "
                "numbers (they would be confused with class ids)."
            )
        if name in seen:
            raise ClassDefinitionError(
                f"{source}: class name {name!r} appears twice; names must be unique."
            )
        seen.add(name)
    return tuple(names)


def resolve_class(reference: str, names: Sequence[str]) -> int:
    """Turn a class name or id into a class index.

    Parameters
    ----------
    reference : str
        A class name, or a decimal id. Names match exactly, else without
        regard to case when that picks exactly one class.
    names : sequence of str
        The class names, in index order.

    Returns
    -------
    int

    Raises
    ------
    UsageError
        Unknown name or id out of range; the message lists the valid names.

    Examples
    --------
    >>> resolve_class("car", ["road", "car"]), resolve_class("0", ["road", "car"])
    (1, 0)
    >>> resolve_class("Car", ["road", "car"])
    1
    >>> resolve_class("raod", ["road", "car"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.UsageError: unknown class 'raod' (did you mean 'road'?); use a class id ...
    """
    if reference in names:
        return list(names).index(reference)
    if reference.isdigit() and int(reference) < len(names):
        return int(reference)
    folded = [index for index, name in enumerate(names) if name.casefold() == reference.casefold()]
    if len(folded) == 1:
        return folded[0]
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    raise UsageError(
        f"unknown class {reference!r}{did_you_mean(reference, names)}; use a class id "
        f"0..{len(names) - 1} or one of: {shown}."
    )


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string.

    Examples
    --------
    >>> did_you_mean("mdise", ["miou", "mdice"])
    " (did you mean 'mdice'?)"
    >>> did_you_mean("xyz", ["miou"])
    ''
    """
    import difflib  # only a misspelt name pays for it

    close = difflib.get_close_matches(word.casefold(), [c.casefold() for c in choices], n=1)
    if not close:
        return ""
    original = next(c for c in choices if c.casefold() == close[0])
    return f" (did you mean {original!r}?)"


@dataclass(frozen=True)
class ClassDefinition:
    """Classes, and how raw mask values and colours become them.

    Attributes
    ----------
    names : tuple of str
        One name per class, in class-id order.
    value_to_class : mapping of int to int, or None
        Raw mask value -> class id (many-to-one allowed). ``None``: the raw
        value is the class id plus ``offset``.
    ignore_values : frozenset of int
        Raw values that mark unlabelled pixels.
    unmapped : {"error", "ignore"}
        What a raw value that is neither a class value nor ignored is.
    offset : int
        Raw value of class 0 when there is no label map (1 for ADE20K).
    value_colors : mapping of RGB to int
        Colour -> raw value, for colour masks.
    class_id_ignore : frozenset of int
        Ignore values of masks that already hold class ids (``--class-ids``).
    name, description, source : str
        What the definition is, for reports and ``segeval presets``.
    categories : tuple of str
        One category name per class ("" for none), or empty when the definition
        declares no categories; classes of a category are also scored merged
        (Cityscapes' category IoU).
    average_instance_sizes : tuple of float
        Per class, the average instance size in pixels for classes with
        instances (NaN for the others), or empty: the weights of iIoU.
    category_values : mapping of str to tuple of int
        Raw values ignored in evaluation that still belong to a category (for
        the category iIoU: Cityscapes' caravan and trailer are vehicles).
    """

    names: tuple[str, ...]
    value_to_class: Mapping[int, int] | None = None
    ignore_values: frozenset[int] = frozenset({DEFAULT_IGNORE})
    unmapped: Unmapped = "error"
    offset: int = 0
    value_colors: Mapping[RGB, int] = field(default_factory=dict)
    class_id_ignore: frozenset[int] = frozenset({DEFAULT_IGNORE})
    class_colors: Mapping[RGB, int] = field(default_factory=dict)
    name: str = ""
    description: str = ""
    source: str = ""
    categories: tuple[str, ...] = ()
    average_instance_sizes: tuple[float, ...] = ()
    category_values: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.names)

    @property
    def has_label_map(self) -> bool:
        """True when raw values differ from class ids (a table or an offset)."""
        return self.value_to_class is not None or self.offset != 0

    def mapping(
        self, *, class_ids: bool = False, ignore: Sequence[int] | None = None
    ) -> LabelMapping:
        """The label mapping for masks holding raw values, or class ids.

        Parameters
        ----------
        class_ids : bool, default False
            The masks already hold class ids (Cityscapes trainIds, ADE20K 0..149):
            the label map is not applied and ``class_id_ignore`` marks unlabelled.
        ignore : sequence of int, optional
            Replace the ignore values (``--ignore-index`` given explicitly).
        """
        if class_ids:
            return LabelMapping(
                self.num_classes,
                ignore_values=self.class_id_ignore if ignore is None else ignore,
            )
        return LabelMapping(
            self.num_classes,
            ignore_values=self.ignore_values if ignore is None else ignore,
            value_to_class=self.value_to_class,
            unmapped=self.unmapped,
            offset=self.offset,
        )

    def color_table(self, *, class_ids: bool = False) -> ColorTable | None:
        """Colours -> raw values (or class ids), or None when no colours are known."""
        colors = self.class_colors if class_ids else self.value_colors
        return ColorTable(colors) if colors else None

    def to_dict(self) -> dict[str, Any]:
        """The definition in the file format :func:`parse_class_definition` reads."""
        values: dict[int, list[int]] = {index: [] for index in range(self.num_classes)}
        if self.value_to_class is not None:
            for raw, index in sorted(self.value_to_class.items()):
                values[index].append(raw)
        colors = {index: list(color) for color, index in self.class_colors.items()}
        classes = []
        for index, class_name in enumerate(self.names):
            entry: dict[str, Any] = {"id": index, "name": class_name}
            if self.value_to_class is not None:
                entry["values"] = values[index]
            if index in colors:
                entry["color"] = colors[index]
            if self.categories and self.categories[index]:
                entry["category"] = self.categories[index]
            sizes = self.average_instance_sizes
            if sizes and not math.isnan(sizes[index]):
                entry["average_instance_size"] = sizes[index]
            classes.append(entry)
        class_colors = {c for c, index in self.class_colors.items() if index < self.num_classes}
        document: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "classes": classes,
            "ignore": sorted(self.ignore_values - ({0} if self.offset == 1 else set())),
            "ignore_colors": [list(c) for c in self.value_colors if c not in class_colors],
            "unmapped": self.unmapped,
            "class_id_ignore": sorted(self.class_id_ignore),
        }
        if self.offset == 1:
            document["reduce_zero_label"] = True
        if self.category_values:
            document["category_values"] = {k: list(v) for k, v in self.category_values.items()}
        return document


def load_class_definition(path: str | os.PathLike[str]) -> ClassDefinition:
    """Read a class definition file (JSON, or TOML by its ``.toml`` suffix).

    Raises
    ------
    ClassDefinitionError
        Unreadable or malformed file; the message names the file and the field.
    """
    path = Path(path)
    document = read_document(path, error=ClassDefinitionError, what="the class definition")
    return parse_class_definition(document, source=str(path))


def load_preset(name: str) -> ClassDefinition:
    """A built-in class definition (``cityscapes``, ``ade20k``, ``pascal-voc``, ``camvid``).

    Examples
    --------
    >>> voc = load_preset("pascal-voc")
    >>> voc.num_classes, voc.names[15], sorted(voc.ignore_values)
    (21, 'person', [255])
    """
    if name not in PRESET_NAMES:
        raise UsageError(f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}.")
    from importlib import resources  # loads tempfile and zipfile: presets only

    text = (
        resources.files("segeval.inputs.presets")
        .joinpath(f"{name}.json")
        .read_text(encoding="utf-8")
    )
    return parse_class_definition(json.loads(text), source=f"preset {name}")


def load_definition(
    path: str | os.PathLike[str] | None = None, preset: str | None = None
) -> ClassDefinition | None:
    """The class definition named by ``--classes FILE`` or ``--preset NAME``, if any.

    Raises
    ------
    UsageError
        Both were given.

    Examples
    --------
    >>> load_definition(preset="camvid").num_classes
    11
    >>> load_definition() is None
    True
    """
    if path is not None and preset is not None:
        raise UsageError("give either --classes or --preset, not both.")
    if path is not None:
        return load_class_definition(path)
    if preset is not None:
        return load_preset(preset)
    return None


def _color(value: Any, where: str) -> RGB:
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        try:
            return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
        except ValueError:
            pass
    if (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(isinstance(v, int) and 0 <= v <= 255 for v in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise ClassDefinitionError(
        f"{where}: a colour is [r, g, b] with integers 0..255 or '#rrggbb', got {value!r}."
    )


def _positive(value: Any, where: str) -> float:
    """An average instance size: a positive number, or NaN when absent."""
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ClassDefinitionError(
            f"{where}: average_instance_size must be a positive number, got {value!r}."
        )
    return float(value)


def _int_list(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ClassDefinitionError(f"{where}: expected a list of integers, got {value!r}.")
    return list(value)


def parse_class_definition(document: Any, source: str = "class definition") -> ClassDefinition:
    """Build a ClassDefinition from its JSON/TOML document.

    The document::

        {
          "name": "my-dataset",                      # optional
          "classes": [                               # class ids 0..C-1, each once
            {"id": 0, "name": "road", "color": [128, 64, 128], "values": [7],
             "category": "flat"},                    # optional: scored merged too
            ...
          ],
          "label_map": {"7": 0, "8": 1},             # optional: raw value -> class id
          "ignore": [255],                           # raw values marking unlabelled pixels
          "ignore_colors": [[0, 0, 0]],              # colours of unlabelled pixels
          "unmapped": "error",                       # or "ignore": raw values not listed
          "reduce_zero_label": false,                # raw = id + 1 and 0 ignored (ADE20K)
          "class_id_ignore": [255]                   # ignore values under --class-ids
        }

    ``values`` (per class) and ``label_map`` both give raw values; without
    either, a class's raw value is its id. A class ``color`` is the colour of its
    first raw value.

    Examples
    --------
    >>> definition = parse_class_definition(
    ...     {"classes": [{"id": 0, "name": "bg", "values": [0, 9]},
    ...                  {"id": 1, "name": "car", "values": [4]}]}
    ... )
    >>> dict(definition.value_to_class)
    {0: 0, 9: 0, 4: 1}
    """
    if not isinstance(document, Mapping):
        raise ClassDefinitionError(f"{source}: expected an object with a 'classes' list.")
    known = {
        "name", "description", "source", "classes", "label_map", "ignore", "ignore_colors",
        "unmapped", "reduce_zero_label", "class_id_ignore", "category_values",
    }  # fmt: skip
    _refuse_unknown_fields(document, known, source)
    entries = document.get("classes")
    if not isinstance(entries, list) or not entries:
        raise ClassDefinitionError(f"{source}: 'classes' must be a non-empty list of classes.")
    by_id: dict[int, Mapping[str, Any]] = {}
    for position, entry in enumerate(entries):
        where = f"{source}: classes[{position}]"
        if not isinstance(entry, Mapping):
            raise ClassDefinitionError(f"{where}: each class needs at least a 'name'.")
        _refuse_unknown_fields(entry, _CLASS_FIELDS, where)
        if "name" not in entry:
            raise ClassDefinitionError(f"{where}: each class needs at least a 'name'.")
        class_id = entry.get("id", position)
        if not isinstance(class_id, int) or isinstance(class_id, bool) or class_id < 0:
            raise ClassDefinitionError(f"{where}: 'id' must be a non-negative integer.")
        if class_id in by_id:
            raise ClassDefinitionError(f"{where}: class id {class_id} appears twice.")
        by_id[class_id] = entry
    if sorted(by_id) != list(range(len(by_id))):
        missing = sorted(set(range(max(by_id) + 1)) - set(by_id))
        raise ClassDefinitionError(
            f"{source}: class ids must run 0..{len(by_id) - 1} without gaps; "
            f"missing {missing[:10]}."
        )
    names = validate_class_names([str(by_id[i]["name"]).strip() for i in range(len(by_id))], source)

    reduce_zero_label = bool(document.get("reduce_zero_label", False))
    offset = 1 if reduce_zero_label else 0
    ignore_values = set(_int_list(document.get("ignore", [DEFAULT_IGNORE]), f"{source}: ignore"))
    if reduce_zero_label:
        ignore_values.add(0)
    unmapped = document.get("unmapped", "error")
    if unmapped not in ("error", "ignore"):
        raise ClassDefinitionError(f"{source}: 'unmapped' must be 'error' or 'ignore'.")

    value_to_class: dict[int, int] = {}
    for index in range(len(names)):
        if "values" in by_id[index]:
            for raw in _int_list(
                by_id[index]["values"], f"{source}: class {names[index]!r} values"
            ):
                _assign(value_to_class, raw, index, source)
    label_map = document.get("label_map", {})
    if not isinstance(label_map, Mapping):
        raise ClassDefinitionError(f"{source}: 'label_map' must map raw values to class ids.")
    for raw_text, index in label_map.items():
        try:
            raw = int(raw_text)
        except ValueError:
            raise ClassDefinitionError(
                f"{source}: label_map key {raw_text!r} is not an integer value."
            ) from None
        if not isinstance(index, int) or not 0 <= index < len(names):
            raise ClassDefinitionError(
                f"{source}: label_map sends {raw} to {index!r}, not a class id 0..{len(names) - 1}."
            )
        _assign(value_to_class, raw, index, source)
    if value_to_class and reduce_zero_label:
        raise ClassDefinitionError(
            f"{source}: use either reduce_zero_label or explicit values, not both."
        )
    clash = sorted(ignore_values & set(value_to_class))
    if clash:
        raise ClassDefinitionError(
            f"{source}: value {clash[0]} is both ignored and a class value; keep one."
        )
    table = value_to_class or None
    if table is not None:
        unreachable = [names[i] for i in range(len(names)) if i not in table.values()]
        if unreachable:
            raise ClassDefinitionError(
                f"{source}: class {unreachable[0]!r} has no raw values; give it 'values' "
                "or a label_map entry (with a label map, every class needs one)."
            )

    value_colors: dict[RGB, int] = {}
    class_colors: dict[RGB, int] = {}
    for index in range(len(names)):
        if "color" not in by_id[index]:
            continue
        color = _color(by_id[index]["color"], f"{source}: class {names[index]!r} color")
        if color in class_colors:
            raise ClassDefinitionError(
                f"{source}: colour {list(color)} is used by classes "
                f"{names[class_colors[color]]!r} and {names[index]!r}; colours must be unique."
            )
        class_colors[color] = index
        if table is None:
            value_colors[color] = index + offset
        else:
            value_colors[color] = min(raw for raw, cls in table.items() if cls == index)
    nonzero_ignore = ignore_values - {0}
    first_ignore = min(nonzero_ignore or ignore_values, default=DEFAULT_IGNORE)
    class_id_ignore = frozenset(
        _int_list(document.get("class_id_ignore", [DEFAULT_IGNORE]), f"{source}: class_id_ignore")
    )
    for raw_color in document.get("ignore_colors", []):
        color = _color(raw_color, f"{source}: ignore_colors")
        if color not in class_colors:  # a class colour wins over an ignore colour
            value_colors[color] = first_ignore
    class_color_table = dict(class_colors)
    for color in value_colors:
        if color not in class_color_table:
            class_color_table[color] = min(class_id_ignore, default=DEFAULT_IGNORE)
    categories = tuple(str(by_id[index].get("category", "")) for index in range(len(names)))
    sizes = tuple(
        _positive(by_id[index].get("average_instance_size"), f"{source}: class {names[index]!r}")
        for index in range(len(names))
    )
    category_values = document.get("category_values", {})
    if not isinstance(category_values, Mapping):
        raise ClassDefinitionError(f"{source}: 'category_values' maps categories to values.")
    return ClassDefinition(
        names=names,
        categories=categories if any(categories) else (),
        average_instance_sizes=sizes if not all(math.isnan(size) for size in sizes) else (),
        category_values={
            str(name): tuple(_int_list(values, f"{source}: category_values.{name}"))
            for name, values in category_values.items()
        },
        value_to_class=table,
        ignore_values=frozenset(ignore_values),
        unmapped=unmapped,
        offset=offset,
        value_colors=value_colors,
        class_id_ignore=class_id_ignore,
        class_colors=class_color_table,
        name=str(document.get("name", "")),
        description=str(document.get("description", "")),
        source=source,
    )


#: The fields of one class in a class definition.
_CLASS_FIELDS = frozenset({"id", "name", "color", "values", "category", "average_instance_size"})


def _refuse_unknown_fields(document: Mapping[str, Any], known: Collection[str], where: str) -> None:
    """A misspelt field ("colour") would silently do nothing: refuse it, with a suggestion."""
    unknown = sorted(str(key) for key in set(document) - set(known))
    if unknown:
        raise ClassDefinitionError(
            f"{where}: unknown field {unknown[0]!r}{did_you_mean(unknown[0], sorted(known))}; "
            f"known fields: {', '.join(sorted(known))}."
        )


def _assign(table: dict[int, int], raw: int, index: int, source: str) -> None:
    if raw in table and table[raw] != index:
        raise ClassDefinitionError(
            f"{source}: raw value {raw} is given to two classes ({table[raw]} and {index})."
        )
    table[raw] = index
