"""Class names: loading them from files and resolving class references.

A class names file is either plain text, one name per line (line ``i`` names
class ``i``; blank lines and lines starting with ``#`` are skipped), or a JSON
list of strings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from segeval.errors import ClassDefinitionError, UsageError

__all__ = ["default_class_names", "load_class_names", "resolve_class", "validate_class_names"]


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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ClassDefinitionError(f"{path}: cannot read the class names file ({err}).") from err
    if text.lstrip().startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as err:
            raise ClassDefinitionError(
                f"{path}: invalid JSON ({err.msg} at line {err.lineno}); write a JSON "
                'list of names such as ["road", "car"] or one name per line.'
            ) from err
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
        A class name (exact) or a decimal id.
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
    """
    if reference in names:
        return list(names).index(reference)
    if reference.isdigit() and int(reference) < len(names):
        return int(reference)
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    raise UsageError(
        f"unknown class {reference!r}; use a class id 0..{len(names) - 1} or one of: {shown}."
    )
