"""Plans for the whole base: SQL finds who may have something to do, :func:`decide` does the rest.

The per-customer decision is the same pure :func:`cvm.plans.decide.decide` the
real-time path calls. What is vectorised is the selection of customers that can
possibly get a decision; everyone else would get an empty one. A customer is a
candidate when at least one of these holds:

- some enabled plan's trigger condition and entry condition hold (one DuckDB
  ``WHERE`` over the base, compiled from the same expressions) and their plan
  state allows enrolment (never enrolled, or re-entry due);
- an active enrolment has a step due at ``now``, or its plan's exit condition holds;
- an event for the customer is given.

Only candidates are read into Python, with just the columns the expressions
and the policy read.

Imports from a sibling stage: :mod:`cvm.experiments.assign` (the plan-state key of the pilot
assignments); deterministic assignment is one pure, standard-library-only function for deciding
and for analysing a pilot.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl
from sqlglot import exp

from cvm.config.plans import CHANNELS, PlanConfig, PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.actions import Decision
from cvm.contracts.decisions import Event
from cvm.contracts.learned import Learned
from cvm.experiments.assign import STATE_KEY
from cvm.plans.columns import needed_columns
from cvm.plans.parallel import decide_all
from cvm.rules import rule

Contact = tuple[datetime, str, str]
ContactsFn = Callable[[Sequence[str]], Mapping[str, Sequence[Contact]]]


@dataclass
class PlanBatch:
    """The outcome of a batch: decisions of the candidates, and counts for people."""

    now: datetime
    customers: int
    candidates: int
    decisions: list[tuple[str, Decision]] = field(default_factory=list, repr=False)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def actions(self) -> Counter[str]:
        return Counter(f"{a.plan}.{a.step} ({a.channel})" for _c, d in self.decisions for a in d.actions)

    @property
    def suppressed(self) -> Counter[str]:
        return Counter(s.reason.split(":")[0] for _c, d in self.decisions for s in d.suppressed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "customers": self.customers,
            "candidates": self.candidates,
            "actions": dict(sorted(self.actions.items())),
            "suppressed": dict(sorted(self.suppressed.items())),
            "seconds": self.seconds,
        }


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def _plan_filter(name: str, plan: PlanConfig, source: str, now: str = "$now") -> str | None:
    """SQL selecting the customers whose trigger condition and entry hold and who may enrol (``now``: its SQL)."""
    condition = plan.trigger.condition()
    if condition is None:
        return None
    where = [rule(condition, "bool").sql()]
    if plan.entry:
        where.append(rule(plan.entry, "bool").sql())
    lit = exp.Literal.string(name).sql("duckdb")
    reentry = (
        "FALSE" if plan.reentry_days is None else f"ps.ps_started + INTERVAL {int(plan.reentry_days)} DAY <= {now}"
    )
    allowed = f"(ps.ps_customer IS NULL OR (ps.ps_status <> 'active' AND {reentry}))"
    return (
        f"SELECT a.customer_id FROM {_q(source)} a LEFT JOIN plan_states ps "
        f"ON ps.ps_customer = a.customer_id AND ps.ps_plan = {lit} WHERE {' AND '.join(where)} AND {allowed}"
    )


def _exit_filter(name: str, plan: PlanConfig, source: str) -> str | None:
    """SQL selecting the customers in ``plan`` whose exit condition holds (they leave it now)."""
    if not plan.exit:
        return None
    lit = exp.Literal.string(name).sql("duckdb")
    return (
        f"SELECT a.customer_id FROM {_q(source)} a JOIN plan_states ps ON ps.ps_customer = a.customer_id "
        f"WHERE ps.ps_plan = {lit} AND ps.ps_status = 'active' AND {rule(plan.exit, 'bool').sql()}"
    )


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _states_table(con: duckdb.DuckDBPyConnection, states: Mapping[str, Mapping[str, Any]]) -> None:
    """The temporary table ``plan_states`` (one row per customer and plan), parsed by DuckDB."""
    cols: dict[str, list[Any]] = {"ps_customer": [], "ps_plan": [], "ps_status": [], "started": [], "due": []}
    for cid, plans in states.items():
        for plan, raw in plans.items():
            if plan == STATE_KEY or not raw or not raw.get("started"):  # STATE_KEY: pilot assignments
                continue
            cols["ps_customer"].append(cid)
            cols["ps_plan"].append(plan)
            cols["ps_status"].append(str(raw.get("status", "active")))
            cols["started"].append(_iso(raw["started"]))
            cols["due"].append(_iso(raw.get("due")))
    frame = pl.DataFrame(cols, schema=dict.fromkeys(cols, pl.Utf8()))
    con.register("plan_states_frame", frame.to_arrow())
    con.execute(
        "CREATE OR REPLACE TEMP TABLE plan_states AS SELECT ps_customer, ps_plan, ps_status, "
        "CAST(started AS TIMESTAMPTZ) AS ps_started, CAST(due AS TIMESTAMPTZ) AS ps_due FROM plan_states_frame"
    )
    con.unregister("plan_states_frame")


def candidate_sql(config: PlansConfig, source: str, events: str, now: str = "$now") -> str:
    """SQL of the distinct ``customer_id`` of the candidates (DuckDB dialect; Spark runs it transpiled).

    It reads ``source`` (the attribute base), ``plan_states`` (one row per customer and plan) and
    ``events`` (a query or table of the ``customer_id`` with events); ``now`` is the SQL of the decision time.
    """
    parts = [q for name, plan in config.active.items() if (q := _plan_filter(name, plan, source, now))]
    parts += [q for name, plan in config.active.items() if (q := _exit_filter(name, plan, source))]
    parts.append(f"SELECT ps_customer AS customer_id FROM plan_states WHERE ps_status = 'active' AND ps_due <= {now}")
    parts.append(f"SELECT customer_id FROM {events}")
    return "SELECT DISTINCT customer_id FROM (" + " UNION ALL ".join(parts) + ") u"


def candidate_ids(
    con: duckdb.DuckDBPyConnection, config: PlansConfig, now: datetime, source: str, extra_ids: Sequence[str]
) -> str:
    """Create the temporary table ``plan_candidates`` and return its name."""
    con.register("event_ids", pl.DataFrame({"customer_id": list(extra_ids)}, schema={"customer_id": pl.Utf8}))
    sql = "CREATE OR REPLACE TEMP TABLE plan_candidates AS " + candidate_sql(config, source, "event_ids")
    con.execute(sql, {"now": now})
    con.unregister("event_ids")
    return "plan_candidates"


def run_batch(
    con: duckdb.DuckDBPyConnection,
    config: PlansConfig,
    now: datetime,
    source: str = "segmented",
    plan_states: Mapping[str, Mapping[str, Any]] | None = None,
    contacts: Mapping[str, Sequence[Contact]] | ContactsFn | None = None,
    events: Mapping[str, Sequence[Event]] | None = None,
    workers: int | None = None,
    experiments: ExperimentsSettings | None = None,
    *,
    learned: Learned | None = None,
) -> PlanBatch:
    """Decide for every customer of the table ``source`` who may have something to do at ``now``.

    Parameters
    ----------
    con
        DuckDB connection holding ``source``: one row per customer, attribute and segment columns.
    config
        Plans and policy.
    now
        Decision time.
    plan_states, contacts, events
        Per customer id: plan state, contacts sent or planned, events (all optional). ``contacts`` may be
        a function of the candidates' ids instead (read only for them).
    workers
        Processes for the per-customer decisions (default 1; 0 means one per CPU, at most 8), used from
        20,000 candidates on.
    experiments
        The global holdout and the pilots (``Settings.experiments``), as in :func:`~cvm.plans.decide.decide`.
    learned
        What the models learned (fatigue curves, model versions), as in :func:`~cvm.plans.decide.decide`.
    """
    t0 = time.perf_counter()
    con.execute("SET TimeZone = 'UTC'")
    states, evs = plan_states or {}, events or {}
    _states_table(con, states)
    table = candidate_ids(con, config, now, source, sorted(evs))
    present = {r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {_q(source)})").fetchall()}
    cols = sorted(needed_columns(config, learned) & present)
    select = ", ".join(f"a.{_q(c)}" for c in cols)
    rows = con.sql(
        f"SELECT {select} FROM {_q(source)} a SEMI JOIN {table} t ON t.customer_id = a.customer_id ORDER BY 1"
    ).pl()
    total = int(con.execute(f"SELECT count(*) FROM {_q(source)}").fetchall()[0][0])
    t1 = time.perf_counter()
    result = PlanBatch(now=now, customers=total, candidates=rows.height)
    dicts = rows.to_dicts()
    sent = contacts([r["customer_id"] for r in dicts]) if callable(contacts) else (contacts or {})
    result.decisions = decide_all(config, dicts, now, states, sent, evs, workers, experiments, learned=learned)
    result.seconds = {"select": round(t1 - t0, 3), "decide": round(time.perf_counter() - t1, 3)}
    return result


def transition_events(transitions: pl.DataFrame, at: datetime) -> dict[str, list[Event]]:
    """``segment_entered`` / ``segment_left`` events per customer from a refresh's transitions."""
    out: dict[str, list[Event]] = {}
    for cid, seg, change in transitions.select("customer_id", "segment", "change").iter_rows():
        ev = Event(f"seg:{at.date()}:{cid}:{seg}:{change}", cid, f"segment_{change}", at, {"segment": seg})
        out.setdefault(cid, []).append(ev)
    return out


def offline_contacts(frame: pl.DataFrame | pl.LazyFrame, now: datetime, days: int = 30) -> dict[str, list[Contact]]:
    """Outbound contacts of the hub's ``contacts`` table in the last ``days``, for caps (objective ``inform``).

    Given a scan, only those rows are read (the filter is pushed down to the Parquet files).
    """
    recent = (
        frame.lazy()
        .filter(
            (pl.col("direction") == "outbound")
            & pl.col("channel").is_in(list(CHANNELS))
            & (pl.col("ts") > now - timedelta(days=days))
            & (pl.col("ts") <= now)
        )
        .select("customer_id", "ts", "channel")
        .collect()
    )
    out: dict[str, list[Contact]] = {}
    for cid, ts, channel in recent.select("customer_id", "ts", "channel").iter_rows():
        out.setdefault(cid, []).append((ts, channel, "inform"))
    return out
