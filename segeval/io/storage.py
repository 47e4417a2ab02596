"""Where files live: local paths, or URLs of object stores read through fsspec.

A *location* is a :class:`pathlib.Path` (a plain path or a ``file://`` URL) or
a :class:`RemotePath` (``s3://``, ``gs://``, ``az://`` and any other fsspec
protocol). Local paths use the standard library only: fsspec is an optional
extra (``pip install segeval-masks[cloud]``) imported the first time a URL is read,
so local runs keep their speed and the core stays light.

A :class:`RemotePath` is small and picklable (its URL and storage options), so
a cluster worker receives the URL and reads the bytes from the store itself.
Storage options come from the store's own environment (``AWS_*``,
``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_*``; fsspec's
``FSSPEC_<PROTOCOL>_<KEY>``) on the machine that reads, and from
``--storage-option KEY=VALUE``, which travels with the URL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from segeval.errors import MaskReadError, SegevalError, UsageError, format_bytes

__all__ = [
    "Location",
    "RemotePath",
    "StorageError",
    "glob_remote",
    "is_url",
    "list_remote",
    "location",
    "parse_storage_options",
]


class StorageError(SegevalError):
    """An object store that cannot be reached, a missing bucket, a denied read."""


@dataclass(frozen=True)
class RemotePath:
    """A file or prefix in an object store, by URL.

    Parameters
    ----------
    url : str
        ``protocol://bucket/key`` (no trailing slash).
    storage_options : mapping
        Passed to the fsspec filesystem (endpoint, credentials, region...);
        not part of equality.

    Examples
    --------
    >>> gt = RemotePath("s3://bucket/gt")
    >>> child = gt / "a/b.png"
    >>> str(child), child.name, child.suffix, child.relative_to(gt)
    ('s3://bucket/gt/a/b.png', 'b.png', '.png', 'a/b.png')
    """

    url: str
    storage_options: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        return self.url

    def __truediv__(self, relative: str) -> RemotePath:
        return RemotePath(f"{self.url}/{relative.strip('/')}", self.storage_options)

    @property
    def protocol(self) -> str:
        """``s3``, ``gs``, ``az``..."""
        return self.url.split("://", 1)[0]

    @property
    def name(self) -> str:
        """The last component of the key."""
        return PurePosixPath(self.url.split("://", 1)[1]).name

    @property
    def suffix(self) -> str:
        """The extension of the last component (``.png``)."""
        return PurePosixPath(self.name).suffix

    @property
    def parent(self) -> RemotePath:
        """The prefix holding this object."""
        return RemotePath(self.url.rsplit("/", 1)[0], self.storage_options)

    def relative_to(self, root: RemotePath) -> str:
        """This URL relative to ``root``, in POSIX form."""
        prefix = root.url + "/"
        if not self.url.startswith(prefix):
            raise ValueError(f"{self.url} is not under {root.url}")
        return self.url[len(prefix) :]

    def is_relative_to(self, root: RemotePath) -> bool:
        """True when this URL is ``root`` or under it."""
        return self.url == root.url or self.url.startswith(root.url + "/")

    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem and the path inside it (imports fsspec)."""
        try:
            from fsspec.core import url_to_fs
        except ImportError as err:
            raise UsageError(
                f"{self.url}: reading URLs needs fsspec and the store's driver; "
                "pip install 'segeval-masks[cloud]' (s3fs), or gcsfs / adlfs for gs:// and az://."
            ) from err
        try:
            return url_to_fs(self.url, **self.storage_options)  # type: ignore[no-any-return]
        except (ImportError, ValueError) as err:
            raise UsageError(
                f"{self.url}: no fsspec driver for {self.protocol}:// ({err}); install it "
                "(s3fs for s3://, gcsfs for gs://, adlfs for az://)."
            ) from err

    def read_bytes(self, max_bytes: int | None = None) -> bytes:
        """The object's whole content, in one request.

        Parameters
        ----------
        max_bytes : int, optional
            Refuse objects larger than this (at most ``max_bytes + 1`` bytes
            are fetched to find out).

        Raises
        ------
        StorageError
            Missing object or bucket, denied access, unreachable store.
        MaskReadError
            An object over ``max_bytes``.
        """
        fs, path = self.filesystem()
        try:
            end = None if max_bytes is None else max_bytes + 1
            data = bytes(fs.cat_file(path, start=0 if end else None, end=end))
        except Exception as err:
            raise storage_error(self.url, err, "read") from err
        if max_bytes is not None and len(data) > max_bytes:
            raise MaskReadError(
                f"{self.url}: the file holds more than the limit of {format_bytes(max_bytes)}; "
                "pass a larger --max-mask-bytes if it is genuine."
            )
        return data

    def content_digest(self) -> str:
        """SHA-256 over every object under this prefix (or of this object): key and ETag.

        An ETag is the store's hash of the content (MD5 on S3 for single-part
        uploads), so a replaced object changes the digest without a download.
        """
        fs, path = self.filesystem()
        try:
            fs.invalidate_cache(path)
            found = fs.find(path, detail=True) or {path: fs.info(path)}  # a prefix or an object
        except Exception as err:
            raise storage_error(self.url, err, "list") from err
        import hashlib

        digest = hashlib.sha256()
        for name in sorted(found):
            info = found[name]
            tag = info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("size")
            digest.update(f"{name}\0{tag}\n".encode())
        return digest.hexdigest()

    def children(self) -> list[tuple[RemotePath, bool]]:
        """The objects and sub-prefixes directly under this prefix, sorted by name.

        One delimited listing (what a folder's ``iterdir`` is to a store): each
        entry is ``(child, is_prefix)``. A prefix holding nothing does not exist
        in a store, so an empty or missing prefix is an error.

        Raises
        ------
        StorageError
            Missing bucket or prefix, denied listing, unreachable store.
        """
        fs, path = self.filesystem()
        try:
            fs.invalidate_cache(path)
            found = fs.ls(path, detail=True)
        except Exception as err:
            raise storage_error(self.url, err, "list") from err
        base = path.rstrip("/") + "/"
        entries = []
        for info in found:
            name = str(info["name"]).rstrip("/")
            if not name.startswith(base) or name == path.rstrip("/"):
                continue  # the prefix itself (a zero-byte "folder" marker)
            entries.append((self / name[len(base) :], info.get("type") == "directory"))
        if not entries:
            raise StorageError(
                f"{self.url}: no objects under this prefix; check the bucket and the prefix."
            )
        return sorted(entries, key=lambda entry: entry[0].name)

    def open_read(self, block_size: int = 8 * 2**20) -> IO[bytes]:
        """A seekable binary file reading the object with ranged requests (never all of it).

        Raises
        ------
        StorageError
            Missing object or bucket, denied access, unreachable store.
        """
        fs, path = self.filesystem()
        try:
            return fs.open(path, "rb", block_size=block_size)  # type: ignore[no-any-return]
        except Exception as err:
            raise storage_error(self.url, err, "read") from err

    def exists(self) -> bool:
        """True when an object has this key (a missing one is not an error)."""
        fs, path = self.filesystem()
        try:
            fs.invalidate_cache(path)
            return bool(fs.isfile(path))
        except Exception as err:
            raise storage_error(self.url, err, "read") from err

    def remove(self) -> None:
        """Delete the object at this key, if there is one."""
        fs, path = self.filesystem()
        try:
            if fs.isfile(path):
                fs.rm_file(path)
        except Exception as err:
            raise storage_error(self.url, err, "delete") from err

    def upload(self, local: Path) -> None:
        """Put a local file at this URL in one upload (see :mod:`segeval.outputs.atomic`)."""
        fs, path = self.filesystem()
        try:
            fs.put_file(str(local), path)
        except Exception as err:
            raise storage_error(self.url, err, "write") from err


