"""Configuration of the uplift models (``plans.uplift``): horizon, randomised-data minimum, held-out share.

The uplift models learn each action's incremental margin against no action from the logged decisions
(:mod:`cvm.scoring.uplift`); these settings say over which horizon the margin is counted, how much
randomised data a model needs before it may decide anything, and how the held-out logs that measure it
(Qini, uplift at k) are taken.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_FEATURES = (
    "value",
    "margin_hist",
    "exp_purchases_12m",
    "p_alive",
    "days_since_last_purchase",
    "orders",
    "nps",
    "complaints_90d",
    "churn",
    "default",
    "tenure_days",
    "contacts_90d",
)
"""Value, recency, frequency, satisfaction, risk, tenure and recent contact pressure: who responds, who is a sure
thing and who a sleeping dog (an engaged customer with low satisfaction)."""


class UpliftConfig(BaseModel):
    """Uplift models per action, trained by ``cvm run`` and ``cvm train --uplift`` from the decision log."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    horizon_days: int = Field(
        default=90, ge=7, le=730, description="Margin after a decision is counted over this many days."
    )
    min_randomised: int = Field(
        default=500,
        ge=10,
        description="Fewest randomised decisions (the action's and no action's, horizon elapsed) an action's "
        "model needs; below it no uplift is written and the propensity policy decides.",
    )
    holdout_share: float = Field(
        default=0.3, gt=0.0, lt=1.0, description="The latest share of those decisions held out to measure Qini."
    )
    top_fraction: float = Field(default=0.1, gt=0.0, le=1.0, description="The k of the reported uplift at k.")
    n_estimators: int = Field(default=200, ge=10, le=5000, description="Boosting rounds of each LightGBM model.")
    min_propensity: float = Field(
        default=0.01, gt=0.0, lt=1.0, description="Floor of the logged probabilities in the DR pseudo-outcome."
    )
    features: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FEATURES),
        min_length=1,
        description="Numeric attributes the uplift models learn from; the decision log records each one as it was "
        "at decision time (the record's context), and the models are trained on those logged values only.",
    )


_TEMPLATE = """  # Uplift models per action (each action against no action), learnt from the logged randomised
  # decisions by `cvm run` and `cvm train --uplift`: the margin of the horizon_days after a decision, net of
  # the contact's cost. An action needs min_randomised randomised decisions with an elapsed horizon, and a
  # positive Qini on the latest holdout_share of them (also reported: uplift at top_fraction); until then no
  # uplift_<action> attribute is written and the propensity policy decides for it.
  uplift:
    horizon_days: {u.horizon_days}
    min_randomised: {u.min_randomised}
    holdout_share: {u.holdout_share}
    top_fraction: {u.top_fraction}
    n_estimators: {u.n_estimators}
    min_propensity: {u.min_propensity}
    # Attributes the models learn from, logged with every decision as they were at decision time.
    features: [{features}]
"""


def render_uplift(cfg: UpliftConfig) -> str:
    """The commented ``plans.uplift`` block of the ``cvm.yaml`` template."""
    return _TEMPLATE.format(u=cfg, features=", ".join(cfg.features))
