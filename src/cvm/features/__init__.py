"""Point-in-time customer features and labels, defined once in SQL (DuckDB, transpiled to Spark).

The names below are imported on first use, so that ``cvm.features.rfm`` (the CLV pipeline's RFM summary)
does not pay for the offline store's imports.

Examples
--------
>>> from cvm.features import build_features, churn_labels  # doctest: +SKIP
>>> X = build_features(store, "2024-06-30")  # doctest: +SKIP
>>> y = churn_labels(store, "2024-06-30", horizon_days=90)  # doctest: +SKIP
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from cvm.features.build import build_features as build_features
    from cvm.features.labels import adoption_labels as adoption_labels
    from cvm.features.labels import churn_labels as churn_labels
    from cvm.features.labels import default_labels as default_labels
    from cvm.features.sql import FEATURES as FEATURES
    from cvm.features.sql import feature_query as feature_query

__all__ = ["FEATURES", "adoption_labels", "build_features", "churn_labels", "default_labels", "feature_query"]

_LAZY = {
    "build_features": "cvm.features.build",
    "adoption_labels": "cvm.features.labels",
    "churn_labels": "cvm.features.labels",
    "default_labels": "cvm.features.labels",
    "FEATURES": "cvm.features.sql",
    "feature_query": "cvm.features.sql",
}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cvm.features' has no attribute {name!r}")
