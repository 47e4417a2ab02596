"""Where ``batch --output-dir`` keeps each submission's result, and ``--resume`` finds it.

One JSON file per submission: its full score report (``NAME.json``) or its
reason for being invalid (``NAME.invalid.json``), with a ``batch`` block holding
the digests of the settings and of the submission's content. A stored result is
reused only when both digests match the current run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from segeval.errors import SegevalError
from segeval.leaderboard import SubmissionResult
from segeval.outputs.atomic import write_text_atomic
from segeval.report import Report

__all__ = ["load_stored", "store_result"]


def _record_path(output_dir: Path, name: str, status: str) -> Path:
    return output_dir / (f"{name}.json" if status == "ok" else f"{name}.invalid.json")


def load_stored(
    result: SubmissionResult, output_dir: Path, settings_digest: str, content_digest: str
) -> bool:
    """Fill ``result`` from a stored result made with these settings from this content.

    Returns
    -------
    bool
        True when a stored result was reused (``result.resumed`` is then set).
    """
    for status in ("ok", "invalid"):
        path = _record_path(output_dir, result.name, status)
        if not path.is_file():
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            batch = document["batch"]
            if (
                batch["settings_digest"] != settings_digest
                or batch["submission_digest"] != content_digest
            ):
                return False
            if status == "ok":
                result.report = Report.from_dict(document)
            else:
                result.status, result.reason = "invalid", str(document["reason"])
                result.errors = int(document["errors"])
            result.skipped_files = int(batch.get("skipped_files", 0))
            result.resumed = True
            return True
        except (OSError, ValueError, KeyError, TypeError, SegevalError):
            return False  # unreadable or older: score it again
    return False


def store_result(
    result: SubmissionResult, output_dir: Path, settings_digest: str, content_digest: str
) -> None:
    """Write a submission's result atomically (and drop its stale opposite)."""
    if result.resumed:
        return
    batch = {
        "submission": result.name,
        "source": result.source,
        "settings_digest": settings_digest,
        "submission_digest": content_digest,
        "skipped_files": result.skipped_files,
    }
    if result.status == "ok":
        assert result.report is not None
        document: dict[str, Any] = result.report.to_dict()
    else:
        document = {"status": "invalid", "reason": result.reason, "errors": result.errors}
    document["batch"] = batch
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    write_text_atomic(_record_path(output_dir, result.name, result.status), text)
    stale_status = "invalid" if result.status == "ok" else "ok"
    _record_path(output_dir, result.name, stale_status).unlink(missing_ok=True)
