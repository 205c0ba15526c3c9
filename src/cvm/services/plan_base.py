"""The segmented base the plan batch decides on, computed where the offline backend runs.

On DuckDB it is the temporary table ``segmented`` of the store connection (:func:`compute_membership`), read
in record batches by :func:`cvm.jobs.plan_load.run`. On Spark the same query (:func:`segmented_sql`, DuckDB's
dialect transpiled by sqlglot) becomes the session's temporary view ``segmented``, and the membership is
computed and stored on the cluster (:func:`membership_on`, :func:`store_on`): the driver neither segments the
base nor stages it, nor receives its membership rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import TYPE_CHECKING

from cvm.segments.refresh import compute_membership, membership_on, store_on, write_members

if TYPE_CHECKING:
    import duckdb

    from cvm.config.plans import SegmentsConfig
    from cvm.segments.refresh import SegmentReport
    from cvm.store.backend import OfflineBackend


def segment_for_plans(
    backend: OfflineBackend, con: duckdb.DuckDBPyConnection, cfg: SegmentsConfig, as_of: date
) -> tuple[SegmentReport, Callable[[], None], bool]:
    """Segment the base as of ``as_of`` for the plan batch: the report, a function that stores the day's membership
    where it was computed, and whether the base is the backend's view (Spark: :func:`release` it after the batch)
    rather than ``con``'s table (pass it to :func:`plan_load.run`)."""
    if backend.name != "spark":
        report = compute_membership(con, cfg, as_of)
        return report, partial(write_members, backend.store, con, as_of), False
    report, with_ = membership_on(backend, con, cfg, as_of)
    return report, partial(store_on, backend, with_, as_of), True
