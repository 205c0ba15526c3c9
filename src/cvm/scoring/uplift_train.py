"""Training the uplift model from the decision log: data, held-out calibration, gate and registry.

The training rows are the logged decisions whose choice was randomised (a logged probability strictly
between 0 and 1: exploration, or a policy that mixes it in) and whose outcome is known
(:mod:`cvm.experiments.decision_outcomes`). Features are ``plans.uplift.features`` as logged in the record's
``context`` (the customer's numeric attributes at decision time, point in time; ``uplift_*`` attributes are
left out, so a model never learns from another's predictions). An action is modelled when it has
``plans.uplift.min_randomised`` randomised decisions in which it was an eligible candidate and either it or no
action was chosen.

The latest ``plans.uplift.holdout_share`` of the decisions (by ``decided_at``) is held out. On it each action
is measured with the one Qini coefficient and uplift at k of :mod:`cvm.experiments.uplift`, over the
decisions of the ``explore`` rung (uniformly randomised, so the two arms are comparable) when both arms have
some there, else over all held-out randomised decisions of the action and of no action. The version is
registered as ``uplift`` with :func:`cvm.scoring.gate.uplift_gate`'s verdict.

Imports from a sibling stage: :mod:`cvm.experiments.uplift` (the Qini coefficient and uplift at k): the uplift
models are measured with the one definition the pilots use, never a second one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.uplift import UpliftConfig
from cvm.contracts.decisionlog import NO_ACTION, DecisionRecord
from cvm.experiments.uplift import qini_coefficient, uplift_at_k
from cvm.models.uplift_components import ComponentUplift
from cvm.models.uplift_multi import MultiUplift
from cvm.scoring.gate import uplift_gate
from cvm.scoring.registry import ModelRegistry, ModelVersion
from cvm.scoring.uplift_values import predict_uplift, value_frame, weighted_outcome

NAME = "uplift"
UPLIFT_PREFIX = "uplift_"
MIN_ARM = 10
"""Fewest held-out explore decisions per arm before the Qini is measured on the explore rung alone."""


@dataclass(frozen=True)
class UpliftData:
    """Randomised decisions with outcomes, in decision-time order, as arrays.

    ``y`` is what the model ranks: the margin before the contact's cost (``margin`` outcome), or the
    value-weighted events Σₑ 1[e] × vₑ (``components``), whose flags are ``events`` and values ``worth``
    (evaluated on ``contexts``, the attributes logged at decision time, with the expressions ``values``).
    """

    ids: list[str]
    x: pd.DataFrame
    y: np.ndarray[Any, np.dtype[np.float64]]
    chosen: np.ndarray[Any, Any]
    propensity: np.ndarray[Any, np.dtype[np.float64]]
    explore: np.ndarray[Any, np.dtype[np.bool_]]
    eligible: dict[str, np.ndarray[Any, np.dtype[np.bool_]]]
    contexts: list[Mapping[str, float]] = field(default_factory=list)
    events: pd.DataFrame | None = None
    values: dict[str, str] | None = None
    channels: dict[str, str] = field(default_factory=dict)
    """Action → its channel, as its logged candidates name it."""

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def outcome(self) -> str:
        """``components`` or ``margin``."""
        return "margin" if self.values is None else "components"

    def rows(self, mask: np.ndarray[Any, np.dtype[np.bool_]]) -> UpliftData:
        """The rows of ``mask``."""
        return UpliftData(
            [i for i, keep in zip(self.ids, mask, strict=True) if keep],
            self.x[mask].reset_index(drop=True),
            self.y[mask],
            self.chosen[mask],
            self.propensity[mask],
            self.explore[mask],
            {a: e[mask] for a, e in self.eligible.items()},
            [c for c, keep in zip(self.contexts, mask, strict=True) if keep],
            None if self.events is None else self.events[mask].reset_index(drop=True),
            self.values,
            self.channels,
        )

    def arms(self, action: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Rows where ``action`` was eligible and either it or no action was chosen."""
        return self.eligible[action] & np.isin(self.chosen, (action, NO_ACTION))

    def randomised(self) -> dict[str, int]:
        """Randomised decisions per action (its own and no action's, where it was eligible)."""
        return {a: int(self.arms(a).sum()) for a in sorted(self.eligible)}

    def fingerprint(self, learner: str = "") -> str:
        """A short hash of the decision ids, the features, the outcome, its value expressions and ``learner`` (the
        learner's settings as text): equal data and settings, equal fingerprint."""
        values = ";".join(f"{k}={v}" for k, v in sorted((self.values or {}).items()))
        text = "\n".join(sorted(self.ids)) + "|" + ",".join(self.x.columns) + f"|{self.outcome}|{values}|{learner}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def training_data(
    records: Sequence[DecisionRecord],
    outcomes: pl.DataFrame,
    features: Sequence[str] | None = None,
    values: Mapping[str, str] | None = None,
) -> UpliftData:
    """The randomised ``records`` that have an outcome, joined to its margin, oldest first.

    The features are ``features`` (``plans.uplift.features``; default: every logged context key but the
    ``uplift_*`` scores), each read from the record's ``context``: the value logged at decision time, never
    today's, so the model learns nothing that happened after the decision. A feature a record did not log is
    missing (NaN) there.

    The outcome's margin is net of the chosen contact's cost; the cost is added back here, so the learned
    uplift is the action's effect on margin before its cost, and the incremental value (uplift − contact
    cost − fatigue − credit loss, :mod:`cvm.plans.incremental`) subtracts the cost once.

    With ``values`` (event → value expression, :func:`cvm.scoring.uplift_values.event_values`) the outcome is
    ``components``: ``events`` holds each decision's event flags and ``y`` the value-weighted events
    Σₑ 1[e] × vₑ(context), the contact's cost apart as well.
    """
    margin = dict(zip(outcomes["decision_id"].to_list(), outcomes["margin"].to_list(), strict=True))
    kept = sorted(
        (r for r in records if 0.0 < r.probability < 1.0 and margin.get(r.decision_id) is not None),
        key=lambda r: (r.decided_at, r.decision_id),
    )
    if features is None:
        features = sorted({k for r in kept for k in r.context if not k.startswith(UPLIFT_PREFIX)})
    else:
        features = [f for f in dict.fromkeys(features) if not f.startswith(UPLIFT_PREFIX)]
    x = pd.DataFrame([{k: r.context.get(k, np.nan) for k in features} for r in kept], columns=features, dtype=float)
    actions = sorted({c.action for r in kept for c in r.candidates if c.eligible and c.action != NO_ACTION})
    eligible = {a: np.array([any(c.action == a and c.eligible for c in r.candidates) for r in kept], bool)
                for a in actions}  # fmt: skip
    contexts = [r.context for r in kept]
    events: pd.DataFrame | None = None
    if values is None:
        y = np.array([margin[r.decision_id] + r.chosen_cost for r in kept], dtype=np.float64)
    else:
        events = _events(outcomes, [r.decision_id for r in kept], list(values))
        y = weighted_outcome(events, value_frame(values, contexts))
    return UpliftData(
        ids=[r.decision_id for r in kept],
        x=x,
        y=y,
        chosen=np.array([r.chosen for r in kept], dtype=object),
        propensity=np.array([r.probability for r in kept], dtype=np.float64),
        explore=np.array([r.rung == "explore" for r in kept], dtype=bool),
        eligible=eligible,
        contexts=contexts,
        events=events,
        values=None if values is None else dict(values),
        channels={c.action: c.channel for r in kept for c in r.candidates if c.action in eligible},
    )


