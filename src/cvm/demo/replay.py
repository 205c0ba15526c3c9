"""SIMULATED months of decisions with exploration over the demo company, so its decision log holds randomised data.

Week by week over the ``months`` × 30 days before the data end, every customer of the attribute base is
decided by the REAL pure :func:`cvm.plans.decide.decide` with the holdout ladder (global holdout and
exploration, :class:`~cvm.config.settings.ExperimentsSettings`); the logged record is decide's own
``Decision.record``, with the replay's contact count added to its context. The plan state and the contacts the replay
sends carry over from week to week (caps, cooldowns and fatigue see them). What followed each decision
is drawn from the demo's ground truth (:mod:`cvm.demo.effects`) with a seeded generator: the outcome rows
have ``source = "simulated"``. :func:`store_replay` appends the records to the offline ``decision_log``
table in the export's format and the outcomes to ``decision_outcomes``, so ``cvm run`` learns from them.

The attributes are those of the workspace's latest segmentation (scores exist only as of the run), used
for every date: the replay simulates the policy on today's customers, it does not rewrite history.
Weekly decisions meet the steps' days and expiry as a daily batch would; a customer is decided again
only when a step falls due or a plan allows re-entry (:func:`wake`), so every customer is replayed, no sample.

Imports from a sibling stage: :mod:`cvm.plans` (the pure ``decide``, the customer state of an attribute
row and the plan-state reader): the replay must run the real decision, not a copy of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from cvm.config.plans import PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.decisionlog import NO_ACTION, OUTCOME_COLUMNS, DecisionOutcome, DecisionRecord
from cvm.contracts.learned import Learned
from cvm.demo.effects import Truth, action_kind, build_truth, draw_outcomes
from cvm.plans.decide import decide
from cvm.plans.parallel import state_of
from cvm.plans.state import Enrolment
from cvm.store import OfflineStore, decision_log

CONTACT_LOOKBACK_DAYS = 30
FATIGUE_WINDOW_DAYS = 90
CONTEXT_KEY = "contacts_window"
"""``DecisionRecord.context`` key: the customer's contacts by the replay in the ``FATIGUE_WINDOW_DAYS`` before."""
CONTACTS_ATTRIBUTE = "contacts_90d"
"""The attribute base's count of contacts in the last 90 days: the replay sets it to its own count before each
decision, so a decision's logged context (what the uplift models learn from) holds the contacts as of then, the
same attribute ``cvm run`` scores with."""
OUTCOMES_TABLE = "decision_outcomes"
DEMO_HOLDOUT, DEMO_EXPLORATION = 0.05, 0.10
"""The ladder the replay uses when the workspace has no exploration of its own."""


def replay_ladder(experiments: ExperimentsSettings | None) -> ExperimentsSettings:
    """The workspace's holdout ladder when it explores, else a global holdout of 5% and exploration of 10%."""
    if experiments is not None and experiments.ladder.exploration > 0:
        return experiments
    base = experiments or ExperimentsSettings()
    ladder = base.ladder.model_copy(update={"exploration": DEMO_EXPLORATION})
    return base.model_copy(update={"holdout_share": DEMO_HOLDOUT, "ladder": ladder})


