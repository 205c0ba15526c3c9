"""Where the offline store lives: a local folder or an S3 bucket, behind one filesystem seam.

``store.offline_path`` is a folder (relative to the workspace, absolute, or ``file://``) or an object-store
URL ``s3://bucket/prefix`` (``s3a://``, Hadoop's name for the same, is accepted and means the same objects).
:func:`locate` turns it into a :class:`Location`: a pyarrow filesystem and the store's base path in it, which
the store writes Parquet parts through, DuckDB reads through (an fsspec wrapper registered on the connection),
Polars scans through (its own object-store reader, given the same endpoint) and Spark reads as ``s3a://``.

On S3 the credentials, the region and the endpoint come from the environment only, never from ``cvm.yaml``:
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``), ``AWS_REGION`` and
``AWS_ENDPOINT_URL`` (an S3-compatible server such as MinIO; ``http://`` endpoints are allowed).

Any other scheme is refused with an error naming ``store.offline_path``: it never becomes a local folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvm.config.storage_url import OBJECT_SCHEMES, check_offline_path, scheme_of
from cvm.errors import ConflictError, CvmError, InvalidError

if TYPE_CHECKING:
    from pyarrow import fs as pafs

__all__ = [
    "OBJECT_SCHEMES",
    "ConcurrentWriteError",
    "Location",
    "StorageURLError",
    "StoreUnreachableError",
    "locate",
    "scheme_of",
]


class StorageURLError(InvalidError, ValueError):
    """``store.offline_path`` names a storage this CVM cannot reach."""


class ConcurrentWriteError(ConflictError, RuntimeError):
    """Another writer committed to the object store between this write's start and its commit."""


class StoreUnreachableError(CvmError, OSError):
    """The object store cannot be reached: no server at the endpoint, no such bucket, credentials refused."""


def check_url(url: str) -> str:
    """Return ``url`` when ``store.offline_path`` may hold it, else raise :class:`StorageURLError` naming it."""
    try:
        return check_offline_path(url)
    except ValueError as exc:
        raise StorageURLError(f"store.offline_path: {exc}") from None


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


