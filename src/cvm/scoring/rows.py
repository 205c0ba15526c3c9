"""Turning the per-customer value table into rows of the ``scores`` table, with reason codes.

The columns are those of the ``scores`` table contract (:data:`cvm.contracts.tables.SCORES`).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import polars as pl

from cvm.contracts.tables import SCORES
from cvm.scoring.cost_to_serve import GRADED_NET, NET_SCORES, net_reasons
from cvm.scoring.models import FittedModel

SCORE_COLUMNS = SCORES.column_names  # the columns of the ``scores`` table


def _int(col: str, scale: float = 1.0, missing: float | None = None) -> pl.Expr:
    expr = pl.col(col) if missing is None else pl.col(col).fill_null(missing)
    return (expr * scale).round(0).cast(pl.Int64)


def _dec(col: str, digits: int) -> pl.Expr:
    return pl.col(col).round(digits).cast(pl.Utf8)


def _versions(models: list[FittedModel]) -> dict[str, str]:
    return {m.role: m.version for m in models}


def _row(score: str, value: pl.Expr, version: pl.Expr, reasons: pl.Expr, grade: pl.Expr | None = None) -> list[pl.Expr]:
    return [
        pl.col("customer_id"),
        pl.lit(score).alias("score"),
        value.cast(pl.Float64).alias("value"),
        (grade if grade is not None else pl.lit(None, pl.Utf8)).alias("grade"),
        version.alias("model_version"),
        reasons.alias("reasons"),
    ]


BUYER = pl.col("frequency").is_not_null()
LIVE = pl.col("contract")
NONE_YET = pl.lit("no purchase yet")


def score_rows(table: pd.DataFrame, as_of: date, models: list[FittedModel], unit_days: float) -> pl.DataFrame:
    """Long rows (one per customer and score) from the value table of :mod:`cvm.scoring.value`."""
    v = _versions(models)
    frame = pl.from_pandas(table.reset_index(), include_index=False)
    parts = [*_history_parts(), *_purchase_parts(v["purchase"], unit_days), _clv_part(v), *_net_parts(v)]
    rows = pl.concat([frame.select(p) for p in parts], how="vertical")
    return rows.with_columns(pl.lit(as_of).alias("as_of")).select(SCORE_COLUMNS).sort("customer_id", "score")


def _history_parts() -> list[list[pl.Expr]]:
    last = pl.col("last_purchase").dt.strftime("%Y-%m-%d")
    purchases = pl.format("{} purchases;last {}", _int("purchases"), last)
    ratio = pl.format("margin ratio {}%", _int("margin_ratio", 100))
    return [
        _row("revenue_hist", pl.col("revenue"), pl.lit("history"), pl.when(BUYER).then(purchases).otherwise(NONE_YET)),
        _row(
            "margin_hist",
            pl.col("margin"),
            pl.lit("history"),
            pl.when(pl.col("margin_ratio").is_not_null()).then(ratio).otherwise(pl.lit("margin not recorded")),
        ),
    ]


def _purchase_parts(version: str, unit_days: float) -> list[list[pl.Expr]]:
    model = pl.when(BUYER).then(pl.lit(version)).otherwise(None)
    history = pl.format(
        "frequency {};recency {}d;age {}d", _int("frequency"), _int("recency", unit_days), _int("T", unit_days)
    )
    since = (pl.col("T") - pl.col("recency")).mul(unit_days).round(0).cast(pl.Int64)
    alive = (
        pl.when(LIVE)
        .then(pl.format("live contract;tenure {}m", _int("tenure_months")))
        .when(BUYER)
        .then(pl.format("last purchase {}d ago;frequency {}", since, _int("frequency")))
        .otherwise(NONE_YET)
    )
    return [
        _row("exp_purchases_12m", pl.col("exp_purchases_12m"), model, pl.when(BUYER).then(history).otherwise(NONE_YET)),
        _row("p_alive", pl.col("p_alive"), pl.when(LIVE).then(pl.lit("contract")).otherwise(model), alive),
    ]


def _clv_version(v: dict[str, str]) -> pl.Expr:
    one_off = f"{v['purchase']}+{v['spend']}"
    contract = f"{v['contract']}+{one_off}" if "contract" in v else one_off
    return pl.when(LIVE).then(pl.lit(contract)).when(BUYER).then(pl.lit(one_off)).otherwise(pl.lit("none"))


def _net_parts(v: dict[str, str]) -> list[list[pl.Expr]]:
    """Gross and net margin over the last 12 months, the cost to serve, and net CLV (:mod:`.cost_to_serve`)."""
    reasons = net_reasons()
    history = pl.lit("history")
    return [
        _row(
            score,
            pl.col(score),
            _clv_version(v) if score == "net_clv" else history,
            reasons[score],
            grade=pl.col(f"{score}_grade") if score in GRADED_NET else None,
        )
        for score in NET_SCORES
    ]


def _clv_part(v: dict[str, str]) -> list[pl.Expr]:
    version = _clv_version(v)
    reasons = (
        pl.when(LIVE)
        .then(
            pl.format(
                "MRR {};tenure {}m;one-off {}", _int("mrr"), _int("tenure_months"), _int("clv_purchases", 1.0, 0.0)
            )
        )
        .when(BUYER)
        .then(
            pl.format(
                "exp purchases {};exp spend {};p_alive {}",
                _dec("exp_purchases_12m", 1),
                _int("exp_spend"),
                _dec("p_alive", 2),
            )
        )
        .otherwise(NONE_YET)
    )
    return _row("clv", pl.col("clv"), version, reasons, grade=pl.col("grade"))
