"""Submissions from strangers: find them, unpack archives safely, refuse tricks.

Each child of a submissions folder is one submission: a folder, or a ``.zip``,
``.tar``, ``.tar.gz`` / ``.tgz`` archive. Nothing in a submission is trusted:

* an archive holding any member with an absolute path, a ``..`` component, a
  symbolic or hard link, or a device or FIFO is rejected as a whole (no honest
  submission contains one), before anything is extracted;
* an archive whose members add up to more than ``max_bytes`` uncompressed is
  refused (from the declared sizes, and again while extracting, in case they lie);
* only mask files are extracted, into a private temporary folder, by writing
  each member's bytes to a path built and checked here (never ``extractall``);
  other members are counted and left alone;
* a submission folder holding a symbolic link that resolves outside the
  submission is rejected as a whole: a submission must never read the ground
  truth or another submission.

A rejected submission becomes a :class:`SubmissionProblem`, never an exception
that stops the batch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from segeval.errors import UnsafeInputError
from segeval.inputs.digest import file_digest, folder_digest
from segeval.io import MASK_SUFFIXES

__all__ = [
    "ARCHIVE_SUFFIXES",
    "Submission",
    "discover_submissions",
    "prepare_submission",
]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".tar")
_COPY_BLOCK = 1 << 20


@dataclass(frozen=True)
class Submission:
    """One child of the submissions folder.

    Attributes
    ----------
    name : str
        The child's name without archive extension.
    source : pathlib.Path
        The folder or archive.
    kind : str
        ``"folder"``, ``"zip"``, ``"tar"``, or ``"link"`` (a symbolic link: rejected).
    """

    name: str
    source: Path
    kind: str

    def fingerprint(self) -> str:
        """A digest of the submission's content (archive bytes, or every file of a folder).

        Content only: a file rewritten with the same size and time still changes it.
        """
        if self.kind == "link":
            return hashlib.sha256(os.fsencode(os.readlink(self.source))).hexdigest()
        if self.kind != "folder":
            return file_digest(self.source)
        return folder_digest(self.source)


def _archive_kind(path: Path) -> tuple[str, str] | None:
    lowered = path.name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return path.name[: -len(suffix)], "zip" if suffix == ".zip" else "tar"
    return None


def discover_submissions(root: Path) -> tuple[list[Submission], list[Path]]:
    """List the submissions under ``root``, sorted by name.

    Returns
    -------
    submissions : list of Submission
    ignored : list of Path
        Children that are neither folders nor archives (and hidden ones).

    Raises
    ------
    UnsafeInputError
        Two children with the same submission name (``a.zip`` and ``a/``).
    """
    submissions: dict[str, Submission] = {}
    ignored = []
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            ignored.append(child)
            continue
        found: tuple[str, str] | None
        if child.is_symlink():
            # Scored as a submission that is rejected: a link could point anywhere.
            found = ((_archive_kind(child) or (child.name, ""))[0], "link")
        elif child.is_dir():
            found = (child.name, "folder")
        else:
            found = _archive_kind(child) if child.is_file() else None
        if found is None:
            ignored.append(child)
            continue
        name, kind = found
        if name in submissions:
            raise UnsafeInputError(
                f"{root}: two submissions are named {name!r} ({submissions[name].source.name} "
                f"and {child.name}); rename one."
            )
        submissions[name] = Submission(name, child, kind)
    return [submissions[name] for name in sorted(submissions)], ignored


def _is_mask(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in MASK_SUFFIXES


def _safe_member_path(name: str, archive: Path) -> PurePosixPath:
    """The member's relative path, or UnsafeInputError for absolute or ``..`` paths."""
    normalized = name.replace("\\", "/")
    path = PurePosixPath(normalized)
    if (
        normalized.startswith("/")
        or (len(normalized) > 1 and normalized[1] == ":")  # a Windows drive
        or any(part == ".." for part in path.parts)
    ):
        raise UnsafeInputError(
            f"{archive.name}: member {name!r} has an absolute path or a '..' component; "
            "the archive is rejected."
        )
    return PurePosixPath(*[part for part in path.parts if part not in ("", ".")])


def _check_folder(folder: Path) -> None:
    """Reject a folder holding a symbolic link that resolves outside it."""
    root = folder.resolve()
    for current, subfolders, files in os.walk(folder):
        for name in subfolders + files:
            path = Path(current, name)
            if not path.is_symlink():
                continue
            target = path.resolve()
            if not target.is_relative_to(root):
                raise UnsafeInputError(
                    f"{folder.name}/{path.relative_to(folder).as_posix()}: a symbolic link to "
                    f"{os.readlink(path)!r}, outside the submission; the submission is rejected."
                )


def _write_member(source: object, target: Path, budget: list[int], archive: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never follow or overwrite anything already in the private folder.
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "wb") as output:
        while True:
            block = source.read(_COPY_BLOCK)  # type: ignore[attr-defined]
            if not block:
                break
            budget[0] -= len(block)
            if budget[0] < 0:
                raise UnsafeInputError(
                    f"{archive.name}: expands beyond the limit on uncompressed size; the "
                    "archive is rejected (raise --max-archive-bytes if it is genuine)."
                )
            output.write(block)


