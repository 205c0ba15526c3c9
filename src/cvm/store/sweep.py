"""Staging folders a crashed run left behind, swept when the store next opens for writing.

A run stages intermediate files beside the store's tables: the scoring chunks in ``.staging-*``
(:func:`cvm.store.chunks.staging_folder`) and the plans' inputs in ``_staging/plans-*``
(:mod:`cvm.jobs.plan_load`). A run that ends removes its folder; one killed (``kill -9``, out of memory) cannot.

The run that owns a folder holds an exclusive lock on its ``.owner`` file (:func:`owned`) for as long as it
writes there; the kernel releases the lock when the process dies, however it dies. :func:`sweep_staging` removes
a folder only when it is older than the store's retention (the last change to it) *and* its owner is gone: the
lock is free. A folder without an owner record (a run between creating the folder and claiming it, or one
written by an older CVM) is only removed once it has not changed for :data:`UNOWNED_GRACE_SECONDS` either.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

OWNER = ".owner"
#: The staging folders under a store's root (glob patterns).
PATTERNS = (".staging-*", "_staging/plans-*")
#: Seconds a folder without an owner record must be left unchanged before it counts as abandoned.
UNOWNED_GRACE_SECONDS = 600.0


@contextmanager
def owned(folder: Path, remove: bool = True) -> Iterator[Path]:
    """Claim ``folder`` (created if needed) for this process while the block runs, and remove it afterwards
    (``remove``): a live run's folder is never swept.

    The claim is an exclusive ``flock`` on ``folder/.owner``, which records this process; the folder is removed
    before the claim ends, so no sweep races the run's own clean-up.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / OWNER, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        fh.truncate(0)
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
        fh.flush()
        try:
            yield folder
        finally:
            if remove:
                shutil.rmtree(folder, ignore_errors=True)
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _age(folder: Path, now: float) -> float:
    """Seconds since the last change to ``folder`` or its direct entries."""
    latest = folder.stat().st_mtime
    for entry in folder.iterdir():
        with suppress(OSError):
            latest = max(latest, entry.lstat().st_mtime)
    return now - latest


def _remove_if_abandoned(folder: Path, retain_seconds: float, now: float) -> bool:
    """Remove ``folder`` when it is older than the retention and no live process owns it."""
    try:
        age = _age(folder, now)
    except OSError:  # removed meanwhile (its run ended)
        return False
    if age < retain_seconds:
        return False
    owner = folder / OWNER
    try:
        fh = open(owner, "r+", encoding="utf-8")  # noqa: SIM115 (the lock must outlive the check: closed below)
    except FileNotFoundError:
        if age < max(retain_seconds, UNOWNED_GRACE_SECONDS):
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live run holds it
            return False
        if not fh.read().strip() and age < max(retain_seconds, UNOWNED_GRACE_SECONDS):
            return False  # the owner opened the file but has not locked it yet
        shutil.rmtree(folder, ignore_errors=True)  # still locked by us: no run can claim it meanwhile
    return True


def sweep_staging(root: Path, retain_seconds: float, now: float | None = None) -> list[Path]:
    """Remove the staging folders under ``root`` that crashed runs left (see the module docstring).

    Returns the folders removed.
    """
    at = time.time() if now is None else now
    removed: list[Path] = []
    for pattern in PATTERNS:
        for folder in sorted(root.glob(pattern)):
            if folder.is_dir() and not folder.is_symlink() and _remove_if_abandoned(folder, retain_seconds, at):
                removed.append(folder)
    return removed
