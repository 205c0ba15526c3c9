"""Pure estimators: customer value (``cvm.models.clv``), churn, propensity, the credit scorecard and
multi-treatment uplift.

Models import only numpy, scipy, pandas, scikit-learn, LightGBM, optbinning and the standard library
(``tests/unit/test_models_imports.py`` checks it). They query nothing and draw nothing: data goes to ``fit``
as arrays or frames, and a fitted model becomes a JSON-ready document (``to_dict``) that
:mod:`cvm.models.files` writes and reads for the model registry. All follow :mod:`cvm.models.base`.
"""

# Churn, propensity and credit models. Imported on first use: LightGBM and optbinning take seconds to load.
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from cvm.models.churn import ChurnModel as ChurnModel
    from cvm.models.credit import PointsScaling as PointsScaling
    from cvm.models.credit import Scorecard as Scorecard
    from cvm.models.propensity import PropensityModel as PropensityModel
    from cvm.models.uplift_components import ComponentUplift as ComponentUplift
    from cvm.models.uplift_multi import MultiUplift as MultiUplift

_LAZY = {
    "ChurnModel": "cvm.models.churn",
    "PropensityModel": "cvm.models.propensity",
    "Scorecard": "cvm.models.credit",
    "PointsScaling": "cvm.models.credit",
    "MultiUplift": "cvm.models.uplift_multi",
    "ComponentUplift": "cvm.models.uplift_components",
}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cvm.models' has no attribute {name!r}")