#: A file or folder: a local path, or a URL in an object store.
Location = Path | RemotePath


def is_url(value: str | os.PathLike[str] | RemotePath) -> bool:
    """True for ``protocol://`` strings other than ``file://``.

    Examples
    --------
    >>> is_url("s3://bucket/gt"), is_url("file:///data/gt"), is_url("data/gt")
    (True, False, False)
    """
    if isinstance(value, RemotePath):
        return True
    text = os.fspath(value)
    return "://" in text and not text.startswith("file://")


def location(
    value: str | os.PathLike[str] | RemotePath,
    storage_options: Mapping[str, Any] | None = None,
) -> Location:
    """A path or URL as a :data:`Location` (``file://`` URLs become local paths).

    Parameters
    ----------
    value : str, path-like or RemotePath
    storage_options : mapping, optional
        For URLs: options of the fsspec filesystem.

    Examples
    --------
    >>> location("file:///data/gt"), location("gt")
    (PosixPath('/data/gt'), PosixPath('gt'))
    >>> location("s3://bucket/gt/", {"anon": True})
    RemotePath(url='s3://bucket/gt', storage_options={'anon': True})
    """
    if isinstance(value, RemotePath):
        if storage_options is None:
            return value
        return RemotePath(value.url, dict(storage_options))
    if isinstance(value, Path):
        return value
    text = os.fspath(value)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    if "://" in text:
        return RemotePath(text.rstrip("/"), dict(storage_options or {}))
    return Path(text)


