"""The growth bridge, hunting vs farming and the cohort cells as SQL over the net revenue per customer and period.

Written once in DuckDB's dialect (see :mod:`cvm.reporting.growth` for the definitions); ``net`` is a query
of ``customer, p, net`` rows (net integer cents), read as the CTE ``net``: the net query itself
(:func:`cvm.reporting.queries.net_sql`: a Spark cluster runs the whole report and only one row per period
reaches the driver) or a read of the table of it kept in this process (:mod:`cvm.reporting.shared`).
Sums are of integer cents: exact on every backend.
"""

from __future__ import annotations

from datetime import timedelta

from cvm.reporting.periods import PeriodCode
from cvm.rules.bind import bind

_PER_YEAR = {"M": 12, "Q": 4, "Y": 1}

#: The money sums (integer cents) and customer counts per period that :func:`bridge_sql` returns.
FLOWS = (
    "end", "new", "reactivation", "expansion", "contraction", "churned", "negative_net", "hunting", "farming",
    "customers_active", "customers_new", "customers_retained", "customers_resurrected", "customers_churned",
)  # fmt: skip


def start_sql(index: str, code: PeriodCode) -> str:
    """The first day of the period ``index`` (an integer expression)."""
    per = _PER_YEAR[code]
    return f"make_date(CAST(({index}) // {per} AS INTEGER), CAST((({index}) % {per}) * {12 // per} + 1 AS INTEGER), 1)"


def _too_long(code: PeriodCode, window: int | timedelta | None) -> str:
    """Whether a return after ``gap`` inactive periods counts as new (longer than the reactivation window)."""
    if window is None:
        return "FALSE"
    if isinstance(window, timedelta):
        days = f"date_diff('day', {start_sql('prev_p + 1', code)}, {start_sql('p', code)})"
        return bind(f"SELECT {days} > $days", {"days": window.days}).removeprefix("SELECT ")
    return bind("SELECT p - prev_p - 1 > $w", {"w": int(window)}).removeprefix("SELECT ")


def _active() -> str:
    """The active (customer, period) rows with their neighbours and the customer's first active period."""
    w = "OVER (PARTITION BY customer ORDER BY p)"
    return (
        f"SELECT customer, p, net AS r, lag(p) {w} AS prev_p, lag(net) {w} AS r_prev, lead(p) {w} AS next_p, "
        "min(p) OVER (PARTITION BY customer) AS first_p FROM net WHERE net > 0"
    )


def bridge_sql(net: str, code: PeriodCode, window: int | timedelta | None, new_periods: int) -> str:
    """Per period ``p`` with any row: the :data:`FLOWS` (zero where none), in cents.

    The periods with none of them are left to the caller, which fills the grid from the first to the last
    period of ``net``: two rows (``kind = 'bound'``) carry those.
    """
    gap = "(p - prev_p - 1)"
    classified = (
        f"SELECT p, r, CASE WHEN prev_p IS NULL OR ({gap} > 0 AND {_too_long(code, window)}) THEN 'new' "
        f"WHEN {gap} > 0 THEN 'reactivation' ELSE 'retained' END AS kind, "
        f"CASE WHEN {gap} = 0 THEN r_prev ELSE 0 END AS r0, "
        "CASE WHEN next_p IS NULL OR next_p > p + 1 THEN p + 1 END AS churn_p, p - first_p AS age "
        f"FROM ({_active()}) a"
    )
    last = "(SELECT max(p) FROM net)"
    rows = (
        "SELECT p, kind, r, r0, age FROM cls "
        f"UNION ALL SELECT churn_p AS p, 'churn' AS kind, r, 0 AS r0, 0 AS age FROM cls WHERE churn_p <= {last} "
        "UNION ALL SELECT p, 'negative' AS kind, net AS r, 0 AS r0, 0 AS age FROM net WHERE net < 0 "
        "UNION ALL SELECT min(p) AS p, 'bound' AS kind, 0 AS r, 0 AS r0, 0 AS age FROM net "
        "UNION ALL SELECT max(p) AS p, 'bound' AS kind, 0 AS r, 0 AS r0, 0 AS age FROM net"
    )
    active = "kind IN ('new', 'reactivation', 'retained')"
    retained = "kind = 'retained'"

    def total(value: str, when: str) -> str:
        return f"CAST(coalesce(sum(CASE WHEN {when} THEN {value} END), 0) AS BIGINT)"

    def count(when: str) -> str:
        return f"count(CASE WHEN {when} THEN 1 END)"

    sums = {
        "end": total("r", active),
        "new": total("r", "kind = 'new'"),
        "reactivation": total("r", "kind = 'reactivation'"),
        "expansion": total("r - r0", f"{retained} AND r > r0"),
        "contraction": total("r0 - r", f"{retained} AND r < r0"),
        "churned": total("r", "kind = 'churn'"),
        "negative_net": total("r", "kind = 'negative'"),
        "hunting": total("r", f"{active} AND age < {int(new_periods)}"),
        "farming": total("r", f"{active} AND age >= {int(new_periods)}"),
        "customers_active": count(active),
        "customers_new": count("kind = 'new'"),
        "customers_retained": count(retained),
        "customers_resurrected": count("kind = 'reactivation'"),
        "customers_churned": count("kind = 'churn'"),
    }
    select = ", ".join(f"{sql} AS {name}" for name, sql in sums.items())
    return (
        f"WITH net AS ({net}), cls AS ({classified}) SELECT p, {select} FROM ({rows}) x WHERE p IS NOT NULL GROUP BY p"
    )


def cohort_sql(net: str) -> str:
    """Per (cohort ``c`` = first active period, period ``p``): active customers and their cents.

    ``last``, the last period of ``net`` (active or not), is on every row.
    """
    cells = f"SELECT first_p AS c, p, count(*) AS customers, sum(r) AS cents FROM ({_active()}) a GROUP BY first_p, p"
    return (
        f"WITH net AS ({net}) SELECT c, p, customers, CAST(cents AS BIGINT) AS cents, "
        f"(SELECT max(p) FROM net) AS last FROM ({cells}) x"
    )
