"""Customer lifetime value: Buy-Till-You-Die purchase models, spend, retention and discounted CLV.

- :class:`BetaGeo` (BG/NBD), :class:`ModifiedBetaGeo` (MBG/NBD) and :class:`ParetoNBD`: repeat purchases in
  continuous time, fitted on (frequency, recency, T);
- :class:`BetaGeoBetaBinom` (BG/BB): discrete transaction opportunities;
- :class:`GammaGamma`: mean spend per transaction;
- :class:`ShiftedBetaGeometric` (sBG): contractual retention;
- :func:`clv`: discounted CLV from a purchase model and a spend model;
- the (frequency, recency, T, monetary value) inputs come from a raw transaction log through
  :func:`cvm.features.rfm.rfm_summary` (a query: DuckDB, or Spark), and the diagnostic plots are in
  :mod:`cvm.reporting.clv_plots`: this package only computes.

Every model fits by maximum likelihood on the distinct data rows, reports ``params_``, ``standard_errors_``,
``log_likelihood_``, ``converged_`` and ``convergence_``, and persists with ``to_json`` / ``from_json``.
"""

from typing import Any

from cvm.models.clv.base import ClvModel, Convergence, ConvergenceWarning
from cvm.models.clv.bgbb import BetaGeoBetaBinom
from cvm.models.clv.bgnbd import BetaGeo
from cvm.models.clv.gamma_gamma import GammaGamma
from cvm.models.clv.mbgnbd import ModifiedBetaGeo
from cvm.models.clv.pareto import ParetoNBD
from cvm.models.clv.sbg import ShiftedBetaGeometric
from cvm.models.clv.value import clv

__all__ = [
    "BetaGeo",
    "BetaGeoBetaBinom",
    "ClvModel",
    "Convergence",
    "ConvergenceWarning",
    "GammaGamma",
    "ModifiedBetaGeo",
    "NotFittedError",
    "ParetoNBD",
    "ShiftedBetaGeometric",
    "clv",
]


def __getattr__(name: str) -> Any:
    """``NotFittedError``, made on first use (see :mod:`cvm.models.base`: it needs scikit-learn)."""
    if name == "NotFittedError":
        from cvm.models.base import not_fitted_error

        return not_fitted_error()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
