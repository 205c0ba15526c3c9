"""Plans: triggers, step schedules, the contact policy and next-best-action arbitration.

:func:`cvm.plans.decide.decide` is the one decision function (pure, per customer);
:func:`cvm.plans.batch.run_batch` runs it for the whole base after selecting the
candidates in SQL; :mod:`cvm.plans.arbitrate` documents the arbitration algorithm.

What it takes and gives (the customer state, the events, the action request, the
suppression, the decision) are contracts with the other stages: :mod:`cvm.contracts.decisions`
and :mod:`cvm.contracts.actions`.
"""

from cvm.plans.decide import decide, rank

__all__ = ["decide", "rank"]
