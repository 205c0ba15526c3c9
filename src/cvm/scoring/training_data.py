"""Training data of the life-cycle models: the labelled windows, the labels and the training frame.

Each model learns from point-in-time features (:func:`cvm.features.build_features`) joined to its
labels (:mod:`cvm.features.labels`) at snapshot dates chosen so that the labels are observed: the
latest labelled date is the end of the data minus the label horizon (plus the inactivity period
for churn). That latest window is held out and measures the model out of time; the ``snapshots``
earlier ones, ``snapshot_step_days`` apart, are stacked for training (:func:`stacked_frame`).

The store may be an offline backend (:mod:`cvm.store.backend`): on Spark the feature and label queries
run there and only a stated sample of each snapshot's labelled rows comes to the driver, where the models
fit (:func:`sampled_sql`: at most ``models.max_training_rows`` per snapshot).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import Settings
from cvm.errors import BadValueError
from cvm.features import adoption_labels, build_features, churn_labels, default_labels
from cvm.features.build import Source, connection
from cvm.features.labels import adoption_sql, churn_sql, default_sql, observed_until
from cvm.features.on_backend import duckdb_types, frame_of, observed_until_on, remote
from cvm.features.sql import feature_query

LABEL_COLUMN = {"churn": "churn", "default": "defaulted"}


def data_end(store: Source) -> date:
    """The first day without data (the day after the latest transaction, invoice or subscription)."""
    backend = remote(store)
    if backend is not None:
        last = observed_until_on(backend)
    else:
        with connection(store) as con:
            last = observed_until(con)
    if last is None:
        raise BadValueError("the hub has no transactions, payments or subscriptions: nothing to train on")
    return last + timedelta(days=1)


def horizon(name: str, s: Settings) -> int:
    """Days of data a label needs after its as-of date."""
    m = s.models
    return {
        "churn": m.churn_horizon_days + m.inactivity_days,
        "default": m.default_horizon_days,
        "propensity": m.adoption_horizon_days,
    }[name]


def labelled_dates(name: str, s: Settings, until: date) -> list[date]:
    """The latest labelled date (the held-out window) and the training snapshots before it."""
    latest = until - timedelta(days=horizon(name, s))
    return [latest - timedelta(days=k * s.models.snapshot_step_days) for k in range(s.models.snapshots + 1)]


def _labels(store: Source, name: str, day: date, s: Settings, products: list[str]) -> pl.DataFrame:
    m = s.models
    if name == "churn":
        return churn_labels(store, day, m.churn_horizon_days, inactivity_days=m.inactivity_days, check=False)
    if name == "default":
        return default_labels(store, day, m.default_horizon_days, inactivity_days=m.inactivity_days, check=False)
    return adoption_labels(
        store, day, m.adoption_horizon_days, products=products, inactivity_days=m.inactivity_days, check=False
    )


def _label_sql(name: str, day: date, s: Settings, products: list[str]) -> str:
    m = s.models
    if name == "churn":
        return churn_sql(day, m.churn_horizon_days, m.inactivity_days)
    if name == "default":
        return default_sql(day, m.default_horizon_days, m.inactivity_days)
    return adoption_sql(day, products, m.adoption_horizon_days, m.inactivity_days)


def sampled_sql(name: str, day: date, s: Settings, products: list[str]) -> tuple[str, list[str]]:
    """The labelled rows of ``day`` in one query (features joined to labels), at most ``models.max_training_rows``
    of them (the first by ``md5(customer_id)``, a sample that is the same on every backend), by customer;
    with the label columns."""
    labels = _label_sql(name, day, s, products)
    targets = [c for c in duckdb_types(labels) if c not in ("customer_id", "as_of", "contract")]
    joined = (
        f"SELECT f.*, {', '.join(f'l.{c}' for c in targets)} FROM ({feature_query(day, products)}) AS f "
        f"JOIN ({labels}) AS l ON l.customer_id = f.customer_id"
    )
    cap = int(s.models.max_training_rows)
    sample = f"SELECT * FROM ({joined}) AS j ORDER BY md5(j.customer_id) LIMIT {cap}"
    return f"SELECT * FROM ({sample}) AS k ORDER BY k.customer_id", targets


def labelled_frame(
    store: Source, name: str, day: date, s: Settings, products: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and label columns of the customers labelled at ``day`` (same rows, same order).

    On a remote backend (Spark) one query joins them there and brings at most ``models.max_training_rows``
    rows to the driver (:func:`sampled_sql`); below that, the same rows as on DuckDB.
    """
    backend = remote(store)
    if backend is not None:
        sql, targets = sampled_sql(name, day, s, products)
        frame = frame_of(backend, sql).to_pandas()
        return frame.drop(columns=targets), frame[targets].astype("float64")
    labels = _labels(store, name, day, s, products).drop("as_of")
    feats = build_features(store, day, products=products)
    joined = feats.join(labels.drop([c for c in ("contract",) if c in labels.columns]), on="customer_id")
    targets = [c for c in labels.columns if c not in ("customer_id", "contract")]
    frame = joined.to_pandas()
    return frame.drop(columns=targets), frame[targets].astype("float64")


def stacked_frame(
    store: Source, name: str, days: list[date], s: Settings, products: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The labelled frames of ``days`` stacked, sampled down to ``models.max_training_rows`` (seeded)."""
    parts = [labelled_frame(store, name, d, s, products) for d in days]
    x = pd.concat([p[0] for p in parts], ignore_index=True)
    y = pd.concat([p[1] for p in parts], ignore_index=True)
    if len(x) > s.models.max_training_rows:
        keep = np.random.default_rng(0).choice(len(x), s.models.max_training_rows, replace=False)
        x, y = x.iloc[np.sort(keep)].reset_index(drop=True), y.iloc[np.sort(keep)].reset_index(drop=True)
    return x, y


def usable_targets(y: pd.DataFrame, min_events: int) -> list[str]:
    """Label columns with at least ``min_events`` of each class among their known values."""
    out = []
    for c in y.columns:
        v = y[c].dropna()
        if min(v.sum(), len(v) - v.sum()) >= min_events:
            out.append(str(c))
    return out
