"""Builders and a runner for the hostile-input suite (``test_hostile.py``).

Every attack is a function that plants one hostile thing in an arena: a ground
truth of three small masks and two honest submissions (``good/``, a folder, and
``fair.zip``). The runner runs a real ``segeval`` process with a private
``TMPDIR``, a time limit and an address-space limit, and measures its peak
memory (``wait4``), so each case proves the bounds the issue asks for.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import stat
import struct
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tests.helpers import REPO, save_mask

RNG = np.random.default_rng(12)
GT = {f"img{i}": RNG.integers(0, 3, size=(12, 16)).astype(np.uint8) for i in range(3)}
HONEST = ("good", "fair")

#: Address space of a case's process: a regression fails loudly instead of
#: taking the shared machine's memory (the measured peaks are far below).
ADDRESS_SPACE = 3 * 2**30
#: Wall-clock limit of one case's process.
CASE_SECONDS = 60.0


def png_bytes(labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(labels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def prediction(gt: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(gt.shape) < accuracy, gt, rng.integers(0, 3, gt.shape))


def honest_predictions(name: str) -> dict[str, np.ndarray]:
    """The masks of an honest submission (``good`` 90 % right, ``fair`` 60 %)."""
    accuracy, seed = {"good": (0.9, 1), "fair": (0.6, 2)}[name]
    return {key: prediction(labels, accuracy, seed) for key, labels in GT.items()}


def build_arena(root: Path) -> tuple[Path, Path]:
    """``root/gt``, ``root/subs`` with the honest submissions; returns both folders."""
    gt, subs = root / "gt", root / "subs"
    for key, labels in GT.items():
        save_mask(gt / f"{key}.png", labels)
    for key, labels in honest_predictions("good").items():
        save_mask(subs / "good" / f"{key}.png", labels)
    with zipfile.ZipFile(subs / "fair.zip", "w") as archive:
        for key, labels in honest_predictions("fair").items():
            archive.writestr(f"fair/{key}.png", png_bytes(labels))
    return gt, subs


def valid_masks(folder: Path, skip: Sequence[str] = ()) -> None:
    """An honest-looking set of prediction masks (except the keys in ``skip``)."""
    for key, labels in GT.items():
        if key not in skip:
            save_mask(folder / f"{key}.png", labels)


def zip_of(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path.read_bytes()


def patch_zip(path: Path, local: dict[int, bytes], central: dict[int, bytes]) -> None:
    """Overwrite bytes at offsets of the first local header and central directory entry."""
    data = bytearray(path.read_bytes())
    for signature, changes in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        start = data.index(signature)
        for offset, value in changes.items():
            data[start + offset : start + offset + len(value)] = value
    path.write_bytes(bytes(data))


def tar_of(path: Path, members: Sequence[tarfile.TarInfo | tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def raw_tar_header(kind: bytes, declared: int, payload: bytes = b"") -> bytes:
    """A tar header block of type ``kind`` declaring ``declared`` bytes, then a payload."""
    info = tarfile.TarInfo("././@hostile")
    info.type = kind
    info.size = declared
    header = info.tobuf(format=tarfile.GNU_FORMAT if kind in b"LK" else tarfile.USTAR_FORMAT)
    return header[:512] + payload.ljust(512 * 8, b"\0")


def zip_claiming_entries(entries: int) -> bytes:
    """An empty zip whose (zip64) end record claims ``entries`` members."""
    zip64_end = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, 0, 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return zip64_end + locator + end


def make_deep(root: Path, depth: int) -> Path:
    """``root/d/d/.../d`` ``depth`` levels deep (without recursion)."""
    folder = root
    folder.mkdir()
    for _ in range(depth):  # one level at a time: Path.mkdir(parents=True) recurses
        folder = folder / "d"
        folder.mkdir()
    return folder


def remove_tree(root: Path) -> None:
    """Delete a tree of any depth (shutil.rmtree recurses and stops near 1,000 levels)."""
    if not root.exists() and not root.is_symlink():
        return
    folders, pending = [], [root]
    while pending:
        folder = pending.pop()
        folders.append(folder)
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            else:
                os.unlink(entry.path)
    for folder in reversed(folders):
        os.rmdir(folder)


# ----------------------------------------------------------------- snapshots


def snapshot(root: Path, skip: Sequence[str] = ()) -> dict[bytes, tuple[object, ...]]:
    """Every entry under ``root``: type, mode, size and content digest (or link target).

    Special files are described by their type, never opened; iterative, so any
    depth is fine.
    """
    found: dict[bytes, tuple[object, ...]] = {}
    pending = [root]
    while pending:
        folder = pending.pop()
        for entry in os.scandir(folder):
            path = Path(entry.path)
            if folder == root and entry.name in skip:
                continue
            info = entry.stat(follow_symlinks=False)
            relative = os.fsencode(path.relative_to(root))
            if stat.S_ISDIR(info.st_mode):
                found[relative] = ("dir", info.st_mode)
                pending.append(path)
            elif stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[relative] = ("file", info.st_mode, info.st_size, info.st_mtime_ns, digest)
            elif stat.S_ISLNK(info.st_mode):
                found[relative] = ("link", os.readlink(path))
            else:
                found[relative] = ("special", stat.S_IFMT(info.st_mode), info.st_rdev)
    return found


# --------------------------------------------------------------------- runs


@dataclass
class Run:
    """What one ``segeval`` process did."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_bytes: int


