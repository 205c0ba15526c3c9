"""Demo hubs for tests: the demo generator's files ingested as a user would, or appended to a bare offline store."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import polars as pl

from cvm.contracts import DATA_TABLES
from cvm.engine import Engine
from cvm.store import OfflineStore


def ingest_demo(engine: Engine, data: Path, tables: Iterable[str] = DATA_TABLES) -> None:
    """Ingest each of ``tables`` from the generator's files in ``data`` (each must load cleanly)."""
    for table in tables:
        assert engine.ingest(table, sorted(data.glob(f"{table}.*"))).ok


def demo_workspace(root: Path, customers: int, seed: int, end: date, tables: Iterable[str] = DATA_TABLES) -> Path:
    """A workspace at ``root / "ws"`` holding the demo company of ``customers`` and ``seed``, its files in
    ``root / "data"``."""
    from cvm.demo import generate

    generate(customers, seed, root / "data", end=end)
    engine = Engine.init(root / "ws")
    try:
        ingest_demo(engine, root / "data", tables)
    finally:
        engine.close()
    return root / "ws"


def trained_workspace(root: Path, customers: int, seed: int, end: date, as_of: date) -> Path:
    """:func:`demo_workspace` with its champions trained and scored at ``as_of`` (closed: copy it before use)."""
    ws = demo_workspace(root, customers, seed, end)
    engine = Engine.open(ws)
    try:
        engine.scoring.train()
        engine.scoring.score(as_of=as_of)
    finally:
        engine.close()
    return ws


def demo_store(out: Path, customers: int, seed: int, end: date, tables: Iterable[str]) -> OfflineStore:
    """A bare offline store at ``out / "offline"`` with the generator's ``tables`` appended as they are."""
    from cvm.demo import generate

    generate(customers, seed=seed, out=out / "files", end=end)
    store = OfflineStore(out / "offline")
    store.create()
    with store.transaction() as tx:
        for table in tables:
            tx.append(table, pl.read_parquet(out / "files" / f"{table}.parquet"))
    return store
