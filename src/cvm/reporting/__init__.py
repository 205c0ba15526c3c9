"""Reporting: growth accounting, rates, voice of the customer, churn, cohorts, migration, distributions.

Pure functions take Polars (eager or lazy) or pandas frames and return Polars frames, with money as
exact ``Decimal(38, 2)`` columns; :func:`build_report` computes a :class:`Report` (``to_dict()``-able)
from a workspace's offline store, and :mod:`cvm.reporting.figures` turns the frames into Plotly
figures (imported on demand, like :mod:`cvm.reporting.html`). Every module docstring states its
definitions, and marks the rules chosen where the usual definition is silent.

Examples
--------
>>> from datetime import date
>>> import polars as pl
>>> tx = pl.DataFrame({"customer_id": ["a", "a"], "ts": [date(2024, 1, 5), date(2024, 2, 5)], "amount": [10.0, 12.5]})
>>> [str(v) for v in growth_accounting(tx)["expansion"]]
['0.00', '2.50']
"""

from cvm.reporting.churn import (
    churn_by_period,
    churn_by_type,
    churn_events,
    churn_reasons,
    silent_by_period,
    silent_flags,
    silent_summary,
)
from cvm.reporting.cohorts import cohort_matrix, cohort_table
from cvm.reporting.distributions import grade_distribution, score_histogram
from cvm.reporting.filters import ReportFilter, latest_scores, segment_of
from cvm.reporting.growth import IdentityError, growth_accounting, hunting_farming, mrr_by_period
from cvm.reporting.migration import activity_states, grade_states, migration_matrix, migration_pivot
from cvm.reporting.rates import (
    add_rates,
    customer_churn_rate,
    gross_revenue_churn,
    grr,
    net_revenue_churn,
    nrr,
    quick_ratio,
)
from cvm.reporting.reports import KINDS, SOURCES, Report, build_report
from cvm.reporting.voice import nps_score, voc

__all__ = [
    "KINDS",
    "SOURCES",
    "IdentityError",
    "Report",
    "ReportFilter",
    "activity_states",
    "add_rates",
    "build_report",
    "churn_by_period",
    "churn_by_type",
    "churn_events",
    "churn_reasons",
    "cohort_matrix",
    "cohort_table",
    "customer_churn_rate",
    "grade_distribution",
    "grade_states",
    "gross_revenue_churn",
    "growth_accounting",
    "grr",
    "hunting_farming",
    "latest_scores",
    "migration_matrix",
    "migration_pivot",
    "mrr_by_period",
    "net_revenue_churn",
    "nps_score",
    "nrr",
    "quick_ratio",
    "score_histogram",
    "segment_of",
    "silent_by_period",
    "silent_flags",
    "silent_summary",
    "voc",
]
