"""The champion gate of ``cvm train``: a version becomes champion only when it beats chance and had data.

A trained life-cycle version passes when its held-out AUC is above ``models.min_auc`` (default 0.55; an AUC that
could not be measured, because the held-out window has one class only, does not pass) and it was
trained on at least ``models.min_positives`` events: churners (churn), bads (default); for propensity
each product needs that many adoptions, else the product is left out of the model. A version that
fails is still registered, as a challenger with the reasons in its metadata (``gate``); the existing
champion stays, and ``cvm models promote`` refuses it unless ``--force``. An uplift model passes by
:func:`uplift_gate` (a positive held-out Qini per action and enough randomised decisions).
"""

from __future__ import annotations

import math
from typing import Any

from cvm.config.settings import ModelsSettings

EVENTS = {"churn": "churners", "default": "bads", "propensity": "adoptions"}


def gate(name: str, metrics: dict[str, Any], positives: int, s: ModelsSettings) -> dict[str, Any]:
    """``{"passed": bool, "reasons": [...], "positives": n}`` of a version with held-out ``metrics``."""
    reasons = []
    auc = metrics.get("auc")
    if auc is None or (isinstance(auc, float) and math.isnan(auc)):
        reasons.append("its held-out AUC could not be measured (the held-out window has a single class)")
    elif not auc > s.min_auc:
        reasons.append(f"its held-out AUC {auc:.3f} is not above models.min_auc {s.min_auc:.2f}")
    if positives < s.min_positives:
        reasons.append(
            f"it was trained on {positives:,} {EVENTS.get(name, 'events')}, fewer than models.min_positives "
            f"{s.min_positives:,}"
        )
    return {"passed": not reasons, "reasons": reasons, "positives": positives}


def gate_note(name: str, version: str, verdict: dict[str, Any], champion: str | None) -> str:
    """The line ``cvm train`` prints for a version that failed the gate."""
    stays = (
        f"the champion {champion} stays"
        if champion
        else f"there is no {name} champion, so no {name} scores are written (more history or customers may help)"
    )
    return f"{name} {version} registered as a challenger, not champion: {'; '.join(verdict['reasons'])}; {stays}"


def uplift_gate(actions: dict[str, dict[str, Any]], randomised: int, minimum: int) -> dict[str, Any]:
    """The champion gate of an uplift model: each action passes when its held-out Qini is positive.

    ``actions`` maps each modelled action to its held-out metrics (``qini``) and its randomised decisions
    (``randomised``); an action below ``minimum`` (``plans.uplift.min_randomised``) fails too. The version
    passes when at least one action passes; only passing actions are scored (``actions[a]["passed"]``).
    """
    verdicts: dict[str, dict[str, Any]] = {}
    for action, m in actions.items():
        why = []
        qini = m.get("qini")
        if qini is None or (isinstance(qini, float) and math.isnan(qini)):
            why.append("its held-out Qini could not be measured (the held-out logs lack one of the two arms)")
        elif not qini > 0:
            why.append(f"its held-out Qini {qini:.4g} is not positive")
        if m.get("randomised", 0) < minimum:
            why.append(
                f"it has {m.get('randomised', 0):,} randomised decisions, fewer than plans.uplift.min_randomised "
                f"{minimum:,}"
            )
        verdicts[action] = {**m, "passed": not why, "reasons": why}
    failed = [f"{a}: {'; '.join(v['reasons'])}" for a, v in verdicts.items() if not v["passed"]]
    passed = any(v["passed"] for v in verdicts.values())
    reasons = [] if passed else (failed or ["no action was modelled"])
    return {"passed": passed, "reasons": reasons, "positives": randomised, "actions": verdicts}
