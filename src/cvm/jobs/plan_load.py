"""Running the partitioned plan batch on the offline backend, each batch decided and loaded where it runs.

Imports from a sibling stage: :mod:`cvm.plans` (the candidate query and the pure per-batch decisions of
:mod:`cvm.plans.partitioned`): the batch cycle runs the plans' own ``decide`` on every partition and loads
the decisions with the writers of :func:`~cvm.jobs.cycle.persist_decisions`, in the worker that decided them.

Each batch is one online transaction (PostgreSQL: ``COPY`` into a staging table, then ``INSERT ... ON
CONFLICT DO NOTHING`` on the idempotency keys and decision ids, :mod:`cvm.store.bulk`), so a retried
Spark task or a replayed batch enqueues nothing twice.

The decision query reads the attribute base ``segmented`` and the frozen inputs
(:func:`~cvm.plans.partitioned.stage_inputs`). They are Parquet
files in a staging folder under the offline store (removed afterwards), so Spark's workers read them
where they read the hub. On DuckDB the base is the connection's own ``segmented`` table and the record
batches are decided and loaded in this process, one transaction each; on Spark ``mapInArrow`` does the
same on every partition and only one row of counts per batch comes back to the driver.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from cvm.config.plans import PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.decisions import Event
from cvm.contracts.learned import Learned
from cvm.jobs.cycle import persist_decisions
from cvm.plans.batch import Contact
from cvm.plans.partitioned import context, decide_batch, decision_query, payload, stage_inputs, to_json
from cvm.store.backend import Capability, UnsupportedOperationError
from cvm.store.sweep import owned

if TYPE_CHECKING:
    import duckdb

    from cvm.store import OnlineStore
    from cvm.store.backend import OfflineBackend

#: What one batch reports back to the driver.
COUNTS = ("customers", "decisions", "enqueued", "duplicates", "suppressed", "assignments", "logged")
COUNTS_SCHEMA = pa.schema([*(pa.field(c, pa.int64()) for c in COUNTS), pa.field("reasons", pa.string())])

#: Rows per record batch (and per online transaction) on DuckDB.
BATCH_ROWS = 10_000
STAGING = "_staging"


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


_OPEN: dict[str, OnlineStore] = {}
"""The online store this process loads into, by payload URL: one at a time, kept across the batches of a task."""


def _online(url: str) -> OnlineStore:
    """The online store named by the payload, opened once per process; a store of another URL is disposed first
    (a cache that dropped it instead would leave its connections open until the garbage collector found them)."""
    if url not in _OPEN:
        forget_online()
        _OPEN[url] = _open_online(url)
    return _OPEN[url]


def forget_online() -> None:
    """Dispose the online store this process holds (the next batch opens it again from its payload)."""
    for store in _OPEN.values():
        store.dispose()
    _OPEN.clear()


def _open_online(url: str) -> OnlineStore:
    """The online store named by the payload; the password (masked there) comes from the environment."""
    import sqlalchemy as sa

    from cvm.store import OnlineStore

    env = os.environ.get("CVM__STORE__ONLINE_URL")
    if env and sa.make_url(env).render_as_string(hide_password=True) == url:
        return OnlineStore(env)
    if ":***@" in url:  # masked by the payload, and no environment to unmask it
        raise ValueError(
            "the workers need the online store's password: set CVM__STORE__ONLINE_URL in their environment "
            "(e.g. spark.executorEnv.CVM__STORE__ONLINE_URL or the cluster's secrets)"
        )
    return OnlineStore(url)


def decide_and_load(text: str, batch: pa.RecordBatch) -> dict[str, Any]:
    """Decide one batch and store it in the online store of the payload, in one transaction; its counts."""
    ctx = context(text)
    if ctx.online_url is None:
        raise ValueError("the plan batch payload names no online store to load into")
    persisted = persist_decisions(_online(ctx.online_url), decide_batch(text, batch), ctx.now)
    done = persisted.to_dict()
    return {
        "customers": batch.num_rows,
        "decisions": done["customers"],
        **{k: int(done[k]) for k in COUNTS[2:]},
        "reasons": to_json(done["reasons"]),
    }


def load_batches(text: str) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of a payload: decide and load each batch, yield its counts."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows:
                yield pa.RecordBatch.from_pylist([decide_and_load(text, batch)], schema=COUNTS_SCHEMA)

    return run


def _literal(path: Path) -> str:
    from sqlglot import exp

    return str(exp.Literal.string(str(path)).sql("duckdb"))


def run(
    backend: OfflineBackend,
    con: duckdb.DuckDBPyConnection,
    *,
    config: PlansConfig,
    now: datetime,
    online_url: str,
    states: Iterable[tuple[str, Mapping[str, Any]]],
    contacts: Mapping[str, Sequence[Contact]],
    events: Mapping[str, Sequence[Event]],
    experiments: ExperimentsSettings | None = None,
    learned: Learned | None = None,
    batch_rows: int = BATCH_ROWS,
    segmented_view: bool = False,
) -> Loaded:
    """Decide for the candidates of ``con``'s ``segmented`` table and load the outcome into ``online_url``.

    With ``segmented_view`` the base is the Spark session's view ``segmented`` instead, computed on the cluster
    (:func:`cvm.services.plan_base.segment_for_plans`); else, on Spark, ``con``'s table is staged as Parquet.

    ``states`` are the ``(customer id, plan state)`` pairs of the online store (streamed: staged a part at a
    time); ``contacts`` the outbox's sent or planned contacts of every customer that has some, for the caps (the
    hub's recent ones are read by the decision query, where the ``contacts`` table is).
    """
    _reachable(backend, online_url)
    folder = backend.store.scratch / STAGING / f"plans-{uuid.uuid4().hex[:12]}"
    with owned(folder):  # removed afterwards; swept by a later write if this run is killed
        paths = stage_inputs(folder, states, contacts, events)
        if segmented_view:
            backend.require(Capability.MAP_PARTITIONS, "decide the plans on a view of the segmented base")
            present = list(backend.sql("SELECT * FROM segmented").columns)  # type: ignore[attr-defined]
        else:
            present = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE segmented)").fetchall()]
        sql = decision_query(config, learned, now, present)
        text = payload(config, experiments, learned, now, online_url)
        if backend.name == "spark":
            if not segmented_view:
                paths["segmented"] = folder / "segmented.parquet"
                con.execute(f"COPY segmented TO {_literal(paths['segmented'])} (FORMAT parquet)")
            return _on_spark(backend, paths, sql, text)
        return _on_duckdb(con, paths, sql, text, batch_rows)


def _reachable(backend: OfflineBackend, online_url: str) -> None:
    """Spark workers on other machines load into the online store themselves: a SQLite file is not theirs."""
    master = str(getattr(getattr(backend, "settings", None), "master", "local"))
    if backend.name == "spark" and not master.startswith("local") and online_url.startswith("sqlite"):
        raise UnsupportedOperationError(
            f"the spark offline backend (master {master}) cannot load plan decisions into a SQLite online store: "
            "its workers cannot reach the file; set store.online_url to a PostgreSQL URL"
        )


def _on_duckdb(con: duckdb.DuckDBPyConnection, paths: Mapping[str, Path], sql: str, text: str, rows: int) -> Loaded:
    for name, path in paths.items():
        files = _literal(path / "*.parquet" if path.is_dir() else path)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM read_parquet({files})")
    loaded = Loaded()
    reader: pa.RecordBatchReader = con.sql(sql).to_arrow_reader(rows)
    for batch in reader:
        if batch.num_rows:
            loaded.add(decide_and_load(text, batch))
    return loaded


def _on_spark(backend: OfflineBackend, paths: Mapping[str, Path], sql: str, text: str) -> Loaded:
    from cvm.store.spark import SparkBackend

    assert isinstance(backend, SparkBackend)
    for name, path in paths.items():
        backend.spark.read.parquet(str(path)).createOrReplaceTempView(name)
    schema = ", ".join(f"{f.name} {'string' if f.type == 'string' else 'long'}" for f in COUNTS_SCHEMA)
    loaded = Loaded()
    for row in backend.sql(sql).mapInArrow(load_batches(text), schema).collect():
        loaded.add(row.asDict())
    return loaded
