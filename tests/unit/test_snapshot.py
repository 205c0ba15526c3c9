"""The cached attribute base of real-time decisions (``cvm.events.snapshot``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cvm.engine import Engine
from cvm.events.snapshot import GATHER_MIN_ROWS, OfflineSnapshot
from tests.conftest import CUSTOMERS_CSV, write

N = 3 * GATHER_MIN_ROWS
BASE = pl.DataFrame(
    {
        "customer_id": [f"C{i}" for i in range(N)],
        "value": [i * 1.5 for i in range(N)],
        "consent_email": [None if i % 5 == 0 else i % 2 == 0 for i in range(N)],
        "timezone": ["Europe/Paris" if i % 2 else None for i in range(N)],
    }
)


@pytest.fixture
def snapshot(engine: Engine, tmp_path: Path) -> OfflineSnapshot:
    engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))  # the offline store exists
    snap = OfflineSnapshot(engine.offline, loader=lambda as_of: BASE)
    snap.refresh()
    return snap


@pytest.mark.parametrize("many", [GATHER_MIN_ROWS - 1, GATHER_MIN_ROWS, N])
def test_prefetch_reads_each_row_as_view_does(snapshot: OfflineSnapshot, many: int) -> None:
    """A few rows are read one by one, many in one gather: either way each customer's row and consents."""
    ids = [*[f"C{i}" for i in range(0, N, N // many)][:many], "NOT-IN-THE-BASE"]
    snapshot.prefetch(ids)
    for cid in ids[:-1]:
        i = int(cid[1:])
        row, consents = snapshot.view(cid)
        assert row == {"customer_id": cid, "value": i * 1.5, "consent_email": BASE["consent_email"][i],
                       "timezone": BASE["timezone"][i]}  # fmt: skip
        assert consents == ({} if i % 5 == 0 else {"email": i % 2 == 0})
    assert snapshot.view("NOT-IN-THE-BASE") == ({}, {})
