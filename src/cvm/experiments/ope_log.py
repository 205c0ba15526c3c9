"""Read the logged decisions and their outcomes from the offline store, for off-policy evaluation.

The offline tables ``decision_log`` (one row per :class:`~cvm.contracts.decisionlog.DecisionRecord`, exported
from the online log) and ``decision_outcomes`` (:data:`~cvm.contracts.decisionlog.OUTCOME_COLUMNS`) are read
through the store when their schema is registered, else from their Parquet files as they lie in the store's
folder. A ``decision_log`` row is either one JSON column ``record`` (:meth:`DecisionRecord.to_dict`) or one
column per field, with ``candidates``, ``context`` and ``model_versions`` as JSON text or nested values.

This is the one small reader of off-policy evaluation; it gives way to the decision log's own reader
when that exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from cvm.contracts.decisionlog import OUTCOME_COLUMNS, DecisionOutcome, DecisionRecord
from cvm.errors import BadValueError
from cvm.store import OfflineStore

LOG_TABLE = "decision_log"
OUTCOME_TABLE = "decision_outcomes"
_NESTED = ("candidates", "context", "model_versions")
_FIELDS = frozenset(DecisionRecord.__dataclass_fields__)


def table_frame(offline: OfflineStore, table: str) -> pl.DataFrame:
    """The whole table, or an empty frame when it has no data (yet)."""
    try:
        return offline.read(table)
    except KeyError:  # the table's schema is not registered: read its files as written
        files = sorted((Path(offline.root) / table).glob("*.parquet"))
        return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed") if files else pl.DataFrame()


def _plain(value: Any) -> Any:
    """A nested value as plain Python: JSON text decoded; a list of {key, value} structs as a mapping."""
    if isinstance(value, str):
        return orjson.loads(value)
    if isinstance(value, list) and value and isinstance(value[0], dict) and set(value[0]) == {"key", "value"}:
        return {item["key"]: item["value"] for item in value}
    return value


def record_from_row(row: Mapping[str, Any], line: int) -> DecisionRecord:
    """One ``decision_log`` row as a record; a bad row raises :class:`BadValueError` naming the row and field."""
    field = "record"
    try:
        if row.get("record") is not None:
            data = dict(orjson.loads(row["record"]) if isinstance(row["record"], str) else row["record"])
        else:
            data = {k: v for k, v in row.items() if k in _FIELDS and v is not None}
        for field in _NESTED:
            if field in data:
                data[field] = _plain(data[field]) or ({} if field != "candidates" else [])
        field = "record"
        record = DecisionRecord.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise BadValueError(f"{LOG_TABLE} row {line}: field {field!r}: {exc}") from None
    return record


def read_log(offline: OfflineStore) -> tuple[list[DecisionRecord], dict[str, DecisionOutcome]]:
    """Every logged decision, and the outcome of each decision that has one (by decision id)."""
    log = table_frame(offline, LOG_TABLE)
    records = [record_from_row(row, i + 1) for i, row in enumerate(log.iter_rows(named=True))]
    frame = table_frame(offline, OUTCOME_TABLE)
    outcomes: dict[str, DecisionOutcome] = {}
    if frame.height:
        missing = [c for c in ("decision_id", "customer_id", "chosen", "horizon_days", "margin") if c not in frame]
        if missing:
            raise BadValueError(f"{OUTCOME_TABLE}: missing columns {', '.join(missing)}")
        for i, row in enumerate(frame.iter_rows(named=True)):
            data = {k: v for k, v in row.items() if k in OUTCOME_COLUMNS and v is not None}
            if not isinstance(data.get("margin"), int | float):
                raise BadValueError(f"{OUTCOME_TABLE} row {i + 1}: field 'margin' is not a number")
            outcomes[str(data["decision_id"])] = DecisionOutcome(**data)
    return records, outcomes
