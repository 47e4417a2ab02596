"""Where ``batch --output-dir`` keeps each submission's result, and ``--resume`` finds it.

One JSON file per submission: its full score report (``NAME.json``) or its
reason for being invalid (``invalid/NAME.json``: a folder of its own, so that no
submission's name can collide with another's record), with a ``batch`` block
holding the digests of the settings (including the ground truth's content) and
of the submission's content, and, with per-image aggregation, every image's
counts. A stored result is reused only when both digests match the current run,
and then only its counts are trusted: every metric is recomputed from them and a
record whose numbers disagree with its counts is scored again. A stored file is
read within the same limits as any JSON input (the folder may have been
tampered with), and its compressed counts are never inflated past the size
their image keys and class count imply.

``output_dir`` may be a prefix in an object store: each record is then one
object, uploaded whole (:mod:`segeval.outputs.atomic`), and found again by its
key.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from segeval.core.metrics import included_classes
from segeval.core.per_image import ImageCountSpool, ImageMeans, image_results
from segeval.errors import SegevalError
from segeval.inputs.documents import MAX_DOCUMENT_BYTES, parse_document, read_document
from segeval.io.storage import Location, RemotePath
from segeval.leaderboard import SubmissionResult
from segeval.outputs.atomic import write_text_atomic
from segeval.report import Report
from segeval.wording import counted

__all__ = ["load_stored", "store_result"]


#: Schema name of an invalid submission's record (``invalid/NAME.json``).
INVALID_SUBMISSION_SCHEMA = "segeval/invalid-submission/v1"


def _record_path(output_dir: Location, name: str, status: str) -> Location:
    folder = output_dir if status == "ok" else output_dir / "invalid"
    return folder / f"{name}.json"


def _exists(path: Location) -> bool:
    return path.exists() if isinstance(path, RemotePath) else path.is_file()


def _read_record(path: Location) -> Any:
    """A stored record, within the limits of any JSON input (it may have been tampered with)."""
    what = "the stored result"
    if isinstance(path, Path):
        return read_document(path, error=SegevalError, what=what, toml=False)
    text = path.read_bytes(max_bytes=MAX_DOCUMENT_BYTES).decode("utf-8")
    return parse_document(text, path=str(path), error=SegevalError, what=what, toml=False)


def _remove(path: Location) -> None:
    if isinstance(path, RemotePath):
        path.remove()
    else:
        path.unlink(missing_ok=True)


ImageRows = list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]


def _encode_rows(rows: ImageRows) -> dict[str, Any]:
    stacked = {
        name: np.stack([row[i] for row in rows]).astype("<u8") if rows else np.zeros((0, 0))
        for i, name in ((1, "tp"), (2, "fp"), (3, "fn"))
    }
    return {
        "keys": [row[0] for row in rows],
        "num_classes": int(stacked["tp"].shape[1]) if rows else 0,
        **{
            name: base64.b64encode(zlib.compress(values.astype("<u8").tobytes())).decode()
            for name, values in stacked.items()
        },
    }


def _decode_rows(data: Any, num_classes: int) -> ImageRows:
    keys = [str(key) for key in data["keys"]]
    size = int(data["num_classes"])
    if size not in (0, num_classes):
        raise ValueError(
            f"image counts for {counted(size, 'class')} in a {num_classes}-class report"
        )
    expected = 8 * size * len(keys)
    arrays = []
    for name in ("tp", "fp", "fn"):
        # Never inflate more than the keys and classes imply: a record may be a zip bomb.
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.b64decode(data[name]), expected + 1)
        if len(raw) != expected or not inflater.eof:
            raise ValueError(f"batch.image_counts.{name} does not hold {len(keys)} x {size} counts")
        arrays.append(np.frombuffer(raw, dtype="<u8").reshape(len(keys), size).astype(np.uint64))
    return [(key, arrays[0][i], arrays[1][i], arrays[2][i]) for i, key in enumerate(keys)]


def _per_image_recomputed(report: Report, rows: ImageRows) -> Report:
    """The report's per-image means recomputed from the stored image counts."""
    options = report.config.metric_options
    size = report.config.num_classes
    means = ImageMeans(included_classes(size, options))
    with ImageCountSpool() as spool:
        for row in rows:
            spool.append(*row)
        for image in image_results(spool, size, options):
            means.add(image)
    if len(rows) != report.num_images:
        raise ValueError("the stored image counts do not cover every image")
    summary = dict(report.summary)
    for name, value in means.summary().items():
        stored = summary.get(name, math.nan)
        if not (math.isnan(stored) and math.isnan(value)) and not math.isclose(
            stored, value, rel_tol=1e-9, abs_tol=1e-12
        ):
            raise ValueError(f"summary.{name} disagrees with the stored image counts")
        summary[name] = value
    classes = tuple(
        replace(
            result,
            image_iou=float(means.iou[index]),
            image_dice=float(means.dice[index]),
            image_iou_images=int(means.iou_images[index]),
            image_dice_images=int(means.dice_images[index]),
        )
        for index, result in enumerate(report.classes)
    )
    return replace(report, summary=summary, classes=classes)


def load_stored(
    result: SubmissionResult, output_dir: Location, settings_digest: str, content_digest: str
) -> bool:
    """Fill ``result`` from a stored result made with these settings from this content.

    Returns
    -------
    bool
        True when a stored result was reused (``result.resumed`` is then set).
    """
    for status in ("ok", "invalid"):
        path = _record_path(output_dir, result.name, status)
        try:
            if not _exists(path):
                continue
            document = _read_record(path)
            batch = document["batch"]
            if (
                batch["settings_digest"] != settings_digest
                or batch["submission_digest"] != content_digest
            ):
                return False
            if status == "ok":
                # Counts are data; metrics are recomputed from them, never trusted.
                report = Report.from_dict(document).recomputed()
                if report.config.per_image:
                    rows = _decode_rows(batch["image_counts"], report.config.num_classes)
                    report = _per_image_recomputed(report, rows)
                result.report = report
            else:
                result.status, result.reason = "invalid", str(document["reason"])
                result.errors = int(document["errors"])
            result.skipped_files = int(batch.get("skipped_files", 0))
            result.resumed = True
            return True
        except (OSError, ValueError, KeyError, TypeError, zlib.error, SegevalError):
            return False  # unreadable, older, forged or damaged: score it again
    return False


def store_result(
    result: SubmissionResult,
    output_dir: Location,
    settings_digest: str,
    content_digest: str,
    image_rows: ImageRows | None = None,
) -> None:
    """Write a submission's result atomically (and drop its stale opposite).

    ``image_rows`` (each image's key, TP, FP, FN) are stored with per-image
    aggregation so that a resumed run can recompute the means over images.
    """
    if result.resumed:
        return
    batch = {
        "submission": result.name,
        "source": result.source,
        "settings_digest": settings_digest,
        "submission_digest": content_digest,
        "skipped_files": result.skipped_files,
    }
    if image_rows is not None:
        batch["image_counts"] = _encode_rows(image_rows)
    if result.status == "ok":
        assert result.report is not None
        document: dict[str, Any] = result.report.to_dict()
    else:
        document = {
            "schema": INVALID_SUBMISSION_SCHEMA,
            "status": "invalid",
            "reason": result.reason,
            "errors": result.errors,
        }
    document["batch"] = batch
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    path = _record_path(output_dir, result.name, result.status)
    if isinstance(path, Path):
        path.parent.mkdir(exist_ok=True)
    write_text_atomic(path, text)
    stale_status = "invalid" if result.status == "ok" else "ok"
    _remove(_record_path(output_dir, result.name, stale_status))
