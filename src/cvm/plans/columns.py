"""The attribute columns the plans and the contact policy read (shared by the batch and the decision log)."""

from __future__ import annotations

from cvm.config.plans import CHANNELS, PlansConfig
from cvm.rules import rule


def needed_columns(config: PlansConfig) -> set[str]:
    """Columns the plans and the policy read: only these are loaded for the candidates."""
    cols = {"customer_id", "timezone", "open_complaint", *(f"consent_{c}" for c in CHANNELS)}
    texts: list[str] = [s.when for s in config.policy.suppress.values()]
    for plan in config.active.values():
        texts += [t for t in (plan.entry, plan.exit, plan.trigger.condition()) if t]
        for step in plan.steps:
            texts += [t for t in (step.eligibility, step.propensity, step.value, step.margin) if t]
    for text in texts:
        cols |= rule(text).columns
    return cols