@dataclass
class Replay:
    """The replay's log: one record per decision with candidates, and what followed each one (SIMULATED)."""

    records: list[DecisionRecord] = field(default_factory=list)
    outcomes: list[DecisionOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Counts for people: decisions, per rung, contacts sent, seconds."""
        rungs: dict[str, int] = {}
        for r in self.records:
            rungs[r.rung] = rungs.get(r.rung, 0) + 1
        sent = sum(r.chosen != NO_ACTION for r in self.records)
        return {"decisions": len(self.records), "rungs": rungs, "contacts": sent, "seconds": round(self.seconds, 3)}


def decision_dates(end: date, months: int, every_days: int = 7) -> list[datetime]:
    """Decision times ``every_days`` apart at 09:00 UTC over the ``months`` × 30 days before ``end``."""
    first = datetime.combine(end - timedelta(days=30 * months), datetime.min.time(), UTC) + timedelta(hours=9)
    return [first + timedelta(days=d) for d in range(0, 30 * months, every_days)]


def wake(config: PlansConfig, plan_state: Mapping[str, Any]) -> datetime | None:
    """When a customer with fixed attributes and no events may next get a different decision (``None``: never).

    A customer's attributes do not change during the replay, so after the first decision only a due step or a
    re-entry can change anything: this only saves calls of ``decide``, which stays the authority.
    """
    times = []
    for name, raw in plan_state.items():
        plan = config.active.get(name)
        enrolment = Enrolment.load(raw) if plan is not None and isinstance(raw, Mapping) else None
        if enrolment is None or plan is None:
            continue
        if enrolment.active and enrolment.due is not None:
            times.append(enrolment.due)
        elif not enrolment.active and plan.reentry_days is not None:
            times.append(enrolment.started + timedelta(days=plan.reentry_days))
    return min(times, default=None)


@dataclass
class _Customer:
    """What the replay carries for one customer between decision dates."""

    row: dict[str, Any]
    plan_state: Mapping[str, Any] = field(default_factory=dict)
    sent: list[tuple[datetime, str, str]] = field(default_factory=list)
    wake: datetime | None = None
    decided: bool = False

    def contacts(self, now: datetime, days: int) -> list[tuple[datetime, str, str]]:
        return [c for c in self.sent if c[0] > now - timedelta(days=days)]


def replay(
    config: PlansConfig,
    rows: Sequence[Mapping[str, Any]],
    truth: Truth,
    dates: Sequence[datetime],
    experiments: ExperimentsSettings,
    seed: int,
    learned: Learned | None = None,
) -> Replay:
    """Decide for every row at each date with the ladder of ``experiments``, and draw each outcome from ``truth``.

    Deterministic for (inputs, seed): the choices are decide's hash-based draws, the outcomes drawn from
    ``numpy.random.default_rng([seed, date index])``. The action taken is ``record.chosen``.
    """
    began = time.perf_counter()
    out = Replay()
    people = [_Customer(dict(r)) for r in rows]
    pos = {c: i for i, c in enumerate(truth.customer_id)}
    for k, now in enumerate(dates):
        taken: list[tuple[DecisionRecord, str, float, int]] = []
        for who in people:
            if who.decided and (who.wake is None or who.wake > now):
                continue
            count = len(who.contacts(now, FATIGUE_WINDOW_DAYS))
            row = {**who.row, CONTACTS_ATTRIBUTE: count}  # the contacts of the replay, as of this decision
            state = state_of(row, who.contacts(now, CONTACT_LOOKBACK_DAYS), who.plan_state)
            decision = decide(config, state, now, experiments=experiments, learned=learned)
            who.plan_state, who.decided = decision.plan_state, True
            who.wake = wake(config, who.plan_state)
            if decision.record is None:
                continue
            record = replace(decision.record, context={**decision.record.context, CONTEXT_KEY: float(count)})
            chosen = record.chosen
            cand = next((c for c in record.candidates if c.action == chosen), None)
            if cand is not None:
                who.sent.append((now, cand.channel, cand.objective))
            kind = "none" if cand is None else action_kind(chosen, cand.objective, cand.channel)
            taken.append((record, kind, 0.0 if cand is None else cand.cost, count))
        if taken:
            _outcomes(out, truth, pos, taken, np.random.default_rng([seed, k]))
    out.seconds = time.perf_counter() - began
    return out


def _outcomes(
    out: Replay,
    truth: Truth,
    pos: Mapping[str, int],
    taken: Sequence[tuple[DecisionRecord, str, float, int]],
    rng: np.random.Generator,
) -> None:
    """Draw the outcome of one date's decisions (vectorised) and append records and outcomes to ``out``."""
    idx = np.fromiter((pos[t[0].customer_id] for t in taken), dtype=np.int64)
    drawn = draw_outcomes(truth, idx, [t[1] for t in taken], [t[3] for t in taken], [t[2] for t in taken], rng)
    horizon = truth.params.horizon_days
    for i, (record, *_rest) in enumerate(taken):
        out.records.append(record)
        out.outcomes.append(DecisionOutcome(
            decision_id=record.decision_id, customer_id=record.customer_id, chosen=record.chosen,
            horizon_days=horizon, margin=round(float(drawn["margin"][i]), 4),
            converted=bool(drawn["converted"][i]), churned=bool(drawn["churned"][i]),
            defaulted=bool(drawn["defaulted"][i]), unsubscribed=bool(drawn["unsubscribed"][i]),
            complained=bool(drawn["complained"][i]), source="simulated"))  # fmt: skip


def log_frame(records: Sequence[DecisionRecord]) -> pl.DataFrame:
    """The records as rows of the offline ``decision_log`` (the export's format), logged at their decision time."""
    return decision_log.offline_frame([decision_log.row_of(r, decision_log.utc(r.decided_at)) for r in records])


def outcome_frame(outcomes: Sequence[DecisionOutcome]) -> pl.DataFrame:
    """``decision_outcomes`` rows, columns :data:`OUTCOME_COLUMNS`."""
    cols = {c: [getattr(o, c) for o in outcomes] for c in OUTCOME_COLUMNS}
    return pl.DataFrame(cols, schema_overrides={"horizon_days": pl.Int64, "margin": pl.Float64})


def store_replay(offline: OfflineStore, result: Replay) -> int:
    """Append the replay's records to ``decision_log`` and its outcomes to ``decision_outcomes``, in one transaction.

    Decisions already in the log (a second ``cvm demo`` on the same workspace) are left out, so nothing is
    logged twice. The rows are logged at their decision time: the export of the online log, which looks
    back from the newest offline ``logged_at``, still finds every online row logged since. Returns how many
    decisions were appended.
    """
    known = set(offline.read(decision_log.TABLE, ["decision_id"])["decision_id"].to_list())
    fresh = {r.decision_id for r in result.records} - known
    if not fresh:
        return 0
    records = [r for r in result.records if r.decision_id in fresh]
    outcomes = [o for o in result.outcomes if o.decision_id in fresh]
    with offline.transaction() as tx:
        tx.append(decision_log.TABLE, log_frame(records))
        tx.append(OUTCOMES_TABLE, outcome_frame(outcomes))
    return len(records)


def load_truth(data: Path) -> tuple[Truth, date, int]:
    """The effects' ground truth of a generated demo folder, its data end and its seed."""
    meta = json.loads((data / "ground_truth" / "meta.json").read_text(encoding="utf-8"))
    frame = pl.read_parquet(data / "ground_truth" / "customers_truth.parquet")
    seed = int(meta["seed"])
    return build_truth(frame, seed), date.fromisoformat(meta["end"]), seed
