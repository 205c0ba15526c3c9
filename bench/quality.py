"""Model quality on the demo company against its ground truth: churn, default and propensity.

Usage: ``python bench/quality.py [--customers 100000] [--seed 7] [--json] [--timing-customers 1000000]``,
or ``python bench/quality.py --credit``: the credit scorecard against a plain one-hot logistic regression
on two public credit data sets that packages ship, stratified 5-fold (``bench/credit_cv.py``).

The demo company (5 years ending 2024-12-31) is generated, ingested through the engine and
snapshotted at ``as_of = end + 1 − (horizon + inactivity)`` so that every label is observable.
Customers are split 70/30; models are fitted on the 70 and measured on the 30:

- churn and default AUC are compared with the oracle (the AUC of the true hazard or probability)
  on the same rows: the test customers that are truly active at ``as_of`` (and, for default, not
  yet in default). Churn is measured against the realised churn of the ground truth
  (``churned_at`` in the horizon), default against the behavioural bad (60+ days past due);
- ECE is measured on all test rows against the labels the models were trained on;
- propensity lift is the adoption rate in the top decile over the rate among eligible test rows;
  the oracle lift ranks by the true adoption intensities of the demo's subscription chain, and
  the "oracle without latents" by the same intensities without what no data reveals: the effect
  of the hidden satisfaction, and whether a customer without a contract has silently left.

With ``--timing-customers`` a second, larger company is generated and features plus scoring of
all its customers are timed (DuckDB straight on the generated files, no ingestion). Exits 1 when
a target is missed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import polars as pl

from cvm.cli.console import console
from cvm.demo import generate
from cvm.demo.arrays import DAYS_PER_MONTH
from cvm.demo.params import SUBSCRIPTION_PRODUCTS, TIERS, DemoParams
from cvm.demo.subscriptions import Rates
from cvm.engine import Engine
from cvm.features import build_features
from cvm.features.labels import adoption_labels, churn_labels, default_labels
from cvm.models import ChurnModel, PropensityModel, Scorecard
from cvm.models.churn import temporal_backtest
from cvm.models.metrics import auc, ece, lift_by_decile

END = date(2024, 12, 31)
HORIZON, INACTIVITY, YEARS = 90, 540, 5
TABLES = ("customers", "subscriptions", "transactions", "payments", "contacts", "surveys", "ratings")
PRODUCTS = list(SUBSCRIPTION_PRODUCTS)
AS_OF = END + timedelta(days=1) - timedelta(days=HORIZON + INACTIVITY)
AUC_GAP, ECE_MAX, LIFT_MIN = 0.03, 0.02, 2.5
T = TypeVar("T")
Row = tuple[str, object, object, str, str]


def timed(timings: dict[str, float], name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` and record its wall time under ``name``."""
    began = time.perf_counter()
    out = fn()
    timings[name] = time.perf_counter() - began
    return out


def ingest(demo: Path, workspace: Path) -> Engine:
    """Load every demo table through the engine, in dependency order."""
    engine = Engine.init(workspace)
    for table in TABLES:
        result = engine.ingest(table, demo / f"{table}.parquet")
        if not result.ok:
            raise RuntimeError(f"ingesting {table} failed: {result.summary()}")
    return engine


def direct(demo: Path, threads: int = 0) -> duckdb.DuckDBPyConnection:
    """DuckDB views straight on the generated files (``threads`` 0: DuckDB's default)."""
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}").fetchall()
    for table in TABLES:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{demo / table}.parquet')").fetchall()
    return con


def truth_frame(demo: Path, as_of: date) -> pl.DataFrame:
    """Ground truth with the flags the comparisons need."""
    truth = pl.read_parquet(demo / "ground_truth" / "customers_truth.parquet")
    in_window = (pl.col("churned_at") >= as_of) & (pl.col("churned_at") < as_of + timedelta(days=HORIZON))
    return truth.with_columns(
        alive=(pl.col("churned_at").is_null() | (pl.col("churned_at") >= as_of)),
        not_defaulted=(pl.col("defaulted_at").is_null() | (pl.col("defaulted_at") >= as_of)),
        churn_truth=in_window.fill_null(False).cast(pl.Int8),
    )


