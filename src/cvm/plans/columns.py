"""The attribute columns the plans and the contact policy read (shared by the batch and the decision log)."""

from __future__ import annotations

from cvm.config.plans import CHANNELS, PlansConfig
from cvm.contracts.learned import Learned
from cvm.plans.incremental import read_columns
from cvm.rules import rule


def needed_columns(config: PlansConfig, learned: Learned | None = None) -> set[str]:
    """Columns the plans, the policy, the pricing and the uplift models read: only these are loaded."""
    cols = {"customer_id", "timezone", "open_complaint", *(f"consent_{c}" for c in CHANNELS)}
    cols |= read_columns(config, learned)
    cols |= set(config.uplift.features)  # logged in each decision's context: what the uplift models learn from
    for text in config.uplift.values.model_dump().values():  # and what they value each outcome event with
        if text is not None:
            cols |= rule(text).columns
    texts: list[str] = [s.when for s in config.policy.suppress.values()]
    for plan in config.active.values():
        texts += [t for t in (plan.entry, plan.exit, plan.trigger.condition()) if t]
        for step in plan.steps:
            texts += [t for t in (step.eligibility, step.propensity, step.value, step.margin) if t]
    for text in texts:
        cols |= rule(text).columns
    return cols
