"""Credit risk in the decision: the acceptance cut-off, the early-warning list and expected credit loss.

A step that extends credit or defers payment (``extends_credit: true``) carries an expected
credit loss ``PD × exposure × LGD`` (PD: the scorecard's probability of default, the score
``default``; exposure: the step's ``exposure`` expression or ``plans.credit.exposure``; LGD: the
step's ``lgd`` or ``plans.credit.lgd``). A customer without a PD is priced as a certain default.

Two hard gates (a gated step is skipped, with its reason):

- no credit offer below the acceptance cut-off (``plans.credit.cutoff``, by default the risk
  section's ``acceptance.cutoff``, in scorecard points, as :mod:`cvm.risk.accept` applies it:
  accepted at or above it); a customer without points gets none either while a cut-off is set;
- a customer on the early-warning list (score ``early_warning``) gets no step that skips on a
  warning (by default: sell, propose and credit offers; ``on_early_warning`` per step): the
  built-in ``payment_terms`` plan proposes adapted payment terms instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cvm.config.plans import CreditConfig
from cvm.plans.runtime import StepRuntime


def number(value: Any) -> float | None:
    """A finite float, or ``None`` for a missing, non-numeric or non-finite value."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def on_early_warning(credit: CreditConfig, attrs: Mapping[str, Any]) -> bool:
    """Whether the customer is on the early-warning list."""
    return attrs.get(credit.early_warning_attribute) is not None


def credit_refusal(credit: CreditConfig, step: StepRuntime, attrs: Mapping[str, Any]) -> str | None:
    """Why this step may not go to this customer on credit grounds, or ``None``."""
    if step.config.extends_credit and credit.cutoff is not None:
        points = number(attrs.get(credit.points_attribute))
        if points is None:
            return f"credit: no {credit.points_attribute} score, and credit offers need {credit.cutoff:g} points"
        if points < credit.cutoff:
            return f"credit: {points:.0f} points, below the acceptance cut-off {credit.cutoff:g}"
    if step.skip_on_warning and on_early_warning(credit, attrs):
        return f"early warning: no {step.config.objective} step for a customer on the list (payment terms instead)"
    return None


def expected_credit_loss(credit: CreditConfig, step: StepRuntime, attrs: Mapping[str, Any]) -> float:
    """PD × exposure × LGD of a credit offer (0 for a step that extends no credit)."""
    if not step.config.extends_credit:
        return 0.0
    pd = number(attrs.get(credit.pd_attribute))
    pd = 1.0 if pd is None else min(max(pd, 0.0), 1.0)
    exposure = step.exposure if isinstance(step.exposure, float) else number(step.exposure.evaluate(attrs))
    return pd * max(exposure or 0.0, 0.0) * step.lgd