def _events(outcomes: pl.DataFrame, ids: Sequence[str], events: Sequence[str]) -> pd.DataFrame:
    """The 0/1 event flags of decisions ``ids``, one column per event (an event the outcomes lack is all 0)."""
    present = [e for e in events if e in outcomes.columns]
    flags = {d: row for d, *row in outcomes.select("decision_id", *present).iter_rows()}
    frame = pd.DataFrame([[bool(v) for v in flags[i]] for i in ids], columns=present, dtype=float)
    return frame.reindex(columns=list(events), fill_value=0.0)


def split(data: UpliftData, share: float) -> tuple[UpliftData, UpliftData]:
    """The oldest ``1 − share`` of the rows for training, the latest ``share`` held out."""
    cut = len(data) - math.ceil(share * len(data))
    first = np.arange(len(data)) < cut
    return data.rows(first), data.rows(~first)


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def calibration(
    model: MultiUplift | ComponentUplift, held: UpliftData, top_fraction: float
) -> dict[str, dict[str, Any]]:
    """Held-out Qini coefficient and uplift at ``top_fraction`` of each modelled action (see the module)."""
    out: dict[str, dict[str, Any]] = {}
    for action in model.actions_:
        rows = held.arms(action) if action in held.eligible else np.zeros(len(held), bool)
        treated = held.chosen == action
        explore = rows & held.explore
        if min(int((explore & treated).sum()), int((explore & ~treated).sum())) >= MIN_ARM:
            rows, on = explore, "explore"
        else:
            on = "randomised"
        metrics: dict[str, Any] = {"held_out": int(rows.sum()), "measured_on": on, "qini": None, "uplift_at_k": None}
        if rows.any() and treated[rows].any() and (~treated[rows]).any():
            contexts = [c for c, keep in zip(held.contexts, rows, strict=True) if keep]
            score = predict_uplift(model, held.x[rows], contexts)[action].to_numpy()
            metrics["qini"] = _finite(qini_coefficient(held.y[rows], treated[rows], score))
            metrics["uplift_at_k"] = _finite(uplift_at_k(held.y[rows], treated[rows], score, top_fraction))
        out[action] = metrics
    return out


