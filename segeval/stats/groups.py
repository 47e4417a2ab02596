"""Assigning images to groups for a cluster bootstrap.

Frames of one video sequence or slices of one patient are not independent
samples; the cluster bootstrap resamples whole groups. A group assignment is a
plain ``dict`` from image key (the pairing key: relative path without
extension) to group name, built from a regular expression over the keys
(:func:`groups_from_regex`) or from a two-column CSV file
(:func:`groups_from_csv`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from segeval.errors import UsageError, format_path_list
from segeval.inputs.documents import read_text
from segeval.wording import counted, have

__all__ = ["CAMVID_SEQUENCE", "groups_from_csv", "groups_from_regex", "require_groups"]

#: CamVid's sequence: the file name's prefix before the first ``_`` (``0001TP_008550``).
CAMVID_SEQUENCE = r"^([^_/]+)_"

_HEADER_KEYS = {"key", "image", "file", "filename", "path"}


def groups_from_regex(keys: Iterable[str], pattern: str) -> dict[str, str]:
    """Group each key by a regular expression searched in it.

    Parameters
    ----------
    keys : iterable of str
        Image keys.
    pattern : str
        Searched with :func:`re.search`; the group is the first capture group
        when the pattern has one, else the whole match.

    Returns
    -------
    dict of str to str
        Key to group.

    Raises
    ------
    UsageError
        The pattern does not compile, or does not match some keys (all named,
        up to ten).

    Examples
    --------
    >>> groups_from_regex(["0001TP_008550", "Seq05VD_f00000"], CAMVID_SEQUENCE)
    {'0001TP_008550': '0001TP', 'Seq05VD_f00000': 'Seq05VD'}
    >>> groups_from_regex(["patient7/slice_003"], r"patient\\d+")
    {'patient7/slice_003': 'patient7'}
    """
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise UsageError(f"--group-by {pattern!r} is not a regular expression: {err}.") from err
    groups: dict[str, str] = {}
    unmatched: list[str] = []
    for key in keys:
        match = compiled.search(key)
        if match is None:
            unmatched.append(key)
            continue
        group = match.group(1) if compiled.groups else match.group(0)
        if group is None:
            unmatched.append(key)
            continue
        groups[key] = group
    if unmatched:
        raise UsageError(
            f"--group-by {pattern!r} does not match {counted(len(unmatched), 'image key')} "
            f"({format_path_list(unmatched)}); every image needs a group: widen the pattern "
            "or pass a CSV mapping."
        )
    return groups


def groups_from_csv(path: str | Path, keys: Sequence[str] | None = None) -> dict[str, str]:
    """Read ``key,group`` rows from a CSV file.

    A first row whose first cell is ``key``, ``image``, ``file``, ``filename`` or
    ``path`` is a header and skipped. Extra columns are ignored.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    keys : sequence of str, optional
        The image keys that need a group; missing ones are an error.

    Returns
    -------
    dict of str to str
        Key to group.

    Raises
    ------
    UsageError
        Unreadable file, a row with fewer than two cells, a key given two
        different groups, or keys without a group.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     mapping = Path(folder) / "groups.csv"
    ...     _ = mapping.write_text("image,group\\na,p1\\nb,p1\\nc,p2\\n")
    ...     groups_from_csv(mapping, keys=["a", "c"])
    {'a': 'p1', 'b': 'p1', 'c': 'p2'}
    """
    source = Path(path)
    text = read_text(source, error=UsageError, what="the group mapping")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise UsageError(f"{source}: cannot read the group mapping: {err}.") from err
    if rows and rows[0] and rows[0][0].strip().lower() in _HEADER_KEYS:
        rows = rows[1:]
        first_line = 2
    else:
        first_line = 1
    groups: dict[str, str] = {}
    for line, row in enumerate(rows, start=first_line):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise UsageError(
                f"{source}:{line}: expected 'image key,group', found {','.join(row)!r}."
            )
        key, group = row[0].strip(), row[1].strip()
        if groups.get(key, group) != group:
            raise UsageError(
                f"{source}:{line}: image {key!r} is in group {groups[key]!r} and {group!r}; "
                "give each image one group."
            )
        groups[key] = group
    if keys is not None:
        require_groups(keys, groups, source=str(source))
    return groups


def require_groups(keys: Sequence[str], groups: Mapping[str, str], source: str = "groups") -> None:
    """Raise unless every key has a group.

    Raises
    ------
    UsageError
        Naming the keys without a group (up to ten).

    Examples
    --------
    >>> require_groups(["a"], {"a": "g"})
    """
    missing = [key for key in keys if key not in groups]
    if missing:
        raise UsageError(
            f"{source}: {counted(len(missing), 'image key')} {have(len(missing))} no group "
            f"({format_path_list(missing)}); "
            "keys are relative paths without extension, as in the report."
        )
