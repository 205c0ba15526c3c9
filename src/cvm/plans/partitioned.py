"""The plan batch per partition: one candidate query, the same pure ``decide`` per row, a bulk load per batch.

``cvm run`` decides for the whole base without bringing it to one process:

1. **Inputs.** The online state a decision reads (plan states, contacts sent or planned, the segment
   events of this run) is written once as two small Parquet tables beside the attribute base
   (:func:`stage_inputs`): ``plan_states`` (one row per customer and plan, for the candidate SQL) and
   ``plan_inputs`` (per customer, its plan state, contacts and events as JSON text). They are frozen at
   the start of the batch, so a decision is a function of its query row alone.
2. **Candidates.** One query in DuckDB's dialect (:func:`decision_query`: the candidate SQL of
   :mod:`cvm.plans.batch` joined to the attributes and the inputs) runs on the offline backend: over
   record batches on DuckDB, transpiled on Spark.
3. **Decisions and load.** Each batch of rows goes through :func:`decide_and_load`: the same
   :func:`~cvm.plans.parallel.decide_rows` (so the same :func:`~cvm.plans.decide.decide`) as the
   in-process batch, then :func:`~cvm.jobs.cycle.persist_decisions` in one online transaction per batch
   (PostgreSQL: ``COPY`` into a staging table, then ``INSERT ... ON CONFLICT DO NOTHING`` on the
   idempotency keys and decision ids: :mod:`cvm.store.bulk`). On Spark this runs in ``mapInArrow`` on the
   workers, which get the plans, experiments and learned state as one JSON text (:func:`payload`), never
   pickled objects of CVM; the driver collects one row of counts per batch.

A retried Spark task (or the same batch run again) recomputes the same decisions from the same frozen
inputs and loads them again: the outbox keeps the first row of each idempotency key, the log the first
row of each decision id, the assignments their first arm, the plan state is already the new one, and
the batch's suppressions of those customers at that instant are replaced rather than added.

Contact pressure and consent are per customer: the caps count that customer's contacts (its hub
contacts of the last 30 days and its outbox requests since ``events.contact_lookback_days``, frozen in
``plan_inputs``) and the consents are columns of its row, so deciding per partition changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from cvm.config.plans import PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.actions import Decision
from cvm.contracts.decisions import Event
from cvm.contracts.learned import Learned
from cvm.plans.batch import Contact, _q, _states_table, candidate_sql
from cvm.plans.columns import needed_columns
from cvm.plans.parallel import decide_rows

if TYPE_CHECKING:
    from cvm.store import OnlineStore

#: The per-customer input columns of the decision query (JSON text, NULL when the customer has none).
INPUTS = ("_plan_state", "_contacts", "_events")
#: What one batch reports back to the driver.
COUNTS = ("customers", "decisions", "enqueued", "duplicates", "suppressed", "assignments", "logged")
COUNTS_SCHEMA = pa.schema([*(pa.field(c, pa.int64()) for c in COUNTS), pa.field("reasons", pa.string())])


@dataclass
class Loaded:
    """What a partitioned batch decided and loaded, summed over its batches."""

    candidates: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS[1:], 0))
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, row: Mapping[str, Any]) -> None:
        self.candidates += int(row["customers"])
        for key in self.counts:
            self.counts[key] += int(row[key])
        for reason, n in json.loads(row["reasons"] or "{}").items():
            self.reasons[reason] = self.reasons.get(reason, 0) + int(n)

    def to_dict(self) -> dict[str, Any]:
        """The keys of :class:`~cvm.jobs.cycle.Persisted` (``customers``: the decisions that did something)."""
        out: dict[str, Any] = {"customers": self.counts["decisions"]}
        out |= {k: v for k, v in self.counts.items() if k != "decisions"}
        out["reasons"] = dict(sorted(self.reasons.items(), key=lambda kv: -kv[1]))
        return out


# -- the inputs, frozen at the start of the batch -----------------------------------------------------------
def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON-ready: {type(value).__name__}")


def stage_inputs(
    folder: Path,
    states: Mapping[str, Mapping[str, Any]],
    contacts: Mapping[str, Sequence[Contact]],
    events: Mapping[str, Sequence[Event]],
) -> dict[str, Path]:
    """Write ``plan_states`` and ``plan_inputs`` as Parquet files under ``folder``; returns their paths."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"plan_states": folder / "plan_states.parquet", "plan_inputs": folder / "plan_inputs.parquet"}
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        _states_table(con, states)
        con.execute(f"COPY plan_states TO {_literal(paths['plan_states'])} (FORMAT parquet)")
    ids = sorted(set(states) | set(contacts) | set(events))
    frame = pa.table(
        {
            "customer_id": pa.array(ids, pa.string()),
            "_plan_state": pa.array([_json(states[c]) if c in states else None for c in ids], pa.string()),
            "_contacts": pa.array([_json(sorted(contacts[c])) if contacts.get(c) else None for c in ids], pa.string()),
            "_events": pa.array([_json([_event(e) for e in events[c]]) if events.get(c) else None for c in ids]),
        }
    )
    pq.write_table(frame, paths["plan_inputs"])
    return paths