def fit_and_register(
    registry: ModelRegistry, data: UpliftData, cfg: UpliftConfig, data_hash: str, window: tuple[str, str]
) -> ModelVersion:
    """Fit the actions with enough randomised decisions, measure them on the held-out logs, register the version."""
    model, metrics, gate = fit_gated(data, cfg, window)
    train, held = split(data, cfg.holdout_share)
    meta: dict[str, Any] = {
        "outcome": data.outcome,
        "values": data.values,
        "training_window": {
            "decided_from": window[0],
            "decided_until": window[1],
            "rows": len(train),
            "held_out": len(held),
            "held_out_first": held.ids[0] if len(held) else None,
            "horizon_days": cfg.horizon_days,
        },
        "features": list(model.features_),
        "actions": list(model.actions_),
        "data_hash": data_hash,
        "metrics": {"actions": metrics, "skipped": dict(model.skipped_)},
        "gate": gate,
    }
    return registry.register(NAME, model, meta, eligible=meta["gate"]["passed"])


def fit_gated(
    data: UpliftData, cfg: UpliftConfig, window: tuple[str, str] | None = None
) -> tuple[MultiUplift | ComponentUplift, dict[str, dict[str, Any]], dict[str, Any]]:
    """The model of the actions with ``min_randomised`` decisions fitted on the oldest decisions, each action's
    metrics on the latest ``holdout_share`` and the gate's verdict (which actions may be scored)."""
    counts = data.randomised()
    wanted = [a for a, n in counts.items() if n >= cfg.min_randomised]
    train, held = split(data, cfg.holdout_share)
    model = new_model(train, cfg, wanted, window)
    metrics = calibration(model, held, cfg.top_fraction)
    for action, m in metrics.items():
        m["randomised"] = counts[action]
    return model, metrics, uplift_gate(metrics, len(data), cfg.min_randomised)


def new_model(
    data: UpliftData, cfg: UpliftConfig, actions: Sequence[str] | None = None, window: tuple[str, str] | None = None
) -> MultiUplift | ComponentUplift:
    """The uplift model of ``data``'s outcome fitted on it: a ``MultiUplift`` of the margin, or a ``ComponentUplift``
    of the events valued with ``data.values``."""
    common: dict[str, Any] = {"n_estimators": cfg.n_estimators, "min_propensity": cfg.min_propensity, "n_jobs": 1}
    args = (data.chosen, data.propensity)
    kw: dict[str, Any] = {"eligible": data.eligible, "actions": actions, "training_window": window}
    if data.values is None or data.events is None:
        return MultiUplift(**common).fit(data.x, data.y, *args, **kw)
    events = {e: data.events[e].to_numpy() for e in data.events.columns}
    effect: dict[str, Any] = {"effect_n_estimators": cfg.effect_n_estimators,
                              "effect_num_leaves": cfg.effect_num_leaves,
                              "effect_min_child_samples": cfg.effect_min_leaf,
                              "shrink": cfg.shrink_effects}  # fmt: skip
    pools = data.channels if cfg.pool_by == "channel" else None
    model = ComponentUplift(
        values=dict(data.values), pooled_events=list(cfg.pooled_events), pessimism=cfg.pessimism, **common, **effect
    )
    return model.fit(data.x, events, *args, pools=pools, **kw)


def mean_qini(
    entry: ModelVersion, model: MultiUplift | ComponentUplift, held: UpliftData, top_fraction: float
) -> float:
    """Mean held-out Qini over the actions ``entry``'s gate passed (−inf when none can be measured)."""
    passed = {a for a, v in entry.meta.get("gate", {}).get("actions", {}).items() if v.get("passed")}
    values = [
        m["qini"] for a, m in calibration(model, held, top_fraction).items() if a in passed and m["qini"] is not None
    ]
    return float(np.mean(values)) if values else -math.inf
