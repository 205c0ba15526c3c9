"""The segmented base the plan batch decides on, computed where the offline backend runs.

On DuckDB it is the temporary table ``segmented`` of the store connection (:func:`compute_membership`), read
in record batches by :func:`cvm.jobs.plan_load.run`. On Spark the same query (:func:`segmented_sql`, DuckDB's
dialect transpiled by sqlglot) becomes the session's temporary view ``segmented``, and the membership is
computed on the cluster (:func:`membership_on`): the driver neither segments the base nor stages it.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import polars as pl

from cvm.segments.refresh import compute_membership, membership_on, segmented_sql

if TYPE_CHECKING:
    import duckdb

    from cvm.config.plans import SegmentsConfig
    from cvm.segments.refresh import SegmentReport
    from cvm.store.backend import OfflineBackend

#: The name of the segmented base, a table of the DuckDB connection or a view of the Spark session.
SEGMENTED = "segmented"


def segment_for_plans(
    backend: OfflineBackend, con: duckdb.DuckDBPyConnection, cfg: SegmentsConfig, as_of: date
) -> tuple[SegmentReport, pl.DataFrame, bool]:
    """Segment the base as of ``as_of`` for the plan batch: the report, the membership rows to store, and whether
    the base is the backend's view (Spark) rather than ``con``'s table (pass it to :func:`plan_load.run`)."""
    if backend.name != "spark":
        return (*compute_membership(con, cfg, as_of), False)
    _, sql = segmented_sql(con, cfg, as_of)  # con only looks up the stored columns and uplift scores
    backend.sql(sql).createOrReplaceTempView(SEGMENTED)  # type: ignore[attr-defined]
    return (*membership_on(backend, cfg, as_of), True)