def without_latents(truth: pl.DataFrame) -> pl.DataFrame:
    """The truth as far as data can reveal it: satisfaction's effect on the rates removed, everyone alive."""
    sat = pl.col("satisfaction")
    return truth.with_columns(
        subscribe_rate=pl.col("subscribe_rate") / (0.4 * sat).exp(),
        upgrade_rate=pl.col("upgrade_rate") / (0.4 * sat).exp(),
        downgrade_rate=pl.col("downgrade_rate") / (-0.5 * sat).exp(),
        support_rate=pl.col("support_rate") / (0.3 * sat).exp(),
        support_cancel_rate=pl.col("support_cancel_rate") / (-0.4 * sat).exp(),
        alive=pl.lit(True),
    )


def oracle_propensity(truth: pl.DataFrame, features: pl.DataFrame) -> pl.DataFrame:
    """True probability of adopting each product within the horizon, from the state at ``as_of``.

    Same competing-risks formula as the demo's truth (``cvm.demo.subscriptions.propensities``),
    with the state (tier, add-on) read from the subscriptions active at ``as_of`` and zero for
    customers already gone. The rates' dependence on satisfaction mirrors
    ``cvm.demo.subscriptions.subscription_rates`` (see :func:`without_latents`).
    """
    df = features.select("customer_id", *[f"holds_{p}" for p in PRODUCTS]).join(truth, on="customer_id")
    params, b2b = DemoParams(), (df["kind"] == "B2B").to_numpy()
    spend = np.clip(np.log(df["spend_scale"].to_numpy() / truth["spend_scale"].median()), -2, 2)
    mix = np.where(b2b[:, None], np.array(params.b2b.tier_mix), np.array(params.b2c.tier_mix))
    mix = mix * np.exp(np.outer(spend, [-0.5, 0.0, 0.5]))
    mix /= mix.sum(axis=1, keepdims=True)
    rates = Rates(
        subscribe=df["subscribe_rate"].to_numpy(),
        tier_mix=mix,
        up=df["upgrade_rate"].to_numpy(),
        down=df["downgrade_rate"].to_numpy(),
        addon_on=df["support_rate"].to_numpy(),
        addon_off=df["support_cancel_rate"].to_numpy(),
    )
    held = np.column_stack([df[f"holds_{t}"].to_numpy() for t in TIERS])
    tier = np.where(held.any(axis=1), held.argmax(axis=1) + 1, 0)
    m = rates.matrix(np.arange(df.height), tier, df["holds_support"].to_numpy() == 1)
    mu = -np.log1p(-df["churn_hazard"].to_numpy()) / DAYS_PER_MONTH
    total = m.sum(axis=1) + mu
    reach = (1.0 - np.exp(-HORIZON * total)) / total
    alive = df["alive"].to_numpy()
    cols = {f"adopt_{p}": np.where(alive, m[:, k] * reach, 0.0) for k, p in enumerate(PRODUCTS)}
    # Upsell: the next move raises MRR (a higher tier or the add-on); later moves are ignored.
    higher = np.arange(1, len(TIERS) + 1)[None, :] > tier[:, None]
    up = (m[:, : len(TIERS)] * higher).sum(axis=1) + m[:, len(TIERS)]
    cols["upsell"] = np.where(alive, up * reach, 0.0)
    return pl.DataFrame({"customer_id": df["customer_id"], **cols})


