"""Submissions from strangers: find them, unpack what is scored, refuse tricks.

Each child of a submissions folder is one submission: a folder, or a ``.zip``,
``.tar``, ``.tar.gz`` / ``.tgz`` archive, named by the child without its archive
extension (two children with the same stem, ``alice/`` and ``alice.zip``, are
both kept, under their full names). Nothing in a submission is trusted:

* an archive holding any member with an absolute path, a ``..`` component, a
  symbolic or hard link, or a device or FIFO is rejected as a whole (no honest
  submission contains one), before anything is extracted;
* an archive is bounded before it is read: at most
  :data:`~segeval.io.files.MAX_ARCHIVE_MEMBERS` members (counted from the zip
  end record, or while reading tar headers), tar metadata headers (PAX, GNU long
  names) of at most :data:`MAX_TAR_HEADER_BYTES`, paths at most
  :data:`~segeval.inputs.pairing.MAX_DEPTH` folders deep, and members adding up
  to at most ``max_archive_bytes`` uncompressed (declared sizes);
* only the mask members that pair with a ground-truth file are extracted, each
  at most ``max_mask_bytes`` (declared, and again while writing), all of them
  within the extraction budget the batch grants (``extract_bytes``), into a
  private temporary folder, by writing each member's bytes to a path built and
  checked here (never ``extractall``). Other mask members are counted as extra
  predictions, other files as skipped, and neither is extracted;
* a submission folder holding a symbolic link that leads outside it (or
  nowhere: a loop), or a hard link to a ground-truth file, is rejected as a
  whole: a submission must never read the ground truth or another submission.

A refused submission raises :class:`~segeval.errors.UnsafeInputError`; the batch
turns it into an invalid line of the leaderboard, never into a stopped batch.

The submissions folder may be a prefix in an object store
(:class:`~segeval.io.storage.RemotePath`): each sub-prefix is a folder
submission and each archive object an archive submission, listed one level at
a time as a folder is. A store holds no links, so a prefix submission needs no
link check; its masks are read by the workers from the store. An archive
object is read through ranged requests (a seekable remote file), with every
check above unchanged, so only the headers and the paired members' bytes are
fetched and nothing but the paired members reaches the disk. A denied or
failed read makes that submission invalid, naming the object.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from segeval.errors import SegevalError, UnsafeInputError, format_bytes
from segeval.inputs.digest import file_digest, folder_digest
from segeval.inputs.pairing import MAX_DEPTH, PairingOptions, key_of, walk_files
from segeval.io.files import MAX_ARCHIVE_MEMBERS, zip_entry_count
from segeval.io.storage import Location, RemotePath, StorageError
from segeval.wording import counted

__all__ = [
    "ARCHIVE_SUFFIXES",
    "MAX_TAR_HEADER_BYTES",
    "ExtractionLimits",
    "NeedsMoreSpace",
    "PreparedFolder",
    "Submission",
    "discover_submissions",
    "prepare_submission",
]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".tar")

#: Largest tar metadata header (PAX extended header, GNU long name or link)
#: read into memory; honest ones hold a few hundred bytes.
MAX_TAR_HEADER_BYTES = 1 << 20

_COPY_BLOCK = 1 << 20
_LONG_HEADERS = {
    tarfile.GNUTYPE_LONGNAME: "GNU long-name",
    tarfile.GNUTYPE_LONGLINK: "GNU long-link",
    tarfile.XHDTYPE: "PAX",
    tarfile.XGLTYPE: "PAX global",
    tarfile.SOLARIS_XHDTYPE: "Solaris extended",
}


@dataclass(frozen=True)
class Submission:
    """One child of the submissions folder.

    Attributes
    ----------
    name : str
        The child's name without archive extension (its full name when another
        child has the same stem).
    source : Location
        The folder or archive (a prefix or an object in a store).
    kind : str
        ``"folder"``, ``"zip"``, ``"tar"``, or ``"link"`` (a symbolic link: rejected).
    """

    name: str
    source: Location
    kind: str

    @property
    def is_archive(self) -> bool:
        """True for zip and tar submissions (whose scored members are extracted)."""
        return self.kind in ("zip", "tar")

    def fingerprint(self) -> str:
        """A digest of the submission's content (archive bytes, or every file of a folder).

        Content only: a file rewritten with the same size and time still changes it.
        A submission that cannot be read gets the digest of its error, so that a
        digest never stops a batch.
        """
        try:
            if isinstance(self.source, RemotePath):
                # The store's hashes (ETags): a replaced object changes it, nothing is fetched.
                return self.source.content_digest()
            if self.kind == "link":
                return hashlib.sha256(os.fsencode(os.readlink(self.source))).hexdigest()
            if self.kind != "folder":
                return file_digest(self.source)
            return folder_digest(self.source)
        except (SegevalError, OSError) as err:
            problem = f"unreadable\0{err}".encode("utf-8", "surrogateescape")
            return hashlib.sha256(problem).hexdigest()


def _archive_kind(path: Location) -> tuple[str, str] | None:
    lowered = path.name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return path.name[: -len(suffix)], "zip" if suffix == ".zip" else "tar"
    return None


def _distinct_names(stems: dict[Location, str]) -> dict[Location, str]:
    """Give every child a distinct name: its stem, or its full name where stems clash.

    Full names are distinct in a folder, so repeating until no name is shared ends.

    Examples
    --------
    >>> names = _distinct_names({Path("a"): "a", Path("a.zip"): "a", Path("b.zip"): "b"})
    >>> sorted(names.values())
    ['a', 'a.zip', 'b']
    """
    names = dict(stems)
    while True:
        counts = Counter(names.values())
        clashing = [child for child, name in names.items() if counts[name] > 1]
        if not clashing:
            return names
        for child in clashing:
            names[child] = child.name


def discover_submissions(
    root: Location, *, exclude: Iterable[Location] = ()
) -> tuple[list[Submission], list[Location]]:
    """List the submissions under ``root``, sorted by name.

    Parameters
    ----------
    root : Location
        The submissions folder, or a prefix in an object store (one delimited
        listing: sub-prefixes are folders, objects are archives or ignored).
    exclude : iterable of pathlib.Path
        Children that are not submissions whatever they hold (listed as ignored).

    Returns
    -------
    submissions : list of Submission
        Distinct names: a stem shared by two children (``alice/`` and
        ``alice.zip``) gives way to the children's full names.
    ignored : list of Location
        Children that are neither folders nor archives (and hidden ones).

    Raises
    ------
    StorageError
        A prefix that cannot be listed (missing bucket, denied) or holds nothing.
    """
    if isinstance(root, RemotePath):
        return _discover_remote(root, set(exclude))
    excluded = set(exclude)
    stems: dict[Location, str] = {}
    kinds: dict[Location, str] = {}
    ignored: list[Location] = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or child in excluded:
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
        stems[child], kinds[child] = found
    names = _distinct_names(stems)
    submissions = [Submission(names[child], child, kinds[child]) for child in stems]
    return sorted(submissions, key=lambda submission: submission.name), ignored


def _discover_remote(
    root: RemotePath, excluded: set[Location]
) -> tuple[list[Submission], list[Location]]:
    """:func:`discover_submissions` on a prefix: the same rules on one delimited listing."""
    stems: dict[Location, str] = {}
    kinds: dict[Location, str] = {}
    ignored: list[Location] = []
    for child, is_prefix in root.children():
        if child.name.startswith(".") or child in excluded:
            ignored.append(child)
            continue
        found = (child.name, "folder") if is_prefix else _archive_kind(child)
        if found is None:
            ignored.append(child)
            continue
        stems[child], kinds[child] = found
    names = _distinct_names(stems)
    submissions = [Submission(names[child], child, kinds[child]) for child in stems]
    return sorted(submissions, key=lambda submission: submission.name), ignored


# ------------------------------------------------------------------ preparing


@dataclass(frozen=True)
class ExtractionLimits:
    """What one submission may cost.

    Attributes
    ----------
    max_archive_bytes : int
        Declared uncompressed size of all members of an archive together.
    max_mask_bytes : int or None
        Size of one mask member (the limit on mask files, ``--max-mask-bytes``).
    extract_bytes : int
        Bytes this submission may write to the temporary folder (its share of
        the batch's extraction limit).
    """

    max_archive_bytes: int
    max_mask_bytes: int | None
    extract_bytes: int


@dataclass(frozen=True)
class PreparedFolder:
    """The folder of masks to score for a submission.

    Attributes
    ----------
    folder : Location
        The submission folder or prefix itself (a lone top-level folder
        descended into), or where its paired members were extracted.
    skipped : int
        Archive members left unextracted that are not masks (or are hidden).
    extra : tuple of pathlib.Path
        Mask members with no ground truth, left unextracted (as paths under
        ``folder``, for messages).
    extracted_bytes : int
        Bytes written to the temporary folder.
    """

    folder: Location
    skipped: int = 0
    extra: tuple[Path, ...] = ()
    extracted_bytes: int = 0


class NeedsMoreSpace(UnsafeInputError):
    """The paired members need more than this submission's share of the extraction limit.

    Nothing is left extracted; the batch tries again with a larger share (alone).
    """

    needed: int = 0


@dataclass(frozen=True)
class _Member:
    """An archive member: its path inside the archive, and how to read it."""

    name: str
    parts: tuple[str, ...]
    size: int
    is_dir: bool
    handle: Any


def _refuse(archive: Location, message: str) -> UnsafeInputError:
    return UnsafeInputError(f"{archive.name}: {message}; the archive is rejected.")


def _shown(name: str) -> str:
    """A member name for a message: at most 80 characters."""
    return repr(name if len(name) <= 80 else name[:40] + "..." + name[-37:])


def _member_parts(name: str, archive: Location) -> tuple[str, ...]:
    """The member's relative path parts, refusing absolute, ``..`` and too deep paths."""
    normalized = name.replace("\\", "/")
    path = PurePosixPath(normalized)
    if (
        normalized.startswith("/")
        or (len(normalized) > 1 and normalized[1] == ":")  # a Windows drive
        or any(part == ".." for part in path.parts)
    ):
        raise _refuse(archive, f"member {_shown(name)} has an absolute path or a '..' component")
    parts = tuple(part for part in path.parts if part not in ("", "."))
    if len(parts) > MAX_DEPTH + 1:
        raise _refuse(archive, f"member {_shown(name)} is nested deeper than {MAX_DEPTH} folders")
    return parts


def _check_declared(archive: Location, total: int, max_bytes: int) -> None:
    if total > max_bytes:
        raise _refuse(
            archive,
            f"its members add up to {total / 2**20:.0f} MiB uncompressed, more than the limit "
            f"of {max_bytes / 2**20:.0f} MiB (raise --max-archive-bytes if it is genuine)",
        )


def _check_count(archive: Location, count: int) -> None:
    if count > MAX_ARCHIVE_MEMBERS:
        raise _refuse(
            archive,
            f"it declares {counted(count, 'member')}, more than the {MAX_ARCHIVE_MEMBERS} allowed",
        )


def _zip_members(archive: Location, opened: zipfile.ZipFile, max_bytes: int) -> list[_Member]:
    members = []
    for info in opened.infolist():
        mode = info.external_attr >> 16
        file_type = stat.S_IFMT(mode)  # 0 when the archiver recorded no type
        if stat.S_ISLNK(mode):
            raise _refuse(archive, f"member {_shown(info.filename)} is a symbolic link")
        if file_type and file_type not in (stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(archive, f"member {_shown(info.filename)} is a special file")
        parts = _member_parts(info.filename, archive)
        members.append(_Member(info.filename, parts, info.file_size, info.is_dir(), info))
    _check_declared(archive, sum(m.size for m in members if not m.is_dir), max_bytes)
    return members


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header that refuses metadata headers (PAX, GNU long names) over a limit.

    tarfile reads such a header's whole declared size into memory before
    parsing it; a 4 MB archive may declare 2 GiB.
    """

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _LONG_HEADERS and self.size > MAX_TAR_HEADER_BYTES:
            raise UnsafeInputError(
                f"a {_LONG_HEADERS[self.type]} header declares {format_bytes(self.size)}, more "
                f"than the {format_bytes(MAX_TAR_HEADER_BYTES)} allowed"
            )
        member: tarfile.TarInfo = super()._proc_member(archive)  # type: ignore[misc]
        return member


def _tar_members(archive: Location, opened: tarfile.TarFile, max_bytes: int) -> list[_Member]:
    members: list[_Member] = []
    total = 0
    while True:
        member = opened.next()  # one header at a time: every check comes before the next
        if member is None:
            return members
        _check_count(archive, len(members) + 1)
        parts = _member_parts(member.name, archive)
        kind = (
            "a symbolic link" if member.issym()
            else "a hard link" if member.islnk()
            else "a device or FIFO" if (member.isdev())
            else None
        )  # fmt: skip
        if kind is not None:
            raise _refuse(archive, f"member {_shown(member.name)} is {kind}")
        if member.isfile():
            total += member.size
            _check_declared(archive, total, max_bytes)  # before skipping over its data
        elif not member.isdir():
            continue  # other header types hold no file
        members.append(_Member(member.name, parts, member.size, member.isdir(), member))


def _wrapper(members: list[_Member]) -> tuple[str, ...]:
    """The lone top-level folder(s) everything sits in (archives often wrap their files).

    Examples
    --------
    >>> def member(name, is_dir=False):
    ...     return _Member(name, tuple(name.split("/")), 0, is_dir, None)
    >>> _wrapper([member("team/preds/a.png"), member("team/preds/b.png")])
    ('team', 'preds')
    >>> _wrapper([member("team/a.png"), member("README.txt")])
    ()
    """
    prefix: tuple[str, ...] = ()
    while True:
        depth = len(prefix)
        below = [m for m in members if m.parts[:depth] == prefix and len(m.parts) > depth]
        children = {m.parts[depth] for m in below if not m.parts[depth].startswith(".")}
        if len(children) != 1:
            return prefix
        (child,) = children
        is_folder = any(
            len(m.parts) > depth + 1 or m.is_dir for m in below if m.parts[depth] == child
        )
        if not is_folder:
            return prefix
        prefix = (*prefix, child)


def _write_member(
    source: IO[bytes], target: Path, limit: int, budget: list[int], archive: Location, name: str
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never follow or overwrite anything already in the private folder.
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    with os.fdopen(handle, "wb") as output:
        while True:
            block = source.read(_COPY_BLOCK)
            if not block:
                break
            written += len(block)
            budget[0] -= len(block)
            if written > limit or budget[0] < 0:
                raise _refuse(
                    archive,
                    f"member {_shown(name)} expands beyond its declared size or the limit on "
                    "uncompressed size (raise --max-archive-bytes if it is genuine)",
                )
            output.write(block)


def _extract(
    archive: Location,
    target: Path,
    members: list[_Member],
    open_member: Callable[[Any], IO[bytes] | None],
    is_paired: Callable[[tuple[str, ...]], bool | None],
    limits: ExtractionLimits,
) -> PreparedFolder:
    """Extract the paired mask members below the wrapper folder, refusing what is too big."""
    prefix = _wrapper(members)
    chosen: list[tuple[_Member, tuple[str, ...]]] = []
    extra: list[Path] = []
    skipped = 0
    for member in members:
        if (
            member.is_dir
            or member.parts[: len(prefix)] != prefix
            or len(member.parts) == len(prefix)
        ):
            skipped += not member.is_dir
            continue
        relative = member.parts[len(prefix) :]
        paired = is_paired(relative)
        if paired is None:
            skipped += 1
        elif not paired:
            extra.append(target.joinpath(*relative))
        elif limits.max_mask_bytes is not None and member.size > limits.max_mask_bytes:
            raise _refuse(
                archive,
                f"member {_shown(member.name)} declares {format_bytes(member.size)}, more than "
                f"the limit of {format_bytes(limits.max_mask_bytes)} per mask file (raise "
                "--max-mask-bytes if it is genuine)",
            )
        else:
            chosen.append((member, relative))
    needed = sum(member.size for member, _ in chosen)
    if needed > limits.extract_bytes:
        error = NeedsMoreSpace(
            f"{archive.name}: its scored members need {format_bytes(needed)} extracted, more "
            f"than the limit of {format_bytes(limits.extract_bytes)} (raise --max-extract-bytes "
            "if it is genuine)."
        )
        error.needed = needed
        raise error
    budget = [needed]
    for member, relative in chosen:
        source = open_member(member.handle)
        if source is None:
            continue
        with source:
            _write_member(
                source, target.joinpath(*relative), member.size, budget, archive, member.name
            )
    return PreparedFolder(target, skipped, tuple(extra), needed - budget[0])


def _pairing_rule(
    gt_keys: frozenset[str], options: PairingOptions
) -> Callable[[tuple[str, ...]], bool | None]:
    """Member path -> True (pairs with a ground-truth file), False (an extra mask) or None."""

    def is_paired(parts: tuple[str, ...]) -> bool | None:
        if any(part.startswith(".") for part in parts[:-1]):
            return None  # inside a hidden folder, as when walking a folder
        key = key_of(
            PurePosixPath(*parts),
            suffix=options.pred_suffix,
            glob=options.pred_glob,
            flat=options.flat,
        )
        return None if key is None else key in gt_keys

    return is_paired


def _check_folder(folder: Path, gt_files: frozenset[tuple[int, int]]) -> None:
    """Reject links leading outside the folder or nowhere, and hard links to the ground truth."""
    root = os.path.realpath(folder)
    for path in walk_files(folder, error=UnsafeInputError, links_to_folders=True):
        where = f"{folder.name}/{path.relative_to(folder).as_posix()}"
        if path.is_symlink():
            target = os.path.realpath(path)
            if os.path.commonpath([root, target]) != root:
                raise UnsafeInputError(
                    f"{where}: a symbolic link leading outside the submission; the submission "
                    "is rejected."
                )
            if not os.path.exists(target):
                raise UnsafeInputError(
                    f"{where}: a symbolic link that leads nowhere (a loop or a missing file); "
                    "the submission is rejected."
                )
        try:
            info = os.stat(path)
        except OSError:
            continue  # refused when read, with its reason
        if (info.st_dev, info.st_ino) in gt_files:
            raise UnsafeInputError(
                f"{where}: a hard link to a ground-truth file; the submission is rejected."
            )


def _single_folder(folder: Location) -> Location:
    """Descend into a lone top-level folder (submissions often wrap everything in one)."""
    if isinstance(folder, RemotePath):
        for _ in range(MAX_DEPTH):
            entries = [entry for entry in folder.children() if not entry[0].name.startswith(".")]
            if len(entries) != 1 or not entries[0][1]:
                break
            folder = entries[0][0]
        return folder
    for _ in range(MAX_DEPTH):
        children = [child for child in folder.iterdir() if not child.name.startswith(".")]
        if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
            folder = children[0]
        else:
            break
    return folder


def _open_archive(archive: Location) -> IO[bytes]:
    """The archive's bytes: a local file, or an object read with ranged requests."""
    if isinstance(archive, RemotePath):
        return archive.open_read()
    return archive.open("rb")


def prepare_submission(
    submission: Submission,
    scratch: Path,
    *,
    gt_keys: frozenset[str],
    pairing: PairingOptions,
    limits: ExtractionLimits,
    gt_files: frozenset[tuple[int, int]] = frozenset(),
) -> PreparedFolder:
    """The folder of masks to score for a submission.

    Parameters
    ----------
    submission : Submission
    scratch : pathlib.Path
        A private, empty temporary folder for this submission's extraction.
    gt_keys : frozenset of str
        The ground truth's pairing keys: only members with one are extracted.
    pairing : PairingOptions
        How prediction names become keys (suffix, glob, flat).
    limits : ExtractionLimits
    gt_files : frozenset of (device, inode)
        The ground-truth files, which a folder submission must not hard-link.

    Returns
    -------
    PreparedFolder

    Raises
    ------
    UnsafeInputError
        Hostile members, escaping links, size limits, unreadable archives (any
        failure of the archive libraries on the archive's bytes);
        :class:`NeedsMoreSpace` when only the extraction share is too small.
        Whatever was extracted is removed first (with ``scratch`` itself).
    """
    if submission.kind == "link":
        raise UnsafeInputError(
            f"{submission.source.name}: the submission is a symbolic link; submit a folder or "
            "an archive."
        )
    if submission.kind == "folder":
        if isinstance(submission.source, Path):
            _check_folder(submission.source, gt_files)
        return PreparedFolder(_single_folder(submission.source))
    archive = submission.source
    is_paired = _pairing_rule(gt_keys, pairing)
    try:
        with _open_archive(archive) as stream:
            if submission.kind == "zip":
                count = zip_entry_count(stream)
                if count is not None:
                    _check_count(archive, count)
                stream.seek(0)
                with zipfile.ZipFile(stream) as opened:
                    members = _zip_members(archive, opened, limits.max_archive_bytes)
                    return _extract(archive, scratch, members, opened.open, is_paired, limits)
            with tarfile.open(fileobj=stream, mode="r:*", tarinfo=_BoundedTarInfo) as opened:
                members = _tar_members(archive, opened, limits.max_archive_bytes)
                return _extract(archive, scratch, members, opened.extractfile, is_paired, limits)
    except StorageError:
        shutil.rmtree(scratch, ignore_errors=True)
        raise  # the store's one-line reason (denied, missing), naming the object
    except UnsafeInputError as err:
        shutil.rmtree(scratch, ignore_errors=True)  # nothing half-extracted stays
        if err.message.startswith(f"{archive.name}:"):
            raise
        raise _refuse(archive, err.message) from err
    except Exception as err:  # zipfile, tarfile, zlib on hostile bytes: any failure
        shutil.rmtree(scratch, ignore_errors=True)
        raise UnsafeInputError(
            f"{archive.name}: cannot read the archive ({type(err).__name__}: {err}); "
            "upload it again."
        ) from err
