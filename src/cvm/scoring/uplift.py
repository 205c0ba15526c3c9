"""The uplift models of ``cvm run``: train when there is enough randomised data, gate, score.

The engine's scoring service (:mod:`cvm.services.uplift`) composes the loop: it reads the exported decision
log and appends the outcomes of the decisions whose horizon has elapsed (:mod:`cvm.experiments.decision_outcomes`),
then calls :func:`train_uplift` with those records (stages talk through the ``decision_outcomes`` table and the
:class:`~cvm.contracts.decisionlog.DecisionRecord` contract) and :func:`score_uplift` with the attribute base.

:func:`train_uplift` trains a new :class:`~cvm.models.uplift_multi.MultiUplift` when the randomised decisions
with outcomes changed since the latest version and some action has ``plans.uplift.min_randomised`` of them
(:mod:`cvm.scoring.uplift_train`). Promotion follows the other models' rules: a version whose gate failed is a
challenger and the champion stays; the first passing version becomes champion; a later passing one replaces the
champion when its mean held-out Qini, on the same held-out decisions, is not lower
(:meth:`~cvm.scoring.registry.ModelRegistry.promote`).

:func:`score_uplift` writes, for each action the champion's gate passed, the score ``uplift_<slug>`` (the
predicted incremental margin over the horizon against no action, in currency) to the ``scores`` table; the
attribute base reads it (:mod:`cvm.segments.attributes`), so the batch and the real-time ``decide`` see it as
the attribute of that name. Without a champion nothing is written, and the report says why and that the
propensity policy decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import Settings
from cvm.contracts.decisionlog import DecisionRecord, uplift_attribute
from cvm.contracts.tables import DECISION_OUTCOMES
from cvm.scoring.registry import ModelRegistry, ModelVersion
from cvm.scoring.rows import SCORE_COLUMNS
from cvm.scoring.uplift_train import NAME, fit_and_register, mean_qini, split, training_data
from cvm.scoring.uplift_values import event_values, predict_uplift, reasons
from cvm.store import OfflineStore


def outcome_values(s: Settings) -> dict[str, str] | None:
    """The event value expressions of the ``components`` outcome (``None`` for ``margin``)."""
    if s.plans.uplift.outcome == "margin":
        return None
    return event_values(s.plans, s.scoring.cost_to_serve.complaint)


def fallback_message(n: int, minimum: int) -> str:
    """What the run says when no action has enough randomised decisions."""
    return f"uplift: not enough randomised decisions ({n:,} < {minimum:,}): the propensity policy decides"


def train_uplift(
    store: OfflineStore, workspace: Path, s: Settings, records: Sequence[DecisionRecord]
) -> dict[str, Any]:
    """A new version when the data allow (see the module); what happened, for the run's report."""
    cfg = s.plans.uplift
    values = outcome_values(s)
    outcomes = store.read(DECISION_OUTCOMES.name, ["decision_id", "margin", *(values or ())])
    data = training_data(records, outcomes, cfg.features, values)
    counts = data.randomised()
    report: dict[str, Any] = {"randomised": counts, "notes": []}
    best = max(counts.values(), default=0)
    if best < cfg.min_randomised:
        report["trained"] = None
        report["message"] = fallback_message(best, cfg.min_randomised)
        return report
    registry = ModelRegistry(workspace)
    latest = registry.versions(NAME)[-1:]
    fingerprint = data.fingerprint(cfg.model_dump_json())  # a changed learner setting trains anew too
    if latest and latest[0].meta.get("data_hash") == fingerprint:
        report["trained"] = None
        report["notes"].append(f"uplift: no new randomised decisions since {latest[0].tag}")
        return report
    used = set(data.ids)
    stamps = sorted(r.decided_at.isoformat() for r in records if r.decision_id in used)
    try:
        entry = fit_and_register(registry, data, cfg, fingerprint, (stamps[0], stamps[-1]))
    except ValueError as exc:  # e.g. no outcome event varies in the decisions: nothing to learn from
        report["trained"] = None
        report["message"] = f"uplift: no model trained ({exc}): the propensity policy decides"
        return report
    report["trained"] = {"version": entry.tag, "gate": entry.meta["gate"], "status": entry.status}
    current = registry.champion(NAME)
    if entry.meta["gate"]["passed"] and current is not None and current.version != entry.version:
        held = split(data, cfg.holdout_share)[1]
        ours = mean_qini(entry, entry.load(), held, cfg.top_fraction)
        theirs = mean_qini(current, current.load(), held, cfg.top_fraction)
        comparison = {"metric": "qini", "window": "the latest held-out decisions", "challenger_qini": ours,
                      "champion_qini": theirs}  # fmt: skip
        if ours >= theirs:
            entry = registry.promote(NAME, entry.version, comparison=comparison)
        report["trained"].update(status=entry.status, comparison=comparison)
    return report


