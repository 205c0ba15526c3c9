"""Plans: triggers, step schedules, the contact policy and next-best-action arbitration.

:func:`cvm.plans.decide.decide` is the one decision function (pure, per customer);
:func:`cvm.plans.batch.run_batch` runs it for the whole base after selecting the
candidates in SQL; :mod:`cvm.plans.arbitrate` documents the arbitration algorithm.
"""

from cvm.plans.decide import ActionRequest, CustomerState, Decision, Event, RankedAction, Suppressed, decide, rank

__all__ = ["ActionRequest", "CustomerState", "Decision", "Event", "RankedAction", "Suppressed", "decide", "rank"]
