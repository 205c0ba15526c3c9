"""Customer lifetime value: Buy-Till-You-Die purchase models, spend, retention and discounted CLV.

- :class:`BetaGeo` (BG/NBD), :class:`ModifiedBetaGeo` (MBG/NBD) and :class:`ParetoNBD`: repeat purchases in
  continuous time, fitted on (frequency, recency, T);
- :class:`BetaGeoBetaBinom` (BG/BB): discrete transaction opportunities;
- :class:`GammaGamma`: mean spend per transaction;
- :class:`ShiftedBetaGeometric` (sBG): contractual retention;
- :func:`clv`: discounted CLV from a purchase model and a spend model;
- :func:`rfm_summary`, :func:`calibration_and_holdout` (DuckDB; ``*_spark`` on Spark): the (frequency,
  recency, T, monetary value) inputs from a raw transaction log; plots in :mod:`cvm.models.clv.plotting`.

Every model fits by maximum likelihood on the distinct data rows, reports ``params_``, ``standard_errors_``,
``log_likelihood_``, ``converged_`` and ``convergence_``, and persists with ``to_json`` / ``from_json``.
"""

from cvm.models.base import NotFittedError
from cvm.models.clv.base import ClvModel, Convergence, ConvergenceWarning
from cvm.models.clv.bgbb import BetaGeoBetaBinom
from cvm.models.clv.bgnbd import BetaGeo
from cvm.models.clv.gamma_gamma import GammaGamma
from cvm.models.clv.mbgnbd import ModifiedBetaGeo
from cvm.models.clv.pareto import ParetoNBD
from cvm.models.clv.rfm import (
    activity_by_period,
    calibration_and_holdout,
    calibration_and_holdout_spark,
    rfm_summary,
    rfm_summary_spark,
)
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
    "activity_by_period",
    "calibration_and_holdout",
    "calibration_and_holdout_spark",
    "clv",
    "rfm_summary",
    "rfm_summary_spark",
]
