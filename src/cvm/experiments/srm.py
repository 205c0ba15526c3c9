"""Sample-ratio mismatch: are the arm sizes what the configured split promises?

Pearson's chi-square goodness-of-fit test of the observed arm sizes against the expected
ones, N·wᵢ/Σw, with k − 1 degrees of freedom. A p-value below 0.001 flags a mismatch (a
broken assignment or a leak between arms): the pilot's results are not to be trusted.
Reference check: counts [5000, 5200] at 50/50 give χ² = 3.9216 and p = 0.0477 (no warning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import chdtrc  # type: ignore[import-untyped]

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult:
    """χ², its p-value, and whether it signals a mismatch (p < threshold)."""

    chi2: float
    p_value: float
    mismatch: bool
    expected: tuple[float, ...]
    threshold: float = SRM_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["expected"] = list(self.expected)
        return out


def srm_check(counts: Sequence[float], weights: Sequence[float], threshold: float = SRM_THRESHOLD) -> SrmResult:
    """Chi-square test of ``counts`` per arm against the intended ``weights`` (any scale).

    Examples
    --------
    >>> r = srm_check([5000, 5200], [0.5, 0.5])
    >>> round(r.chi2, 4), round(r.p_value, 4), r.mismatch
    (3.9216, 0.0477, False)
    """
    obs = np.asarray(counts, dtype=float)
    w = np.asarray(weights, dtype=float)
    if obs.size != w.size or obs.size < 2:
        raise ValueError("give one count and one weight per arm, for at least two arms")
    if np.any(w <= 0) or np.any(obs < 0):
        raise ValueError("weights must be positive and counts not negative")
    total = obs.sum()
    if total == 0:
        return SrmResult(0.0, 1.0, False, tuple(0.0 for _ in obs), threshold)
    expected = total * w / w.sum()
    chi2 = float(((obs - expected) ** 2 / expected).sum())
    p = float(chdtrc(obs.size - 1, chi2))
    return SrmResult(chi2, p, p < threshold, tuple(float(e) for e in expected), threshold)