def score_rows(entry: ModelVersion, frame: pd.DataFrame, as_of: date, notes: list[str]) -> pl.DataFrame:
    """``uplift_<slug>`` score rows of every customer of ``frame`` for each action ``entry``'s gate passed."""
    model = entry.load()
    verdicts = entry.meta.get("gate", {}).get("actions", {})
    actions = [a for a in model.actions_ if verdicts.get(a, {}).get("passed")]
    missing = [f for f in model.features_ if f not in frame.columns]
    if missing:
        notes.append(f"uplift: attribute(s) {', '.join(missing)} absent today: scored as missing")
    x = frame.reindex(columns=list(model.features_)).astype(float)
    rows: list[dict[str, Any]] = []
    if hasattr(model, "predict_events"):  # its value expressions read the attributes of the day
        rows = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
    predicted = predict_uplift(model, x, rows)
    texts = reasons(model, x, rows, actions)
    ids = frame["customer_id"].astype(str).to_numpy()
    parts = [
        pl.DataFrame(
            {
                "customer_id": ids,
                "as_of": as_of,
                "score": uplift_attribute(action),
                "value": pl.Series(np.asarray(predicted[action], dtype=np.float64)).fill_nan(None),
                "grade": pl.Series([None] * len(ids), dtype=pl.Utf8),
                "model_version": entry.tag,
                "reasons": texts[action],
            }
        )
        for action in actions
    ]
    return pl.concat(parts).select(SCORE_COLUMNS) if parts else pl.DataFrame()


def _stale(store: OfflineStore, scored: set[str], frame: pd.DataFrame, as_of: date, tag: str) -> pl.DataFrame:
    """Empty rows of the ``uplift_*`` scores stored before but not scored now (an action that no longer passes its
    gate), so the attribute base reads no value for them and the propensity policy decides those actions."""
    stored = store.scan("scores").filter(pl.col("score").str.starts_with("uplift_")).select("score").unique()
    names = sorted(set(stored.collect()["score"].to_list()) - scored)
    ids = frame["customer_id"].astype(str).to_numpy()
    parts = [
        pl.DataFrame(
            {
                "customer_id": ids,
                "as_of": as_of,
                "score": name,
                "value": pl.Series([None] * len(ids), dtype=pl.Float64),
                "grade": pl.Series([None] * len(ids), dtype=pl.Utf8),
                "model_version": tag,
                "reasons": f"no promoted uplift model for this action in {tag}",
            }
        )
        for name in names
    ]
    return pl.concat(parts).select(SCORE_COLUMNS) if parts else pl.DataFrame()


def score_uplift(
    store: OfflineStore, workspace: Path, attributes: Callable[[date], pd.DataFrame], as_of: date
) -> dict[str, Any]:
    """Write the champion's ``uplift_<slug>`` scores of the customers of ``attributes(as_of)`` (the attribute
    base); nothing without a champion."""
    champion = ModelRegistry(workspace).champion(NAME)
    if champion is None:
        return {"model": None, "attributes": [], "cleared": [], "rows": 0, "notes": []}
    notes: list[str] = []
    frame = attributes(as_of)
    rows = score_rows(champion, frame, as_of, notes)
    names = sorted(set(rows["score"].to_list())) if rows.height else []
    stale = _stale(store, set(names), frame, as_of, champion.tag)
    parts = [p for p in (rows, stale) if p.height]
    if parts:
        with store.transaction() as tx:
            tx.upsert("scores", pl.concat(parts))
    cleared = stale["score"].unique().sort().to_list() if stale.height else []
    return {"model": champion.tag, "attributes": names, "cleared": cleared, "rows": rows.height, "notes": notes}


def run_uplift(
    store: OfflineStore,
    workspace: Path,
    s: Settings,
    now: datetime,
    records: Sequence[DecisionRecord],
    attributes: Callable[[date], pd.DataFrame],
) -> dict[str, Any]:
    """Train (:func:`train_uplift`) then score (:func:`score_uplift`); the report's ``message`` is one line for
    people."""
    report = train_uplift(store, workspace, s, records)
    scored = score_uplift(store, workspace, attributes, now.date())
    report["scores"] = scored
    report["notes"] += scored.pop("notes")
    if scored["model"] is None:
        report.setdefault("message", "uplift: no champion uplift model: the propensity policy decides")
    else:
        names = ", ".join(scored["attributes"]) or "no action passed its gate"
        report["message"] = f"uplift: {scored['model']} scored {names}"
    return report