def split(frame: pl.DataFrame, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """70/30 split of the rows."""
    test = np.random.default_rng(seed).random(frame.height) < 0.3
    return frame.filter(~pl.Series(test)), frame.filter(pl.Series(test))


def churn_rows(data: dict[str, Any], fast: dict[str, Any], seed: int, timings: dict[str, float]) -> list[Row]:
    """Fit the churn model, compare with the oracle; backtest from a snapshot 180 days older."""
    train, test = split(data["churn"], seed)
    x_cols = data["features"].columns
    model = timed(timings, "fit churn", lambda: ChurnModel(**fast).fit(train.select(x_cols), train["churn"]))
    p = model.predict_proba(test.select(x_cols))[:, 1]
    act = test["alive"].to_numpy()
    y_true = test["churn_truth"].to_numpy()[act]
    achieved, oracle = auc(y_true, p[act]), auc(y_true, test["churn_hazard"].to_numpy()[act])
    obs = test["churn"].to_numpy()
    old = data["churn_old"]
    back = timed(
        timings,
        "churn backtest",
        lambda: temporal_backtest(
            ChurnModel(**fast), (old.select(x_cols), old["churn"]), (test.select(x_cols), test["churn"])
        ),
    )
    data["churn_model"] = model
    return [
        _auc_row("churn AUC vs realised churn (truly active)", achieved, oracle),
        ("churn AUC vs churn label (all test rows)", auc(obs, p), "", "", ""),
        _ece_row("churn ECE", ece(obs, p)),
        ("churn lift top decile", lift_by_decile(obs, p)[0], "", "", ""),
        ("churn backtest AUC (fit 180 d earlier)", back["test"]["auc"], "", "", f"PSI {back['psi']:.3f}"),
    ]


def fmt(value: object) -> object:
    """Floats with three decimals; anything else as it is."""
    return f"{value:.3f}" if isinstance(value, float) else value


def _auc_row(name: str, achieved: float, oracle: float) -> Row:
    ok = achieved >= oracle - AUC_GAP
    return (name, achieved, oracle, f"≥ oracle − {AUC_GAP}", "pass" if ok else "FAIL")


def _ece_row(name: str, value: float) -> Row:
    return (name, value, "", f"< {ECE_MAX}", "pass" if value < ECE_MAX else "FAIL")


def default_rows(data: dict[str, Any], seed: int, timings: dict[str, float]) -> list[Row]:
    """Fit the scorecard, compare with the oracle PD."""
    df = data["default"]
    train, test = split(df, seed)
    x_cols = data["features"].columns
    card = timed(timings, "fit scorecard", lambda: Scorecard().fit(train.select(x_cols), train["defaulted"]))
    p = card.predict_proba(test.select(x_cols))[:, 1]
    obs = test["defaulted"].to_numpy()
    act = (test["alive"] & test["not_defaulted"]).to_numpy()
    achieved = auc(obs[act], p[act])
    oracle = auc(obs[act], test["default_probability"].to_numpy()[act])
    report = card.evaluate(test.select(x_cols), obs)
    data["scorecard"] = card
    as_of = data["as_of"]
    in_year = (test["defaulted_at"] >= as_of) & (test["defaulted_at"] < as_of + timedelta(days=365))
    y_truth = in_year.fill_null(False).to_numpy()[act]
    oracle_truth = auc(y_truth, test["default_probability"].to_numpy()[act])
    return [
        _auc_row("default AUC vs 60+ dpd in 12 m (truly active)", achieved, oracle),
        ("default AUC vs true default date (truly active)", auc(y_truth, p[act]), oracle_truth, "", ""),
        _ece_row("default ECE", ece(obs, p)),
        ("default Gini / KS (all test rows)", report["gini"], "", "", f"KS {report['ks']:.3f}"),
        ("scorecard characteristics", len(card.characteristics_), "", "", ", ".join(card.characteristics_[:4]) + " …"),
    ]


def propensity_rows(data: dict[str, Any], fast: dict[str, Any], seed: int, timings: dict[str, float]) -> list[Row]:
    """Fit one model per product; top-decile lift against the oracle's."""
    df = data["adoption"]
    train, test = split(df, seed)
    x_cols = data["features"].columns
    targets = [c for c in df.columns if c.startswith("adopt_") or c == "upsell"]
    model = timed(
        timings,
        "fit propensity",
        lambda: PropensityModel(**fast).fit(train.select(x_cols), train.select(targets)),
    )
    proba = model.predict_proba(test.select(x_cols))
    data["propensity_model"] = model
    rows: list[Row] = []
    for name in targets:
        eligible = test[name].is_not_null().to_numpy()
        y = test[name].to_numpy()[eligible]
        achieved = lift_by_decile(y, proba[name].to_numpy()[eligible])[0]
        oracle = lift_by_decile(y, test[f"oracle_{name}"].to_numpy()[eligible])[0]
        ceiling = lift_by_decile(y, test[f"ceiling_{name}"].to_numpy()[eligible])[0]
        verdict = "pass" if achieved >= LIFT_MIN else "FAIL"
        verdict += f" (oracle without latents {ceiling:.2f})"
        rows.append((f"propensity lift top decile: {name}", achieved, oracle, f"≥ {LIFT_MIN}", verdict))
    rows.append(_pooled_row(test, proba, [t for t in targets if t.startswith("adopt_")]))
    return rows


def _pooled_row(test: pl.DataFrame, proba: Any, products: list[str]) -> Row:
    """Lift of "adopts any product it did not hold", ranked by the best eligible product."""
    held = np.column_stack([test[t].is_null().to_numpy() for t in products])
    y = np.nan_to_num(np.column_stack([test[t].to_numpy().astype(float) for t in products])).max(axis=1)
    best = np.where(held, -1.0, proba[products].to_numpy()).max(axis=1)
    oracle = np.where(held, -1.0, np.column_stack([test[f"oracle_{t}"].to_numpy() for t in products])).max(axis=1)
    achieved = lift_by_decile(y, best)[0]
    verdict = "pass" if achieved >= LIFT_MIN else "FAIL"
    return ("propensity lift top decile: any product", achieved, lift_by_decile(y, oracle)[0], f"≥ {LIFT_MIN}", verdict)


def assemble(source: Any, demo: Path, as_of: date, timings: dict[str, float]) -> dict[str, Any]:
    """Features at ``as_of`` (and 180 days earlier), labels and ground truth, joined per task."""
    features = timed(timings, "features", lambda: build_features(source, as_of, products=PRODUCTS))
    older = as_of - timedelta(days=180)
    churn = timed(timings, "labels: churn", lambda: churn_labels(source, as_of, HORIZON, inactivity_days=INACTIVITY))
    bad = timed(timings, "labels: default", lambda: default_labels(source, as_of, 365, inactivity_days=INACTIVITY))
    adopt = timed(
        timings,
        "labels: adoption",
        lambda: adoption_labels(source, as_of, HORIZON, products=PRODUCTS, inactivity_days=INACTIVITY),
    )
    truth = truth_frame(demo, as_of)
    oracle = oracle_propensity(truth, features).rename(lambda c: c if c == "customer_id" else f"oracle_{c}")
    ceiling = oracle_propensity(without_latents(truth), features)
    oracle = oracle.join(ceiling.rename(lambda c: c if c == "customer_id" else f"ceiling_{c}"), on="customer_id")
    keys = ["customer_id", "as_of"]
    old = churn_labels(source, older, HORIZON, inactivity_days=INACTIVITY).join(
        build_features(source, older, products=PRODUCTS), on=keys
    )
    return {
        "as_of": as_of,
        "features": features,
        "churn": churn.join(features, on=keys).join(truth, on="customer_id"),
        "churn_old": old,
        "default": bad.join(features, on=keys).join(truth, on="customer_id"),
        "adoption": adopt.join(features, on=keys).join(oracle, on="customer_id"),
    }


def score_all(data: dict[str, Any], features: pl.DataFrame) -> None:
    """Score every customer with the three fitted models (what a nightly run does)."""
    data["churn_model"].predict_proba(features)
    data["scorecard"].scores(features)
    data["propensity_model"].predict_proba(features)


def time_large(customers: int, seed: int, threads: int, data: dict[str, Any], folder: Path) -> dict[str, float]:
    """Generate a larger company, then time features and scoring of all its customers."""
    timings: dict[str, float] = {}
    demo = folder / "large"
    timed(timings, "generate", lambda: generate(customers, seed, demo, end=END, years=YEARS))
    con = direct(demo, threads)
    features = timed(timings, "features", lambda: build_features(con, END + timedelta(days=1), products=PRODUCTS))
    timed(timings, "scoring", lambda: score_all(data, features))
    timings["customers scored"] = float(features.height)
    return timings


def run(args: argparse.Namespace, folder: Path) -> tuple[list[Row], dict[str, float], dict[str, float]]:
    """Generate, ingest, assemble, fit and measure; optionally time a larger company."""
    timings: dict[str, float] = {}
    demo = folder / "demo"
    timed(timings, "generate", lambda: generate(args.customers, args.seed, demo, end=END, years=YEARS))
    source: Any = (
        direct(demo, args.threads)
        if args.direct
        else timed(timings, "ingest", lambda: ingest(demo, folder / "ws")).offline
    )
    data = assemble(source, demo, AS_OF, timings)
    fast = {"n_jobs": args.threads}
    rows = churn_rows(data, fast, args.seed, timings)
    rows += default_rows(data, args.seed, timings)
    rows += propensity_rows(data, fast, args.seed, timings)
    timed(timings, "scoring (all customers)", lambda: score_all(data, data["features"]))
    large = time_large(args.timing_customers, args.seed, args.threads, data, folder) if args.timing_customers else {}
    return rows, timings, large


def credit(as_json: bool) -> int:
    """Print the scorecard against one-hot LR on German credit and modeldata's credit_data (stratified 5-fold)."""
    import warnings

    from credit_cv import rows as credit_rows  # bench/credit_cv.py, next to this file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optbinning's and cvxpy's own deprecation warnings
        table = credit_rows()
    columns = ["data set", "model", "AUC per fold", "ECE per fold", "ECE pooled"]
    if as_json:
        console.json({"rows": [dict(zip(columns, r, strict=True)) for r in table]})
    else:
        console.table("credit scorecard vs one-hot logistic regression, stratified 5-fold", columns, table)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Print achieved vs oracle vs target; return 0 when every target is met."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="LightGBM and DuckDB threads (0: all)")
    parser.add_argument("--direct", action="store_true", help="query the generated files without ingesting")
    parser.add_argument("--timing-customers", type=int, default=0, help="also time features + scoring at this size")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--credit", action="store_true", help="scorecard vs one-hot LR on public credit data only")
    args = parser.parse_args(argv)
    if args.credit:
        return credit(args.json)
    with tempfile.TemporaryDirectory(prefix="cvm-quality-") as tmp:
        rows, timings, large = run(args, Path(tmp))
    ok = not any(str(r[4]).startswith("FAIL") for r in rows)
    if args.json:
        console.json({"customers": args.customers, "seed": args.seed, "rows": rows, "seconds": timings, "large": large})
    else:
        title = f"model quality, {args.customers:,} customers, seed {args.seed}, as_of {AS_OF}"
        console.table(title, ["measure", "achieved", "oracle", "target", "result"], [tuple(map(fmt, r)) for r in rows])
        console.table(
            f"seconds on {os.cpu_count()} CPUs", ["step", "seconds"], [(k, fmt(v)) for k, v in timings.items()]
        )
        if large:
            console.table(
                f"{args.timing_customers:,} customers", ["step", "seconds"], [(k, fmt(v)) for k, v in large.items()]
            )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
