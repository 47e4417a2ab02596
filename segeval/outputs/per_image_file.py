"""The per-image table as a file: CSV or JSON lines, streamed and atomic.

Rows are written one by one as they arrive (nothing is held for the whole
dataset) into a temporary file beside the destination. Used as a context
manager, the file is renamed into place when the block succeeds and removed on
any exception (:meth:`commit` and :meth:`abort` do the same by hand).

* CSV columns: ``image, scored_pixels, pixel_accuracy, miou, mdice``, then
  ``iou[NAME]`` and ``dice[NAME]`` per class; undefined values are empty cells;
  text cells (image keys) go through :func:`~segeval.render.tables.csv_row`.
  With boundary metrics, the image's means over classes follow (``mean_biou``,
  ``mean_bf``, ``hd``, ``hd95``, ``assd``, ``nsd``, those computed), then
  ``biou[NAME]``, ``bf[NAME]``, ... per class; an infinite distance is ``inf``.
  With instance maps (``--gt-instances``), ``miiou`` and ``iiou[NAME]`` per
  class come last: the image's own iIoU
  (:func:`~segeval.core.instances.image_iiou`).
* JSON lines: one object per image with the same scalars and ``iou`` / ``dice``
  (and ``iiou``) objects keyed by class name; undefined values are ``null``
  (JSON Schema ``segeval/per-image/v1``).

Written in place (stdout for ``-``, ``/dev/stdout``, a pipe), each row is
flushed as it is written, so a reader down the pipe sees it while the run goes on.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from segeval.core.per_image import ImageResult
from segeval.errors import UsageError
from segeval.io.storage import Location
from segeval.numbers import json_value
from segeval.outputs.atomic import AtomicWriter
from segeval.render.tables import csv_row

__all__ = ["PER_IMAGE_FORMATS", "PER_IMAGE_SCHEMA", "PER_IMAGE_SUFFIXES", "PerImageWriter"]

#: File suffix -> format of the per-image table.
PER_IMAGE_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

#: The formats of the per-image table (``--per-image-format``).
PER_IMAGE_FORMATS = ("csv", "jsonl")

#: Schema of one JSON line (``segeval/schemas/per-image-v1.json``); lines carry no field.
PER_IMAGE_SCHEMA = "segeval/per-image/v1"


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


class PerImageWriter:
    """Write per-image rows to ``path`` (format from its suffix).

    Parameters
    ----------
    path : Location
        Destination ``.csv``, ``.jsonl`` or ``.ndjson`` file; its folder must exist.
        Written as :class:`~segeval.outputs.atomic.AtomicWriter` writes (a
        device or pipe in place).
    stream : text stream, optional
        Write the rows to this stream instead (the command line's stdout for ``-``).
    row_format : {"csv", "jsonl"}, optional
        Default: from the suffix of ``path``; CSV for a stream or a path without one
        (``/dev/stdout``).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "images.csv"
    >>> with PerImageWriter(target) as writer:
    ...     writer.begin(["road", "car"])
    ...     writer.write(ImageResult("a", np.array([1.0, np.nan]), np.array([1.0, np.nan]),
    ...                              1.0, 1.0, 1.0, 4))
    >>> print(target.read_text())
    image,scored_pixels,pixel_accuracy,miou,mdice,iou[road],iou[car],dice[road],dice[car]
    a,4,1.0,1.0,1.0,1.0,,1.0,
    <BLANKLINE>
    """

    def __init__(
        self, path: Location, *, stream: IO[str] | None = None, row_format: str | None = None
    ) -> None:
        if row_format is None:
            if stream is not None or (path.suffix == "" and str(path).startswith("/dev/")):
                row_format = "csv"
            elif path.suffix.lower() in PER_IMAGE_SUFFIXES:
                row_format = PER_IMAGE_SUFFIXES[path.suffix.lower()]
            else:
                raise UsageError(
                    f"--per-image-output {path}: unknown suffix {path.suffix!r}; use .csv or "
                    ".jsonl, or pass --per-image-format csv|jsonl."
                )
        if row_format not in PER_IMAGE_FORMATS:
            raise UsageError(f"per-image format {row_format!r}: use one of {PER_IMAGE_FORMATS}.")
        self.format = row_format
        if stream is None and isinstance(path, Path) and not path.parent.is_dir():
            raise UsageError(f"--per-image-output {path}: the folder {path.parent} does not exist.")
        self.path = path
        self._file = AtomicWriter(path, stream=stream)
        # A stream, /dev/stdout, a pipe: a reader sees each row as it is written.
        self._flush_rows = stream is not None or str(path).startswith("/dev/")
        self._names: Sequence[str] = ()
        self._boundary: Sequence[str] = ()
        self._boundary_means: Sequence[str] = ()
        self._iiou = False
        self._header_pending = False

    def _write_csv(self, cells: Sequence[object]) -> None:
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow(csv_row(cells))
        self._file.write(line.getvalue())
        self._written()

    def _written(self) -> None:
        if self._flush_rows:
            self._file.stream.flush()

    def begin(self, class_names: Sequence[str]) -> None:
        """Record the class names; the CSV header follows with the first row.

        The first row says which boundary metrics the rows carry, if any.
        """
        self._names = list(class_names)
        self._header_pending = self.format == "csv"

    def _header(self, result: ImageResult | None) -> None:
        self._boundary = [] if result is None else list(result.boundary)
        self._boundary_means = [] if result is None else list(result.boundary_summary)
        self._iiou = result is not None and result.iiou is not None
        self._write_csv(
            ["image", "scored_pixels", "pixel_accuracy", "miou", "mdice"]
            + [f"iou[{name}]" for name in self._names]
            + [f"dice[{name}]" for name in self._names]
            + list(self._boundary_means)
            + [f"{metric}[{name}]" for metric in self._boundary for name in self._names]
            + (["miiou", *(f"iiou[{name}]" for name in self._names)] if self._iiou else [])
        )
        self._header_pending = False

    def write(self, result: ImageResult) -> None:
        """Append one image's row (with its boundary values when they were computed)."""
        scalars = [result.pixel_accuracy, result.miou, result.mdice]
        if self.format == "csv":
            if self._header_pending:
                self._header(result)
            if list(result.boundary) != list(self._boundary):
                raise UsageError(f"per-image row {result.key}: other boundary metrics than row 1.")
            if (result.iiou is not None) != self._iiou:
                raise UsageError(f"per-image row {result.key}: iIoU in some rows only.")
            values = [*scalars, *result.iou.tolist(), *result.dice.tolist()]
            values += [result.boundary_summary[name] for name in self._boundary_means]
            values += [v for metric in self._boundary for v in result.boundary[metric].tolist()]
            if result.iiou is not None:
                values += [result.miiou, *result.iiou.tolist()]
            self._write_csv([result.key, result.scored_pixels, *values])
            return
        row: dict[str, Any] = {
            "image": result.key,
            "scored_pixels": result.scored_pixels,
            "pixel_accuracy": _number(result.pixel_accuracy),
            "miou": _number(result.miou),
            "mdice": _number(result.mdice),
            "iou": {
                name: _number(v) for name, v in zip(self._names, result.iou.tolist(), strict=True)
            },
            "dice": {
                name: _number(v) for name, v in zip(self._names, result.dice.tolist(), strict=True)
            },
        }
        row.update({name: json_value(v) for name, v in result.boundary_summary.items()})
        for metric, per_class in result.boundary.items():
            row[metric] = {
                name: json_value(v) for name, v in zip(self._names, per_class.tolist(), strict=True)
            }
        if result.iiou is not None:
            row["miiou"] = _number(result.miiou)
            row["iiou"] = {
                name: _number(v) for name, v in zip(self._names, result.iiou.tolist(), strict=True)
            }
        self._file.write(json.dumps(row, allow_nan=False) + "\n")
        self._written()

    def __enter__(self) -> PerImageWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def commit(self) -> None:
        """Move the finished file into place (a CSV with no row still has its header)."""
        if self._header_pending:
            self._header(None)
        self._file.commit()

    def abort(self) -> None:
        """Discard the partial file."""
        self._file.abort()