def _run_fresh(request: dict[str, Any]) -> dict[str, object]:
    """Run a request as ``python -m segeval`` (or the slow script) and reap it with wait4."""
    script = ["tests/slow_segeval.py"] if request["slow"] else ["-m", "segeval"]
    with open(request["stdout"], "wb") as stdout, open(request["stderr"], "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, *script, *request["args"]],
            stdout=stdout,
            stderr=stderr,
            cwd=REPO,
            env={**request["env"], "PYTHONPATH": str(REPO)},
            preexec_fn=lambda: resource.setrlimit(
                resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE)
            ),
        )
    started = time.monotonic()
    deadline = threading.Timer(request["timeout"], process.kill)
    deadline.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        deadline.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    return {
        "returncode": process.returncode,
        "seconds": seconds,
        "peak_rss_bytes": usage.ru_maxrss * 1024,
        "timed_out": seconds >= request["timeout"],
    }


class Server:
    """A ``tests/segeval_server.py`` process: forks one fresh ``segeval`` per command."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "segeval_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def run(self, request: dict[str, object]) -> dict[str, object]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer: dict[str, object] = json.loads(self.process.stdout.readline())
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()


SERVERS: list[Server] = []


def run_segeval(
    args: Sequence[object],
    *,
    tmpdir: Path,
    logs: Path,
    slow: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = CASE_SECONDS,
) -> Run:
    """Run ``segeval ARGS`` as a fresh process to its end and measure it.

    Peak memory is the largest resident set of the process and of the children
    it reaped (its workers), from ``wait4``; output goes through files in ``logs``.
    With ``slow``, the process reads files as ``tests/slow_segeval.py`` does.
    """
    logs.mkdir(exist_ok=True)
    out_path, err_path = logs / "stdout", logs / "stderr"
    request = {
        "args": [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args],
        "env": {**os.environ, "TMPDIR": str(tmpdir), **(env or {})},
        "stdout": str(out_path),
        "stderr": str(err_path),
        "timeout": timeout,
        "address_space": ADDRESS_SPACE,
        "slow": slow,
    }
    if os.environ.get("SEGEVAL_HOSTILE_FRESH") == "1":
        answer = _run_fresh(request)  # a new interpreter per case (the acceptance run)
    else:
        if not SERVERS:
            SERVERS.append(Server())
        answer = SERVERS[0].run(request)
    if answer["timed_out"]:
        raise AssertionError(f"segeval ran past its {timeout:.0f} s limit and was killed")
    return Run(
        int(answer["returncode"]),  # type: ignore[call-overload]
        out_path.read_text(errors="surrogateescape"),
        err_path.read_text(errors="surrogateescape"),
        float(answer["seconds"]),  # type: ignore[arg-type]
        int(answer["peak_rss_bytes"]),  # type: ignore[call-overload]
    )


@dataclass
class Measured:
    """Per-case measurements, printed at the end of the suite (``-s``)."""

    rows: list[tuple[str, float, int]] = field(default_factory=list)


MEASURED = Measured()


def note(case: str, run: Run) -> None:
    MEASURED.rows.append((case, run.seconds, run.peak_rss_bytes))


Builder = Callable[[Path, Path], None]
