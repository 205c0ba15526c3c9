"""Generate the demo company: seven hub tables plus the ground truth that drove them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from cvm.contracts.tables import DATA_TABLES
from cvm.demo.arrays import Window, id_width, ids
from cvm.demo.contacts import simulate_contacts
from cvm.demo.latent import draw_population
from cvm.demo.lifecycle import draw_silent, simulate_lifecycle
from cvm.demo.params import DemoParams
from cvm.demo.payments import simulate_payments
from cvm.demo.profiles import customers_columns
from cvm.demo.purchases import simulate_purchases
from cvm.demo.ratings import simulate_ratings
from cvm.demo.subscriptions import propensities, simulate_events, subscription_rates, subscription_rows
from cvm.demo.surveys import simulate_surveys
from cvm.demo.tables import (
    contacts_columns,
    payments_columns,
    ratings_columns,
    subscriptions_columns,
    surveys_columns,
    transactions_columns,
)
from cvm.demo.transactions import simulate_transactions
from cvm.demo.truth import meta, truth_columns
from cvm.demo.writer import Format, to_table, write_table
from cvm.errors import BadValueError

_STREAMS = (
    "population",
    "purchases",
    "lifecycle",
    "subscriptions",
    "transactions",
    "payments",
    "silent",
    "contacts",
    "surveys",
    "ratings",
    "customers",
)


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate` wrote: the folder, rows per table and the seconds it took."""

    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"out": str(self.out), "rows": dict(self.rows), "seconds": self.seconds}


class _Sink:
    """Writes tables as they are made and counts their rows."""

    def __init__(self, out: Path, fmt: Format) -> None:
        self.out, self.fmt = out, fmt
        self.rows: dict[str, int] = {}

    def put(self, name: str, columns: dict[str, pa.Array]) -> None:
        table = to_table(DATA_TABLES[name], columns)
        write_table(table, self.out / name, self.fmt)
        self.rows[name] = table.num_rows


def generate(
    customers: int,
    seed: int,
    out: Path,
    *,
    end: date | None = None,
    years: int = 3,
    fmt: Format = "parquet",
) -> DemoSummary:
    """Generate a synthetic company of ``customers`` customers over ``years`` years ending on ``end``.

    Writes one file per hub table into ``out`` and the hidden truth into ``out/ground_truth``. The
    output is a pure function of (customers, seed, end, years); ``end`` defaults to today (UTC).

    Examples
    --------
    >>> import tempfile
    >>> s = generate(200, seed=1, out=Path(tempfile.mkdtemp()), end=date(2024, 12, 31))
    >>> s.rows["customers"]
    200
    """
    if customers < 1 or years < 1 or seed < 0:
        raise BadValueError(
            f"customers and years must be at least 1 and seed at least 0, got {customers}, {years}, {seed}"
        )
    if fmt not in ("parquet", "csv"):
        raise BadValueError(f"unknown format {fmt!r}; use 'parquet' or 'csv'")
    began = time.perf_counter()
    end = end.date() if isinstance(end, datetime) else end
    window = Window.from_end(end or datetime.now(UTC).date(), years)
    params = DemoParams()
    out = Path(out)
    (out / "ground_truth").mkdir(parents=True, exist_ok=True)
    sink = _Sink(out, fmt)
    truth = _simulate(customers, seed, params, window, sink)
    write_table(pa.table(truth), out / "ground_truth" / "customers_truth", "parquet")
    info = meta(customers, seed, window, years, params, sink.rows)
    (out / "ground_truth" / "meta.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return DemoSummary(out=out, rows=dict(sink.rows), seconds=time.perf_counter() - began)


def _simulate(customers: int, seed: int, params: DemoParams, window: Window, sink: _Sink) -> dict[str, pa.Array]:
    """Simulate the company, write each hub table as soon as it is made; return the truth columns."""
    rng = {name: np.random.default_rng([seed, i]) for i, name in enumerate(_STREAMS)}
    cid = ids("C", customers, id_width(customers, 7))
    pop = draw_population(customers, params, window, rng["population"])
    sink.put("customers", customers_columns(pop, cid, window, rng["customers"]))
    buys = simulate_purchases(pop, window, rng["purchases"])
    life = simulate_lifecycle(pop, buys.dropout_at, params, window, rng["lifecycle"])
    rates = subscription_rates(pop, params)
    events = simulate_events(pop, life, rates, params, rng["subscriptions"])
    subs = subscription_rows(pop, life, events, params, rng["subscriptions"])
    sink.put("subscriptions", subscriptions_columns(subs, cid, window))
    tx = simulate_transactions(pop, buys, life, params, window, rng["transactions"])
    sink.put("transactions", transactions_columns(tx, cid, window))
    pay = simulate_payments(pop, life, tx, subs, params, window, rng["payments"])
    del tx, subs, buys
    sink.put("payments", payments_columns(pay, cid, window))
    subscribed = events.tier > 0  # at churn for churned customers
    silent = draw_silent(life, subscribed, params, rng["silent"])
    contacts = simulate_contacts(pop, life, silent, subscribed, pay, params, window, rng["contacts"])
    del pay
    sink.put("contacts", contacts_columns(contacts, cid, window, rng["contacts"]))
    del contacts
    surveys = simulate_surveys(pop, life, params, window, rng["surveys"])
    sink.put("surveys", surveys_columns(surveys, cid, window))
    ratings = simulate_ratings(pop, life, params, window, rng["ratings"])
    sink.put("ratings", ratings_columns(ratings, cid, window))
    prop = propensities(pop, life, rates, events, params.propensity_days)
    return truth_columns(pop, life, rates, events, silent, prop, cid, window)