@dataclass(frozen=True)
class Location:
    """A store's root: ``base`` in the filesystem of ``scheme`` (``""``: this machine's disk)."""

    url: str
    scheme: str
    base: str

    @property
    def local(self) -> bool:
        return self.scheme == ""

    def path(self, rel: str) -> str:
        """The filesystem path of ``rel`` (a path relative to the store's root)."""
        return f"{self.base}/{rel}" if rel else self.base

    def uri(self, rel: str) -> str:
        """The URL DuckDB and Polars read ``rel`` by (a plain path on a local store)."""
        return self.path(rel) if self.local else f"s3://{self.path(rel)}"

    def spark_uri(self, rel: str) -> str:
        """The URL Spark (Hadoop) reads and writes ``rel`` by: ``s3a://`` on S3."""
        return self.path(rel) if self.local else f"s3a://{self.path(rel)}"

    def rel_of(self, uri: str) -> str:
        """The store-relative path of a URL made by :meth:`uri` or :meth:`spark_uri`."""
        path = uri.split("://", 1)[1] if "://" in uri else uri
        return path[len(self.base) + 1 :]

    @cached_property
    def fs(self) -> pafs.FileSystem:
        """The pyarrow filesystem of the store (the environment's credentials and endpoint on S3)."""
        from pyarrow import fs as pafs

        if self.local:
            return pafs.LocalFileSystem()
        kwargs: dict[str, Any] = {"region": _region()} if _region() else {}
        endpoint = _endpoint()
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            kwargs |= {"endpoint_override": host.rstrip("/"), "scheme": scheme or "https"}
        return pafs.S3FileSystem(**kwargs)

    def storage_options(self) -> dict[str, str] | None:
        """Polars' options for reading the store (None on a local store)."""
        if self.local:
            return None
        names = {
            "aws_access_key_id": "AWS_ACCESS_KEY_ID",
            "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
            "aws_session_token": "AWS_SESSION_TOKEN",
        }
        options = {key: os.environ[env] for key, env in names.items() if os.environ.get(env)}
        if _region():
            options["aws_region"] = str(_region())
        endpoint = _endpoint()
        if endpoint:
            options["aws_endpoint_url"] = endpoint
            options["aws_allow_http"] = str(endpoint.startswith("http://")).lower()
        return options

    def fsspec(self) -> Any:
        """An fsspec view of :attr:`fs` (for DuckDB's ``register_filesystem``); its protocol is ``s3``."""
        from fsspec.implementations.arrow import ArrowFSWrapper

        return ArrowFSWrapper(self.fs)

    def listing(self, rel: str, suffix: str = "") -> list[str]:
        """The store-relative paths of the files under ``rel`` (recursively) whose name ends with ``suffix``."""
        from pyarrow import fs as pafs

        selector = pafs.FileSelector(self.path(rel), recursive=True, allow_not_found=True)
        start = len(self.base) + 1
        return sorted(
            info.path[start:]
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File and info.path.endswith(suffix)
        )

    def list_with_times(self, rel: str) -> list[tuple[str, float]]:
        """:meth:`listing` with each file's last change (seconds since the epoch)."""
        from pyarrow import fs as pafs

        selector = pafs.FileSelector(self.path(rel), recursive=True, allow_not_found=True)
        start = len(self.base) + 1
        return [
            (info.path[start:], info.mtime.timestamp() if info.mtime else 0.0)
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        ]

    def exists(self, rel: str) -> bool:
        if self.local:  # without loading pyarrow: short commands open the store too
            return Path(self.path(rel)).is_file()
        return self.get_versioned(rel) is not None

    def delete(self, rel: str) -> None:
        """Delete one file (gone already is fine)."""
        if self.local:
            Path(self.path(rel)).unlink(missing_ok=True)
            return
        try:
            self.fs.delete_file(self.path(rel))
        except FileNotFoundError:
            return

    @cached_property
    def _client(self) -> Any:
        try:
            import boto3
        except ImportError:
            raise StorageURLError(
                f"store.offline_path is {self.url}: an S3 store needs boto3 (pip install 'cvm[s3]')"
            ) from None
        return boto3.client("s3", endpoint_url=_endpoint(), region_name=_region())

    def _bucket_key(self, rel: str) -> tuple[str, str]:
        bucket, _, key = self.path(rel).partition("/")
        return bucket, key

    def get_versioned(self, rel: str) -> tuple[bytes, str] | None:
        """An object's content and its ETag (the token :meth:`put_if` compares), or None when absent."""
        bucket, key = self._bucket_key(rel)
        with self._reaching():
            try:
                answer = self._client.get_object(Bucket=bucket, Key=key)
            except self._client.exceptions.NoSuchKey:
                return None
            return answer["Body"].read(), str(answer["ETag"])

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn a failure to reach the bucket (no server, no bucket, refused credentials) into one clear line."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reason = f"{error.get('Code', '')}: {error.get('Message', '')}"
            raise StoreUnreachableError(self._unreachable(reason)) from None
        except BotoCoreError as exc:  # no connection, no credentials
            raise StoreUnreachableError(self._unreachable(str(exc))) from None

    def _unreachable(self, reason: str) -> str:
        return (
            f"cannot reach the offline store {self.url} ({reason}); check store.offline_path's bucket and "
            "AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
        )

    def put_if(self, rel: str, data: bytes, etag: str | None) -> None:
        """Write an object in one PUT, only if it is still the version ``etag`` (None: only if absent).

        Raises :class:`ConcurrentWriteError` when another writer changed it meanwhile (S3's conditional
        write: ``If-Match`` / ``If-None-Match: *``, answered 412, or 409 for a concurrent conditional write).
        """
        from botocore.exceptions import ClientError

        bucket, key = self._bucket_key(rel)
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        with self._reaching():
            try:
                self._client.put_object(Bucket=bucket, Key=key, Body=data, **condition)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                    raise ConcurrentWriteError(
                        f"the offline store {self.url} was changed by another writer during this write; "
                        "nothing of it was committed (one writer per store: run the command again)"
                    ) from None
                raise


def locate(offline_path: str | Path, workspace: Path | None = None) -> Location:
    """The :class:`Location` of ``store.offline_path`` (a relative folder is under ``workspace``)."""
    text = str(offline_path)
    scheme = scheme_of(check_url(text))
    if scheme in OBJECT_SCHEMES:
        base = text.split("://", 1)[1].strip("/")
        return Location(url=f"s3://{base}", scheme="s3", base=base)
    path = Path(text.split("://", 1)[1]) if scheme == "file" else Path(text)
    if workspace is not None and not path.is_absolute():
        path = workspace / path
    return Location(url=str(path), scheme="", base=str(path))
