"""The offline decision log and what followed each decision: the ``decision_outcomes`` table.

The decision log itself is read by :func:`cvm.store.decision_log.records`, its one reader.

:func:`build_outcomes` measures, for every logged decision whose horizon has elapsed and that has no
outcome yet, over (decided_at, decided_at + horizon]:

- ``margin``: the customer's revenue (transaction amounts plus recurring revenue, as the pilots count it,
  :mod:`cvm.experiments.outcomes`) × ``scoring.margin_rate``, minus the chosen action's contact cost
  (the ``cost`` of its candidate in the record; 0 for no action);
- ``converted``: a purchase or a subscription start in the window; ``churned``: neither a purchase in the
  window nor a subscription live at its end;
- ``complained``: a complaint contact in the window; ``defaulted``: an invoice due in the window paid 60 or
  more days late, or still unpaid 60 days after its due date;
- ``unsubscribed``: ``False``: the hub keeps each customer's current consent, not when it was withdrawn.

Rows already stored are never rewritten, so outcomes drawn by the demo (``source = simulated``) stay as
they are; new ones are appended with ``source = hub``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import polars as pl

from cvm.contracts.decisionlog import OUTCOME_COLUMNS, DecisionRecord
from cvm.experiments.outcomes import _window
from cvm.store import OfflineStore

OUTCOMES_TABLE = "decision_outcomes"
DEFAULT_DAYS = 60


def _defaults(store: OfflineStore, keys: pl.LazyFrame, horizon: int, now: datetime) -> pl.LazyFrame:
    due = pl.col("due_date").cast(pl.Datetime("us", "UTC"))
    late = pl.col("paid_date").cast(pl.Datetime("us", "UTC")) - due
    window = (due > pl.col("assigned_at")) & (due <= pl.col("assigned_at") + pl.duration(days=horizon))
    unpaid = pl.col("paid_date").is_null() & (pl.lit(now) - due >= pl.duration(days=DEFAULT_DAYS))
    return (
        keys.join(store.scan("payments"), on="customer_id")
        .filter(window & (unpaid | (late >= pl.duration(days=DEFAULT_DAYS))))
        .group_by("decision_id")
        .agg(pl.lit(True).alias("defaulted"))
    )


def _complaints(store: OfflineStore, keys: pl.LazyFrame, horizon: int) -> pl.LazyFrame:
    ts = pl.col("ts").cast(pl.Datetime("us", "UTC"))
    window = (ts > pl.col("assigned_at")) & (ts <= pl.col("assigned_at") + pl.duration(days=horizon))
    return (
        keys.join(store.scan("contacts"), on="customer_id")
        .filter(window & (pl.col("topic").str.to_lowercase() == "complaint"))
        .group_by("decision_id")
        .agg(pl.lit(True).alias("complained"))
    )


def build_outcomes(
    store: OfflineStore, records: Iterable[DecisionRecord], horizon_days: int, margin_rate: float, now: datetime
) -> pl.DataFrame:
    """Outcome rows (``OUTCOME_COLUMNS``) of the ``records`` whose horizon has ended by ``now`` (see the module)."""
    mature = [r for r in records if r.decided_at + timedelta(days=horizon_days) <= now]
    if not mature:
        return pl.DataFrame(schema={c: pl.Utf8 for c in OUTCOME_COLUMNS}).head(0).pipe(_typed)
    keys = pl.DataFrame(
        {
            "decision_id": [r.decision_id for r in mature],
            "customer_id": [r.customer_id for r in mature],
            "chosen": [r.chosen for r in mature],
            "assigned_at": [r.decided_at for r in mature],
            "cost": [r.chosen_cost for r in mature],
        },
        schema_overrides={"assigned_at": pl.Datetime("us", "UTC")},
    ).lazy()
    window = _window(store, keys, None, margin_rate, 0, horizon_days, "", key="decision_id")
    return (
        keys.join(window, on="decision_id", how="left")
        .join(_defaults(store, keys, horizon_days, now), on="decision_id", how="left")
        .join(_complaints(store, keys, horizon_days), on="decision_id", how="left")
        .select(
            "decision_id",
            "customer_id",
            "chosen",
            pl.lit(horizon_days).alias("horizon_days"),
            (pl.col("revenue").fill_null(0.0) * margin_rate - pl.col("cost")).alias("margin"),
            (pl.col("conversion").fill_null(0.0) > 0).alias("converted"),
            (pl.col("retention").fill_null(0.0) == 0).alias("churned"),
            pl.col("defaulted").fill_null(False),
            pl.lit(False).alias("unsubscribed"),
            pl.col("complained").fill_null(False),
            pl.lit("hub").alias("source"),
        )
        .collect()
        .pipe(_typed)
    )


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    types: dict[str, pl.DataType] = {"horizon_days": pl.Int64(), "margin": pl.Float64()}
    types |= {c: pl.Boolean() for c in ("converted", "churned", "defaulted", "unsubscribed", "complained")}
    return frame.with_columns(pl.col(c).cast(t) for c, t in types.items()).select(OUTCOME_COLUMNS)


def refresh_outcomes(
    store: OfflineStore, records: Sequence[DecisionRecord], horizon_days: int, margin_rate: float, now: datetime
) -> dict[str, int]:
    """Append the outcomes of the matured decisions that have none yet; stored rows are never rewritten."""
    known = set(store.read(OUTCOMES_TABLE, ["decision_id"])["decision_id"].to_list())
    todo = [r for r in records if r.decision_id not in known]
    rows = build_outcomes(store, todo, horizon_days, margin_rate, now)
    if rows.height:
        with store.transaction() as tx:
            tx.append(OUTCOMES_TABLE, rows)
    return {"decisions": len(records), "stored": len(known), "added": rows.height, "waiting": len(todo) - rows.height}
