"""Hostile and broken input (issue 12): every attack ends with a verdict.

Each case is one attack, run through a real ``segeval`` process (see
``tests/hostile.py``): with a private temporary folder, a time limit and a
3 GiB address-space limit, its peak memory measured. Batch cases plant one
hostile submission beside two honest ones and assert the verdict, that the
batch finished with a leaderboard listing every submission, that the honest
ones have the numbers ``score`` gives them, that no reason names a host path,
that the inputs are byte-identical and that the temporary folder is empty.
Command cases assert a one-line error (or a listing) instead of a crash or a
hang. Signal cases send real signals to a real process kept waiting by a slow
disk (``tests/slow_segeval.py``).

Nothing here allocates much: bombs declare their sizes in headers, and where a
limit must be crossed for real it is lowered by its option.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO, png_declaring, save_mask
from tests.hostile import (
    GT,
    HONEST,
    MEASURED,
    SERVERS,
    Run,
    build_arena,
    honest_predictions,
    make_deep,
    note,
    patch_zip,
    png_bytes,
    raw_tar_header,
    remove_tree,
    run_segeval,
    snapshot,
    tar_of,
    valid_masks,
    zip_claiming_entries,
    zip_of,
)

PEAK_LIMIT = 2**30
SLOW_SCRIPT = REPO / "tests" / "slow_segeval.py"


@pytest.fixture(scope="module", autouse=True)
def _server_and_measurements() -> Iterator[None]:
    """One process that forks every command; its measurements shown at the end (-s)."""
    yield
    while SERVERS:
        SERVERS.pop().close()
    if MEASURED.rows:
        for case, seconds, peak in MEASURED.rows:
            print(f"\n  {seconds:6.2f} s {peak / 2**20:6.0f} MiB  {case}", end="")
        worst = max(MEASURED.rows, key=lambda row: row[2])
        slowest = max(MEASURED.rows, key=lambda row: row[1])
        print(  # shown with -s: the numbers the acceptance run records
            f"\nhostile suite: {len(MEASURED.rows)} segeval runs; peak RSS max "
            f"{worst[2] / 2**20:.0f} MiB ({worst[0]}); slowest {slowest[1]:.2f} s ({slowest[0]})"
        )


@pytest.fixture(scope="module")
def honest_numbers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    """What ``segeval score`` gives each honest submission."""
    root = tmp_path_factory.mktemp("honest")
    build_arena(root)
    (root / "tmp").mkdir()
    numbers = {}
    for name in HONEST:
        for key, labels in honest_predictions(name).items():
            save_mask(root / "alone" / name / f"{key}.png", labels)
        args = ["score", root / "alone" / name, root / "gt", "--num-classes", "3", "-q"]
        result = run_segeval([*args, "--format", "json"], tmpdir=root / "tmp", logs=root / "logs")
        numbers[name] = json.loads(result.stdout)["summary"]
    return numbers


# --------------------------------------------------------------- the attacks


@dataclass(frozen=True)
class Attack:
    """One hostile thing planted in the arena, and the verdict it must get."""

    plant: Callable[[Path, Path], None]  # (submissions folder, ground truth)
    verdicts: dict[str, tuple[str, tuple[str, ...]]]  # name -> (status, reason fragments)
    args: tuple[str, ...] = ()
    num_classes: bool = True
    check: Callable[[Path, dict[str, dict[str, object]], Run], None] | None = None
    slow: bool = False
    env: dict[str, str] = field(default_factory=dict)


def _invalid(name: str, *fragments: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {name: ("invalid", fragments)}


def _zip_slip(subs: Path, gt: Path) -> None:
    zip_of(subs / "slip.zip", {"img0.png": png_bytes(GT["img0"]), "../../esc.png": b"x"})


def _zip_absolute(subs: Path, gt: Path) -> None:
    zip_of(subs / "absolute.zip", {"/tmp/segeval-hostile-absolute.png": b"x"})


def _zip_symlink(subs: Path, gt: Path) -> None:
    with zipfile.ZipFile(subs / "zlink.zip", "w") as archive:
        info = zipfile.ZipInfo("img0.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, str(gt / "img0.png"))


def _tar_link(kind: bytes, name: str) -> Callable[[Path, Path], None]:
    def plant(subs: Path, gt: Path) -> None:
        info = tarfile.TarInfo("img0.png")
        info.type = kind
        info.linkname = str(gt / "img0.png")
        tar_of(subs / name, [info])

    return plant


def _zip_flagged(
    offsets: tuple[dict[int, bytes], dict[int, bytes]], name: str
) -> Callable[..., None]:
    def plant(subs: Path, gt: Path) -> None:
        zip_of(subs / name, {f"{k}.png": png_bytes(v) for k, v in GT.items()}, zipfile.ZIP_DEFLATED)
        patch_zip(subs / name, *offsets)

    return plant


def _zip_corrupt_deflate(subs: Path, gt: Path) -> None:
    path = subs / "corrupt.zip"
    zip_of(path, {"img0.png": png_bytes(GT["img0"]) * 4}, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    start = 30 + len("img0.png")  # the first member's compressed data
    data[start + 2 : start + 40] = b"\xff" * 38
    path.write_bytes(bytes(data))


def _zip_truncated(subs: Path, gt: Path) -> None:
    data = zip_of(subs / "cut.zip", {f"{k}.png": png_bytes(v) for k, v in GT.items()})
    (subs / "cut.zip").write_bytes(data[: len(data) // 2])


def _zip_ratio_bomb(subs: Path, gt: Path) -> None:
    zip_of(subs / "bomb.zip", {"img0.png": b"\0" * (8 << 20)}, zipfile.ZIP_DEFLATED)


def _zip_declares_huge(subs: Path, gt: Path) -> None:
    path = subs / "declares.zip"
    zip_of(path, {f"{k}.png": png_bytes(v) for k, v in GT.items()})
    huge = struct_u32(int(1.5 * 2**30))
    patch_zip(path, {22: huge}, {24: huge})  # uncompressed size, local and central


def struct_u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def _zip_padded_png(subs: Path, gt: Path) -> None:
    members = {f"{k}.png": png_bytes(v) for k, v in GT.items()}
    members["img1.png"] += b"\0" * 300_000  # a valid PNG, then padding after IEND
    zip_of(subs / "padded.zip", members, zipfile.ZIP_DEFLATED)


def _zip_entry_bomb(subs: Path, gt: Path) -> None:
    (subs / "entries.zip").write_bytes(zip_claiming_entries(10**9))


def _tar_header_bomb(kind: bytes, declared: int) -> Callable[[Path, Path], None]:
    def plant(subs: Path, gt: Path) -> None:
        import gzip

        (subs / "header.tar.gz").write_bytes(gzip.compress(raw_tar_header(kind, declared)))

    return plant


def _tar_deep(subs: Path, gt: Path) -> None:
    with tarfile.open(subs / "deep.tar", "w", format=tarfile.PAX_FORMAT) as archive:
        data = png_bytes(GT["img0"])
        info = tarfile.TarInfo("d/" * 1100 + "img0.png")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))


def _tar_gz_truncated(subs: Path, gt: Path) -> None:
    tar_of(subs / "cut.tar.gz", [(f"{k}.png", png_bytes(v)) for k, v in GT.items()])
    data = (subs / "cut.tar.gz").read_bytes()
    (subs / "cut.tar.gz").write_bytes(data[: len(data) // 2])


def _folder_deep(subs: Path, gt: Path) -> None:
    valid_masks(make_deep(subs / "deep", 1100))


def _folder_loop(subs: Path, gt: Path) -> None:
    valid_masks(subs / "loop", skip=["img1"])
    (subs / "loop" / "img1.png").symlink_to("img1.png")


def _folder_link_out(subs: Path, gt: Path) -> None:
    valid_masks(subs / "peek", skip=["img1"])
    (subs / "peek" / "img1.png").symlink_to(gt / "img1.png")


def _folder_hardlink(subs: Path, gt: Path) -> None:
    (subs / "hard").mkdir()
    for key in GT:
        os.link(gt / f"{key}.png", subs / "hard" / f"{key}.png")


def _folder_special(kind: str) -> Callable[[Path, Path], None]:
    def plant(subs: Path, gt: Path) -> None:
        folder = subs / kind
        valid_masks(folder, skip=["img1"])
        target = folder / "img1.png"
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "socket":
            server = socket.socket(socket.AF_UNIX)
            server.bind(str(target))
            server.close()
        else:
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # like /dev/zero

    return plant


def _non_utf8_member(subs: Path, gt: Path) -> None:
    valid_masks(subs / "latin")
    (subs / "latin" / os.fsdecode(b"img\xff.png")).write_bytes(png_bytes(GT["img0"]))


def _non_utf8_name(subs: Path, gt: Path) -> None:
    valid_masks(subs / os.fsdecode(b"team\xe9"))


def _png_bomb(subs: Path, gt: Path) -> None:
    valid_masks(subs / "bomb", skip=["img1"])
    (subs / "bomb" / "img1.png").write_bytes(png_declaring(60000, 60000, data=b"\0" * 64))


def _png_truncated(subs: Path, gt: Path) -> None:
    valid_masks(subs / "cut")
    data = (subs / "cut" / "img2.png").read_bytes()
    (subs / "cut" / "img2.png").write_bytes(data[: len(data) // 2])


def _wrong_size(subs: Path, gt: Path) -> None:
    for key in GT:
        save_mask(subs / "small" / f"{key}.png", np.zeros((6, 8)))


def _missing(subs: Path, gt: Path) -> None:
    valid_masks(subs / "partial", skip=["img2"])


def _npz_no_suffix(subs: Path, gt: Path) -> None:
    valid_masks(subs / "npz", skip=["img1"])
    buffer = io.BytesIO()
    np.save(buffer, GT["img1"])
    with zipfile.ZipFile(subs / "npz" / "img1.npz", "w") as archive:
        archive.writestr("labels", buffer.getvalue())


def _npy_pickle(subs: Path, gt: Path) -> None:
    valid_masks(subs / "pickle", skip=["img1"])
    np.save(subs / "pickle" / "img1.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)


def _npy_declares_huge(subs: Path, gt: Path) -> None:
    valid_masks(subs / "npybomb", skip=["img1"])
    header = "{'descr': '<i8', 'fortran_order': False, 'shape': (100000, 100000), }"
    header = header.ljust(118) + "\n"
    (subs / "npybomb" / "img1.npy").write_bytes(
        b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 64
    )


def _empty_prediction(subs: Path, gt: Path) -> None:
    valid_masks(subs / "empty", skip=["img1"])
    np.save(subs / "empty" / "img1.npy", np.zeros((0, 0), dtype=np.uint8))


def _stray_label(value: int, name: str) -> Callable[[Path, Path], None]:
    def plant(subs: Path, gt: Path) -> None:
        valid_masks(subs / name, skip=["img1"])
        labels = GT["img1"].astype(np.uint16)
        labels[0, 0] = value
        save_mask(subs / name / "img1.png", labels)

    return plant


def _two_stems(subs: Path, gt: Path) -> None:
    valid_masks(subs / "alice")
    zip_of(subs / "alice.zip", {f"{k}.png": png_bytes(v) for k, v in GT.items()})


def _invalid_suffix_clash(subs: Path, gt: Path) -> None:
    _wrong_size(subs, gt)
    (subs / "small").rename(subs / "x")
    valid_masks(subs / "x.invalid")


def _link_submission(subs: Path, gt: Path) -> None:
    (subs / "shortcut").symlink_to(gt)


def _slow(subs: Path, gt: Path) -> None:
    valid_masks(subs / "slowpoke")


def _named(name: str) -> Callable[[Path, Path], None]:
    def plant(subs: Path, gt: Path) -> None:
        valid_masks(subs / name)

    return plant


# -------------------------------------------------------------- extra checks


def _check_records(out: Path, entries: dict[str, dict[str, object]], run: Run) -> None:
    reports = out / "reports"
    assert json.loads((reports / "x.invalid.json").read_text())["summary"]["miou"] == 1.0
    assert json.loads((reports / "invalid" / "x.json").read_text())["status"] == "invalid"


def _check_rendered(name: str) -> Callable[[Path, dict[str, dict[str, object]], Run], None]:
    def check(out: Path, entries: dict[str, dict[str, object]], run: Run) -> None:
        tmp = out.parent / "tmp"
        for output_format in ("table", "markdown", "csv"):
            rendered = run_segeval(
                ["batch", out.parent / "subs", out.parent / "gt", "--num-classes", "3", "-q",
                 "--output-dir", out / "reports", "--resume", "--format", output_format],
                tmpdir=tmp, logs=out.parent / "logs",
            )  # fmt: skip
            assert rendered.returncode == 0, rendered.stderr
            lines = rendered.stdout.splitlines()
            if output_format == "csv":
                rows = list(csv.reader(io.StringIO(rendered.stdout)))
                assert len(rows) == 4  # the header and three submissions, one row each
                cell = next(row[1] for row in rows if row[1].lstrip("'") == name)
                assert not cell.startswith(("=", "+", "-", "@"))
            else:
                assert not any(line.startswith("rank 1") for line in lines)
                assert len([line for line in lines if "evil" in line or "HYPERLINK" in line]) == 1

    return check


def _check_escaped(out: Path, entries: dict[str, dict[str, object]], run: Run) -> None:
    """Every format writes the name that is not UTF-8, escaped."""
    for output_format in ("table", "markdown", "csv", "html"):
        rendered = run_segeval(
            ["batch", out.parent / "subs", out.parent / "gt", "--num-classes", "3", "-q",
             "--output-dir", out / "reports", "--resume", "--format", output_format],
            tmpdir=out.parent / "tmp", logs=out.parent / "logs",
        )  # fmt: skip
        assert rendered.returncode == 0, rendered.stderr
        assert "team\\xe9" in rendered.stdout or "team\\udce9" in rendered.stdout


ATTACKS: dict[str, Attack] = {
    "zip member with a '..' path": Attack(_zip_slip, _invalid("slip", "'..' component")),
    "zip member with an absolute path": Attack(_zip_absolute, _invalid("absolute", "absolute")),
    "zip member that is a symlink": Attack(_zip_symlink, _invalid("zlink", "symbolic link")),
    "tar symlink to the ground truth": Attack(
        _tar_link(tarfile.SYMTYPE, "tlink.tar"), _invalid("tlink", "is a symbolic link")
    ),
    "tar hard link": Attack(
        _tar_link(tarfile.LNKTYPE, "hlink.tar"), _invalid("hlink", "hard link")
    ),
    "tar FIFO member": Attack(
        _tar_link(tarfile.FIFOTYPE, "fifo.tar"), _invalid("fifo", "a device or FIFO")
    ),
    "zip with an encrypted member": Attack(
        _zip_flagged(({6: b"\x01\x00"}, {8: b"\x01\x00"}), "locked.zip"),
        _invalid("locked", "cannot read the archive", "encrypted"),
    ),
    "zip member with an unknown compression method": Attack(
        _zip_flagged(({8: b"\x63\x00"}, {10: b"\x63\x00"}), "method.zip"),
        _invalid("method", "cannot read the archive", "compression"),
    ),
    "zip with a corrupt deflate stream": Attack(
        _zip_corrupt_deflate, _invalid("corrupt", "cannot read the archive")
    ),
    "truncated zip": Attack(_zip_truncated, _invalid("cut", "cannot read the archive")),
    "zip bomb (8 MiB of zeros, limit lowered)": Attack(
        _zip_ratio_bomb,
        _invalid("bomb", "add up to 8 MiB uncompressed, more than the limit of 4 MiB"),
        args=("--max-archive-bytes", str(4 << 20)),
    ),
    "zip member declaring 1.5 GiB": Attack(
        _zip_declares_huge, _invalid("declares", "declares 1.5 GiB", "--max-mask-bytes")
    ),
    "zip with a PNG padded past the mask limit": Attack(
        _zip_padded_png,
        _invalid("padded", "img1.png", "per mask file"),
        args=("--max-mask-bytes", "100000"),
    ),
    "zip declaring a billion members": Attack(
        _zip_entry_bomb, _invalid("entries", "declares 1000000000 members")
    ),
    "tar.gz with a PAX header declaring 1 GiB": Attack(
        _tar_header_bomb(tarfile.XHDTYPE, 2**30), _invalid("header", "PAX header declares 1.0 GiB")
    ),
    "tar.gz with a GNU long name declaring 2 GiB": Attack(
        _tar_header_bomb(tarfile.GNUTYPE_LONGNAME, 2 * 2**30),
        _invalid("header", "GNU long-name header declares 2.0 GiB"),
    ),
    "tar nested 1,100 folders deep": Attack(_tar_deep, _invalid("deep", "deeper than 64")),
    "truncated tar.gz": Attack(_tar_gz_truncated, _invalid("cut", "cannot read the archive")),
    "folder nested 1,100 levels deep": Attack(_folder_deep, _invalid("deep", "deeper than 64")),
    "folder with a symlink loop": Attack(_folder_loop, _invalid("loop", "img1.png", "nowhere")),
    "folder with a symlink to the ground truth": Attack(
        _folder_link_out, _invalid("peek", "img1.png", "outside the submission")
    ),
    "folder of hard links to the ground truth": Attack(
        _folder_hardlink, _invalid("hard", "hard link to a ground-truth file")
    ),
    "FIFO named like a mask": Attack(
        _folder_special("fifo"), _invalid("fifo", "fifo/img1.png", "FIFO", "not a regular file")
    ),
    "socket named like a mask": Attack(
        _folder_special("socket"), _invalid("socket", "socket/img1.png", "a socket")
    ),
    "device named like a mask": Attack(
        _folder_special("device"), _invalid("device", "device/img1.png", "a character device")
    ),
    "file name that is not UTF-8": Attack(_non_utf8_member, {"latin": ("ok", ())}),
    "submission name that is not UTF-8": Attack(
        _non_utf8_name, {os.fsdecode(b"team\xe9"): ("ok", ())}, check=_check_escaped
    ),
    "PNG declaring 60000 x 60000 (138 bytes)": Attack(
        _png_bomb, _invalid("bomb", "bomb/img1.png", "declares 60000x60000 pixels")
    ),
    "truncated PNG": Attack(
        _png_truncated, _invalid("cut", "cut/img2.png", "ends before the last row")
    ),
    "masks of the wrong size": Attack(
        _wrong_size, _invalid("small", "small/img0.png", "ground truth/img0.png")
    ),
    "missing predictions": Attack(_missing, _invalid("partial", "ground truth/img2.png")),
    "NPZ member without the .npy suffix": Attack(
        _npz_no_suffix, _invalid("npz", "npz/img1.npz", "not an .npy array")
    ),
    "NPY holding a pickle": Attack(_npy_pickle, _invalid("pickle", "Python objects")),
    "NPY declaring 10^10 values": Attack(
        _npy_declares_huge, _invalid("npybomb", "declares shape (100000, 100000)")
    ),
    "empty prediction with --resize-pred": Attack(
        _empty_prediction,
        _invalid("empty", "empty/img1.npy", "holds no pixels"),
        args=("--resize-pred", "nearest"),
    ),
    "stray label 4095 with an inferred class count": Attack(
        _stray_label(4095, "stray"),
        _invalid("stray", "stray/img1.png", "4096 classes", "128.0 MiB", "--max-classes"),
        num_classes=False,
    ),
    "label outside the classes": Attack(
        _stray_label(7, "seven"), _invalid("seven", "seven/img1.png", "prediction label 7")
    ),
    "alice/ and alice.zip side by side": Attack(
        _two_stems, {"alice": ("ok", ()), "alice.zip": ("ok", ())}
    ),
    "x (invalid) beside x.invalid (ok)": Attack(
        _invalid_suffix_clash,
        {"x": ("invalid", ("prediction is",)), "x.invalid": ("ok", ())},
        check=_check_records,
    ),
    "submission that is a symlink to the ground truth": Attack(
        _link_submission, _invalid("shortcut", "symbolic link")
    ),
    "submission that never finishes reading (--timeout 1)": Attack(
        _slow,
        _invalid("slowpoke", "time limit of 1 s"),
        args=("--timeout", "1"),
        slow=True,
        env={"SEGEVAL_TEST_SLOW": "slowpoke"},
    ),
    "name with a line break forging a row": Attack(
        _named("evil\nrank 1 | winner"),
        {"evil\nrank 1 | winner": ("ok", ())},
        check=_check_rendered("evil\nrank 1 | winner"),
    ),
    "name that is a spreadsheet formula": Attack(
        _named('=HYPERLINK("evil","y")'),
        {'=HYPERLINK("evil","y")': ("ok", ())},
        check=_check_rendered('=HYPERLINK("evil","y")'),
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_batch_attack(
    attack: Attack,
    tmp_path: Path,
    honest_numbers: dict[str, dict[str, float]],
    request: pytest.FixtureRequest,
) -> None:
    if "device" in attack.verdicts and os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    gt, subs = build_arena(tmp_path)
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    out.mkdir()
    tmp.mkdir()
    try:
        attack.plant(subs, gt)
        before = snapshot(tmp_path, skip=("out", "tmp", "logs"))
        args = ["batch", subs, gt, "--format", "json", "--output", out / "board.json", "-q"]
        args += ["--output-dir", out / "reports", "--jobs", "2", *attack.args]
        args += ["--num-classes", "3"] if attack.num_classes else []
        env = {"SEGEVAL_TEST_MARKER": str(tmp_path / "logs" / "marker"), **attack.env}
        run = run_segeval(
            args,
            tmpdir=tmp,
            logs=tmp_path / "logs",
            slow=attack.slow,
            env=env,
        )
        note(request.node.callspec.id, run)
        # The batch finished, with a leaderboard of every submission.
        assert run.returncode == 0, run.stderr
        board = json.loads((out / "board.json").read_text())
        entries = {entry["name"]: entry for entry in board["submissions"]}
        assert set(entries) == {*HONEST, *attack.verdicts}
        for name in HONEST:
            assert entries[name]["status"] == "ok", entries[name]
            for metric, value in entries[name]["metrics"].items():
                assert value == pytest.approx(honest_numbers[name][metric], abs=1e-12)
        for name, (status, fragments) in attack.verdicts.items():
            assert entries[name]["status"] == status, entries[name]
            for fragment in fragments:
                assert fragment in entries[name]["reason"], entries[name]["reason"]
        for entry in entries.values():  # no host path (every one is under tmp_path)
            reason = entry["reason"] or ""
            assert str(tmp_path) not in reason
            assert os.path.realpath(tmp_path) not in reason
            assert "\n" not in reason
        if attack.check is not None:
            attack.check(out, entries, run)
        # Inputs untouched, nothing left behind, bounded memory.
        assert snapshot(tmp_path, skip=("out", "tmp", "logs")) == before
        assert list(tmp.iterdir()) == []
        assert run.peak_rss_bytes < PEAK_LIMIT
    finally:
        remove_tree(subs)  # a 1,100-level tree is beyond shutil.rmtree's recursion


# -------------------------------------------------------- command verdicts


@dataclass(frozen=True)
class Case:
    """A command on broken input and the one line it must answer."""

    args: Callable[[Path], list[object]]
    code: int
    fragments: tuple[str, ...]
    stream: str = "stderr"


def _score_args(root: Path, *extra: object, pred: str = "pred") -> list[object]:
    gt = root / "gt"
    if not gt.exists():
        valid_masks(gt)
    (root / pred).mkdir(exist_ok=True)
    return ["score", root / pred, gt, *extra]


def _with_pred(plant: Callable[[Path], None], *extra: object) -> Callable[[Path], list[object]]:
    def args(root: Path) -> list[object]:
        command = _score_args(root, *extra)
        plant(root / "pred")
        return command

    return args


def _fifo_mask(pred: Path) -> None:
    valid_masks(pred, skip=["img1"])
    os.mkfifo(pred / "img1.png")


def _bomb_mask(pred: Path) -> None:
    valid_masks(pred, skip=["img1"])
    (pred / "img1.png").write_bytes(png_declaring(60000, 60000, data=b"\0" * 64))


def _file(name: str, text: str) -> Callable[[Path], Path]:
    def write(root: Path) -> Path:
        (root / name).write_text(text)
        return root / name

    return write


def _thresholds(text: str, suffix: str = ".json") -> Callable[[Path], list[object]]:
    def args(root: Path) -> list[object]:
        command = _score_args(root, "--num-classes", "3", "--thresholds", root / f"t{suffix}")
        (root / f"t{suffix}").write_text(text)
        _fifo_mask(root / "pred")  # scoring would stop on it: the thresholds must fail first
        return command

    return args


def _deep_json(command: str) -> Callable[[Path], list[object]]:
    def args(root: Path) -> list[object]:
        (root / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
        if command == "compare":
            return ["compare", root / "deep.json", root / "deep.json"]
        return _score_args(root, "--class-names", root / "deep.json")

    return args


def _report_with_count(digits: int) -> Callable[[Path], list[object]]:
    def args(root: Path) -> list[object]:
        valid_masks(root / "pred")
        command = [*_score_args(root, "--num-classes", "3"), "--format", "json", "-q"]
        report = run_segeval(command, tmpdir=root / "tmp", logs=root / "logs").stdout
        assert '"num_images": 3,' in report
        (root / "a.json").write_text(report)
        (root / "b.json").write_text(
            report.replace('"num_images": 3,', f'"num_images": {"9" * digits},')
        )
        return ["compare", root / "a.json", root / "b.json"]

    return args


def _same_outputs(option: str) -> Callable[[Path], list[object]]:
    def args(root: Path) -> list[object]:
        valid_masks(root / "pred")
        return _score_args(root, "--num-classes", "3", "--output", root / "r.csv", option,
                           root / "r.csv")  # fmt: skip

    return args


def _inspect(plant: Callable[[Path], None]) -> Callable[[Path], list[object]]:
    def args(root: Path) -> list[object]:
        plant(root / "masks")
        return ["inspect", root / "masks"]

    return args


def _inspect_loop(folder: Path) -> None:
    valid_masks(folder, skip=["img1"])
    folder.joinpath("img1.png").symlink_to("img1.png")


def _non_utf8_pair(root: Path) -> list[object]:
    name = os.fsdecode(b"caf\xe9.png")
    valid_masks(root / "gt")
    valid_masks(root / "pred")
    save_mask(root / "gt" / name, GT["img0"])
    save_mask(root / "pred" / name, GT["img0"])
    return _score_args(root, "--num-classes", "3", "--per-image-output", "-", "--output",
                       root / "report.json", "--format", "json")  # fmt: skip


def _loss(plant: Callable[[Path], None]) -> Callable[[Path], list[object]]:
    """``segeval loss`` on score maps with one hostile file among honest ones."""

    def args(root: Path) -> list[object]:
        valid_masks(root / "gt")
        scores = root / "scores"
        scores.mkdir()
        for key, labels in GT.items():
            np.save(scores / f"{key}.npy", np.eye(3, dtype=np.float32)[labels].transpose(2, 0, 1))
        plant(scores)
        return ["loss", scores, root / "gt", "--num-classes", "3", "--loss", "ce"]

    return args


def _fifo_scores(scores: Path) -> None:
    (scores / "img1.npy").unlink()
    os.mkfifo(scores / "img1.npy")


def _unsuffixed_scores(scores: Path) -> None:
    (scores / "img1.npy").unlink()
    with zipfile.ZipFile(scores / "img1.npz", "w") as archive:
        archive.writestr("logits", b"\x93NUMPY")


CASES: dict[str, Case] = {
    "score: FIFO named like a mask": Case(
        _with_pred(_fifo_mask, "--num-classes", "3"), 2, ("img1.png", "a FIFO (named pipe)")
    ),
    "score: PNG declaring 60000 x 60000, default limit": Case(
        _with_pred(_bomb_mask, "--num-classes", "3"), 2, ("declares 60000x60000 pixels",)
    ),
    "score: --num-classes 65536": Case(
        lambda root: _score_args(root, "--num-classes", "65536"), 2, ("32.0 GiB", "--max-classes")
    ),
    "score: 8,000 class names": Case(
        lambda root: _score_args(
            root, "--class-names", _file("names.txt", "".join(f"c{i}\n" for i in range(8000)))(root)
        ),
        2,
        ("8000 classes", "488.3 MiB", "--max-classes"),
    ),
    "score: thresholds with NaN": Case(
        _thresholds('{"fail_under": {"miou": NaN}}'), 2, ("is not a finite number",)
    ),
    "score: thresholds with -inf": Case(
        _thresholds("[fail_under]\nmiou = -inf\n", ".toml"), 2, ("is not a finite number",)
    ),
    "score: thresholds with a 400-digit integer": Case(
        _thresholds('{"fail_under": {"miou": ' + "9" * 400 + "}}"), 2, ("not a finite number",)
    ),
    "score: image_miou without --per-image": Case(
        lambda root: [*_thresholds('{"fail_under": {"image_miou": 0.5}}')(root)],
        2,
        ("image_miou is a per-image metric",),
    ),
    "score: deeply nested --class-names": Case(_deep_json("score"), 2, ("deeper than 64",)),
    "compare: deeply nested report": Case(_deep_json("compare"), 2, ("deeper than 64",)),
    "compare: a 5,000-digit count": Case(_report_with_count(5000), 2, ("4300 digits",)),
    "compare: a 400-digit count": Case(_report_with_count(400), 2, ("0..2**64-1",)),
    "score: --output equal to --per-image-output": Case(
        _same_outputs("--per-image-output"), 2, ("both name",)
    ),
    "score: --output equal to --junit": Case(_same_outputs("--junit"), 2, ("both name",)),
    "score: file names that are not UTF-8": Case(_non_utf8_pair, 0, ("caf\\xe9",), "stdout"),
    "inspect: FIFO named like a mask": Case(_inspect(_fifo_mask), 0, ("a FIFO",), "stdout"),
    "loss: FIFO named like a score map": Case(
        _loss(_fifo_scores), 2, ("img1.npy", "a FIFO (named pipe)")
    ),
    "loss: NPZ member without the .npy suffix": Case(
        _loss(_unsuffixed_scores), 2, ("img1.npz", "not an .npy array")
    ),
    "inspect: symlink loop, the rest still read": Case(
        _inspect(_inspect_loop), 0, ("img1.png", "3 mask files", "Too many levels"), "stdout"
    ),
    "inspect: PNG declaring 60000 x 60000": Case(
        _inspect(_bomb_mask), 0, ("declares 60000x60000",), "stdout"
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_command_verdict(case: Case, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    args = case.args(tmp_path)
    before = snapshot(tmp_path, skip=("tmp", "logs", "r.csv", "report.json"))
    run = run_segeval(args, tmpdir=tmp, logs=tmp_path / "logs")
    note(request.node.callspec.id, run)
    assert run.returncode == case.code, run.stderr
    text = run.stderr if case.stream == "stderr" else run.stdout
    for fragment in case.fragments:
        assert fragment in text, text
    assert "Traceback" not in run.stderr
    assert "internal error" not in run.stderr
    if case.code == 2:
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert snapshot(tmp_path, skip=("tmp", "logs", "r.csv", "report.json")) == before
    assert list(tmp.iterdir()) == []
    assert run.peak_rss_bytes < PEAK_LIMIT


# ------------------------------------------------------------------- outputs


def test_outputs_to_devices_pipes_links_and_stdout(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making device nodes needs root")
    gt = tmp_path / "gt"
    valid_masks(gt)
    null, full = tmp_path / "null", tmp_path / "full"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    logs, tmp = tmp_path / "logs", tmp_path / "tmp"
    tmp.mkdir()
    base = ["score", gt, gt, "--num-classes", "3", "-q", "--format", "csv"]
    # A device is written in place, never replaced by a regular file.
    assert run_segeval([*base, "--output", null], tmpdir=tmp, logs=logs).returncode == 0
    assert stat.S_ISCHR(null.lstat().st_mode)
    # A full device is an error that names it.
    failed = run_segeval([*base, "--output", full], tmpdir=tmp, logs=logs)
    assert failed.returncode == 2
    assert f"{full}: cannot write the output (No space left on device)" in failed.stderr
    assert stat.S_ISCHR(full.lstat().st_mode)
    # A symbolic link is followed: its target replaced, the link kept.
    (tmp_path / "target.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to("target.csv")
    assert (
        run_segeval([*base, "--output", tmp_path / "link.csv"], tmpdir=tmp, logs=logs).returncode
        == 0
    )
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "target.csv").read_text().startswith("metric,class_id")
    # - is stdout; /dev/stdout is written in place.
    dash = run_segeval([*base, "--output", "-"], tmpdir=tmp, logs=logs)
    assert dash.stdout.startswith("metric,class_id")
    devstdout = run_segeval([*base, "--output", "/dev/stdout"], tmpdir=tmp, logs=logs)
    assert devstdout.returncode == 0
    assert devstdout.stdout.startswith("metric,class_id")
    # A FIFO nobody reads is an error, not a wait.
    os.mkfifo(tmp_path / "pipe")
    lonely = run_segeval([*base, "--output", tmp_path / "pipe"], tmpdir=tmp, logs=logs)
    assert lonely.returncode == 2
    assert "no process is reading the pipe" in lonely.stderr
    assert list(tmp.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_a_full_disk_names_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes writes fail for real (EFBIG) without filling any disk.

    Long class names make the per-image table's header larger than the limit,
    while every other file the run writes (its per-image spool) stays below it.
    """
    gt = tmp_path / "gt"
    valid_masks(gt)
    names = tmp_path / "names.txt"
    names.write_text("".join(f"{letter * 300}\n" for letter in "abc"))
    (tmp_path / "images.csv").write_text("previous\n")
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500));"
        "from segeval.cli import main; main(sys.argv[1:])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "score", gt, gt, "--class-names", names, "-q",
         "--per-image-output", tmp_path / "images.csv", "--output", tmp_path / "r.json"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 2
    assert str(tmp_path / "images.csv") in result.stderr
    assert "File too large" in result.stderr
    assert (tmp_path / "images.csv").read_text() == "previous\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------- signals


