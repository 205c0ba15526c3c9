"""The logged decisions as the uplift champion would have priced them: what ``cvm policy`` evaluates as the
incremental policy.

A logged decision carries the uplift of the model that was champion when it was decided, or none (before the
first model). To estimate what the *current* champion would earn, its predictions are attached to the logged
candidates (features and event values from each record's ``context``, as they were at decision time), and only
the decisions the model did not learn from are kept: those from its first held-out decision on (the latest
``plans.uplift.holdout_share`` of its training data, and every decision after it). Evaluating it on decisions
it was fitted on would flatter it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cvm.contracts.decisionlog import DecisionRecord
from cvm.scoring.registry import ModelRegistry
from cvm.scoring.uplift_values import predict_uplift

NAME = "uplift"


def predicted(model: Any, records: Sequence[DecisionRecord], passed: Sequence[str] | None = None) -> pd.DataFrame:
    """The model's predicted uplift of the ``passed`` actions (default: all) for each record (features and values:
    the record's context); the others have no ``uplift_*`` score, so ``decide`` prices them by propensity."""
    x = pd.DataFrame([{f: r.context.get(f, np.nan) for f in model.features_} for r in records], dtype=float)
    pred = predict_uplift(model, x, [r.context for r in records])
    return pred if passed is None else pred[[a for a in pred.columns if a in passed]]


def with_uplift(records: Sequence[DecisionRecord], pred: pd.DataFrame) -> list[DecisionRecord]:
    """Records whose candidates carry the predicted uplift and its ``ev_incremental``, priced as ``decide`` does.

    The model learns the effect before the contact's cost, so ``ev_incremental = uplift − cost − fatigue −
    credit loss`` counts the cost once.
    """
    out = []
    for i, r in enumerate(records):
        cands = tuple(
            c.with_uplift(float(pred[c.action].iloc[i])) if c.action in pred.columns else c for c in r.candidates
        )
        out.append(replace(r, candidates=cands))
    return out


def champion_replay(workspace: Path, records: Sequence[DecisionRecord]) -> tuple[list[DecisionRecord], str | None]:
    """The decisions the uplift champion did not learn from, priced with its uplift, and a note saying so;
    ``records`` unchanged and no note without a champion (or one registered before it recorded its held-out
    decisions)."""
    champion = ModelRegistry(workspace).champion(NAME)
    first = champion.meta.get("training_window", {}).get("held_out_first") if champion is not None else None
    at = next(((r.decided_at, r.decision_id) for r in records if r.decision_id == first), None)
    if champion is None or at is None:
        return list(records), None
    kept = [r for r in records if (r.decided_at, r.decision_id) >= at]  # training's order (uplift_train)
    verdicts = champion.meta.get("gate", {}).get("actions", {})
    model = champion.load()
    passed = [a for a in model.actions_ if verdicts.get(a, {}).get("passed")]
    note = (
        f"the incremental policy prices each decision with the uplift champion {champion.tag} (actions that "
        f"passed its gate: {', '.join(passed) or 'none'}), on the {len(kept):,} decisions from its first held-out "
        f"one ({at[0]:%Y-%m-%d}) on, which it did not learn from; every policy is measured on those decisions"
    )
    return with_uplift(kept, predicted(model, kept, passed)), note
