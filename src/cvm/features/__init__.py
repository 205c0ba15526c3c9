"""Point-in-time customer features and labels, defined once in SQL (DuckDB, transpiled to Spark).

Examples
--------
>>> from cvm.features import build_features, churn_labels  # doctest: +SKIP
>>> X = build_features(store, "2024-06-30")  # doctest: +SKIP
>>> y = churn_labels(store, "2024-06-30", horizon_days=90)  # doctest: +SKIP
"""

from cvm.features.build import build_features
from cvm.features.labels import adoption_labels, churn_labels, default_labels
from cvm.features.sql import FEATURES, feature_query

__all__ = ["FEATURES", "adoption_labels", "build_features", "churn_labels", "default_labels", "feature_query"]
