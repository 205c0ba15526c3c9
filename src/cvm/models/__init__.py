"""Pure estimators: customer value (``cvm.models.clv``) and, later, churn, propensity and credit models.

Models import only numpy, scipy and pandas. They do no I/O: data goes to ``fit`` as arrays, and fitted
models persist as JSON strings that the caller stores.
"""

# Churn, propensity and credit models. Imported on first use: LightGBM and optbinning take seconds to load.
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from cvm.models.churn import ChurnModel as ChurnModel
    from cvm.models.credit import PointsScaling as PointsScaling
    from cvm.models.credit import Scorecard as Scorecard
    from cvm.models.propensity import PropensityModel as PropensityModel

_LAZY = {
    "ChurnModel": "cvm.models.churn",
    "PropensityModel": "cvm.models.propensity",
    "Scorecard": "cvm.models.credit",
    "PointsScaling": "cvm.models.credit",
}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cvm.models' has no attribute {name!r}")