def list_remote(root: RemotePath) -> Iterator[RemotePath]:
    """Every object under a prefix, sorted, leaving out hidden folders (``.name/``).

    Raises
    ------
    StorageError
        Missing bucket, denied listing, unreachable store, or no object under
        the prefix.
    """
    fs, path = root.filesystem()
    try:
        fs.invalidate_cache(path)
        found = sorted(fs.find(path, detail=False))
    except Exception as err:
        raise storage_error(root.url, err, "list") from err
    if not found:
        raise StorageError(
            f"{root.url}: no objects under this prefix; check the bucket and the prefix."
        )
    base = path.rstrip("/") + "/"
    for entry in found:
        relative = entry[len(base) :] if entry.startswith(base) else PurePosixPath(entry).name
        if any(part.startswith(".") for part in PurePosixPath(relative).parts[:-1]):
            continue
        yield root / relative


def glob_remote(pattern: RemotePath) -> list[RemotePath]:
    """The objects matching a wildcard URL (``s3://bucket/run/part-*.segeval``), sorted."""
    fs, path = pattern.filesystem()
    try:
        fs.invalidate_cache()
        found = sorted(fs.glob(path))
    except Exception as err:
        raise storage_error(pattern.url, err, "list") from err
    prefix = f"{pattern.protocol}://"
    return [RemotePath(prefix + entry, pattern.storage_options) for entry in found]


def storage_error(url: str, err: BaseException, action: str) -> StorageError:
    """One line naming the URL and the likely cause of a store's exception."""
    if isinstance(err, SegevalError):
        return StorageError(str(err))
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, FileNotFoundError) or "NoSuchBucket" in text:
        what = "the bucket does not exist" if "bucket" in text.lower() else "not found"
        return StorageError(f"{url}: cannot {action}: {what} ({text}); check the URL.")
    if isinstance(err, PermissionError) or "AccessDenied" in text or "Forbidden" in text:
        return StorageError(
            f"{url}: cannot {action}: access denied ({text}); check the credentials "
            "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or --storage-option) and the "
            "bucket's policy."
        )
    return StorageError(f"{url}: cannot {action}: {type(err).__name__}: {text}.")


def parse_storage_options(specs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as fsspec storage options.

    Values are read as JSON where they parse (``true``, ``3``, ``{"a": 1}``),
    else kept as strings; dotted keys build nested options.

    Examples
    --------
    >>> parse_storage_options(["anon=true", "client_kwargs.region_name=eu-west-1"])
    {'anon': True, 'client_kwargs': {'region_name': 'eu-west-1'}}
    """
    options: dict[str, Any] = {}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--storage-option {spec!r}: expected KEY=VALUE (e.g. "
                "endpoint_url=http://127.0.0.1:9000)."
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        *parents, leaf = key.strip().split(".")
        target = options
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise UsageError(f"--storage-option {spec!r}: {parent} is already a value.")
        target[leaf] = value
    return options
