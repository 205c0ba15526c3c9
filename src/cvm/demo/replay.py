"""SIMULATED months of decisions with exploration over the demo company, so its decision log holds randomised data.

Week by week over the ``months`` × 30 days before the data end, every customer of the attribute base is
decided by the REAL pure :func:`cvm.plans.decide.decide` (through :mod:`cvm.demo.policy_adapter`, which
adds the global holdout, the exploration and the record). The plan state and the contacts the replay
sends carry over from week to week (caps, cooldowns and fatigue see them). What followed each decision
is drawn from the demo's ground truth (:mod:`cvm.demo.effects`) with a seeded generator: the outcome rows
have ``source = "simulated"``.

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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from cvm.config.plans import PlansConfig
from cvm.contracts.decisionlog import NO_ACTION, OUTCOME_COLUMNS, DecisionOutcome, DecisionRecord
from cvm.demo.effects import Truth, action_kind, build_truth, draw_outcomes
from cvm.demo.policy_adapter import Ladder, decide_logged
from cvm.plans.parallel import state_of
from cvm.plans.state import Enrolment

CONTACT_LOOKBACK_DAYS = 30
FATIGUE_WINDOW_DAYS = 90
CONTEXT_KEY = "contacts_window"
"""``DecisionRecord.context`` key: the customer's contacts by the replay in the ``FATIGUE_WINDOW_DAYS`` before."""
REPLAY_DIR = "replay"


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


def _context(row: Mapping[str, Any]) -> dict[str, float]:
    """Numeric attributes of the row, as the uplift models would see them."""
    return {k: float(v) for k, v in row.items() if isinstance(v, int | float) and not isinstance(v, bool)}


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
    context: dict[str, float]
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
    ladder: Ladder,
    seed: int,
) -> Replay:
    """Decide for every row at each date with exploration, and draw each decision's outcome from ``truth``.

    Deterministic for (inputs, seed): the choices are hash-based, the outcomes drawn from
    ``numpy.random.default_rng([seed, date index])``.
    """
    began = time.perf_counter()
    out = Replay()
    people = [_Customer(dict(r), _context(r)) for r in rows]
    pos = {c: i for i, c in enumerate(truth.customer_id)}
    for k, now in enumerate(dates):
        taken: list[tuple[DecisionRecord, str, float, int]] = []
        for who in people:
            if who.decided and (who.wake is None or who.wake > now):
                continue
            count = len(who.contacts(now, FATIGUE_WINDOW_DAYS))
            state = state_of(who.row, who.contacts(now, CONTACT_LOOKBACK_DAYS), who.plan_state)
            context = {**who.context, CONTEXT_KEY: float(count)}
            decision, record, chosen = decide_logged(config, state, now, ladder, context)
            who.plan_state, who.decided = decision.plan_state, True
            who.wake = wake(config, who.plan_state)
            if record is None:
                continue
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
    """The decision log as a table: scalar columns, candidates, model versions and context as JSON text."""
    scalar = ("decision_id", "customer_id", "decided_at", "path", "arbitration", "policy_version", "rung", "chosen",
              "probability", "exploration")  # fmt: skip
    cols: dict[str, list[Any]] = {c: [getattr(r, c) for r in records] for c in scalar}
    cols["candidates"] = [json.dumps([vars(c) for c in r.candidates]) for r in records]
    cols["model_versions"] = [json.dumps(dict(r.model_versions)) for r in records]
    cols["context"] = [json.dumps(dict(r.context)) for r in records]
    return pl.DataFrame(cols, schema_overrides={"decided_at": pl.Datetime("us", "UTC")})


def outcome_frame(outcomes: Sequence[DecisionOutcome]) -> pl.DataFrame:
    """``decision_outcomes`` rows, columns :data:`OUTCOME_COLUMNS`."""
    cols = {c: [getattr(o, c) for o in outcomes] for c in OUTCOME_COLUMNS}
    return pl.DataFrame(cols)


def read_log(folder: Path) -> tuple[list[DecisionRecord], pl.DataFrame]:
    """Read back what :func:`write_replay` wrote: the records and the outcome table."""
    log = pl.read_parquet(folder / "decision_log.parquet")
    records = []
    for d in log.to_dicts():
        d["decided_at"] = d["decided_at"].isoformat()
        for key in ("candidates", "model_versions", "context"):
            d[key] = json.loads(d[key])
        records.append(DecisionRecord.from_dict(d))
    return records, pl.read_parquet(folder / "decision_outcomes.parquet")


def write_replay(folder: Path, result: Replay) -> None:
    """Write ``decision_log.parquet`` and ``decision_outcomes.parquet`` into ``folder`` (each replaced atomically).

    SEAM (merge): h-log's online ``decision_log`` table and its export take these rows instead.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("decision_log", log_frame(result.records)),
        ("decision_outcomes", outcome_frame(result.outcomes)),
    ):
        tmp = folder / f".{name}.parquet.tmp"
        frame.write_parquet(tmp)
        tmp.replace(folder / f"{name}.parquet")


def load_truth(data: Path) -> tuple[Truth, date, int]:
    """The effects' ground truth of a generated demo folder, its data end and its seed."""
    meta = json.loads((data / "ground_truth" / "meta.json").read_text(encoding="utf-8"))
    frame = pl.read_parquet(data / "ground_truth" / "customers_truth.parquet")
    seed = int(meta["seed"])
    return build_truth(frame, seed), date.fromisoformat(meta["end"]), seed
