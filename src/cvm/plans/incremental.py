"""The worth of a candidate step under either arbitration mode, term by term (one place for all of them).

``plans.arbitration`` chooses what the greedy allocator (:mod:`cvm.plans.arbitrate`) ranks on:

- ``propensity`` (default): ``ev_propensity = propensity × value × margin − cost``;
- ``incremental``: ``ev_incremental = uplift − cost − fatigue cost − expected credit loss``, where
  ``uplift`` is the predicted incremental margin of the action against no action: the step's
  ``uplift`` expression, else the customer attribute ``uplift_<action>``
  (:func:`cvm.contracts.decisionlog.uplift_attribute`). A candidate without one falls back to its
  propensity value net of fatigue and credit loss, and its reason says so.

The fatigue cost of a contact is the marginal cost of the n-th contact on its channel in the
fatigue curve's window (:class:`cvm.contracts.learned.FatigueCurve`, fitted by
:class:`cvm.models.fatigue.FatigueModel`), counting the customer's past and planned contacts and
those accepted earlier in the same walk. In incremental mode the allocator holds a contact whose
value does not cover its fatigue cost, even under the caps. Every term lands in a
:class:`~cvm.contracts.decisionlog.CandidateTerms` (what the decision log records).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from cvm.config.plans import PlansConfig
from cvm.contracts.decisionlog import CandidateTerms, uplift_attribute
from cvm.contracts.learned import Learned
from cvm.plans.arbitrate import Candidate
from cvm.plans.credit import expected_credit_loss, number
from cvm.plans.runtime import StepRuntime
from cvm.rules import rule

Contact = tuple[datetime, str, str]
_NONE = Learned()
_attribute = lru_cache(maxsize=4096)(uplift_attribute)


class Pricer:
    """Prices the candidates of one decision (one customer, one moment)."""

    def __init__(
        self,
        config: PlansConfig,
        attrs: Mapping[str, Any],
        contacts: Sequence[Contact],
        now: datetime,
        learned: Learned | None,
    ) -> None:
        self.mode = config.arbitration
        self.credit = config.credit
        self.attrs = attrs
        self.contacts = contacts
        self.now = now
        self.learned = learned or _NONE
        self.floor = config.policy.min_expected_value
        self._sent: dict[str, int] = {}

    @property
    def incremental(self) -> bool:
        return self.mode == "incremental"

    def sent(self, channel: str) -> int:
        """Contacts on ``channel`` in its fatigue window (past and planned)."""
        if channel not in self._sent:
            curve = self.learned.fatigue.get(channel)
            if curve is None:
                self._sent[channel] = 0
            else:
                since = self.now - timedelta(days=curve.window_days)
                self._sent[channel] = sum(1 for at, ch, _o in self.contacts if ch == channel and at > since)
        return self._sent[channel]

    def uplift(self, step: StepRuntime) -> float | None:
        """The predicted uplift of the step for this customer, or ``None`` when no model scored it."""
        if step.uplift is not None:
            return number(step.uplift.evaluate(self.attrs))
        return number(self.attrs.get(_attribute(step.action)))

    def price(self, plan: str, step: StepRuntime) -> tuple[float, CandidateTerms]:
        """The ranking value under the configured mode, and every term of it."""
        p, v, m = (number(r.evaluate(self.attrs)) or 0.0 for r in (step.propensity, step.value, step.margin))
        cfg = step.config
        channel = cfg.channel
        fatigue = self.learned.fatigue_cost(channel, self.sent(channel) + 1, self.attrs)
        loss = expected_credit_loss(self.credit, step, self.attrs)
        terms = CandidateTerms(
            step.action, plan, cfg.name, channel, cfg.objective, p, v, m, step.cost, p * v * m - step.cost,
            fatigue_cost=fatigue, expected_credit_loss=loss,
        ).with_uplift(self.uplift(step))  # fmt: skip
        return self.value(terms), terms

    def value(self, t: CandidateTerms) -> float:
        """What the allocator ranks on (:meth:`CandidateTerms.rank_value` of the configured mode)."""
        return t.rank_value("incremental" if self.incremental else "propensity")

    def before_fatigue(self, cand: Candidate) -> float:
        """The candidate's value without its fatigue cost (what the minimum-value rule compares)."""
        if cand.worth is None or not self.incremental:
            return cand.expected_value
        return cand.expected_value + cand.worth.fatigue_cost

    def reprice(self, cand: Candidate, accepted: int) -> tuple[Candidate, str | None]:
        """The candidate with the fatigue cost of its contact after ``accepted`` more on its channel.

        Also the fatigue stop: in incremental mode, why the contact is held (its value does not
        cover its fatigue cost), else ``None``.
        """
        t = cand.worth
        if t is None or not self.incremental:
            return cand, None
        n = self.sent(t.channel) + accepted + 1
        fatigue = self.learned.fatigue_cost(t.channel, n, self.attrs) if accepted else t.fatigue_cost
        t = dataclasses.replace(t, fatigue_cost=fatigue).with_uplift(t.uplift)
        cand = dataclasses.replace(cand, expected_value=self.value(t), worth=t)
        gross = cand.expected_value + fatigue
        if fatigue > 0 and cand.expected_value < self.floor:
            window = self.learned.fatigue[t.channel].window_days
            return cand, (
                f"fatigue: contact {n} on {t.channel} in {window} days costs {fatigue:.2f}, "
                f"more than its value {gross:.2f}"
            )
        return cand, None

    def describe(self, cand: Candidate) -> str:
        """The candidate's worth with its terms, for its reasons."""
        t = cand.worth
        if t is None:
            p, v, m, c = cand.terms
            return f"expected value {cand.expected_value:.2f} = {p:g} × {v:g} × {m:g} − {c:g}"
        prop = f"{t.propensity:g} × {t.value:g} × {t.margin:g} − {t.cost:g}"
        if not self.incremental:
            text = f"expected value {cand.expected_value:.2f} = {prop}"
            return text + (f" (credit loss {t.expected_credit_loss:.2f})" if t.expected_credit_loss else "")
        rest = f"fatigue {t.fatigue_cost:.2f} − credit loss {t.expected_credit_loss:.2f}"
        if t.uplift is None:
            return f"no uplift model for {t.action}: propensity value {cand.expected_value:.2f} = {prop} − {rest}"
        return f"incremental value {cand.expected_value:.2f} = uplift {t.uplift:.2f} − contact {t.cost:.2f} − {rest}"


def read_columns(config: PlansConfig, learned: Learned | None = None) -> set[str]:
    """Attribute columns the pricing reads besides the plans' expressions (the batch loads only those it needs)."""
    credit = config.credit
    cols = {credit.pd_attribute, credit.points_attribute, credit.early_warning_attribute}
    for name, plan in config.active.items():
        for step in plan.steps:
            if step.uplift is None:
                cols.add(uplift_attribute(step.action or f"{name}.{step.name}"))
            for text in (step.uplift, step.exposure):
                if text:
                    cols |= rule(text).columns
    for curve in (learned or _NONE).fatigue.values():
        cols |= set(curve.coefficients)
    return cols
