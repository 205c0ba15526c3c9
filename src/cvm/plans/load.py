"""Running the partitioned plan batch (:mod:`cvm.plans.partitioned`) on the offline backend of the workspace.

The decision query reads three tables: the attribute base ``segmented`` and the frozen inputs
``plan_states`` and ``plan_inputs`` (:func:`~cvm.plans.partitioned.stage_inputs`). They are Parquet
files in a staging folder under the offline store (removed afterwards), so Spark's workers read them
where they read the hub. On DuckDB the base is the connection's own ``segmented`` table and the record
batches are decided and loaded in this process, one transaction each; on Spark ``mapInArrow`` does the
same on every partition and only one row of counts per batch comes back to the driver.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvm.config.plans import PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.decisions import Event
from cvm.contracts.learned import Learned
from cvm.plans.batch import Contact
from cvm.plans.partitioned import COUNTS_SCHEMA, Loaded, decide_and_load, decision_query, load_batches, payload
from cvm.plans.partitioned import stage_inputs as stage

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from cvm.store.backend import OfflineBackend

#: Rows per record batch (and per online transaction) on DuckDB.
BATCH_ROWS = 10_000
STAGING = "_staging"


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
    states: Mapping[str, Mapping[str, Any]],
    contacts: Mapping[str, Sequence[Contact]],
    events: Mapping[str, Sequence[Event]],
    experiments: ExperimentsSettings | None = None,
    learned: Learned | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Loaded:
    """Decide for the candidates of ``con``'s ``segmented`` table and load the outcome into ``online_url``.

    ``contacts`` are the contacts of every customer that has some (hub and outbox), for the caps.
    """
    folder = backend.store.root / STAGING / f"plans-{uuid.uuid4().hex[:12]}"
    try:
        paths = stage(folder, states, contacts, events)
        present = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE segmented)").fetchall()]
        sql = decision_query(config, learned, now, present)
        text = payload(config, experiments, learned, now, online_url)
        if backend.name == "spark":
            paths["segmented"] = folder / "segmented.parquet"
            con.execute(f"COPY segmented TO {_literal(paths['segmented'])} (FORMAT parquet)")
            return _on_spark(backend, paths, sql, text)
        return _on_duckdb(con, paths, sql, text, batch_rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _on_duckdb(con: duckdb.DuckDBPyConnection, paths: Mapping[str, Path], sql: str, text: str, rows: int) -> Loaded:
    for name, path in paths.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM read_parquet({_literal(path)})")
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
