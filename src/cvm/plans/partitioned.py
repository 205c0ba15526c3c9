"""The plan batch per partition: one candidate query, the same pure ``decide`` per row, a bulk load per batch.

``cvm run`` decides for the whole base without bringing it to one process:

1. **Inputs.** The online state a decision reads (plan states, contacts sent or planned, the segment
   events of this run) is written once as Parquet tables beside the attribute base
   (:func:`stage_inputs`): ``plan_states`` (one row per customer and plan, for the candidate SQL),
   ``state_inputs`` (each customer's plan state) and ``plan_inputs`` (contacts and events), as JSON
   text. They are frozen at the start of the batch, so a decision is a function of its query row alone.
2. **Candidates.** One query in DuckDB's dialect (:func:`decision_query`: the candidate SQL of
   :mod:`cvm.plans.batch` joined to the attributes and the inputs) runs on the offline backend: over
   record batches on DuckDB, transpiled on Spark.
3. **Decisions.** Each batch of rows goes through :func:`decide_batch`: the same
   :func:`~cvm.plans.parallel.decide_rows` (so the same :func:`~cvm.plans.decide.decide`) as the
   in-process batch, with the plans, experiments and learned state rebuilt from one JSON text
   (:func:`payload`), never pickled objects of CVM. :mod:`cvm.jobs.plan_load` stores each batch's
   decisions in one online transaction, on Spark inside ``mapInArrow`` on the workers.

A retried Spark task (or the same batch run again) recomputes the same decisions from the same frozen
inputs and loads them again: the outbox keeps the first row of each idempotency key, the log the first
row of each decision id, the assignments their first arm, the plan state is already the new one, and
the batch's suppressions of those customers at that instant are replaced rather than added.

Contact pressure and consent are per customer: the caps count that customer's contacts (its hub
contacts of the last 30 days, read by the decision query where the hub is, and its outbox requests since
``events.contact_lookback_days``, frozen in ``plan_inputs``) and the consents are columns of its row, so
deciding per partition changes nothing.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from cvm.config.plans import CHANNELS, PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.actions import Decision
from cvm.contracts.decisions import Event
from cvm.contracts.learned import Learned
from cvm.plans.batch import Contact, _q, _states_table, candidate_sql
from cvm.plans.columns import needed_columns
from cvm.plans.parallel import decide_rows

#: The per-customer input columns of the decision query (JSON text, NULL when the customer has none), and the
#: hub's recent outbound contacts (a list of ``ts, channel``, queried from the ``contacts`` table).
INPUTS = ("_plan_state", "_contacts", "_events", "_hub")
#: Days of the hub's outbound contacts that count towards the caps (as :func:`cvm.plans.batch.offline_contacts`).
HUB_CONTACT_DAYS = 30


# -- the inputs, frozen at the start of the batch -----------------------------------------------------------
def to_json(value: Any) -> str:
    """``value`` as compact JSON text with sorted keys (times as ISO text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON-ready: {type(value).__name__}")


#: Plan states per Parquet part when staging (the driver holds one part at a time).
STATES_PART = 50_000


def stage_inputs(
    folder: Path,
    states: Iterable[tuple[str, Mapping[str, Any]]],
    contacts: Mapping[str, Sequence[Contact]],
    events: Mapping[str, Sequence[Event]],
) -> dict[str, Path]:
    """Write the frozen inputs as Parquet folders under ``folder``; returns each table's folder.

    ``plan_states`` (one row per customer and plan, typed for the candidate SQL) and ``state_inputs``
    (each customer's plan state as JSON) are written :data:`STATES_PART` customers at a time from the
    ``(customer id, plan state)`` pairs; ``plan_inputs`` holds the contacts and events of the customers
    that have some.
    """
    import duckdb

    paths = {name: folder / name for name in ("plan_states", "state_inputs", "plan_inputs")}
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    pairs = iter(states)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for i in itertools.count():
            part = dict(itertools.islice(pairs, STATES_PART))
            if i and not part:
                break
            _states_table(con, part)
            con.execute(f"COPY plan_states TO {_literal(paths['plan_states'] / f'part-{i}.parquet')} (FORMAT parquet)")
            ids = list(part)
            frame = {
                "customer_id": pa.array(ids, pa.string()),
                "_plan_state": pa.array([to_json(part[c]) for c in ids], pa.string()),
            }
            pq.write_table(pa.table(frame), paths["state_inputs"] / f"part-{i}.parquet")
    ids = sorted(set(contacts) | set(events))
    frame = {
        "customer_id": pa.array(ids, pa.string()),
        "_contacts": pa.array([to_json(sorted(contacts[c])) if contacts.get(c) else None for c in ids], pa.string()),
        "_events": pa.array([to_json([_event(e) for e in events[c]]) if events.get(c) else None for c in ids]),
    }
    pq.write_table(pa.table(frame), paths["plan_inputs"] / "part-0.parquet")
    return paths


def _event(e: Event) -> dict[str, Any]:
    return {"event_id": e.event_id, "type": e.type, "ts": e.ts.isoformat(), "properties": dict(e.properties)}


def _literal(path: Path) -> str:
    return str(exp.Literal.string(str(path)).sql("duckdb"))


def decision_query(
    config: PlansConfig, learned: Learned | None, now: datetime, present: Sequence[str], source: str = "segmented"
) -> str:
    """The candidates' rows: the columns ``decide`` reads (of those in ``present``) and their frozen inputs.

    Reads the tables ``source`` and those of :func:`stage_inputs`; DuckDB's dialect.
    """
    cols = sorted(needed_columns(config, learned) & set(present))
    at = f"CAST({exp.Literal.string(now.astimezone(UTC).isoformat()).sql('duckdb')} AS TIMESTAMPTZ)"
    events = "(SELECT customer_id FROM plan_inputs WHERE _events IS NOT NULL)"
    select = ", ".join([*(f"a.{_q(c)}" for c in cols), "s._plan_state", "i._contacts", "i._events", "h._hub"])
    return (
        f"WITH candidates AS ({candidate_sql(config, source, events, at)}), hub AS ({hub_contacts_sql(now)}) "
        f"SELECT {select} FROM {_q(source)} a JOIN candidates t ON t.customer_id = a.customer_id "
        "LEFT JOIN state_inputs s ON s.customer_id = a.customer_id "
        "LEFT JOIN plan_inputs i ON i.customer_id = a.customer_id "
        "LEFT JOIN hub h ON h.customer_id = a.customer_id"
    )


def hub_contacts_sql(now: datetime, days: int = HUB_CONTACT_DAYS) -> str:
    """Per customer, the hub's outbound contacts of the ``days`` up to ``now`` (``ts``, ``channel``), for the caps.

    Read where the ``contacts`` table is (the offline backend), as :func:`cvm.plans.batch.offline_contacts`
    reads them in one process; the outbox's contacts come staged in ``plan_inputs``.
    """
    since = now.astimezone(UTC) - timedelta(days=days)
    stamp = [f"CAST({exp.Literal.string(t.isoformat()).sql('duckdb')} AS TIMESTAMPTZ)" for t in (since, now)]
    channels = ", ".join(exp.Literal.string(c).sql("duckdb") for c in CHANNELS)
    return (
        "SELECT customer_id, list(struct_pack(ts := ts, channel := channel)) AS _hub FROM contacts "
        f"WHERE direction = 'outbound' AND channel IN ({channels}) AND ts > {stamp[0]} AND ts <= {stamp[1]} "
        "GROUP BY customer_id"
    )


# -- per batch: the same decide, plain values in -------------------------------------------------------------
def payload(
    config: PlansConfig,
    experiments: ExperimentsSettings | None,
    learned: Learned | None,
    now: datetime,
    online_url: str | None = None,
) -> str:
    """Everything a worker needs to decide and load, as one JSON text (no pickled objects of CVM)."""
    return to_json(
        {
            "plans": config.model_dump(mode="json"),
            "experiments": experiments.model_dump(mode="json") if experiments is not None else None,
            "learned": (learned or Learned()).to_dict(),
            "now": now.isoformat(),
            "online_url": _without_password(online_url),
        }
    )


def _without_password(url: str | None) -> str | None:
    """The URL with its password masked: the payload travels to Spark's workers and may be logged there.

    The workers take the password from their environment (``CVM__STORE__ONLINE_URL``), as the driver does.
    """
    if url is None:
        return None
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Context:
    config: PlansConfig
    experiments: ExperimentsSettings | None
    learned: Learned
    now: datetime
    online_url: str | None


@lru_cache(maxsize=4)
def context(text: str) -> Context:
    """The payload's objects, built once per worker process (and the same objects for every batch)."""
    data = json.loads(text)
    experiments = data["experiments"]
    return Context(
        PlansConfig.model_validate(data["plans"]),
        ExperimentsSettings.model_validate(experiments) if experiments is not None else None,
        Learned.from_dict(data["learned"]),
        datetime.fromisoformat(data["now"]),
        data["online_url"],
    )


def _contacts(text: str | None) -> list[Contact]:
    return [(datetime.fromisoformat(at), channel, objective) for at, channel, objective in json.loads(text or "[]")]


def _events(cid: str, text: str | None) -> list[Event]:
    return [
        Event(e["event_id"], cid, e["type"], datetime.fromisoformat(e["ts"]), e["properties"])
        for e in json.loads(text or "[]")
    ]


def decide_batch(text: str, batch: pa.RecordBatch) -> list[tuple[str, Decision]]:
    """The decisions of one batch of query rows that do something (as :func:`~cvm.plans.parallel.decide_rows`)."""
    ctx = context(text)
    rows = batch.to_pylist()
    states, contacts, events = {}, {}, {}
    for row in rows:
        cid = row["customer_id"]
        plan_state, sent, evs, hub = (row.pop(c, None) for c in INPUTS)
        if plan_state:
            states[cid] = json.loads(plan_state)
        contacts[cid] = sorted(_contacts(sent) + [(h["ts"], h["channel"], "inform") for h in hub or []])
        if evs:
            events[cid] = _events(cid, evs)
    return decide_rows(ctx.config, rows, ctx.now, states, contacts, events, ctx.experiments, ctx.learned)
