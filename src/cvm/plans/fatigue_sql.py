"""The fatigue model's person-periods, built from the hub's ``contacts`` where the offline backend runs.

One query in DuckDB's dialect that Spark runs transpiled (:mod:`cvm.store.backend`). Each outbound contact
(with a channel) is one person-period:

- ``n``: the number of the customer's outbound contacts on that channel in the ``window_days`` ending at it,
  itself included (contacts at the very same instant count each other);
- ``adverse``: an inbound contact with an adverse topic (:data:`~cvm.models.fatigue.ADVERSE_TOPICS`) follows
  it within ``attribution_days`` (strictly after it), or it is the ``no_response_streak``-th outbound contact
  in a row on its channel with no inbound contact at all from the first of them to it.

:func:`fatigue_counts_sql` sums them into the model's sufficient statistics, ``(channel, n, adverse, weight)``
with ``n`` capped at ``max_contacts``: a few rows per channel, whatever the number of contacts, so the driver
never reads the contacts table (:class:`~cvm.models.fatigue.FatigueModel` fits on weighted rows).
"""

from __future__ import annotations

from sqlglot import exp

from cvm.models.fatigue import ADVERSE_TOPICS

_US_PER_DAY = 86_400_000_000


def contact_periods_sql(window_days: int = 30, attribution_days: int = 7, no_response_streak: int = 3) -> str:
    """``customer_id, channel, ts, n, adverse`` per outbound contact (see the module docstring)."""
    if window_days < 1 or attribution_days < 0 or no_response_streak < 1:
        raise ValueError("window_days and no_response_streak must be at least 1, attribution_days at least 0")
    window_us = int(window_days) * _US_PER_DAY - 1  # (t − window, t]: strictly after the window's start
    attribution_us = int(attribution_days) * _US_PER_DAY  # (t, t + attribution]; both bounds in one unit (Spark)
    lag, streak = int(no_response_streak) - 1, int(no_response_streak)
    topics = ", ".join(exp.Literal.string(t).sql("duckdb") for t in ADVERSE_TOPICS)
    # integers (validated above) and the code's own topic names inline: interval lengths and LAG's offset must be
    # literals on both engines; nothing here comes from user text
    sql = f"""
WITH ev AS (
    SELECT contact_id, customer_id, channel, ts, direction,
           CASE WHEN direction = 'inbound' AND topic IN ({topics}) THEN 1 ELSE 0 END AS adverse_in,
           CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END AS inbound
    FROM contacts
    WHERE direction IN ('inbound', 'outbound')
),
marks AS (
    SELECT *,
        sum(adverse_in) OVER (PARTITION BY customer_id ORDER BY ts
            RANGE BETWEEN INTERVAL 1 MICROSECOND FOLLOWING AND INTERVAL {attribution_us} MICROSECOND FOLLOWING
        ) AS adverse_after,
        sum(inbound) OVER (PARTITION BY customer_id ORDER BY ts
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS inbound_to,
        sum(inbound) OVER (PARTITION BY customer_id ORDER BY ts
            RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING) AS inbound_before
    FROM ev
),
outbound AS (
    SELECT customer_id, channel, ts, adverse_after, inbound_to,
        count(*) OVER (PARTITION BY customer_id, channel ORDER BY ts
            RANGE BETWEEN INTERVAL {window_us} MICROSECOND PRECEDING AND CURRENT ROW) AS n,
        row_number() OVER (PARTITION BY customer_id, channel ORDER BY ts, contact_id) AS rank_in_channel,
        lag(inbound_before, {lag}) OVER (PARTITION BY customer_id, channel ORDER BY ts, contact_id) AS inbound_at_start
    FROM marks
    WHERE direction = 'outbound' AND channel IS NOT NULL
)
SELECT customer_id, channel, ts, CAST(n AS BIGINT) AS n,
       coalesce(adverse_after, 0) > 0
       OR (rank_in_channel >= {streak} AND coalesce(inbound_to, 0) - coalesce(inbound_at_start, 0) = 0) AS adverse
FROM outbound"""
    return sql


def fatigue_counts_sql(
    window_days: int = 30, attribution_days: int = 7, no_response_streak: int = 3, max_contacts: int = 8
) -> str:
    """``channel, n, adverse, weight``: the person-periods counted per channel, capped rank and outcome."""
    periods = contact_periods_sql(window_days, attribution_days, no_response_streak)
    cap = int(max_contacts)
    return (
        f"SELECT channel, least(n, {cap}) AS n, adverse, count(*) AS weight FROM ({periods}) p "
        f"GROUP BY channel, least(n, {cap}), adverse ORDER BY channel, n, adverse"
    )
