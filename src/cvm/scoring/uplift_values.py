"""What each outcome event is worth to the business, per customer, for the ``components`` uplift outcome.

``plans.uplift.values`` gives each event of a decision's outcome an expression over the customer's attributes
(the project's whitelisted expression language, :mod:`cvm.rules`; never ``eval``); an event left ``null`` takes one
number from the settings it names (:func:`event_values`). The same values serve three places, so the model is
measured on what it ranks:

- training's held-out gate measures the Qini on the value-weighted outcome Σₑ 1[e] × vₑ(x), with vₑ evaluated on
  the attributes logged at decision time (the record's ``context``);
- scoring writes ``uplift_<action>`` = Σₑ Δpₑ(x) × vₑ(x) on today's attributes, less ``plans.uplift.pessimism``
  standard errors (:func:`predict_uplift`, :meth:`~cvm.models.uplift_components.ComponentUplift.penalty`);
- the score's reason shows the terms (:func:`reasons`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from cvm.config.plans import PlansConfig
from cvm.config.uplift import EVENTS
from cvm.contracts.decisionlog import DecisionOutcome, DecisionRecord
from cvm.rules import rule

LABELS = {
    "converted": "conversion",
    "churned": "churn",
    "defaulted": "default",
    "complained": "complaint",
    "unsubscribed": "unsubscribe",
}


def _num(x: float) -> str:
    return f"{x:.6g}"


def _costs(plans: PlansConfig, complaint_cost: float) -> dict[str, float]:
    """One number per event from the settings: a default costs ``plans.credit.exposure × lgd``, a complaint
    ``scoring.cost_to_serve.complaint``, an unsubscribe the fatigue loss of email (``plans.fatigue.loss.email``)."""
    return {
        "defaulted": -plans.credit.exposure * plans.credit.lgd,
        "complained": -complaint_cost,
        "unsubscribed": -float(plans.fatigue.loss.get("email", 0.0)),
    }


def event_values(plans: PlansConfig, complaint_cost: float) -> dict[str, str]:
    """Each event's value expression: ``plans.uplift.values``, a ``null`` one from the settings (:func:`_costs`)."""
    given, fallback = plans.uplift.values, _costs(plans, complaint_cost)
    out = {}
    for event in EVENTS:
        text = getattr(given, event)
        out[event] = text if text is not None else _num(fallback.get(event, 0.0))
    return out


def columns(values: Mapping[str, str]) -> set[str]:
    """Attributes the value expressions read (logged with each decision so training can value its events)."""
    return {c for text in values.values() for c in rule(text, "number").columns}


def _plain(value: Any) -> Any:
    """A SQL sum's ``Decimal`` as a float (the expressions mix it with floats), anything else as it is."""
    return float(value) if isinstance(value, Decimal) else value


def value_frame(values: Mapping[str, str], rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """vₑ of each row (a customer's attributes) in a column per event; NULL (a missing attribute) is worth 0."""
    needed = columns(values)
    plain = [{c: _plain(r.get(c)) for c in needed} for r in rows]
    out: dict[str, Any] = {}
    for event, text in values.items():
        compiled = rule(text, "number")
        got = (compiled.evaluate(r) for r in plain)
        out[event] = np.fromiter((0.0 if v is None else float(v) for v in got), dtype=np.float64, count=len(rows))
    return pd.DataFrame(out, columns=list(values))


def weighted_outcome(events: pd.DataFrame, worth: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Σₑ 1[e] × vₑ per row: the value-weighted event outcome the ``components`` model ranks."""
    cols = [e for e in worth.columns if e in events.columns]
    return np.asarray((events[cols].to_numpy(dtype=np.float64) * worth[cols].to_numpy()).sum(axis=1))


def predict_uplift(model: Any, x: pd.DataFrame, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Uplift in currency of every action, per row: ``MultiUplift`` predicts it; ``ComponentUplift`` sums
    Δpₑ × vₑ with its own value expressions evaluated on ``rows`` (the same customers' attributes)."""
    values = getattr(model, "values", None)
    if not hasattr(model, "predict_events"):
        return pd.DataFrame(model.predict(x))
    frame = value_frame(values or {}, rows)
    frame.index = x.index
    return pd.DataFrame(model.predict(x, frame))


def reasons(
    model: Any, x: pd.DataFrame, rows: Sequence[Mapping[str, Any]], actions: Sequence[str]
) -> dict[str, list[str]]:
    """Per action and row, the terms of the uplift: ``conversion +12.0 pp × 34.00; churn +3.0 pp × -410.00``, then
    ``; uncertainty -8.20`` when the model writes a lower bound (its ``pessimism`` × the standard error)."""
    if not hasattr(model, "predict_events"):
        return {a: [f"predicted margin of {a} against no action over the horizon"] * len(x) for a in actions}
    parts = model.predict_events(x)
    worth = value_frame(model.values, rows)
    worth.index = x.index
    doubt = model.penalty(x.index, worth)
    out = {}
    for action in actions:
        cols = [
            (LABELS.get(e, e), 100 * dp[action].to_numpy(), worth[e].to_numpy() if e in worth else np.zeros(len(x)))
            for e, dp in parts.items()
        ]
        less = doubt[action].to_numpy() if action in doubt else np.zeros(len(x))
        out[action] = [
            f"{action} against no action: "
            + "; ".join(f"{name} {d[i]:+.1f} pp × {v[i]:.2f}" for name, d, v in cols)
            + (f"; uncertainty -{less[i]:.2f}" if less[i] > 0 else "")
            for i in range(len(x))
        ]
    return out


def evaluation_values(plans: PlansConfig, complaint_cost: float) -> dict[str, str]:
    """The event values an off-policy evaluation weighs outcomes with: ``plans.uplift.values`` for conversion and
    churn, and the settings' costs (:func:`_costs`, the numbers the credit and fatigue terms of the arbitration
    use) for a default, a complaint and an unsubscribe. An evaluation has no separate credit or fatigue term, so
    every event counts here, whatever the uplift leaves to those terms."""
    given = event_values(plans, complaint_cost)
    return {**given, **{e: _num(v) for e, v in _costs(plans, complaint_cost).items()}}


def component_outcomes(
    records: Sequence[DecisionRecord], outcomes: Mapping[str, DecisionOutcome], values: Mapping[str, str]
) -> dict[str, DecisionOutcome]:
    """Each outcome with its ``margin`` replaced by the value-weighted events Σₑ 1[e] × vₑ(context) minus the
    chosen contact's cost (the margin is net of it too), valued on the attributes logged at decision time.

    The reward of an off-policy evaluation with ``--outcome components``: unbiased for a policy's incremental
    value when actions change margin only through these events (the assumption of the ``components`` uplift),
    and free of the spend noise of the realised margin.
    """
    kept = [r for r in records if r.decision_id in outcomes]
    if not kept:
        return {}
    worth = value_frame(values, [r.context for r in kept])
    flags = pd.DataFrame([{e: float(getattr(outcomes[r.decision_id], e)) for e in values} for r in kept])
    reward = weighted_outcome(flags, worth) - np.array([r.chosen_cost for r in kept], dtype=np.float64)
    return {r.decision_id: replace(outcomes[r.decision_id], margin=float(y)) for r, y in zip(kept, reward, strict=True)}
