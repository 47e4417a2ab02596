"""Read the structured files users give (JSON and TOML), within limits.

Class files, thresholds and reports given to ``compare`` are parsed here, and
nowhere else, so that every one of them is held to the same rules before any
mask is read:

* only a regular file of at most :data:`MAX_DOCUMENT_BYTES` (through
  :func:`~segeval.io.files.read_regular_file`);
* UTF-8 text;
* at most :data:`MAX_NESTING` levels of arrays and objects (the parsers stop
  cleanly at the interpreter's recursion limit, the depth is checked after);
* integers of at most 4300 digits (Python's own limit, turned into a clean error).

Each caller passes the error class it reports in (``ThresholdError``,
``ClassDefinitionError``, ...) and validates the document's content itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from segeval.errors import SegevalError
from segeval.io.files import read_regular_file

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_NESTING",
    "nesting_depth",
    "parse_document",
    "read_document",
    "read_text",
]

#: Largest JSON or TOML file segeval reads (a 1024-class report is about 12 MB).
MAX_DOCUMENT_BYTES = 64 * 2**20

#: Deepest nesting of arrays and objects (segeval's own files nest 4 levels).
MAX_NESTING = 64


def nesting_depth(document: Any) -> int:
    """How deeply lists and mappings nest in a parsed document (without recursion).

    Examples
    --------
    >>> nesting_depth({"a": [[1], 2]}), nesting_depth(3)
    (3, 0)
    """
    deepest = 0
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in children)
    return deepest


def read_text(path: str | Path, *, error: type[SegevalError], what: str) -> str:
    """The UTF-8 text of a small input file (regular, at most MAX_DOCUMENT_BYTES).

    Raises
    ------
    SegevalError
        Of type ``error``, naming the file.
    """
    path = Path(path)
    data = read_regular_file(
        path, max_bytes=MAX_DOCUMENT_BYTES, error=error, what=what, option=None
    )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(
            f"{path}: {what} is not UTF-8 text ({err.reason} at byte {err.start})."
        ) from err


def parse_document(
    text: str, *, path: str | Path, error: type[SegevalError], what: str, toml: bool
) -> Any:
    """Parse JSON or TOML text within the nesting and number limits.

    Raises
    ------
    SegevalError
        Of type ``error``: invalid syntax, nesting deeper than MAX_NESTING,
        integers too long to convert.

    Examples
    --------
    >>> from segeval.errors import UsageError
    >>> parse_document('{"a": [1, 2]}', path="x.json", error=UsageError, what="it", toml=False)
    {'a': [1, 2]}
    >>> parse_document("[" * 100 + "]" * 100, path="x.json", error=UsageError, what="it",
    ...                toml=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segeval.errors.UsageError: x.json: it nests arrays or objects deeper than 64 levels; ...
    """
    kind = "TOML" if toml else "JSON"
    too_deep = error(
        f"{path}: {what} nests arrays or objects deeper than {MAX_NESTING} levels; "
        "segeval's files never do, so check that it is the right file."
    )
    toml_error: type[Exception] | tuple[()] = ()  # ``except ()`` matches nothing
    if toml:
        import tomllib  # TOML files pay for the parser; JSON ones (and start-up) do not

        toml_error = tomllib.TOMLDecodeError
    try:
        # Both parsers stop at the interpreter's recursion limit with RecursionError.
        document = tomllib.loads(text) if toml else json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{path}: invalid JSON in {what} ({err.msg} at line {err.lineno}).") from err
    except toml_error as err:
        raise error(f"{path}: invalid TOML in {what} ({err}).") from err
    except RecursionError:
        raise too_deep from None
    except ValueError as err:  # an integer of thousands of digits
        raise error(f"{path}: not {kind} segeval can read, in {what} ({str(err)[:80]}).") from err
    if nesting_depth(document) > MAX_NESTING:
        raise too_deep
    return document


def read_document(
    path: str | Path, *, error: type[SegevalError], what: str, toml: bool | None = None
) -> Any:
    """Read and parse a JSON or TOML file (TOML by a ``.toml`` suffix unless ``toml`` says).

    Examples
    --------
    >>> import tempfile
    >>> from segeval.errors import UsageError
    >>> path = Path(tempfile.mkdtemp()) / "t.json"
    >>> _ = path.write_text('{"fail_under": {"miou": 0.5}}')
    >>> read_document(path, error=UsageError, what="the thresholds file")
    {'fail_under': {'miou': 0.5}}
    """
    path = Path(path)
    text = read_text(path, error=error, what=what)
    is_toml = path.suffix.lower() == ".toml" if toml is None else toml
    return parse_document(text, path=path, error=error, what=what, toml=is_toml)