def _zip_members(archive: Path) -> Iterator[tuple[str, int, zipfile.ZipInfo]]:
    with zipfile.ZipFile(archive) as opened:
        for info in opened.infolist():
            mode = info.external_attr >> 16
            file_type = stat.S_IFMT(mode)  # 0 when the archiver recorded no type
            if stat.S_ISLNK(mode):
                raise UnsafeInputError(
                    f"{archive.name}: member {info.filename!r} is a symbolic link; the archive "
                    "is rejected."
                )
            if file_type and file_type not in (stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeInputError(
                    f"{archive.name}: member {info.filename!r} is a special file; the archive "
                    "is rejected."
                )
            yield info.filename, info.file_size, info


def _extract_zip(archive: Path, target: Path, max_bytes: int) -> int:
    members = list(_zip_members(archive))
    checked = [(_safe_member_path(name, archive), size, info) for name, size, info in members]
    _check_declared(archive, [size for _, size, info in checked if not info.is_dir()], max_bytes)
    budget = [max_bytes]
    skipped = 0
    with zipfile.ZipFile(archive) as opened:
        for path, _, info in checked:
            if info.is_dir() or not path.parts:
                continue
            if not _is_mask(path.name) or path.name.startswith("."):
                skipped += 1
                continue
            with opened.open(info) as source:
                _write_member(source, target.joinpath(*path.parts), budget, archive)
    return skipped


def _extract_tar(archive: Path, target: Path, max_bytes: int) -> int:
    with tarfile.open(archive, "r:*") as opened:
        members = opened.getmembers()
        for member in members:
            _safe_member_path(member.name, archive)
            kind = (
                "a symbolic link" if member.issym()
                else "a hard link" if member.islnk()
                else "a device or FIFO" if (member.isdev())
                else None
            )  # fmt: skip
            if kind is not None:
                raise UnsafeInputError(
                    f"{archive.name}: member {member.name!r} is {kind}; the archive is rejected."
                )
        _check_declared(archive, [m.size for m in members if m.isfile()], max_bytes)
        budget = [max_bytes]
        skipped = 0
        for member in members:
            path = _safe_member_path(member.name, archive)
            if not member.isfile() or not path.parts:
                continue
            if not _is_mask(path.name) or path.name.startswith("."):
                skipped += 1
                continue
            source = opened.extractfile(member)
            if source is None:
                continue
            with source:
                _write_member(source, target.joinpath(*path.parts), budget, archive)
    return skipped


def _check_declared(archive: Path, sizes: list[int], max_bytes: int) -> None:
    total = sum(sizes)
    if total > max_bytes:
        raise UnsafeInputError(
            f"{archive.name}: its members add up to {total / 2**20:.0f} MiB uncompressed, more "
            f"than the limit of {max_bytes / 2**20:.0f} MiB; the archive is rejected (raise "
            "--max-archive-bytes if it is genuine)."
        )


def _single_folder(folder: Path) -> Path:
    """Descend into a lone top-level folder (archives often wrap everything in one)."""
    while True:
        children = [child for child in folder.iterdir() if not child.name.startswith(".")]
        if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
            folder = children[0]
        else:
            return folder


def prepare_submission(submission: Submission, scratch: Path, max_bytes: int) -> tuple[Path, int]:
    """The folder of masks to score for a submission.

    Parameters
    ----------
    submission : Submission
    scratch : pathlib.Path
        A private, empty temporary folder for this submission's extraction.
    max_bytes : int
        Limit on the total uncompressed size of an archive.

    Returns
    -------
    folder : pathlib.Path
        The submission folder itself, or where its archive was extracted; a lone
        top-level folder is descended into.
    skipped : int
        Archive members that are not masks (left unextracted).

    Raises
    ------
    UnsafeInputError
        Hostile members, escaping links, size limits, unreadable archives.
    """
    if submission.kind == "link":
        raise UnsafeInputError(
            f"{submission.source.name}: the submission is a symbolic link (to "
            f"{os.readlink(submission.source)!r}); submit a folder or an archive."
        )
    try:
        if submission.kind == "folder":
            _check_folder(submission.source)
            return _single_folder(submission.source), 0
        if submission.kind == "zip":
            skipped = _extract_zip(submission.source, scratch, max_bytes)
        else:
            skipped = _extract_tar(submission.source, scratch, max_bytes)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        shutil.rmtree(scratch, ignore_errors=True)
        raise UnsafeInputError(
            f"{submission.source.name}: cannot read the archive ({err}); upload it again."
        ) from err
    except UnsafeInputError:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if not any(scratch.rglob("*")):
        raise UnsafeInputError(
            f"{submission.source.name}: the archive holds no mask files "
            f"({', '.join(sorted(MASK_SUFFIXES))})."
        )
    return _single_folder(scratch), skipped
