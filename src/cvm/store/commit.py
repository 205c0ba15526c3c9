"""The manifest's reads and commits, and the writer's lock, on a local folder or an object store.

Local folder: the commit writes a temporary file, syncs it and ``os.replace``-s ``_manifest.json`` (atomic on
POSIX), and one writer at a time holds an ``flock`` on ``.lock``.

Object store (S3): one PUT of ``_manifest.json`` is atomic too (readers get the old object or the new one),
and it is *conditional*: ``If-Match`` the ETag this write read at its start (``If-None-Match: *`` when the
store is created). A second writer that committed meanwhile makes the PUT fail (HTTP 412), so the slower
writer commits nothing and gets :class:`~cvm.store.fs.ConcurrentWriteError` instead of overwriting the other's
commit. No lock object is needed, and a killed writer leaves nothing to unlock. Unlisted parts are swept only
right after a commit, which no write begun earlier can then make, and only once they are older than the
store's retention and :data:`UNLISTED_GRACE_SECONDS` (:func:`sweep_objects`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from cvm.store.fs import Location

MANIFEST = "_manifest.json"
LOCK = ".lock"
#: Seconds an unlisted object must exist before a sweep deletes it, whatever the retention: a write in progress.
UNLISTED_GRACE_SECONDS = 120.0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(location: Location) -> tuple[dict[str, Any], str | None] | None:
    """The committed manifest and its version token (the ETag on S3), or None when there is none."""
    if location.local:
        path = Path(location.path(MANIFEST))
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data, None
    got = location.get_versioned(MANIFEST)
    if got is None:
        return None
    return json.loads(got[0].decode("utf-8")), got[1]


def write(location: Location, data: dict[str, Any], token: str | None) -> None:
    """Commit ``data`` as the manifest (on S3 only if it is still the version ``token``; None: only if absent)."""
    text = json.dumps(data, indent=1, sort_keys=True, default=str)
    if not location.local:
        location.put_if(MANIFEST, text.encode("utf-8"), token)
        return
    root = Path(location.base)
    tmp = root / f"{MANIFEST}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / MANIFEST)
    _fsync_dir(root)


@contextmanager
def _flock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def writer_lock(location: Location) -> Any:
    """The one-writer guard around a transaction: an ``flock`` locally; on S3 the conditional commit is it."""
    return _flock(Path(location.base)) if location.local else nullcontext()


def sweep_objects(location: Location, tables: list[str], listed: set[str], retain_seconds: float) -> None:
    """Delete the objects of ``tables`` that no manifest lists and that are older than ``retain_seconds``
    (and :data:`UNLISTED_GRACE_SECONDS`).

    A write in progress has written its parts moments ago: the age spares them until it commits. An unlisted
    folder written by Spark (``spark-*``) goes whole, with the marker files Spark leaves in it.
    """
    now = time.time()
    for name in tables:
        for rel, changed in location.list_with_times(name):
            if rel in listed or now - changed < max(retain_seconds, UNLISTED_GRACE_SECONDS):
                continue
            spark = next((part for part in rel.split("/") if part.startswith("spark-")), None)
            if spark is not None:
                prefix = rel[: rel.index(spark) + len(spark)] + "/"
                if not any(p.startswith(prefix) for p in listed):
                    location.delete(rel)
            elif rel.endswith(".parquet"):
                location.delete(rel)


def sweep_folder(root: Path, tables: list[str], listed: set[str]) -> None:
    """Delete the Parquet files of ``tables`` under a local ``root`` that no manifest lists, and the manifest's
    temporary files (under the writer's lock: no other write is in progress). An unlisted ``spark-*`` folder
    goes whole, with the checksum and marker files Spark leaves in it."""
    for name in tables:
        folder = root / name
        if folder.is_dir():
            for path in folder.rglob("*.parquet"):
                if path.relative_to(root).as_posix() not in listed:
                    path.unlink()
            for sub in [d for d in folder.rglob("spark-*") if d.is_dir()]:
                prefix = sub.relative_to(root).as_posix() + "/"
                if not any(rel.startswith(prefix) for rel in listed):
                    shutil.rmtree(sub, ignore_errors=True)
    for tmp in root.glob(f"{MANIFEST}.*.tmp"):
        tmp.unlink()