def _wait_for(path: Path, seconds: float = 30.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return [int(line) for line in path.read_text().split()]
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared: the process did not reach the slow file")


def _gone(pid: int) -> bool:
    """True when a process no longer runs (gone, or a zombie waiting to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def _signal_arena(tmp_path: Path, command: str) -> tuple[list[object], Path]:
    gt, subs = build_arena(tmp_path)
    valid_masks(subs / "slowpoke")
    zip_of(subs / "unpacked.zip", {f"{k}.png": png_bytes(v) for k, v in GT.items()})
    out = tmp_path / "out"
    out.mkdir()
    (out / "result").write_text("previous\n")
    if command == "batch":
        args = ["batch", subs, gt, "--num-classes", "3", "-q", "--jobs", "2"]
        return [*args, "--output", out / "result", "--output-dir", out / "reports"], out
    if command == "inspect":
        return ["inspect", subs / "slowpoke"], out
    images = out / "images.csv"
    images.write_text("previous\n")
    args = ["score", subs / "slowpoke", gt, "--num-classes", "3", "-q", "--jobs", "2"]
    return [*args, "--output", out / "result", "--per-image-output", images], out


@pytest.mark.parametrize(
    ("command", "signum"),
    [
        ("batch", signal.SIGINT),
        ("batch", signal.SIGTERM),
        ("batch", signal.SIGHUP),
        ("score", signal.SIGTERM),
        ("score", signal.SIGHUP),
        ("inspect", signal.SIGINT),
    ],
)
def test_signals_stop_every_command_cleanly(
    command: str, signum: signal.Signals, tmp_path: Path
) -> None:
    args, out = _signal_arena(tmp_path, command)
    tmp, marker = tmp_path / "tmp", tmp_path / "marker"
    tmp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "PYTHONPATH": str(REPO),
        "SEGEVAL_TEST_SLOW": "slowpoke",
        "SEGEVAL_TEST_MARKER": str(marker),
    }
    process = subprocess.Popen(
        [sys.executable, str(SLOW_SCRIPT), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        waiting = _wait_for(marker)  # the pids of the processes stuck on the slow file
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=2)  # stops within 2 seconds
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + signum
    assert "segeval: interrupted" in stderr.decode()
    assert all(_gone(pid) for pid in waiting)  # workers killed, not orphaned
    assert list(tmp.iterdir()) == []  # extracted files and spools removed
    assert (out / "result").read_text() == "previous\n"  # the previous output intact
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    if command == "score":
        assert (out / "images.csv").read_text() == "previous\n"


def test_workers_die_with_a_killed_batch(tmp_path: Path) -> None:
    args, _ = _signal_arena(tmp_path, "batch")
    marker = tmp_path / "marker"
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),
        "PYTHONPATH": str(REPO),
        "SEGEVAL_TEST_SLOW": "slowpoke",
        "SEGEVAL_TEST_MARKER": str(marker),
    }
    process = subprocess.Popen(
        [sys.executable, str(SLOW_SCRIPT), *map(str, args)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    workers = _wait_for(marker)
    assert process.pid not in workers
    process.kill()
    process.wait(timeout=10)
    deadline = time.monotonic() + 2
    while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(_gone(pid) for pid in workers)
    for leftover in tmp_path.glob("segeval-batch-*"):  # SIGKILL leaves no chance to clean
        remove_tree(leftover)
