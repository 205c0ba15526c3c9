"""Point in time for the scores: the hub as it was known at the end of the ``as_of`` day.

Nothing after ``as_of`` is read: transactions up to the end of that day (UTC), customers
acquired by then, and subscriptions started by then. A subscription ``end`` after ``as_of``
was not known yet, so it is read as open. Contacts of the last 365 days and invoices due by
``as_of`` (a payment after ``as_of`` was not known: the invoice reads as unpaid) feed the cost to serve.
The value scores read them in one query (:mod:`cvm.scoring.value_inputs`); this module holds its calendar.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

DAYS_PER_MONTH = 365.25 / 12
WINDOW_DAYS = 365  # the "12 months" of the net margin (cvm.scoring.cost_to_serve)


def end_of_day(day: date) -> datetime:
    """Midnight UTC after ``day``: the first instant after ``as_of`` (exclusive bound on timestamps)."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
