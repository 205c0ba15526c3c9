"""Which code scores on which offline backend: the one place ``cvm score`` dispatches on ``store.offline``.

DuckDB runs the scoring of one machine (:mod:`cvm.scoring.value`, :mod:`cvm.scoring.assembly`,
:mod:`cvm.risk.early_warning`) on the backend's store. Spark runs the same definitions on its workers
(:mod:`cvm.scoring.value_spark`, :mod:`cvm.scoring.spark_lifecycle`,
:mod:`cvm.risk.spark_early_warning`). A score a backend cannot compute
raises :class:`~cvm.store.backend.UnsupportedOperationError`: nothing falls back silently to DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from cvm.config.settings import Settings
from cvm.scoring.report import ScoreReport
from cvm.store.backend import OfflineBackend, UnsupportedOperationError


def write_value_scores_on(
    backend: OfflineBackend, settings: Settings, as_of: date, channel_cost: Mapping[Any, float] | None = None
) -> ScoreReport:
    """The value scores (CLV) as of ``as_of``, computed on ``backend``; the report names the backend."""
    if backend.name == "duckdb":
        from cvm.scoring.value_chunks import write_value_scores

        report = write_value_scores(backend.store, settings.scoring, as_of, channel_cost)
        return replace(report, backend=backend.name)
    from cvm.scoring import value_spark
    from cvm.store.spark import SparkBackend

    if not isinstance(backend, SparkBackend):
        raise UnsupportedOperationError(f"the {backend.name} offline backend cannot compute the value scores (CLV)")
    return value_spark.write_value_scores_on(backend, settings, as_of, channel_cost)


def write_lifecycle_scores_on(
    backend: OfflineBackend, workspace: Path, settings: Settings, as_of: date
) -> dict[str, Any]:
    """The life-cycle scores of the champions as of ``as_of``, computed on ``backend`` and stored."""
    if backend.name == "duckdb":
        from cvm.scoring.lifecycle_chunks import write_lifecycle_scores

        return write_lifecycle_scores(backend.store, workspace, settings, as_of)
    from cvm.scoring import spark_lifecycle
    from cvm.store.spark import SparkBackend

    if not isinstance(backend, SparkBackend):
        raise UnsupportedOperationError(f"the {backend.name} offline backend cannot compute the life-cycle scores")
    return spark_lifecycle.write_lifecycle_scores_on(backend, workspace, settings, as_of)


def write_early_warning_on(backend: OfflineBackend, settings: Settings, as_of: date) -> int:
    """The early-warning flags as of ``as_of``, computed on ``backend`` and stored; how many customers."""
    if backend.name == "duckdb":
        from cvm.risk import write_early_warning

        return write_early_warning(backend.store, settings.risk, as_of, settings.scoring.chunk_customers).height
    from cvm.risk import spark_early_warning
    from cvm.store.spark import SparkBackend

    if not isinstance(backend, SparkBackend):
        raise UnsupportedOperationError(f"the {backend.name} offline backend cannot flag the early warnings")
    return spark_early_warning.write_early_warning_on(backend, settings.risk, as_of)
