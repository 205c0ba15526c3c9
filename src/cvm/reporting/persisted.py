"""Net-revenue tables saved by ``cvm run``, so that a freshly started server does not scan every transaction.

The growth, hunting and cohort reports all start from one net-revenue table (:mod:`cvm.reporting.shared`);
on a million customers computing it is seconds of the first dashboard page after ``cvm serve``. At the end
of ``cvm run`` :func:`persist` writes the default view's tables (:data:`VIEWS`: no filter, per month) as
Parquet under ``offline/_reports/``, each named by a digest of exactly the data files it was computed from
(the store manifest's file lists of the tables it reads), its source, period and ``as_of``. :func:`load`
returns a table only when that digest matches the current manifest: any commit that touches those tables
(new data, an erasure: both write new files) changes it, and the table is computed as before.

The tables hold customer ids, so an erasure deletes them all (:func:`forget`). Written atomically (temp
file, then ``os.replace``); Parquet only, never pickle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from cvm.reporting.periods import PeriodCode

log = logging.getLogger(__name__)

FOLDER = "_reports"
# The tables each source reads (as_of defaults to the end of both, for MRR): the digest covers their files only.
READS: dict[str, tuple[str, ...]] = {"transactions": ("transactions",), "mrr": ("subscriptions", "transactions")}
# The views persisted by ``cvm run``: the dashboard's first page (growth, then cohorts) per month.
VIEWS: tuple[tuple[str, PeriodCode], ...] = (("transactions", "M"),)

loads = 0  # tables served from disk since start (a test hook: proves a cold server did not scan)


def digest(manifest: dict[str, Any], source: str, code: str, as_of: date | None) -> str:
    """The name of the table for these files, source, period and ``as_of``."""
    files = {table: manifest["tables"].get(table, []) for table in READS[source]}
    text = json.dumps({"files": files, "source": source, "period": code, "as_of": as_of}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def folder(root: Path) -> Path:
    """Where the tables of the offline store at ``root`` are kept."""
    return Path(root) / FOLDER


def load(root: Path, name: str) -> pl.DataFrame | None:
    """The persisted table ``name``, or None when there is none (or it cannot be read: then it is recomputed)."""
    global loads
    path = folder(root) / f"{name}.parquet"
    if not path.exists():
        return None
    try:
        table = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        log.warning("a persisted report table %s could not be read; computing it: %s", path, exc)
        return None
    loads += 1
    return table


def persist(root: Path, manifest: dict[str, Any], compute: Callable[[str, PeriodCode], pl.DataFrame]) -> list[str]:
    """Compute and save the tables of :data:`VIEWS` for ``manifest``; delete those of older data. Their names."""
    target = folder(root)
    target.mkdir(exist_ok=True)
    names: list[str] = []
    for source, code in VIEWS:
        name = digest(manifest, source, code, None)
        names.append(name)
        path = target / f"{name}.parquet"
        if path.exists():
            continue
        tmp = target / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            compute(source, code).write_parquet(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    for old in target.iterdir():
        if old.stem not in names:
            old.unlink(missing_ok=True)
    return names


def forget(root: Path) -> None:
    """Delete every persisted table (an erasure: they hold customer ids)."""
    shutil.rmtree(folder(root), ignore_errors=True)
