"""The customer page's next-best action: the real-time decision (``/next-best-action``), shaped for the page.

Nothing is recomputed here: :meth:`cvm.services.PlansService.next_best_action` decides as the events API
does (consent, caps, quiet hours, suppressions, pilots); this module only sorts its answer into the
action chosen now and the candidates held back, each with the kind of its reason
(:func:`cvm.reporting.actions.held_kind`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cvm.customers import UnknownCustomerError
from cvm.engine import Engine
from cvm.reporting.actions import held_kind


def _verdict(reasons: tuple[str, ...]) -> str:
    """The decision's own reason (the last one; the first explains the expected value)."""
    return reasons[-1] if reasons else ""


def next_best(engine: Engine, customer_id: str) -> dict[str, Any]:
    """``{"chosen": [...], "held": [...], "known": bool}``: the ranked actions, chosen ones first, best first."""
    try:
        ranked = engine.plans.next_best_action(customer_id)
    except UnknownCustomerError:  # not in the online store's view of the base (a customer added since)
        return {"chosen": [], "held": [], "known": False}
    rows = []
    for action in ranked:
        row = dataclasses.asdict(action)
        verdict = _verdict(action.reasons)
        row |= {"verdict": verdict, "kind": "chosen" if action.chosen else held_kind(verdict)}
        row["deferred"] = action.chosen and "quiet hours" in verdict
        rows.append(row)
    return {
        "chosen": [r for r in rows if r["chosen"]],
        "held": [r for r in rows if not r["chosen"]],
        "known": True,
    }
