"""What CVM has learned, as plain data that reaches the pure :func:`cvm.plans.decide.decide`.

``decide`` stays pure and deterministic: fitted models do not run inside it. What they
learned arrives as a :class:`Learned` value (keyword ``learned=`` of ``decide`` and ``rank``):

- ``fatigue``: per channel, a :class:`FatigueCurve`, the priced contact pressure that
  :class:`cvm.models.fatigue.FatigueModel` fitted from the contact history and its adverse
  outcomes (unsubscribe, complaint, consent withdrawn, no-response streaks);
- ``model_versions``: the versions of the models whose scores the decision reads (logged
  with every decision);
- ``variant_posteriors``: the Beta posteriors of pilot variants that Thompson sampling
  allocates by (:mod:`cvm.plans.explore`).

A :class:`Learned` is JSON-ready (:meth:`Learned.to_dict`, :meth:`Learned.from_dict`).
This module imports nothing internal to CVM.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FatigueCurve:
    """The marginal cost of the n-th contact on one channel within a rolling window.

    A discrete-time hazard (logistic in ``n`` and the customer's covariates): the
    probability that the n-th contact in ``window_days`` triggers an adverse event is
    ``h(n, x) = 1 / (1 + exp(-(logits[n-1] + Σ coefficients[k] · (x[k] − means[k]))))``
    (the last entry of ``logits`` holds for every larger ``n``), and the contact's
    fatigue cost is ``h(n, x) × loss``: the value lost with the channel when that happens.
    A curve with no ``logits`` costs nothing.
    """

    window_days: int = 30
    logits: tuple[float, ...] = ()
    coefficients: Mapping[str, float] = field(default_factory=dict)
    means: Mapping[str, float] = field(default_factory=dict)
    loss: float = 0.0

    def hazard(self, n: int, attrs: Mapping[str, Any] | None = None) -> float:
        """Probability of an adverse event caused by the ``n``-th contact in the window (``n ≥ 1``)."""
        if not self.logits or n < 1:
            return 0.0
        z = self.logits[min(n, len(self.logits)) - 1]
        for name, beta in self.coefficients.items():
            raw = (attrs or {}).get(name)
            x = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
            if x is not None and math.isfinite(x):
                z += beta * (x - self.means.get(name, 0.0))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def cost(self, n: int, attrs: Mapping[str, Any] | None = None) -> float:
        """The expected value lost by the ``n``-th contact in the window."""
        return self.hazard(n, attrs) * self.loss

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days,
            "logits": list(self.logits),
            "coefficients": dict(self.coefficients),
            "means": dict(self.means),
            "loss": self.loss,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FatigueCurve:
        return cls(
            window_days=int(data.get("window_days", 30)),
            logits=tuple(float(x) for x in data.get("logits", ())),
            coefficients={str(k): float(v) for k, v in dict(data.get("coefficients", {})).items()},
            means={str(k): float(v) for k, v in dict(data.get("means", {})).items()},
            loss=float(data.get("loss", 0.0)),
        )


@dataclass(frozen=True)
class Learned:
    """Everything learned that a decision reads, as plain values (all fields default to "nothing learned")."""

    fatigue: Mapping[str, FatigueCurve] = field(default_factory=dict)
    """Per channel: the priced contact pressure (a channel without a curve costs no fatigue)."""
    model_versions: Mapping[str, str] = field(default_factory=dict)
    """Model name → version of the models whose scores the decision reads."""
    variant_posteriors: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """``"<pilot>:<arm>"`` → Beta posterior ``(alpha, beta)`` of the arm's binary outcome, for Thompson sampling."""

    def fatigue_cost(self, channel: str, n: int, attrs: Mapping[str, Any] | None = None) -> float:
        """The fatigue cost of the ``n``-th contact on ``channel`` in its window (0 without a curve)."""
        curve = self.fatigue.get(channel)
        return curve.cost(n, attrs) if curve is not None else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "fatigue": {ch: c.to_dict() for ch, c in self.fatigue.items()},
            "model_versions": dict(self.model_versions),
            "variant_posteriors": {k: list(v) for k, v in self.variant_posteriors.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Learned:
        """The inverse of :meth:`to_dict`."""
        return cls(
            fatigue={str(ch): FatigueCurve.from_dict(c) for ch, c in dict(data.get("fatigue", {})).items()},
            model_versions={str(k): str(v) for k, v in dict(data.get("model_versions", {})).items()},
            variant_posteriors={
                str(k): (float(v[0]), float(v[1])) for k, v in dict(data.get("variant_posteriors", {})).items()
            },
        )
