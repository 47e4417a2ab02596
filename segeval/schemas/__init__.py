"""JSON Schemas (draft 2020-12) of every JSON document segeval writes.

Each document names its schema in its ``schema`` field (``segeval/score/v1``),
which is the schema's ``$id``; per-image JSON lines carry no field and follow
``segeval/per-image/v1``. The files here are the source; ``schemas/`` at the top
of the repository is a copy (a test keeps them equal), for tools that read a
schema by URL or path.

Examples
--------
>>> sorted(SCHEMA_FILES)[:3]
['segeval/batch/v1', 'segeval/compare/v1', 'segeval/inspect/v1']
>>> load_schema("segeval/score/v1")["$id"]
'segeval/score/v1'
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from segeval.errors import UsageError

__all__ = ["SCHEMA_FILES", "load_schema"]

#: Schema name (the documents' ``schema`` field, the schema's ``$id``) -> file here.
SCHEMA_FILES = {
    "segeval/score/v1": "score-v1.json",
    "segeval/batch/v1": "batch-v1.json",
    "segeval/compare/v1": "compare-v1.json",
    "segeval/inspect/v1": "inspect-v1.json",
    "segeval/loss/v1": "loss-v1.json",
    "segeval/per-image/v1": "per-image-v1.json",
    "segeval/invalid-submission/v1": "invalid-submission-v1.json",
}


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of the documents whose ``schema`` field is ``name``.

    Raises
    ------
    UsageError
        No such schema; the message lists them.
    """
    try:
        filename = SCHEMA_FILES[name]
    except KeyError:
        raise UsageError(
            f"unknown schema {name!r}; segeval writes {', '.join(SCHEMA_FILES)}."
        ) from None
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document
