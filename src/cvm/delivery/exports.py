"""File transports for batch campaign tools: CSV and Parquet, appended per worker run.

Every worker run writes its own files under ``<workspace>/<export_dir>/``:
``actions-<run>.csv`` grows by one synced line per action, and Parquet gets one
part ``actions-<run>-<seq>.parquet`` per batch, written to a temporary name and
renamed. An action counts as delivered only once its bytes are on disk. A crash
between the write and the status update exports the action again in a later
run: campaign tools dedupe on the ``idempotency_key`` column.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cvm.contracts.actions import EXPORT_COLUMNS, STORED
from cvm.contracts.csvsafe import SafeDictWriter
from cvm.delivery.items import Outbound, Outcome

COLUMNS = EXPORT_COLUMNS  # from the action-request contract: the dedupe key first, then the payload


def _record(item: Outbound, exported_at: str) -> dict[str, Any]:
    p = item.payload
    reasons = p.get("reasons") or []
    return {
        **{c: p.get(c) for c in COLUMNS},
        "request_id": item.id,
        "idempotency_key": item.idempotency_key,
        "reasons": ";".join(str(r) for r in reasons),
        "exported_at": exported_at,
    }


def _failed(items: Sequence[Outbound], exc: OSError) -> list[Outcome]:
    return [Outcome(False, "failed", error=f"{type(exc).__name__}: {exc}"[:1000]) for _ in items]


class CsvExport:
    """Append actions to ``actions-<run>.csv``, one synced line per action (cells per :mod:`cvm.contracts.csvsafe`)."""

    name = "csv"
    parallel = False

    def __init__(self, folder: Path, run_id: str) -> None:
        self.path = folder / f"actions-{run_id}.csv"

    def deliver(self, items: Sequence[Outbound]) -> list[Outcome]:
        now = datetime.now(UTC).isoformat()
        buffer = io.StringIO()
        writer = SafeDictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")  # formula-safe cells
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists() or self.path.stat().st_size == 0:
                writer.writeheader()
            writer.writerows(_record(item, now) for item in items)
            with open(self.path, "a", encoding="utf-8", newline="") as fh:
                fh.write(buffer.getvalue())
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            return _failed(items, exc)
        return [Outcome(True, "delivered") for _ in items]

    def close(self) -> None:
        return None


class ParquetExport:
    """Write each batch of actions as one Parquet part of this run, atomically."""

    name = "parquet"
    parallel = False

    def __init__(self, folder: Path, run_id: str) -> None:
        self.folder = folder
        self.run_id = run_id
        self._seq = 0

    def deliver(self, items: Sequence[Outbound]) -> list[Outcome]:
        if not items:
            return []
        now = datetime.now(UTC).isoformat()
        rows = [_record(item, now) for item in items]
        table = pa.Table.from_pylist(rows, schema=_schema())
        self._seq += 1
        final = self.folder / f"actions-{self.run_id}-{self._seq:05d}.parquet"
        tmp = final.with_suffix(".parquet.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            return _failed(items, exc)
        return [Outcome(True, "delivered") for _ in items]

    def close(self) -> None:
        return None


def _schema() -> pa.Schema:
    types = {"request_id": pa.int64(), **{n: pa.float64() for n, st in STORED.items() if st.kind == "float"}}
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])
