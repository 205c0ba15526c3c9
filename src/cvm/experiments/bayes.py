"""Bayesian chance to win: the posterior probability that the treatment beats the control.

Two documented models:

- :func:`bayes_chance_to_win` (any outcome): flat priors and the normal approximation of each
  arm's mean, μ ~ N(x̄, σ²/n), so μB − μA ~ N(x̄B − x̄A, σA²/nA + σB²/nB) and
  P(μB > μA) = Φ((x̄B − x̄A) / √(σA²/nA + σB²/nB)); the credible interval is that normal's.
- :func:`beta_chance_to_win` (conversions): Beta–Binomial with a Beta(a, b) prior per arm
  (uniform by default); P(pB > pA) is computed exactly with Evan Miller's (2015) closed form
  Σᵢ₌₀^{αB−1} B(αA + i, βA + βB) / ((βB + i)·B(1 + i, βB)·B(αA, βA)), for an integer αB.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special  # type: ignore[import-untyped]


@dataclass(frozen=True)
class ChanceToWin:
    """P(B > A), the expected difference and its credible interval."""

    chance_to_win: float
    expected_diff: float
    ci_low: float
    ci_high: float
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def bayes_chance_to_win(
    mean_a: float, var_a: float, n_a: float, mean_b: float, var_b: float, n_b: float, alpha: float = 0.05
) -> ChanceToWin:
    """P(μB > μA) under flat priors and the normal approximation.

    Examples
    --------
    >>> round(bayes_chance_to_win(10, 4, 100, 10, 4, 100).chance_to_win, 3)
    0.5
    """
    diff = mean_b - mean_a
    sd = math.sqrt(var_a / n_a + var_b / n_b)
    if sd == 0:
        p = 0.5 if diff == 0 else float(diff > 0)
        return ChanceToWin(p, diff, diff, diff, "normal")
    z = float(special.ndtri(1 - alpha / 2))
    return ChanceToWin(float(special.ndtr(diff / sd)), diff, diff - z * sd, diff + z * sd, "normal")


def beta_chance_to_win(
    successes_a: int, n_a: int, successes_b: int, n_b: int, prior: tuple[float, float] = (1.0, 1.0), alpha: float = 0.05
) -> ChanceToWin:
    """P(pB > pA) for conversion rates, exactly, under Beta priors (Miller 2015).

    Examples
    --------
    >>> beta_chance_to_win(0, 0, 0, 0).chance_to_win  # two uniform priors: a coin toss
    0.5
    """
    a_a, b_a = successes_a + prior[0], n_a - successes_a + prior[1]
    a_b, b_b = successes_b + prior[0], n_b - successes_b + prior[1]
    if a_b != int(a_b):
        raise ValueError("the exact formula needs an integer prior successes count (e.g. prior (1, 1))")
    i = np.arange(int(a_b), dtype=float)
    terms = special.betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - special.betaln(1 + i, b_b) - special.betaln(a_a, b_a)
    p = float(np.exp(special.logsumexp(terms))) if i.size else 0.0
    mean_a, mean_b = a_a / (a_a + b_a), a_b / (a_b + b_b)
    var = a_a * b_a / ((a_a + b_a) ** 2 * (a_a + b_a + 1)) + a_b * b_b / ((a_b + b_b) ** 2 * (a_b + b_b + 1))
    z = float(special.ndtri(1 - alpha / 2))
    diff = mean_b - mean_a
    return ChanceToWin(min(max(p, 0.0), 1.0), diff, diff - z * math.sqrt(var), diff + z * math.sqrt(var), "beta")
