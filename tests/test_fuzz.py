"""Property-based fuzzing of the readers strangers' bytes reach (issue 12).

Real files (every mask format segeval reads, every archive format a
submission may be) are mutated by hypothesis: bytes overwritten, cut, inserted
or repeated. Whatever comes out, a reader either returns a valid mask (a
non-empty 2-D integer array) or raises its one error type; the archive reader
leaves nothing behind when it refuses. Limits are small so that no mutation can
make a reader allocate much, and example counts keep this to a few seconds.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from segeval.errors import MaskReadError, UnsafeInputError
from segeval.inputs.pairing import PairingOptions
from segeval.inputs.submissions import ExtractionLimits, Submission, prepare_submission
from segeval.io import ReadOptions, decode_mask

LABELS = np.random.default_rng(3).integers(0, 4, size=(9, 11)).astype(np.uint8)
LIMITS = ReadOptions(max_pixels=100_000, max_bytes=1 << 20)


def _image(mode: str, file_format: str) -> bytes:
    labels = LABELS.astype(np.uint16) * 300 if mode == "I;16" else LABELS
    image = Image.fromarray(labels)
    if mode == "P":
        image = image.convert("P")
    elif mode == "1":
        image = Image.fromarray(LABELS > 1)
    buffer = io.BytesIO()
    image.save(buffer, format=file_format)
    return buffer.getvalue()


def _array(kind: str) -> bytes:
    buffer = io.BytesIO()
    if kind == "npy":
        np.save(buffer, LABELS.astype(np.int32))
    else:
        np.savez_compressed(buffer, labels=LABELS)
    return buffer.getvalue()


MASKS = {
    "png L": _image("L", "PNG"),
    "png P": _image("P", "PNG"),
    "png 1": _image("1", "PNG"),
    "png I;16": _image("I;16", "PNG"),
    "tiff": _image("L", "TIFF"),
    "bmp": _image("L", "BMP"),
    "npy": _array("npy"),
    "npz": _array("npz"),
}


@st.composite
def mutated(draw: st.DrawFn, originals: dict[str, bytes]) -> bytes:
    """A real file with a few random edits: overwrite, cut, insert, repeat."""
    data = bytearray(originals[draw(st.sampled_from(sorted(originals)))])
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, max(0, len(data) - 1)))
        edit = draw(st.sampled_from(["overwrite", "cut", "insert", "repeat"]))
        if edit == "overwrite":
            data[position : position + 4] = draw(st.binary(min_size=1, max_size=4))
        elif edit == "cut":
            del data[position:]
        elif edit == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        else:
            data[position:position] = data[position : position + draw(st.integers(1, 64))]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(MASKS))
def test_mask_readers_return_a_mask_or_one_error(data: bytes) -> None:
    try:
        labels = decode_mask(data, Path("fuzzed.png"), LIMITS)
    except MaskReadError as err:
        refused: MaskReadError | None = err
    else:
        refused = None
    if refused is not None:  # one line naming the file
        assert refused.message.startswith("fuzzed.png")
        assert "\n" not in refused.message
        return
    assert labels.ndim == 2
    assert labels.size > 0
    assert np.issubdtype(labels.dtype, np.integer)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("team/a.png", MASKS["png L"])
        archive.writestr("team/b.png", MASKS["png P"])
        archive.writestr("team/notes.txt", "hello")
    return buffer.getvalue()


def _tar(mode: Literal["w", "w:gz"]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name in ("a.png", "b.png"):
            info = tarfile.TarInfo(f"team/{name}")
            info.size = len(MASKS["png L"])
            archive.addfile(info, io.BytesIO(MASKS["png L"]))
    return buffer.getvalue()


ARCHIVES = {"zip": _zip(), "tar": _tar("w"), "tar.gz": _tar("w:gz")}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(ARCHIVES)), st.data())
def test_archive_reader_extracts_within_limits_or_refuses_cleanly(
    kind: str, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory(prefix="segeval-fuzz-") as folder:
        root = Path(folder)
        archive = root / f"team.{kind}"
        archive.write_bytes(data.draw(mutated({kind: ARCHIVES[kind]})))
        scratch = root / "scratch"
        scratch.mkdir()
        submission = Submission("team", archive, "zip" if kind == "zip" else "tar")
        limits = ExtractionLimits(1 << 20, 1 << 16, extract_bytes=1 << 18)
        try:
            prepared = prepare_submission(
                submission,
                scratch,
                gt_keys=frozenset({"a", "b"}),
                pairing=PairingOptions(),
                limits=limits,
            )
        except UnsafeInputError as err:
            refused: UnsafeInputError | None = err
        else:
            refused = None
        if refused is not None:
            assert refused.message.startswith(f"team.{kind}: ")
            assert not scratch.exists()  # nothing half-extracted stays
            return
        written = [path for path in scratch.rglob("*") if path.is_file()]
        assert sum(path.stat().st_size for path in written) <= 1 << 18
        assert all(path.resolve().is_relative_to(scratch.resolve()) for path in written)
        assert prepared.folder == scratch