def _event(e: Event) -> dict[str, Any]:
    return {"event_id": e.event_id, "type": e.type, "ts": e.ts.isoformat(), "properties": dict(e.properties)}


def _literal(path: Path) -> str:
    return str(exp.Literal.string(str(path)).sql("duckdb"))


def decision_query(
    config: PlansConfig, learned: Learned | None, now: datetime, present: Sequence[str], source: str = "segmented"
) -> str:
    """The candidates' rows: the columns ``decide`` reads (of those in ``present``) and their frozen inputs.

    Reads the tables ``source``, ``plan_states`` and ``plan_inputs``; DuckDB's dialect.
    """
    cols = sorted(needed_columns(config, learned) & set(present))
    at = f"CAST({exp.Literal.string(now.astimezone(UTC).isoformat()).sql('duckdb')} AS TIMESTAMPTZ)"
    events = "(SELECT customer_id FROM plan_inputs WHERE _events IS NOT NULL)"
    select = ", ".join([*(f"a.{_q(c)}" for c in cols), *(f"i.{c}" for c in INPUTS)])
    return (
        f"WITH candidates AS ({candidate_sql(config, source, events, at)}) "
        f"SELECT {select} FROM {_q(source)} a JOIN candidates t ON t.customer_id = a.customer_id "
        "LEFT JOIN plan_inputs i ON i.customer_id = a.customer_id"
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
    return _json(
        {
            "plans": config.model_dump(mode="json"),
            "experiments": experiments.model_dump(mode="json") if experiments is not None else None,
            "learned": (learned or Learned()).to_dict(),
            "now": now.isoformat(),
            "online_url": online_url,
        }
    )


@dataclass(frozen=True)
class _Context:
    config: PlansConfig
    experiments: ExperimentsSettings | None
    learned: Learned
    now: datetime
    online_url: str | None


@lru_cache(maxsize=4)
def _context(text: str) -> _Context:
    """The payload's objects, built once per worker process (and the same objects for every batch)."""
    data = json.loads(text)
    experiments = data["experiments"]
    return _Context(
        PlansConfig.model_validate(data["plans"]),
        ExperimentsSettings.model_validate(experiments) if experiments is not None else None,
        Learned.from_dict(data["learned"]),
        datetime.fromisoformat(data["now"]),
        data["online_url"],
    )


@lru_cache(maxsize=2)
def _online(url: str) -> OnlineStore:
    from cvm.store import OnlineStore

    return OnlineStore(url)


def _contacts(text: str | None) -> list[Contact]:
    return [(datetime.fromisoformat(at), channel, objective) for at, channel, objective in json.loads(text or "[]")]


def _events(cid: str, text: str | None) -> list[Event]:
    return [
        Event(e["event_id"], cid, e["type"], datetime.fromisoformat(e["ts"]), e["properties"])
        for e in json.loads(text or "[]")
    ]


def decide_batch(text: str, batch: pa.RecordBatch) -> list[tuple[str, Decision]]:
    """The decisions of one batch of query rows that do something (as :func:`~cvm.plans.parallel.decide_rows`)."""
    ctx = _context(text)
    rows = batch.to_pylist()
    states, contacts, events = {}, {}, {}
    for row in rows:
        cid = row["customer_id"]
        plan_state, sent, evs = (row.pop(c, None) for c in INPUTS)
        if plan_state:
            states[cid] = json.loads(plan_state)
        contacts[cid] = _contacts(sent)
        if evs:
            events[cid] = _events(cid, evs)
    return decide_rows(ctx.config, rows, ctx.now, states, contacts, events, ctx.experiments, ctx.learned)


def decide_and_load(text: str, batch: pa.RecordBatch) -> dict[str, Any]:
    """Decide one batch and store it in the online store of the payload, in one transaction; its counts."""
    from cvm.jobs.cycle import persist_decisions

    ctx = _context(text)
    if ctx.online_url is None:
        raise ValueError("the plan batch payload names no online store to load into")
    decisions = decide_batch(text, batch)
    persisted = persist_decisions(_online(ctx.online_url), decisions, ctx.now)
    done = persisted.to_dict()
    return {
        "customers": batch.num_rows,
        "decisions": done["customers"],
        **{k: int(done[k]) for k in COUNTS[2:]},
        "reasons": _json(done["reasons"]),
    }


def load_batches(text: str) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of a payload: decide and load each batch, yield its counts."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows:
                yield pa.RecordBatch.from_pylist([decide_and_load(text, batch)], schema=COUNTS_SCHEMA)

    return run


def counts_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """The per-batch counts as a frame (for reports and tests)."""
    return pl.DataFrame(list(rows), schema=dict(zip(COUNTS_SCHEMA.names, [pl.Int64] * 7 + [pl.Utf8], strict=True)))
